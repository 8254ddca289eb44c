"""Nearest-neighbour search over unit document vectors (FAISS, inner product = cosine).

Small indexes are searched exactly (``IndexFlatIP``). Above ``exact_max`` vectors an
inverted-file index (IVF-Flat, ``nlist`` ~ 4 sqrt(n), trained on a sample) answers
instead. Measured on 2 cores with 200k clustered 128-d vectors, it built in 5 s with
recall@10 0.999, where HNSW (M 16 / 32) took 10 / 19 s for recall 0.93-0.995; build
time matters because every refresh builds a new version. An index is saved as two files,
written atomically, and loaded memory-mapped, so opening a large version is cheap and
the pages are shared between the processes that serve it.

How many inverted lists a query scans (``nprobe``) is the recall/latency dial, chosen
at search time: an explicit value (``Settings.vector_nprobe``) or, by default, as many
lists as hold about ``AUTO_SCAN_VECTORS`` vectors. Latency follows the vectors scanned,
and recall on loosely clustered embeddings follows the share of lists scanned: at 1M
(benchmarks/search.py, diffuse set) 125 / 500 / 1000 of 4000 lists found 0.35 / 0.65 /
0.82 of the true top 10 in about 1 / 4 / 11 ms. 2 sqrt(n) lists built 3x faster at 1M
(31 s against 105 s) but recalled less for the same vectors scanned (0.61 against 0.65
diffuse, 0.95 against 0.98 clustered at 125k), so the list count stays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ops.atomic import atomic_path, write_table

INDEX_FILE = "vectors.faiss"
IDS_FILE = "vectors.ids.parquet"

EXACT_MAX_VECTORS = 50_000
"""Up to this many vectors a brute-force scan is fast enough (a few ms) and exact."""

TRAINING_POINTS_PER_LIST = 64
"""k-means sample per inverted list: enough for stable centroids, 4x less than FAISS's cap."""

AUTO_SCAN_VECTORS = 128_000
"""Vectors an automatic search scans: a few ms on one core (512 of 4000 lists at 1M)."""

MIN_AUTO_NPROBE = 32
"""Fewest lists an automatic search scans, so very large indexes keep some recall."""


def _faiss() -> Any:
    import faiss

    return faiss


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Vectors as a C-contiguous float32 matrix with rows of length 1 (zero rows stay 0)."""
    matrix = np.ascontiguousarray(np.atleast_2d(np.asarray(vectors, dtype=np.float32)))
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.ascontiguousarray(matrix / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def ivf_shape(count: int) -> tuple[int, int]:
    """(nlist, automatic nprobe) for an IVF index over ``count`` vectors."""
    nlist = max(1, min(round(4 * math.sqrt(count)), count // 39))
    return nlist, auto_nprobe(count, nlist)


def auto_nprobe(count: int, nlist: int) -> int:
    """Lists to scan so that a query looks at about ``AUTO_SCAN_VECTORS`` vectors."""
    lists = math.ceil(AUTO_SCAN_VECTORS * nlist / max(count, 1))
    return min(nlist, max(MIN_AUTO_NPROBE, lists))


class VectorIndex:
    """Document vectors searchable by similarity; row i belongs to ``doc_ids[i]``."""

    def __init__(self, index: Any, doc_ids: Sequence[str], nprobe: int | None = None) -> None:
        if index.ntotal != len(doc_ids):
            raise ValueError(f"index holds {index.ntotal} vectors but {len(doc_ids)} doc ids")
        self._index = index
        self.doc_ids = list(doc_ids)
        self._rows: dict[str, int] | None = None
        self._nprobe = self._lists_to_scan(nprobe)

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    @property
    def exact(self) -> bool:
        """True for a brute-force index, False for an approximate one."""
        return type(self._index).__name__ == "IndexFlatIP"

    @property
    def nlist(self) -> int | None:
        """Inverted lists of an approximate index; None for an exact one."""
        return None if self.exact else int(_faiss().extract_index_ivf(self._index).nlist)

    @property
    def nprobe(self) -> int | None:
        """Lists a search scans unless told otherwise; None for an exact index."""
        return self._nprobe

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        doc_ids: Sequence[str],
        *,
        exact_max: int = EXACT_MAX_VECTORS,
        seed: int = 0,
        nprobe: int | None = None,
    ) -> VectorIndex:
        """An index over ``vectors`` (normalised here): exact up to ``exact_max`` rows.

        ``nprobe`` is the default lists per search (None: automatic); it is not saved.
        """
        faiss = _faiss()
        if len(vectors) != len(doc_ids):
            raise ValueError(f"{len(vectors)} vectors but {len(doc_ids)} doc ids")
        if len(set(doc_ids)) != len(doc_ids):
            raise ValueError("doc ids of a vector index must be unique")
        matrix = unit_rows(vectors) if len(vectors) else np.zeros((0, 0), dtype=np.float32)
        dim = matrix.shape[1]
        if len(matrix) <= exact_max:
            index = faiss.IndexFlatIP(dim)
        else:
            nlist, auto = ivf_shape(len(matrix))
            index = faiss.IndexIVFFlat(
                faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT
            )
            index.cp.max_points_per_centroid = TRAINING_POINTS_PER_LIST
            index.cp.seed = seed
            index.train(_sample(matrix, nlist * TRAINING_POINTS_PER_LIST, seed))
            index.nprobe = auto  # for tools that read the file alone
        if len(matrix):
            index.add(matrix)
        if not isinstance(index, faiss.IndexFlatIP):
            index.make_direct_map()  # so vector_of can reconstruct a row
        return cls(index, doc_ids, nprobe)

    def save(self, folder: Path) -> None:
        """Write the index and its doc ids into ``folder``, each file appearing complete."""
        faiss = _faiss()
        with atomic_path(folder / INDEX_FILE) as tmp:
            faiss.write_index(self._index, str(tmp))
        write_table(pa.table({"doc_id": pa.array(self.doc_ids, pa.string())}), folder / IDS_FILE)

    @classmethod
    def load(cls, folder: Path, nprobe: int | None = None) -> VectorIndex:
        """Open a saved index read-only, memory-mapped, searching ``nprobe`` lists by default.

        None picks the automatic value for the index's size, also for versions saved with
        an older default.
        """
        faiss = _faiss()
        path = folder / INDEX_FILE
        if not path.is_file():
            raise FileNotFoundError(f"vector index not found: {path}")
        flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY
        index = faiss.read_index(str(path), flags)
        doc_ids = pq.read_table(folder / IDS_FILE).column("doc_id").to_pylist()
        return cls(index, doc_ids, nprobe)

    def search(
        self, vector: np.ndarray, k: int, nprobe: int | None = None
    ) -> list[tuple[str, float]]:
        """The ``k`` most similar documents to ``vector``, best first, with cosine scores.

        ``nprobe`` overrides the index's lists per search for this call (an exact index
        scans everything and ignores it).
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        lists = self._lists_to_scan(nprobe) if nprobe is not None else self._nprobe
        if self.size == 0:
            return []
        query = unit_rows(vector)
        if query.shape != (1, self.dim):
            raise ValueError(f"query must be one vector of {self.dim} values, got {query.shape}")
        # Per-call parameters, not index.nprobe: concurrent requests share the index.
        params = None if lists is None else _faiss().SearchParametersIVF(nprobe=lists)
        scores, rows = self._index.search(query, min(k, self.size), params=params)
        return [
            (self.doc_ids[row], float(score))
            for row, score in zip(rows[0].tolist(), scores[0].tolist(), strict=True)
            if row >= 0
        ]

    def vector_of(self, doc_id: str) -> np.ndarray | None:
        """The stored unit vector of a document, or None when it has none."""
        if self._rows is None:
            self._rows = {doc_id: row for row, doc_id in enumerate(self.doc_ids)}
        row = self._rows.get(doc_id)
        if row is None:
            return None
        return np.asarray(self._index.reconstruct(row), dtype=np.float32)

    def _lists_to_scan(self, nprobe: int | None) -> int | None:
        """``nprobe`` checked and capped at the list count; the automatic value for None."""
        if nprobe is not None and nprobe < 1:
            raise ValueError(f"nprobe must be at least 1, got {nprobe}")
        nlist = self.nlist
        if nlist is None:
            return None
        return min(nlist, nprobe) if nprobe is not None else auto_nprobe(self.size, nlist)


def recall_at_k(
    index: VectorIndex,
    exact: VectorIndex,
    queries: np.ndarray,
    k: int,
    nprobe: int | None = None,
) -> float:
    """Mean share of the exact top-``k`` that ``index`` (at ``nprobe``) also returns."""
    return recall_by_nprobe(index, exact, queries, k, [nprobe])[nprobe]


def recall_by_nprobe(
    index: VectorIndex,
    exact: VectorIndex,
    queries: np.ndarray,
    k: int,
    nprobes: Sequence[int | None],
) -> dict[int | None, float]:
    """recall@k of ``index`` at each of ``nprobes``, the exact answers searched once."""
    if len(queries) == 0:
        raise ValueError("recall needs at least one query")
    rows = unit_rows(queries)
    truths = [{doc_id for doc_id, _ in exact.search(query, k)} for query in rows]
    recalls: dict[int | None, float] = {}
    for nprobe in nprobes:
        shares = []
        for query, truth in zip(rows, truths, strict=True):
            found = {doc_id for doc_id, _ in index.search(query, k, nprobe)}
            shares.append(len(truth & found) / len(truth) if truth else 1.0)
        recalls[nprobe] = float(np.mean(shares))
    return recalls


def _sample(matrix: np.ndarray, count: int, seed: int) -> np.ndarray:
    if len(matrix) <= count:
        return matrix
    rows = np.random.default_rng(seed).choice(len(matrix), size=count, replace=False)
    return np.ascontiguousarray(matrix[np.sort(rows)])
