"""Fused item vectors: a content embedding and a metadata vector, each weighted, in one vector.

Both parts are L2-normalised and scaled by the square root of their weight, so with weights
summing to 1 the inner product of two fused vectors is the weighted sum of the two cosines:
``content_weight * cos(content) + metadata_weight * cos(metadata)``. Items without a content
vector (images and music until their models exist, or an embedding that is zero or not
finite) use the metadata part alone, re-normalised to unit length.

The metadata vector is TF-IDF over the words of title and description, whole tags, whole
credited names, the kind and the decade, reduced with TruncatedSVD (LSA) when both the
vocabulary and the catalog are larger than ``metadata_dim``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ops.index.vectors import unit_rows
from ops.recommend.params import FusionParams

log = logging.getLogger(__name__)

METADATA_COLUMNS = ("item_id", "kind", "title", "description", "year", "tags", "people")
_WORD = re.compile(r"[^\W\d_]{2,}")


@dataclass(frozen=True)
class FusedVectors:
    """One unit-length row per item, in ``item_ids`` order; ``has_content`` per row."""

    item_ids: tuple[str, ...]
    matrix: np.ndarray
    has_content: np.ndarray


def fuse_item_vectors(
    catalog: pd.DataFrame,
    item_vectors: Mapping[str, np.ndarray],
    params: FusionParams | None = None,
) -> FusedVectors:
    """Fused vectors of every catalog row (Item contract columns), in catalog order.

    ``item_vectors`` maps item_id to its content embedding; all must share one dimension.
    Entries for items not in ``catalog`` are ignored.
    """
    params = params or FusionParams()
    missing = [name for name in METADATA_COLUMNS if name not in catalog.columns]
    if missing:
        raise ValueError(f"catalog lacks the column(s) {missing} needed for item vectors")
    item_ids = tuple(str(item_id) for item_id in catalog["item_id"])
    metadata = metadata_vectors(catalog, params)
    content, has_content = _content_matrix(item_ids, item_vectors)
    content_part = np.sqrt(params.content_weight) * content
    metadata_scale = np.where(has_content, np.sqrt(params.metadata_weight), 1.0)
    fused = np.hstack([content_part, metadata * metadata_scale[:, None]]).astype(np.float32)
    return FusedVectors(item_ids=item_ids, matrix=unit_rows(fused), has_content=has_content)


def metadata_vectors(catalog: pd.DataFrame, params: FusionParams | None = None) -> np.ndarray:
    """Unit-length metadata vectors (TF-IDF, LSA-reduced when large), one row per item."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    params = params or FusionParams()
    documents = [metadata_tokens(row) for row in catalog.to_dict("records")]
    if not documents:
        return np.zeros((0, 1), dtype=np.float32)
    vectorizer = TfidfVectorizer(analyzer=_identity, sublinear_tf=True)
    tfidf = vectorizer.fit_transform(documents)
    n_items, vocabulary = tfidf.shape
    if vocabulary > params.metadata_dim and n_items > params.metadata_dim:
        svd = TruncatedSVD(n_components=params.metadata_dim, random_state=params.seed)
        dense = svd.fit_transform(tfidf)
    else:
        dense = tfidf.toarray()
    return unit_rows(dense.astype(np.float32))


def metadata_tokens(row: Mapping[str, Any]) -> list[str]:
    """The terms of one item: words of title and description, whole tags and names, kind,
    decade. Tags and names stay whole (``person:buster keaton``) so they match as a unit."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    text = " ".join(str(row[name]) for name in ("title", "description") if _present(row[name]))
    tokens = [word for word in _WORD.findall(text.lower()) if word not in ENGLISH_STOP_WORDS]
    tokens += [f"tag:{tag.strip().lower()}" for tag in as_list(row["tags"]) if tag.strip()]
    tokens += [f"person:{name.strip().lower()}" for name in as_list(row["people"]) if name.strip()]
    if _present(row["kind"]):
        tokens.append(f"kind:{row['kind']}")
    if _present(row["year"]):
        tokens.append(f"decade:{int(row['year']) // 10 * 10}s")
    return tokens


def as_list(value: object) -> list[str]:
    """A list cell (list, numpy array or missing) as a list of strings."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        return [str(element) for element in value if _present(element)]
    return []


def _content_matrix(
    item_ids: Sequence[str], item_vectors: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Unit content vectors (zero rows where absent) and which rows have one."""
    present = [item_id for item_id in item_ids if item_id in item_vectors]
    dimensions = {np.asarray(item_vectors[item_id]).reshape(-1).size for item_id in present}
    if len(dimensions) > 1:
        by_dim: dict[int, str] = {}
        for item_id in present:
            by_dim.setdefault(np.asarray(item_vectors[item_id]).reshape(-1).size, item_id)
        raise ValueError(
            "content vectors of different dimensions cannot be fused: "
            + ", ".join(f"{dim} (e.g. {item_id})" for dim, item_id in sorted(by_dim.items()))
        )
    dimension = dimensions.pop() if dimensions else 0
    content = np.zeros((len(item_ids), dimension), dtype=np.float32)
    has_content = np.zeros(len(item_ids), dtype=bool)
    unusable: list[str] = []
    for row, item_id in enumerate(item_ids):
        if item_id not in item_vectors:
            continue
        vector = np.asarray(item_vectors[item_id], dtype=np.float64).reshape(-1)
        norm = float(np.linalg.norm(vector))
        if not np.isfinite(norm) or norm == 0.0:
            unusable.append(item_id)
            continue
        content[row] = vector / norm
        has_content[row] = True
    if unusable:
        log.warning(
            "%d content vector(s) are zero or not finite; metadata alone is used for: %s",
            len(unusable),
            ", ".join(unusable[:10]) + (" ..." if len(unusable) > 10 else ""),
        )
    return content, has_content


def _present(value: object) -> bool:
    """A scalar cell holds a value (not None, NaN or NA)."""
    return not bool(pd.isna(value))


def _identity(tokens: list[str]) -> list[str]:
    return tokens
