"""Grouping face descriptors into identities, on a k-nearest-neighbour graph.

Every algorithm starts from the same sparse graph: each face linked to its ``neighbours``
nearest faces (FAISS, exact L2) closer than ``threshold``. Linking only near neighbours
keeps the work near n·k instead of n², so 100k descriptors cluster on 2 cores
(benchmarks/faces.py measures it).

- ``chinese_whispers``: dlib's graph clustering (labels spread along the edges), the
  method dlib's own face-clustering example uses;
- ``agglomerative``: scikit-learn's average-linkage clustering along the graph's edges,
  merging while clusters are closer than ``threshold`` on average.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import sparse

Algorithm = Literal["chinese_whispers", "agglomerative"]
ALGORITHMS: tuple[Algorithm, ...] = ("chinese_whispers", "agglomerative")
DEFAULT_THRESHOLDS: dict[Algorithm, float] = {"chinese_whispers": 0.5, "agglomerative": 0.45}
"""Chosen on ../shared/data/faces/orl_dev (benchmarks/faces.py and the evaluation): at
0.5, average linkage along the graph merged 20 ORL people into 17 clusters (it averages
the linked pairs only, which are the near ones); at 0.45 it found the 20."""


class ClusterSettings(BaseModel):
    """How faces are linked and merged."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    neighbours: int = Field(default=10, ge=1, description="nearest faces linked to each face")
    threshold: float | None = Field(
        default=None,
        gt=0,
        description="largest descriptor distance between faces of one person (dlib: 0.6 "
        "for a yes/no match; lower keeps clusters purer); None: the algorithm's default",
    )

    def threshold_for(self, algorithm: Algorithm) -> float:
        return self.threshold if self.threshold is not None else DEFAULT_THRESHOLDS[algorithm]


class NeighbourGraph(BaseModel):
    """Edges (i < j) between faces closer than the threshold, with their distances."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    size: int
    sources: np.ndarray
    targets: np.ndarray
    distances: np.ndarray

    def matrix(self) -> sparse.csr_matrix:
        """The graph as a symmetric sparse matrix of distances."""
        upper = sparse.coo_matrix(
            (self.distances, (self.sources, self.targets)), shape=(self.size, self.size)
        )
        return (upper + upper.T).tocsr()


def neighbour_graph(descriptors: np.ndarray, neighbours: int, threshold: float) -> NeighbourGraph:
    """Each face's ``neighbours`` nearest faces closer than ``threshold``, each pair once."""
    import faiss

    matrix = np.ascontiguousarray(descriptors, dtype=np.float32)
    count = len(matrix)
    if count < 2:
        empty = np.zeros(0, dtype=np.int64)
        return NeighbourGraph(
            size=count, sources=empty, targets=empty, distances=np.zeros(0, np.float32)
        )
    index = faiss.IndexFlatL2(matrix.shape[1])
    index.add(matrix)
    squared, rows = index.search(matrix, min(count, neighbours + 1))
    distances = np.sqrt(np.maximum(squared, 0))
    sources = np.repeat(np.arange(count), rows.shape[1])
    targets = rows.ravel()
    close = (targets >= 0) & (targets != sources) & (distances.ravel() < threshold)
    low = np.minimum(sources[close], targets[close])
    high = np.maximum(sources[close], targets[close])
    pairs, first = np.unique(low * count + high, return_index=True)
    return NeighbourGraph(
        size=count,
        sources=pairs // count,
        targets=pairs % count,
        distances=distances.ravel()[close][first].astype(np.float32),
    )


def cluster_faces(
    descriptors: np.ndarray, algorithm: Algorithm, settings: ClusterSettings | None = None
) -> np.ndarray:
    """A cluster label per descriptor (0, 1, ... by first appearance)."""
    chosen = settings or ClusterSettings()
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown clustering algorithm {algorithm!r}: one of {ALGORITHMS}")
    threshold = chosen.threshold_for(algorithm)
    graph = neighbour_graph(descriptors, chosen.neighbours, threshold)
    if graph.size == 0:
        return np.zeros(0, dtype=np.int64)
    if algorithm == "chinese_whispers":
        labels = _chinese_whispers(graph)
    else:
        labels = _agglomerative(graph, np.asarray(descriptors, np.float32), threshold)
    return _by_first_appearance(labels)


def _chinese_whispers(graph: NeighbourGraph) -> np.ndarray:
    """dlib's Chinese whispers over the edges, weighted by closeness; a face with no edge
    (or past the last one dlib numbers) is a cluster of its own."""
    import dlib

    edges = [
        (int(a), int(b), float(1.0 - d))
        for a, b, d in zip(graph.sources, graph.targets, graph.distances, strict=True)
    ]
    found = np.asarray(dlib.chinese_whispers(edges) if edges else [], dtype=np.int64)
    labels = np.arange(graph.size, dtype=np.int64) + graph.size  # beyond dlib's labels
    linked = np.zeros(graph.size, dtype=bool)
    linked[graph.sources] = linked[graph.targets] = True
    labels[linked] = found[linked[: len(found)].nonzero()[0]]
    return labels


def _agglomerative(graph: NeighbourGraph, descriptors: np.ndarray, threshold: float) -> np.ndarray:
    """Average linkage along the graph's edges, inside each connected part (scikit-learn
    would otherwise join the parts by comparing every pair of them: quadratic)."""
    from scipy.sparse.csgraph import connected_components
    from sklearn.cluster import AgglomerativeClustering

    links = graph.matrix()
    _, part_of = connected_components(links, directed=False)
    labels = np.empty(graph.size, dtype=np.int64)
    next_label = 0
    for part in np.argsort(np.bincount(part_of))[::-1]:
        members = np.flatnonzero(part_of == part)
        if len(members) < 3:  # one face, or a pair already within the threshold
            labels[members] = next_label
            next_label += 1
            continue
        found = AgglomerativeClustering(
            n_clusters=None,
            linkage="average",
            distance_threshold=threshold,
            connectivity=links[members][:, members],
        ).fit_predict(descriptors[members])
        labels[members] = found + next_label
        next_label += int(found.max()) + 1
    return labels


def _by_first_appearance(labels: np.ndarray) -> np.ndarray:
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inverse].astype(np.int64)
