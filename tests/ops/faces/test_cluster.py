"""Clustering descriptors on the k-nearest-neighbour graph."""

from __future__ import annotations

import numpy as np
import pytest

from ops.faces.cluster import ALGORITHMS, cluster_faces, neighbour_graph
from ops.faces.metrics import clustering_scores


def people(
    count: int, faces_each: int, spread: float, seed: int = 0
) -> tuple[np.ndarray, list[str]]:
    """Descriptors of ``count`` people, ``faces_each`` faces each, ``spread`` around a
    centre; people's centres lie about 1.0 apart (as dlib's descriptors of strangers do)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(count, 128)) / np.sqrt(2 * 128)
    rows = np.repeat(np.arange(count), faces_each)
    noise = rng.normal(size=(len(rows), 128)) * spread / np.sqrt(128)
    return (centres[rows] + noise).astype(np.float32), [f"p{row}" for row in rows]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_separate_people_become_separate_clusters(algorithm: str) -> None:
    descriptors, identities = people(count=12, faces_each=8, spread=0.15)
    labels = cluster_faces(descriptors, algorithm)  # type: ignore[arg-type]
    scores = clustering_scores(identities, labels.tolist())
    assert scores.clusters == 12
    assert scores.purity == scores.bcubed_f == 1.0


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_face_far_from_everyone_stays_alone(algorithm: str) -> None:
    descriptors, _ = people(count=3, faces_each=5, spread=0.15)
    stranger = np.full((1, 128), 0.5, dtype=np.float32)
    labels = cluster_faces(np.vstack([descriptors, stranger]), algorithm)  # type: ignore[arg-type]
    assert list(labels[:5]) == [0] * 5  # labels by first appearance
    assert (labels == labels[-1]).sum() == 1


def test_the_graph_links_only_near_neighbours_each_pair_once() -> None:
    descriptors = np.array([[0.0, 0], [0.1, 0], [0.2, 0], [5.0, 0]], dtype=np.float32)
    graph = neighbour_graph(descriptors, neighbours=3, threshold=0.15)
    pairs = sorted(zip(graph.sources.tolist(), graph.targets.tolist(), strict=True))
    assert pairs == [(0, 1), (1, 2)]
    np.testing.assert_allclose(graph.distances, [0.1, 0.1], rtol=1e-5)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_no_or_one_descriptor_is_no_or_one_cluster(algorithm: str) -> None:
    assert cluster_faces(np.zeros((0, 128), np.float32), algorithm).tolist() == []  # type: ignore[arg-type]
    assert cluster_faces(np.zeros((1, 128), np.float32), algorithm).tolist() == [0]  # type: ignore[arg-type]


def test_an_unknown_algorithm_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown clustering algorithm 'kmeans'"):
        cluster_faces(np.zeros((2, 128), np.float32), "kmeans")  # type: ignore[arg-type]
