"""Build the recommendation index of one index version: ``similar.parquet`` + ``recommend.json``.

For every ok catalog item: candidates by inner product over the fused vectors (exact FAISS),
plus, with an interactions file, neighbours in the collaborative item space; never the item
itself nor a duplicate of it (same sha256, or fused cosine >= ``duplicate_cosine``). Pairs of
items that both have enough interactions score ``(1 - w) * content + w * cf``; others keep
the content score. Candidates scoring under ``min_score`` are unrelated and left out, so an
item may get fewer than ``k``. MMR then picks ``k`` of the best ``candidate_factor * k`` for
diversity, and they are ranked by score. Each item gets two lists: ``scope="kind"`` among
items of its own kind (what is served by default) and ``scope="any"`` across kinds; a
picture or video with a mood gets a third, ``scope="music"``: tracks by mood
(ops.recommend.by_mood).
With interactions, recall@k of content-only, cf-only and the blend is measured on a
time-based split (:func:`ops.recommend.collaborative.evaluate_time_split`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import sparse
from threadpoolctl import threadpool_limits

from ops.atomic import atomic_open, write_table
from ops.recommend.by_mood import music_rows
from ops.recommend.collaborative import evaluate_time_split, fit_als, interaction_matrix
from ops.recommend.content import METADATA_COLUMNS, FusedVectors, as_list, fuse_item_vectors
from ops.recommend.interactions import read_interactions
from ops.recommend.mmr import mmr_rerank
from ops.recommend.params import RecommendParams

log = logging.getLogger(__name__)

SIMILAR_FILE = "similar.parquet"
METRICS_FILE = "recommend.json"
REFUSED_FILE = "interactions.refused.csv"

SIMILAR_SCHEMA = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("rank", pa.int32(), nullable=False),
        pa.field("similar_item_id", pa.string(), nullable=False),
        pa.field("score", pa.float32(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("scope", pa.string(), nullable=False),  # SAME_KIND, ANY_KIND or MUSIC_FOR
    ]
)
SAME_KIND, ANY_KIND = "kind", "any"

CATALOG_COLUMNS = (*METADATA_COLUMNS, "sha256", "status")
_VERBS = {"video": "watched", "audio": "listened to", "image": "viewed"}
_REASON_NAMES = 3
_REASON_TITLE_CHARS = 60
_QUERY_BLOCK = 1024  # items whose neighbours one FAISS call finds


@dataclass(frozen=True)
class RecommendationSummary:
    """What a build wrote; ``recall`` (content, cf, blend) only when it could be measured."""

    items: int
    rows: int
    k: int
    items_with_content: int
    similar_path: Path
    metrics_path: Path
    collaborative: bool
    recall: Mapping[str, float] | None
    refused_interactions: int


@dataclass(frozen=True)
class _Collaborative:
    """The collaborative side as the index uses it (a model fitted on every interaction)."""

    vectors: np.ndarray  # unit item factors, zero rows for items without interactions
    warm: np.ndarray  # item has at least min_item_interactions events
    item_users: sparse.csc_matrix  # users x items, 1 where the user had the item


@dataclass(frozen=True)
class _Items:
    """The catalog columns the reasons need, one entry per fused row."""

    titles: list[str]
    kinds: list[str]
    people: list[list[str]]
    tags: list[list[str]]
    sha256: list[str | None]


def build_recommendations(
    catalog: pd.DataFrame,
    item_vectors: Mapping[str, np.ndarray],
    folder: Path,
    *,
    k: int = 10,
    interactions_path: Path | None = None,
    params: RecommendParams | None = None,
    moods: Mapping[str, str] | None = None,
) -> RecommendationSummary:
    """Write ``folder/similar.parquet`` (top-``k`` per ok item) and ``folder/recommend.json``.

    ``catalog`` holds Item contract rows (only ``status == "ok"`` rows are used);
    ``item_vectors`` maps item_id to its content embedding (absent: metadata only);
    ``moods`` maps item_id to its mood, for the music offered with pictures and videos
    (ops.recommend.by_mood).
    Refused interaction rows go to ``folder/interactions.refused.csv``.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    params = params or RecommendParams()
    items_frame = _ok_items(catalog)
    fused = fuse_item_vectors(items_frame, item_vectors, params.fusion)
    collaborative: _Collaborative | None = None
    interactions_report: dict[str, Any] | None = None
    recall: dict[str, float] | None = None
    refused = 0
    if interactions_path is not None:
        interactions = read_interactions(
            interactions_path, fused.item_ids, refused_path=folder / REFUSED_FILE
        )
        refused = len(interactions.refused)
        evaluation = evaluate_time_split(
            interactions.frame,
            fused.item_ids,
            fused.matrix,
            k=k,
            cf_weight=params.cf_weight,
            min_item_interactions=params.min_item_interactions,
            test_fraction=params.test_fraction,
            als=params.als,
        )
        recall = evaluation.recall
        collaborative = _fit_collaborative(interactions.frame, fused.item_ids, params)
        interactions_report = {
            "file": str(interactions_path),
            "rows": len(interactions.frame),
            "refused": refused,
            "refused_file": str(interactions.refused_path) if interactions.refused_path else None,
            "users": int(interactions.frame["user"].nunique()),
            "items_with_interactions": int(interactions.frame["item"].nunique()),
            "warm_items": int(collaborative.warm.sum()),
            "evaluation": asdict(evaluation),
        }
    rows = _scoped_rows(_item_info(items_frame), fused, collaborative, k, params)
    kinds = dict(zip(items_frame["item_id"], items_frame["kind"], strict=True))
    rows += music_rows(moods or {}, kinds, k)
    similar_path, metrics_path = folder / SIMILAR_FILE, folder / METRICS_FILE
    write_table(pa.Table.from_pylist(rows, schema=SIMILAR_SCHEMA), similar_path)
    summary = RecommendationSummary(
        items=len(fused.item_ids),
        rows=len(rows),
        k=k,
        items_with_content=int(fused.has_content.sum()),
        similar_path=similar_path,
        metrics_path=metrics_path,
        collaborative=collaborative is not None,
        recall=recall,
        refused_interactions=refused,
    )
    metrics = {
        "k": k,
        "items": summary.items,
        "rows": summary.rows,
        "items_with_content": summary.items_with_content,
        "params": params.model_dump(),
        "interactions": interactions_report,
    }
    with atomic_open(metrics_path) as handle:
        json.dump(metrics, handle, indent=2)
    log.info(
        "recommendations: %d items, %d rows, %d with content vectors%s",
        summary.items,
        summary.rows,
        summary.items_with_content,
        f", recall@{k} {recall}" if recall else "",
    )
    return summary


def _ok_items(catalog: pd.DataFrame) -> pd.DataFrame:
    missing = [name for name in CATALOG_COLUMNS if name not in catalog.columns]
    if missing:
        raise ValueError(f"catalog lacks the Item column(s) {missing}")
    items = catalog[catalog["status"] == "ok"].reset_index(drop=True)
    duplicated = sorted(set(items.loc[items["item_id"].duplicated(), "item_id"]))
    if duplicated:
        raise ValueError(f"catalog has duplicate ok item_id(s): {duplicated[:5]}")
    return items


def _item_info(items: pd.DataFrame) -> _Items:
    def text(value: object) -> str:
        return "" if pd.isna(value) else str(value)

    return _Items(
        titles=[text(title) for title in items["title"]],
        kinds=[text(kind) for kind in items["kind"]],
        people=[as_list(cell) for cell in items["people"]],
        tags=[as_list(cell) for cell in items["tags"]],
        sha256=[text(sha) or None for sha in items["sha256"]],
    )


def _fit_collaborative(
    interactions: pd.DataFrame, item_ids: Sequence[str], params: RecommendParams
) -> _Collaborative:
    model = fit_als(interactions, item_ids, params.als)
    weights, _ = interaction_matrix(interactions, item_ids)
    return _Collaborative(
        vectors=model.unit_item_factors(),
        warm=model.item_interactions >= params.min_item_interactions,
        item_users=(weights > 0).astype(np.int8).tocsc(),
    )


def _scoped_rows(
    items: _Items,
    fused: FusedVectors,
    collaborative: _Collaborative | None,
    k: int,
    params: RecommendParams,
) -> list[dict[str, Any]]:
    """Every item's rows among its own kind (one search per kind), then across kinds."""
    everything = _similar_rows(items, fused, collaborative, k, params, ANY_KIND)
    kinds = np.asarray(items.kinds, dtype=object)
    rows: list[dict[str, Any]] = []
    for kind in sorted(set(items.kinds)):
        members = np.flatnonzero(kinds == kind)
        if members.size == len(kinds):  # one kind only: the same lists
            rows += [row | {"scope": SAME_KIND} for row in everything]
            continue
        rows += _similar_rows(
            _take_items(items, members),
            FusedVectors(
                tuple(fused.item_ids[row] for row in members),
                fused.matrix[members],
                fused.has_content[members],
            ),
            None
            if collaborative is None
            else _Collaborative(
                collaborative.vectors[members],
                collaborative.warm[members],
                collaborative.item_users[:, members],
            ),
            k,
            params,
            SAME_KIND,
        )
    return rows + everything


def _take_items(items: _Items, rows: np.ndarray) -> _Items:
    return _Items(
        titles=[items.titles[row] for row in rows],
        kinds=[items.kinds[row] for row in rows],
        people=[items.people[row] for row in rows],
        tags=[items.tags[row] for row in rows],
        sha256=[items.sha256[row] for row in rows],
    )


def _similar_rows(
    items: _Items,
    fused: FusedVectors,
    collaborative: _Collaborative | None,
    k: int,
    params: RecommendParams,
    scope: str,
) -> list[dict[str, Any]]:
    """Every item's top-k rows (at most), in item order then rank."""
    item_ids = fused.item_ids
    if len(item_ids) < 2:
        return []
    finder = _CandidateFinder(items, fused, collaborative, params, pool=params.candidate_factor * k)
    rows: list[dict[str, Any]] = []
    for start in range(0, len(item_ids), _QUERY_BLOCK):
        block = range(start, min(len(item_ids), start + _QUERY_BLOCK))
        nearest = finder.search(block)
        # Tiny per-item products: multi-threaded BLAS only fights FAISS's idle OpenMP threads.
        with threadpool_limits(limits=1, user_api="blas"):
            for row, candidates, scores, blended in finder.candidates(block, nearest):
                related = np.flatnonzero(scores >= params.min_score)
                if not related.size:
                    continue
                vectors = fused.matrix[candidates[related]]
                chosen = mmr_rerank(scores[related], vectors @ vectors.T, k, params.mmr_lambda)
                picks = sorted((int(related[pick]) for pick in chosen), key=lambda p: -scores[p])
                for rank, pick in enumerate(picks, start=1):
                    other = int(candidates[pick])
                    rows.append(
                        {
                            "item_id": item_ids[row],
                            "rank": rank,
                            "similar_item_id": item_ids[other],
                            "score": float(scores[pick]),
                            "reason": _reason(
                                items, fused, collaborative, row, other, blended[pick]
                            ),
                            "scope": scope,
                        }
                    )
    return rows


@dataclass(frozen=True)
class _Nearest:
    """One block's first neighbours: content rows per item (FAISS order, -1 padded) and,
    for warm items, collaborative neighbours as catalog rows."""

    depth: int
    content: np.ndarray
    collaborative: list[np.ndarray] | None


class _CandidateFinder:
    """Scored candidates per item: nearest by content, plus collaborative neighbours."""

    def __init__(
        self,
        items: _Items,
        fused: FusedVectors,
        collaborative: _Collaborative | None,
        params: RecommendParams,
        pool: int,
    ) -> None:
        self.items, self.fused, self.params, self.pool = items, fused, params, pool
        self.count = len(fused.item_ids)
        self.content_index = _flat_index(fused.matrix)
        self.cf: tuple[_Collaborative, Any, np.ndarray] | None = None
        if collaborative is not None and collaborative.warm.any():
            warm_rows = np.flatnonzero(collaborative.warm)
            self.cf = (collaborative, _flat_index(collaborative.vectors[warm_rows]), warm_rows)
        groups: dict[str, list[int]] = {}
        for row, sha in enumerate(items.sha256):
            if sha:
                groups.setdefault(sha, []).append(row)
        self.same_content = {row: group for group in groups.values() for row in group}
        self.largest_group = max((len(group) for group in groups.values()), default=1)

    def search(self, block: range) -> _Nearest:
        """The first content (and collaborative) neighbours of ``block``, in one batch."""
        depth = min(self.count, self.pool + self.largest_group)
        _, content = self.content_index.search(self.fused.matrix[block.start : block.stop], depth)
        return _Nearest(depth=depth, content=content, collaborative=self._cf_block(block))

    def candidates(
        self, block: range, nearest: _Nearest
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """Per item of ``block``: (row, candidate rows, blended scores, whether the cf blend
        applied), best first, without the item, its duplicates or duplicates of each other."""
        for offset, row in enumerate(block):
            found = self._content_neighbours(row, nearest.content[offset], nearest.depth)
            if nearest.collaborative is not None and nearest.collaborative[offset].size:
                found = np.union1d(
                    found, self._not_duplicate_of(row, nearest.collaborative[offset])
                )
            if found.size == 0:
                continue
            scores, blended = self._scores(row, found)
            order = np.argsort(-scores, kind="stable")
            found, scores, blended = found[order], scores[order], blended[order]
            keep = self._distinct(found)
            yield row, found[keep], scores[keep], blended[keep]

    def _content_neighbours(self, row: int, nearest: np.ndarray, depth: int) -> np.ndarray:
        """At least ``pool`` rows that are neither the item nor its duplicates (if there are),
        searching deeper for the rare item whose first neighbours were mostly duplicates."""
        while True:
            rows = self._not_duplicate_of(row, nearest[nearest >= 0])
            if rows.size >= self.pool or depth >= self.count:
                return rows
            depth = min(self.count, depth * 4)
            _, found = self.content_index.search(self.fused.matrix[row : row + 1], depth)
            nearest = found[0]

    def _cf_block(self, block: range) -> list[np.ndarray] | None:
        """Collaborative neighbours (catalog rows) of each warm item of ``block``."""
        if self.cf is None:
            return None
        collaborative, index, warm_rows = self.cf
        depth = min(warm_rows.size, self.pool + 1)
        _, nearest = index.search(collaborative.vectors[block.start : block.stop], depth)
        return [
            warm_rows[found[found >= 0]] if collaborative.warm[row] else np.zeros(0, np.int64)
            for row, found in zip(block, nearest, strict=True)
        ]

    def _not_duplicate_of(self, row: int, rows: np.ndarray) -> np.ndarray:
        same = set(self.same_content.get(row, [row]))
        same.add(row)
        rows = np.array([other for other in rows if int(other) not in same], dtype=np.int64)
        if rows.size == 0:
            return rows
        cosine = self.fused.matrix[rows] @ self.fused.matrix[row]
        return rows[cosine < self.params.duplicate_cosine]

    def _scores(self, row: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        content = self.fused.matrix[rows] @ self.fused.matrix[row]
        if self.cf is None or not self.cf[0].warm[row]:
            return content.astype(np.float64), np.zeros(rows.size, dtype=bool)
        collaborative, weight = self.cf[0], self.params.cf_weight
        blended = collaborative.warm[rows]
        cf = collaborative.vectors[rows] @ collaborative.vectors[row]
        scores = np.where(blended, (1.0 - weight) * content + weight * cf, content)
        return scores.astype(np.float64), blended

    def _distinct(self, rows: np.ndarray) -> list[int]:
        """Positions of candidates that are not duplicates of a better one already kept."""
        kept: list[int] = []
        seen_content: set[str] = set()
        for position, row in enumerate(rows):
            sha = self.items.sha256[int(row)]
            if sha and sha in seen_content:
                continue
            if kept:
                cosine = self.fused.matrix[rows[kept]] @ self.fused.matrix[int(row)]
                if float(cosine.max()) >= self.params.duplicate_cosine:
                    continue
            kept.append(position)
            if sha:
                seen_content.add(sha)
            if len(kept) == self.pool:
                break
        return kept


def _flat_index(matrix: np.ndarray) -> Any:
    """Exact inner-product FAISS index over the rows of ``matrix``."""
    import faiss

    vectors = np.ascontiguousarray(matrix, dtype=np.float32)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    return index


def _reason(
    items: _Items,
    fused: FusedVectors,
    collaborative: _Collaborative | None,
    row: int,
    other: int,
    blended: bool,
) -> str:
    """Why ``other`` is recommended for ``row``: at most two short, true statements."""
    parts: list[str] = []
    if blended and collaborative is not None:
        users = collaborative.item_users
        both = np.intersect1d(
            users.indices[users.indptr[row] : users.indptr[row + 1]],
            users.indices[users.indptr[other] : users.indptr[other + 1]],
        ).size
        if both:
            verb = _VERBS.get(items.kinds[row], "chose")
            title = _short(items.titles[row]) or fused.item_ids[row]
            who = "1 person" if both == 1 else f"{both} people"
            parts.append(f"{who} who {verb} {title} also {verb} this")
    for label, values in (("same people", items.people), ("same tags", items.tags)):
        mine = {value.casefold() for value in values[row]}
        shared = [value for value in values[other] if value.casefold() in mine]
        if shared:
            parts.append(f"{label}: {', '.join(shared[:_REASON_NAMES])}")
    if not parts:
        both_content = fused.has_content[row] and fused.has_content[other]
        parts.append("similar content and metadata" if both_content else "similar metadata")
    return "; ".join(parts[:2])


def _short(title: str) -> str:
    if len(title) <= _REASON_TITLE_CHARS:
        return title
    return title[: _REASON_TITLE_CHARS - 1].rstrip() + "…"
