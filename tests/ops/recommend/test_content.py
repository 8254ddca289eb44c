"""Fused item vectors: weighted content + metadata, metadata alone where content is absent."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from ops.catalog.schema import ITEM_SCHEMA
from ops.recommend.content import (
    FusionParams,
    fuse_item_vectors,
    metadata_tokens,
    metadata_vectors,
)


def catalog_of(*rows: dict[str, object]) -> pd.DataFrame:
    """Item contract rows; only the columns the vectors read need to be given."""
    full = [{"source": "archive", "url": "https://a.example/x", "status": "ok", **r} for r in rows]
    return pa.Table.from_pylist(full, schema=ITEM_SCHEMA).to_pandas()


CATALOG = catalog_of(
    {
        "item_id": "keaton-1",
        "kind": "video",
        "title": "The General",
        "description": "A train engineer chases stolen locomotives",
        "year": 1926,
        "tags": ["silent", "comedy"],
        "people": ["Buster Keaton"],
    },
    {
        "item_id": "keaton-2",
        "kind": "video",
        "title": "Sherlock Jr.",
        "description": "A projectionist dreams he is a detective",
        "year": 1924,
        "tags": ["silent", "comedy"],
        "people": ["Buster Keaton"],
    },
    {
        "item_id": "nocturne",
        "kind": "audio",
        "title": "Nocturne in E flat",
        "description": "Piano recording",
        "year": 1990,
        "tags": ["classical"],
        "people": ["Frederic Chopin"],
    },
    {"item_id": "sunset", "kind": "image", "title": "Sunset over the bay", "tags": None},
)
RNG = np.random.default_rng(7)
VECTORS = {"keaton-1": RNG.normal(size=16), "keaton-2": RNG.normal(size=16)}


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_fused_inner_product_is_the_weighted_sum_of_cosines() -> None:
    params = FusionParams(content_weight=0.7, metadata_weight=0.3)
    fused = fuse_item_vectors(CATALOG, VECTORS, params)
    metadata = metadata_vectors(CATALOG, params)
    assert fused.item_ids == ("keaton-1", "keaton-2", "nocturne", "sunset")
    assert fused.has_content.tolist() == [True, True, False, False]
    np.testing.assert_allclose(np.linalg.norm(fused.matrix, axis=1), 1.0, rtol=1e-5)
    expected = 0.7 * cosine(VECTORS["keaton-1"], VECTORS["keaton-2"]) + 0.3 * float(
        metadata[0] @ metadata[1]
    )
    assert float(fused.matrix[0] @ fused.matrix[1]) == pytest.approx(expected, abs=1e-5)


def test_items_without_content_use_metadata_alone() -> None:
    fused = fuse_item_vectors(CATALOG, VECTORS)
    metadata = metadata_vectors(CATALOG)
    content_dim = 16
    assert not fused.matrix[2, :content_dim].any()
    np.testing.assert_allclose(fused.matrix[2, content_dim:], metadata[2], atol=1e-6)
    assert float(fused.matrix[3] @ fused.matrix[3]) == pytest.approx(1.0, abs=1e-5)


def test_a_catalog_without_any_content_vector_is_metadata_only() -> None:
    fused = fuse_item_vectors(CATALOG, {})
    np.testing.assert_allclose(fused.matrix, metadata_vectors(CATALOG), atol=1e-6)


def test_zero_or_non_finite_content_falls_back_to_metadata_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    vectors = {"keaton-1": np.zeros(16), "keaton-2": np.full(16, np.nan)}
    with caplog.at_level(logging.WARNING):
        fused = fuse_item_vectors(CATALOG, vectors)
    assert fused.has_content.tolist() == [False] * 4
    assert "keaton-1, keaton-2" in caplog.text


def test_content_vectors_of_different_dimensions_are_refused() -> None:
    with pytest.raises(ValueError, match=r"different dimensions.*8 \(e.g. keaton-2\)"):
        fuse_item_vectors(CATALOG, {"keaton-1": np.ones(16), "keaton-2": np.ones(8)})


def test_shared_people_and_tags_bring_items_closer() -> None:
    metadata = metadata_vectors(CATALOG)
    assert float(metadata[0] @ metadata[1]) > 0.3
    assert float(metadata[0] @ metadata[2]) < 0.05
    assert float(metadata[1] @ metadata[3]) < 0.05


def test_metadata_tokens_keep_names_and_tags_whole() -> None:
    row = CATALOG.to_dict("records")[0]
    tokens = metadata_tokens(row)
    assert "person:buster keaton" in tokens
    assert {"tag:silent", "tag:comedy", "kind:video", "decade:1920s"} <= set(tokens)
    assert {"general", "train", "locomotives"} <= set(tokens)
    assert "the" not in tokens  # English stop words carry nothing
    assert metadata_tokens(CATALOG.to_dict("records")[3]) == ["sunset", "bay", "kind:image"]


def test_large_vocabularies_are_reduced_to_metadata_dim() -> None:
    words = [f"word{chr(97 + i % 26)}{chr(97 + i // 26)}" for i in range(60)]
    rows = [
        {
            "item_id": f"item-{i}",
            "kind": "video",
            "title": f"{words[i]} {words[(i + 1) % 60]}",
            "tags": [f"tag{i % 7}"],
            "people": [f"Person {i % 5}"],
        }
        for i in range(40)
    ]
    catalog = catalog_of(*rows)
    reduced = metadata_vectors(catalog, FusionParams(metadata_dim=8))
    assert reduced.shape == (40, 8)
    np.testing.assert_allclose(np.linalg.norm(reduced, axis=1), 1.0, rtol=1e-5)
    # 54 terms > 48, but only 40 items: reducing would not compress, so the TF-IDF stays whole
    full = metadata_vectors(catalog, FusionParams(metadata_dim=48))
    assert full.shape == (40, 54)
    np.testing.assert_array_equal(reduced, metadata_vectors(catalog, FusionParams(metadata_dim=8)))


def test_missing_columns_and_bad_weights_are_refused() -> None:
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['people'\]"):
        fuse_item_vectors(CATALOG.drop(columns=["people"]), VECTORS)
    with pytest.raises(ValueError, match="metadata_weight"):
        FusionParams(metadata_weight=0.0)
