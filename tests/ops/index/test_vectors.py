"""FAISS vector index: exact and approximate search, save/load, recall."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from ops.index.vectors import (
    AUTO_RERANK,
    LayeredVectors,
    VectorIndex,
    VectorPart,
    quantiser,
    recall_at_k,
    unit_rows,
)
from ops.settings import Settings


def clustered(count: int, dim: int = 16, clusters: int = 40, seed: int = 0) -> np.ndarray:
    """Unit vectors around a few centres, like content embeddings of similar media."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    points = centres[rng.integers(0, clusters, count)] + 0.3 * rng.normal(size=(count, dim))
    return unit_rows(points)


def ids(count: int) -> list[str]:
    return [f"doc-{row}" for row in range(count)]


def test_exact_search_ranks_by_cosine() -> None:
    vectors = np.array([[1, 0, 0], [0.8, 0.6, 0], [0, 0, 1]], dtype=np.float32)
    index = VectorIndex.build(vectors, ["x", "y", "z"])
    assert index.exact
    found = index.search(np.array([2.0, 0.0, 0.0]), 5)  # not unit: normalised for the query
    assert [doc_id for doc_id, _ in found] == ["x", "y", "z"]
    assert [score for _, score in found] == pytest.approx([1.0, 0.8, 0.0], abs=1e-6)


def test_vectors_are_stored_unit_length() -> None:
    index = VectorIndex.build(np.array([[3.0, 4.0]]), ["x"])
    stored = index.vector_of("x")
    assert stored is not None
    np.testing.assert_allclose(stored, [0.6, 0.8], rtol=1e-6)
    assert index.vector_of("unknown") is None


def test_approximate_index_above_the_threshold_keeps_recall(tmp_path: Path) -> None:
    vectors = clustered(6_000)
    approximate = VectorIndex.build(vectors, ids(6_000), exact_max=1_000)
    exact = VectorIndex.build(vectors, ids(6_000))
    assert not approximate.exact and exact.exact
    assert recall_at_k(approximate, exact, vectors[:50], 10) >= 0.9
    stored = approximate.vector_of("doc-7")
    assert stored is not None
    np.testing.assert_allclose(stored, vectors[7], rtol=1e-5)


@pytest.mark.parametrize("exact_max", [10_000, 100])
def test_save_and_load_give_the_same_answers(tmp_path: Path, exact_max: int) -> None:
    vectors = clustered(2_000)
    built = VectorIndex.build(vectors, ids(2_000), exact_max=exact_max)
    built.save(tmp_path)
    loaded = VectorIndex.load(tmp_path)
    assert (loaded.size, loaded.dim, loaded.exact) == (2_000, 16, built.exact)
    assert loaded.search(vectors[3], 5) == built.search(vectors[3], 5)
    stored = loaded.vector_of("doc-3")
    assert stored is not None
    np.testing.assert_allclose(stored, vectors[3], rtol=1e-5)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "vectors.faiss",
        "vectors.ids.parquet",
    ]  # no temporary files left


def test_an_empty_index_saves_loads_and_finds_nothing(tmp_path: Path) -> None:
    VectorIndex.build(np.zeros((0, 0), dtype=np.float32), []).save(tmp_path)
    loaded = VectorIndex.load(tmp_path)
    assert loaded.size == 0
    assert loaded.search(np.ones(4), 3) == []


def test_k_larger_than_the_index_returns_every_vector() -> None:
    index = VectorIndex.build(clustered(3), ids(3))
    assert len(index.search(clustered(1, seed=1)[0], 10)) == 3


def test_bad_input_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="2 vectors but 1 doc ids"):
        VectorIndex.build(clustered(2), ["a"])
    with pytest.raises(ValueError, match="unique"):
        VectorIndex.build(clustered(2), ["a", "a"])
    index = VectorIndex.build(clustered(2), ["a", "b"])
    with pytest.raises(ValueError, match="one vector of 16 values"):
        index.search(np.ones(3), 1)
    with pytest.raises(ValueError, match="k must be"):
        index.search(np.ones(16), 0)
    with pytest.raises(FileNotFoundError, match=r"vectors\.faiss"):
        VectorIndex.load(tmp_path)


def test_the_quantiser_codes_each_pair_of_dimensions() -> None:
    assert quantiser(128) == "PQ64x4fs,RFlat"
    assert quantiser(7) == "PQ7x4fs,RFlat"


def diffuse(count: int, seed: int = 0) -> np.ndarray:
    """Loosely clustered vectors, where an approximate search misses neighbours."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(count // 10, 16))
    return unit_rows(centres[rng.integers(0, len(centres), count)] + rng.normal(size=(count, 16)))


def test_rerank_is_honoured_at_build_load_and_search(tmp_path: Path) -> None:
    vectors = diffuse(4_000)
    exact = VectorIndex.build(vectors, ids(4_000))
    built = VectorIndex.build(vectors, ids(4_000), exact_max=1_000, rerank=10)
    assert built.rerank == 10
    queries = diffuse(40, seed=1)
    narrow = recall_at_k(built, exact, queries, 10)
    assert narrow == recall_at_k(built, exact, queries, 10, rerank=10) < 0.9
    assert recall_at_k(built, exact, queries, 10, rerank=4_000) == 1.0  # every vector: exact
    built.save(tmp_path)
    assert VectorIndex.load(tmp_path).rerank == AUTO_RERANK  # not the build's value
    loaded = VectorIndex.load(tmp_path, rerank=10)
    assert loaded.rerank == 10
    assert recall_at_k(loaded, exact, queries, 10) == narrow


def test_more_candidates_reranked_never_lower_recall() -> None:
    vectors = diffuse(4_000)
    exact = VectorIndex.build(vectors, ids(4_000))
    approximate = VectorIndex.build(vectors, ids(4_000), exact_max=1_000, seed=3)
    queries = diffuse(40, seed=2)
    recalls = [recall_at_k(approximate, exact, queries, 10, n) for n in (10, 20, 40, 80, 4_000)]
    assert recalls == sorted(recalls)
    assert recalls[0] < recalls[-1] == 1.0


def test_an_exact_index_ignores_rerank(tmp_path: Path) -> None:
    vectors = clustered(500)
    index = VectorIndex.build(vectors, ids(500), rerank=1)
    assert (index.exact, index.rerank) == (True, None)
    assert index.search(vectors[0], 10, rerank=1) == index.search(vectors[0], 10)
    index.save(tmp_path)
    assert VectorIndex.load(tmp_path, rerank=1).rerank is None


def test_a_bad_rerank_is_refused(tmp_path: Path) -> None:
    vectors = clustered(2_000)
    index = VectorIndex.build(vectors, ids(2_000), exact_max=100)
    with pytest.raises(ValueError, match="rerank must be at least 1, got 0"):
        index.search(vectors[0], 5, rerank=0)
    index.save(tmp_path)
    with pytest.raises(ValueError, match="rerank must be at least 1, got -1"):
        VectorIndex.load(tmp_path, rerank=-1)
    with pytest.raises(ValidationError, match="vector_rerank"):
        Settings(vector_rerank=0)
    assert Settings().vector_rerank is None


def test_layered_vectors_answer_as_one_index_without_out_of_date_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    base_vectors = unit_rows(rng.normal(size=(200, 8)))
    query = base_vectors[0]
    base_ids = [f"i{row}" for row in range(200)]
    # The base's best matches for the query are out of date: a newer part redefines them.
    nearest = [doc_id for doc_id, _ in VectorIndex.build(base_vectors, base_ids).search(query, 30)]
    redefined = set(nearest[:20])
    layer_ids = ["i0", "new"]
    layer_vectors = unit_rows(np.vstack([-query, query + 0.01 * rng.normal(size=8)]))
    for folder, vectors, doc_ids in (
        (tmp_path / "base", base_vectors, base_ids),
        (tmp_path / "layer", layer_vectors, layer_ids),
    ):
        folder.mkdir()
        VectorIndex.build(vectors, doc_ids).save(folder, doc_ids)
    layered = LayeredVectors(
        [
            VectorPart.load(tmp_path / "base", stale=redefined | {"gone"}),
            VectorPart.load(tmp_path / "layer"),
        ]
    )
    found = [doc_id for doc_id, _ in layered.search(query, 5)]
    assert found[0] == "new"
    assert found[1:] == nearest[20:24]  # the base answered from deeper down
    stored = layered.vector_of("i0")
    assert stored is not None
    np.testing.assert_allclose(stored, -query, atol=1e-6)  # the newest part's
    assert layered.vector_of(nearest[1]) is None  # redefined without a vector
    assert layered.vector_of(nearest[25]) is not None
    odd = layered.nearest(query[None, :], 3, keep=lambda _, doc_id: doc_id.endswith("1"))
    assert all(hit.doc_id.endswith("1") for hit in odd[0]) and len(odd[0]) == 3
