"""Nearest-neighbour search over unit document vectors (FAISS, inner product = cosine).

Small indexes are searched exactly (``IndexFlatIP``). Above ``exact_max`` vectors a
product-quantised scan picks candidates and the exact vectors re-rank them (FAISS
``PQ{d/2}x4fs,RFlat``: 4-bit codes of every pair of dimensions, scanned with SIMD
look-up tables, then the best ``rerank`` candidates scored exactly). Measured at 1M
128-d vectors on 2 cores (benchmarks/search.py), it built in about 5 s and found
0.98-1.0 of the true top 10 at 256 candidates in about 2 ms, on the clustered and the
diffuse vectors alike. The inverted-file index it replaced (IVF-Flat, 4,000 lists)
built in 105 s and found 0.65 (diffuse) at 500 lists scanned; HNSW (M 32) built in
156-283 s and found 0.22-0.44 of the diffuse top 10, whose true neighbours are spread
through the whole space, so no partition or graph walk reaches them: a scan must.

An index is saved as two files, written atomically, and loaded memory-mapped where
FAISS can, so opening a large version is cheap.

How many candidates are re-ranked (``rerank``) is the recall/latency dial, chosen at
search time: an explicit value (``Settings.vector_rerank``) or ``AUTO_RERANK``.

An index version built incrementally keeps its vectors in parts (ops.index.layers): the
base of its last full build and a few layers; :class:`LayeredVectors` searches them as
one, leaving out the vectors of items that a newer part redefines.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ops.atomic import atomic_path, write_table

INDEX_FILE = "vectors.faiss"
IDS_FILE = "vectors.ids.parquet"

EXACT_MAX_VECTORS = 50_000
"""Up to this many vectors a brute-force scan is fast enough (a few ms) and exact."""

TRAINING_VECTORS = 65_536
"""Sample the product quantiser is trained on (16 centroids per pair of dimensions)."""

AUTO_RERANK = 256
"""Candidates re-ranked exactly unless told otherwise: at 1M, recall@10 1.0 (clustered)
and 0.98 (diffuse); 1,024 found 0.998 of the diffuse top 10 for about 1 ms more."""


def _faiss() -> Any:
    import faiss

    return faiss


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Vectors as a C-contiguous float32 matrix with rows of length 1 (zero rows stay 0)."""
    matrix = np.ascontiguousarray(np.atleast_2d(np.asarray(vectors, dtype=np.float32)))
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.ascontiguousarray(matrix / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def use_search_threads(threads: int) -> None:
    """FAISS's threads for this process's searches. One query is a short scan: on 2
    shared cores one thread answered as fast at the median and spiked less than two
    (OpenMP's wake-ups), so readers set 1 (``Settings.vector_search_threads``)."""
    _faiss().omp_set_num_threads(threads)


def quantiser(dim: int) -> str:
    """The FAISS factory string of the approximate index for ``dim``-d vectors: 4-bit
    codes of each pair of dimensions (each single one when ``dim`` is odd)."""
    return f"PQ{dim // 2 if dim % 2 == 0 else dim}x4fs,RFlat"


class VectorIndex:
    """Document vectors searchable by similarity; row i belongs to ``doc_ids[i]``."""

    def __init__(self, index: Any, doc_ids: Sequence[str], rerank: int | None = None) -> None:
        if index.ntotal != len(doc_ids):
            raise ValueError(f"index holds {index.ntotal} vectors but {len(doc_ids)} doc ids")
        self._index = index
        self.doc_ids = list(doc_ids)
        self._rows: dict[str, int] | None = None
        self._rerank = self._candidates(rerank)

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
    def rerank(self) -> int | None:
        """Candidates a search re-ranks unless told otherwise; None for an exact index."""
        return self._rerank

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        doc_ids: Sequence[str],
        *,
        exact_max: int = EXACT_MAX_VECTORS,
        seed: int = 0,
        rerank: int | None = None,
    ) -> VectorIndex:
        """An index over ``vectors`` (normalised here): exact up to ``exact_max`` rows.

        ``rerank`` is the default candidates per search (None: ``AUTO_RERANK``); it is not
        saved.
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
            index = faiss.index_factory(dim, quantiser(dim), faiss.METRIC_INNER_PRODUCT)
            index.train(_sample(matrix, TRAINING_VECTORS, seed))
        if len(matrix):
            index.add(matrix)
        return cls(index, doc_ids, rerank)

    def save(self, folder: Path, item_ids: Sequence[str] | None = None) -> None:
        """Write the index and its doc ids (with the item of each, when given) into
        ``folder``, each file appearing complete."""
        faiss = _faiss()
        with atomic_path(folder / INDEX_FILE) as tmp:
            faiss.write_index(self._index, str(tmp))
        columns = {"doc_id": pa.array(self.doc_ids, pa.string())}
        if item_ids is not None:
            columns["item_id"] = pa.array(item_ids, pa.string())
        write_table(pa.table(columns), folder / IDS_FILE)

    @classmethod
    def load(cls, folder: Path, rerank: int | None = None) -> VectorIndex:
        """Open a saved index read-only (memory-mapped where FAISS can), re-ranking
        ``rerank`` candidates per search by default (None: ``AUTO_RERANK``)."""
        faiss = _faiss()
        path = folder / INDEX_FILE
        if not path.is_file():
            raise FileNotFoundError(f"vector index not found: {path}")
        flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY
        index = faiss.read_index(str(path), flags)
        doc_ids = pq.read_table(folder / IDS_FILE).column("doc_id").to_pylist()
        return cls(index, doc_ids, rerank)

    def search(
        self, vector: np.ndarray, k: int, rerank: int | None = None
    ) -> list[tuple[str, float]]:
        """The ``k`` most similar documents to ``vector``, best first, with cosine scores.

        ``rerank`` overrides the candidates re-ranked for this call (an exact index scores
        everything and ignores it).
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if self.size == 0:
            return []
        query = unit_rows(vector)
        if query.shape != (1, self.dim):
            raise ValueError(f"query must be one vector of {self.dim} values, got {query.shape}")
        scores, rows = self.search_rows(query, k, rerank)
        return [
            (self.doc_ids[row], float(score))
            for row, score in zip(rows[0].tolist(), scores[0].tolist(), strict=True)
            if row >= 0
        ]

    def search_rows(
        self, queries: np.ndarray, k: int, rerank: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores and rows (-1: none) of the ``k`` nearest of each unit query row, in one
        call (rows x min(k, size) arrays)."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        candidates = self._candidates(rerank) if rerank is not None else self._rerank
        wanted = min(k, self.size)
        if wanted == 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        # Per-call parameters, not the index's own: concurrent requests share the index.
        params = (
            None
            if candidates is None
            else _faiss().IndexRefineSearchParameters(k_factor=max(1.0, candidates / wanted))
        )
        scores, rows = self._index.search(
            np.ascontiguousarray(queries, dtype=np.float32), wanted, params=params
        )
        return scores, rows

    def matrix(self) -> np.ndarray:
        """Every stored unit vector, in row order (exact: an approximate index re-ranks
        with the vectors themselves)."""
        if self.size == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self._index.reconstruct_n(0, self.size), dtype=np.float32)

    def vector_of(self, doc_id: str) -> np.ndarray | None:
        """The stored unit vector of a document, or None when it has none."""
        row = self.row_of(doc_id)
        return None if row is None else self.reconstruct(row)

    def reconstruct(self, row: int) -> np.ndarray:
        """The stored unit vector of row ``row``."""
        return np.asarray(self._index.reconstruct(row), dtype=np.float32)

    def row_of(self, doc_id: str) -> int | None:
        """The row of a document's vector, or None when it has none."""
        if self._rows is None:
            self._rows = {doc_id: row for row, doc_id in enumerate(self.doc_ids)}
        return self._rows.get(doc_id)

    def _candidates(self, rerank: int | None) -> int | None:
        """``rerank`` checked; ``AUTO_RERANK`` for None; None for an exact index."""
        if rerank is not None and rerank < 1:
            raise ValueError(f"rerank must be at least 1, got {rerank}")
        if self.exact:
            return None
        return rerank if rerank is not None else AUTO_RERANK


Keep = Callable[[int, str], bool]
"""Whether a search keeps a candidate: (query number, doc id) -> keep."""


@dataclass(frozen=True)
class VectorPart:
    """One part of a layered index: its vectors, the item of each row, and the items a
    newer part redefines (their rows here are out of date)."""

    index: VectorIndex
    item_ids: Sequence[str]
    stale: Collection[str]

    @classmethod
    def load(
        cls, folder: Path, stale: Collection[str] = frozenset(), rerank: int | None = None
    ) -> VectorPart:
        """A saved index (its rows' items from the ids file; a doc id is its own item in
        an index saved without them)."""
        index = VectorIndex.load(folder, rerank)
        names = pq.read_schema(folder / IDS_FILE).names
        items = (
            pq.read_table(folder / IDS_FILE, columns=["item_id"]).column(0).to_pylist()
            if "item_id" in names
            else index.doc_ids
        )
        return cls(index, items, stale)

    def live(self, row: int) -> bool:
        return self.item_ids[row] not in self.stale

    def search_many(
        self, queries: np.ndarray, k: int, rerank: int | None, keep: Keep | None
    ) -> list[list[tuple[int, float]]]:
        """Each query's ``k`` best live (and kept) rows with their scores; a query whose
        first candidates were mostly out of date or refused asks again for four times as
        many."""
        found: list[list[tuple[int, float]]] = [[] for _ in range(len(queries))]
        pending = np.arange(len(queries))
        fetch = k if not self.stale and keep is None else 2 * k
        while pending.size:
            scores, rows = self.index.search_rows(queries[pending], fetch, rerank)
            short = []
            for at, query in enumerate(pending.tolist()):
                hits = [
                    (row, float(score))
                    for row, score in zip(rows[at].tolist(), scores[at].tolist(), strict=True)
                    if row >= 0
                    and self.live(row)
                    and (keep is None or keep(query, self.index.doc_ids[row]))
                ]
                found[query] = hits[:k]
                if len(hits) < k and fetch < self.index.size:
                    short.append(query)
            pending = np.asarray(short, dtype=np.int64)
            fetch = min(self.index.size, fetch * 4)
        return found


class Hit(NamedTuple):
    """A search answer of a layered index: the document, its score, and where its vector
    lies (part, row)."""

    doc_id: str
    score: float
    part: int
    row: int


class LayeredVectors:
    """Vectors in parts, oldest first, searched as one index: every part answers, the
    answers merge by score, and no part returns an item that a newer part redefines."""

    def __init__(self, parts: Sequence[VectorPart]) -> None:
        self.parts = list(parts)

    def search(
        self, vector: np.ndarray, k: int, rerank: int | None = None
    ) -> list[tuple[str, float]]:
        """The ``k`` most similar live documents to ``vector``, best first (as
        :meth:`VectorIndex.search`)."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        return [(hit.doc_id, hit.score) for hit in self.nearest(unit_rows(vector), k, rerank)[0]]

    def nearest(
        self, queries: np.ndarray, k: int, rerank: int | None = None, keep: Keep | None = None
    ) -> list[list[Hit]]:
        """The ``k`` most similar live documents to each unit query row that ``keep``
        accepts, best first."""
        merged: list[list[Hit]] = [[] for _ in range(len(queries))]
        for number, part in enumerate(self.parts):
            if part.index.size == 0:
                continue
            if queries.shape[1] != part.index.dim:
                raise ValueError(f"queries must have {part.index.dim} values each")
            for query, hits in enumerate(part.search_many(queries, k, rerank, keep)):
                merged[query] += [
                    Hit(part.index.doc_ids[row], score, number, row) for row, score in hits
                ]
        return [sorted(hits, key=lambda hit: -hit.score)[:k] for hits in merged]

    def with_part(self, part: VectorPart, redefined: Collection[str]) -> LayeredVectors:
        """This index and a newer ``part``, which defines the items ``redefined`` again."""
        keys = frozenset(redefined)
        older = [replace(old, stale=keys | frozenset(old.stale)) for old in self.parts]
        return LayeredVectors([*older, part])

    def vector_at(self, part: int, row: int) -> np.ndarray:
        """The unit vector stored in row ``row`` of part ``part``."""
        return self.parts[part].index.reconstruct(row)

    def vector_of(self, doc_id: str) -> np.ndarray | None:
        """The live unit vector of a document, or None when it has none."""
        for number in reversed(range(len(self.parts))):
            row = self.parts[number].index.row_of(doc_id)
            if row is not None:
                return self.vector_at(number, row) if self.parts[number].live(row) else None
        return None


def recall_at_k(
    index: VectorIndex,
    exact: VectorIndex,
    queries: np.ndarray,
    k: int,
    rerank: int | None = None,
) -> float:
    """Mean share of the exact top-``k`` that ``index`` (at ``rerank``) also returns."""
    return recall_by_rerank(index, exact, queries, k, [rerank])[rerank]


def recall_by_rerank(
    index: VectorIndex,
    exact: VectorIndex,
    queries: np.ndarray,
    k: int,
    reranks: Sequence[int | None],
) -> dict[int | None, float]:
    """recall@k of ``index`` at each of ``reranks``, the exact answers searched once."""
    if len(queries) == 0:
        raise ValueError("recall needs at least one query")
    rows = unit_rows(queries)
    truths = [{doc_id for doc_id, _ in exact.search(query, k)} for query in rows]
    recalls: dict[int | None, float] = {}
    for rerank in reranks:
        shares = []
        for query, truth in zip(rows, truths, strict=True):
            found = {doc_id for doc_id, _ in index.search(query, k, rerank)}
            shares.append(len(truth & found) / len(truth) if truth else 1.0)
        recalls[rerank] = float(np.mean(shares))
    return recalls


def _sample(matrix: np.ndarray, count: int, seed: int) -> np.ndarray:
    if len(matrix) <= count:
        return matrix
    rows = np.random.default_rng(seed).choice(len(matrix), size=count, replace=False)
    return np.ascontiguousarray(matrix[np.sort(rows)])
