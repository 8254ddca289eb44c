"""Build the recommendation index of one index version: ``similar.parquet`` + ``recommend.json``.

For every ok catalog item: candidates by inner product over the fused vectors (exact FAISS),
plus, with an interactions file, neighbours in the collaborative item space; never the item
itself nor a duplicate of it (same sha256, or fused cosine >= ``duplicate_cosine``). Pairs of
items that both have enough interactions score ``(1 - w) * content + w * cf``; others keep
the content score. Candidates scoring under ``min_score`` are unrelated and left out, so an
item may get fewer than ``k``. MMR then picks ``k`` of the best ``candidate_factor * k`` for
diversity, and they are ranked by score. Each item gets two lists: ``scope="kind"`` among
items of its own kind (what is served by default) and ``scope="any"`` across kinds. The
music offered with a picture or video follows from its mood alone (ops.recommend.by_mood),
so it is kept once per mood (``scope="music"``, item ``mood:<mood>``).
With interactions, recall@k of content-only, cf-only and the blend is measured on a
time-based split (:func:`ops.recommend.collaborative.evaluate_time_split`).

An incremental index build (ops.index.layers) calls :func:`update_recommendations`
instead: the metadata model fitted by the last full build places the changed items, and
the lists that may have changed are listed again against every item's vector (see there).
"""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import sparse
from threadpoolctl import threadpool_limits

from ops.atomic import atomic_open, atomic_path, write_table
from ops.index.vectors import VectorIndex, unit_rows
from ops.mood.circle import MOODS
from ops.recommend.by_mood import music_rows
from ops.recommend.collaborative import evaluate_time_split, fit_als, interaction_matrix
from ops.recommend.content import (
    METADATA_COLUMNS,
    FusedVectors,
    _content_matrix,
    _identity,
    as_list,
    metadata_tokens,
)
from ops.recommend.interactions import read_interactions
from ops.recommend.mmr import mmr_rerank
from ops.recommend.params import FusionParams, RecommendParams

if TYPE_CHECKING:
    from ops.index.vectors import Hit, LayeredVectors

log = logging.getLogger(__name__)

SIMILAR_FILE = "similar.parquet"
SIMILAR_KEYS_FILE = "similar.keys.parquet"
"""In a layer: the items (and mood keys) whose lists it replaces, empty lists included."""
METRICS_FILE = "recommend.json"
REFUSED_FILE = "interactions.refused.csv"
MODEL_FILE = "recommend.model.pkl"
"""The metadata model of a full build, which incremental builds place changed items with."""
FUSED_DIR = "fused"
"""The item vectors (VectorIndex, ids = item ids) that the lists were chosen by."""
MOOD_KEY = "mood:"

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
_REACH_MARGIN = 4
"""Neighbours an incremental update finds beyond the candidate pool (the full build's
search reaches past duplicates of the item: groups of one or two, as a rule)."""


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


def mood_key(mood: str) -> str:
    """The item id under which the music lists keep the tracks offered for ``mood``."""
    return f"{MOOD_KEY}{mood}"


@dataclass(frozen=True)
class MetadataModel:
    """The metadata side of the fused vectors as fitted on a whole catalog: TF-IDF over
    ops.recommend.content.metadata_tokens, reduced with LSA when both the vocabulary and
    the catalog exceed ``metadata_dim`` (as content.metadata_vectors). A full build fits
    it; incremental builds place changed items in the same space."""

    vectorizer: Any
    svd: Any

    @classmethod
    def fit(cls, catalog: pd.DataFrame, params: FusionParams) -> tuple[MetadataModel, np.ndarray]:
        """The model and the unit metadata vectors of ``catalog``'s rows."""
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        documents = [metadata_tokens(row) for row in catalog.to_dict("records")]
        if not documents:
            return cls(None, None), np.zeros((0, 1), dtype=np.float32)
        vectorizer = TfidfVectorizer(analyzer=_identity, sublinear_tf=True)
        tfidf = vectorizer.fit_transform(documents)
        n_items, vocabulary = tfidf.shape
        svd = None
        if vocabulary > params.metadata_dim and n_items > params.metadata_dim:
            svd = TruncatedSVD(n_components=params.metadata_dim, random_state=params.seed)
            dense = svd.fit_transform(tfidf)
        else:
            dense = tfidf.toarray()
        return cls(vectorizer, svd), unit_rows(dense.astype(np.float32))

    def transform(self, catalog: pd.DataFrame) -> np.ndarray:
        """Unit metadata vectors of new rows (words the fit never saw count for nothing)."""
        if self.vectorizer is None or catalog.empty:
            return np.zeros((len(catalog), self.dim), dtype=np.float32)
        tfidf = self.vectorizer.transform(
            [metadata_tokens(row) for row in catalog.to_dict("records")]
        )
        dense = self.svd.transform(tfidf) if self.svd is not None else tfidf.toarray()
        return unit_rows(np.asarray(dense, dtype=np.float32))

    @property
    def dim(self) -> int:
        """How many values a metadata vector has."""
        if self.vectorizer is None:
            return 1
        if self.svd is not None:
            return int(self.svd.n_components)
        return len(self.vectorizer.vocabulary_)

    def save(self, path: Path) -> None:
        with atomic_path(path) as tmp:
            tmp.write_bytes(pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL))

    @classmethod
    def load(cls, path: Path) -> MetadataModel:
        """A model saved by a full build of this platform (a file of its own index version)."""
        model = pickle.loads(path.read_bytes())
        if not isinstance(model, cls):
            raise ValueError(f"{path} does not hold a metadata model")
        return model


def fuse(
    items: pd.DataFrame,
    item_vectors: Mapping[str, np.ndarray],
    metadata: np.ndarray,
    params: FusionParams,
    content_dim: int | None = None,
) -> FusedVectors:
    """Fused vectors of ``items`` (as content.fuse_item_vectors) from their metadata
    vectors; ``content_dim`` pads items without content to the size of vectors fused
    before (a content vector of another size is refused)."""
    item_ids = tuple(str(item_id) for item_id in items["item_id"])
    content, has_content = _content_matrix(item_ids, item_vectors)
    if content_dim is not None and content.shape[1] != content_dim:
        if has_content.any():
            raise ValueError(
                f"content vectors of {content.shape[1]} values cannot join item vectors "
                f"fused from {content_dim}"
            )
        content = np.zeros((len(item_ids), content_dim), dtype=np.float32)
    content_part = np.sqrt(params.content_weight) * content
    metadata_scale = np.where(has_content, np.sqrt(params.metadata_weight), 1.0)
    fused = np.hstack([content_part, metadata * metadata_scale[:, None]]).astype(np.float32)
    return FusedVectors(item_ids=item_ids, matrix=unit_rows(fused), has_content=has_content)


def mood_lists(moods: Mapping[str, str], kinds: Mapping[str, str], k: int) -> list[dict[str, Any]]:
    """The music lists (scope MUSIC_FOR) of every mood, under :func:`mood_key`: the tracks
    of ``moods`` by their distance on the circle. Kept per mood, not per picture, since a
    picture's list follows from its mood alone: a track's change rewrites eight lists."""
    tracks = {item: mood for item, mood in moods.items() if kinds.get(item) == "audio"}
    keys = {mood_key(mood): mood for mood in MOODS}
    return music_rows({**tracks, **keys}, {**kinds, **dict.fromkeys(keys, "image")}, k)


def build_recommendations(
    catalog: pd.DataFrame,
    item_vectors: Mapping[str, np.ndarray],
    folder: Path,
    *,
    k: int = 10,
    interactions_path: Path | None = None,
    params: RecommendParams | None = None,
    moods: Mapping[str, str] | None = None,
    keep_state: bool = False,
) -> RecommendationSummary:
    """Write ``folder/similar.parquet`` (top-``k`` per ok item) and ``folder/recommend.json``.

    ``catalog`` holds Item contract rows (only ``status == "ok"`` rows are used);
    ``item_vectors`` maps item_id to its content embedding (absent: metadata only);
    ``moods`` maps item_id to its mood, for the music offered with pictures and videos
    (ops.recommend.by_mood).
    Refused interaction rows go to ``folder/interactions.refused.csv``. With
    ``keep_state``, what :func:`update_recommendations` needs is kept too: the metadata
    model (MODEL_FILE) and the item vectors (FUSED_DIR).
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    params = params or RecommendParams()
    items_frame = _ok_items(catalog)
    model, metadata = MetadataModel.fit(items_frame, params.fusion)
    fused = fuse(items_frame, item_vectors, metadata, params.fusion)
    if keep_state:
        model.save(folder / MODEL_FILE)
        save_fused(fused, folder / FUSED_DIR)
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
    rows += mood_lists(moods or {}, kinds, k)
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


@dataclass(frozen=True)
class ListsUpdated:
    """What an incremental update wrote: the items listed again, their rows, and whether
    the music lists were written again."""

    items: int
    rows: int
    music: bool


def update_recommendations(
    items: pd.DataFrame,
    has_content: pd.Series,
    fused: LayeredVectors,
    changed: FusedVectors,
    moved: Sequence[tuple[np.ndarray, str]],
    removed: Collection[str],
    folder: Path,
    *,
    k: int = 10,
    params: RecommendParams | None = None,
    moods: Mapping[str, str] | None = None,
) -> ListsUpdated:
    """Write a layer's lists: ``folder/similar.parquet`` and the items whose lists it
    replaces (SIMILAR_KEYS_FILE).

    ``items``: the ok catalog rows by item_id (every item there is now); ``has_content``:
    whether each has a content vector; ``fused``: every item's vector now, ``changed``'s
    included; ``moved``: the vectors (and kinds) the changed and removed items had.

    Listed again: the changed items, and the items nearest (``k`` of their kind, ``k`` of
    any) to where a changed or removed item was (their lists may hold it) and to where it
    is now (it may belong in theirs). Each list is chosen as the full build chooses it,
    among the listed item's nearest ``candidate_factor * k`` (and a few) of its kind and
    of any kind. What that leaves out until the next full build: a list further off that held a
    removed item keeps the row (readers skip it), and one that the changed item would now
    join without being among its nearest stays as it was; the collaborative side, which a
    full build fits on every interaction, is not used. With ``moods`` (every track's),
    the music lists are written again.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    params = params or RecommendParams()
    kinds = {str(item): str(kind) for item, kind in items["kind"].items()}
    vectors = dict(zip(changed.item_ids, changed.matrix, strict=True))
    queries = [(vectors[item], kinds[item]) for item in changed.item_ids] + list(moved)
    located: dict[str, tuple[int, int]] = {}
    affected = set(changed.item_ids)
    for hits in _near(fused, queries, kinds, k):
        affected.update(hit.doc_id for hit in hits)
        located.update((hit.doc_id, (hit.part, hit.row)) for hit in hits)
    listed = sorted(affected - set(removed))
    for item in listed:
        if item not in vectors:
            vectors[item] = fused.vector_at(*located[item])
    reach = params.candidate_factor * k + _REACH_MARGIN
    queries = [(vectors[item], kinds[item]) for item in listed]
    any_kind, same_kind = _nearest(fused, queries, kinds, reach)
    members = list(listed)
    seen = set(members)
    for hits in (*any_kind, *same_kind):
        for hit in hits:
            if hit.doc_id not in seen:
                seen.add(hit.doc_id)
                members.append(hit.doc_id)
                if hit.doc_id not in vectors:
                    vectors[hit.doc_id] = fused.vector_at(hit.part, hit.row)
    matrix = (
        np.vstack([vectors[item] for item in members])
        if members
        else np.zeros((0, changed.matrix.shape[1]), dtype=np.float32)
    )
    subset = FusedVectors(
        tuple(members), matrix, has_content.reindex(members, fill_value=False).to_numpy(bool)
    )
    info = _item_info(items.loc[members].reset_index())
    rows = _listed_again(info, subset, len(listed), any_kind, same_kind, k, params)
    keys = [*listed, *removed]
    if moods is not None:
        rows += mood_lists(moods, kinds, k)
        keys += [mood_key(mood) for mood in MOODS]
    write_table(pa.Table.from_pylist(rows, schema=SIMILAR_SCHEMA), folder / SIMILAR_FILE)
    write_table(
        pa.table({"item_id": pa.array(sorted(set(keys)), pa.string())}),
        folder / SIMILAR_KEYS_FILE,
    )
    return ListsUpdated(items=len(listed), rows=len(rows), music=moods is not None)


def _near(
    fused: LayeredVectors,
    queries: Sequence[tuple[np.ndarray, str]],
    kinds: Mapping[str, str],
    k: int,
) -> list[list[Hit]]:
    """Per (vector, kind) query: its ``k`` nearest items of any kind and ``k`` of its own."""
    any_kind, same_kind = _nearest(fused, queries, kinds, k)
    return [a + b for a, b in zip(any_kind, same_kind, strict=True)]


def _nearest(
    fused: LayeredVectors,
    queries: Sequence[tuple[np.ndarray, str]],
    kinds: Mapping[str, str],
    k: int,
) -> tuple[list[list[Hit]], list[list[Hit]]]:
    """Per (vector, kind) query: its ``k`` nearest items of any kind, and of its kind."""
    if not queries:
        return [], []
    matrix = np.vstack([vector for vector, _ in queries]).astype(np.float32)
    wanted = [kind for _, kind in queries]
    same = fused.nearest(matrix, k, keep=lambda query, item: kinds.get(item) == wanted[query])
    return fused.nearest(matrix, k), same


def _listed_again(
    items: _Items,
    fused: FusedVectors,
    listed: int,
    any_kind: list[list[Hit]],
    same_kind: list[list[Hit]],
    k: int,
    params: RecommendParams,
) -> list[dict[str, Any]]:
    """The lists of the first ``listed`` rows of ``fused`` (the others are their
    candidates), chosen among the nearest found for each, of any kind and of its own
    (as _scoped_rows chooses them, without searching again)."""
    rows = _similar_rows(
        items, fused, None, k, params, ANY_KIND, np.arange(listed), _rows_of(fused, any_kind)
    )
    kinds = np.asarray(items.kinds, dtype=object)
    if len(set(kinds)) == 1:
        return rows + [row | {"scope": SAME_KIND} for row in rows]
    for kind in sorted(set(kinds[:listed])):
        members = np.flatnonzero(kinds == kind)
        mine = members[members < listed]
        local = FusedVectors(
            tuple(fused.item_ids[row] for row in members),
            fused.matrix[members],
            fused.has_content[members],
        )
        known = _rows_of(local, [same_kind[row] for row in mine])
        rows += _similar_rows(
            _take_items(items, members),
            local,
            None,
            k,
            params,
            SAME_KIND,
            np.arange(mine.size),
            known,
        )
    return rows


def _rows_of(fused: FusedVectors, hits: list[list[Hit]]) -> np.ndarray:
    """Each hit list as rows of ``fused`` (best first, -1 padded)."""
    where = {item: row for row, item in enumerate(fused.item_ids)}
    depth = max((len(found) for found in hits), default=0)
    rows = np.full((len(hits), depth), -1, dtype=np.int64)
    for number, found in enumerate(hits):
        rows[number, : len(found)] = [where[hit.doc_id] for hit in found]
    return rows


def save_fused(fused: FusedVectors, folder: Path) -> None:
    """The item vectors as an index (ids: the item ids), searchable by the next update."""
    folder.mkdir(parents=True, exist_ok=True)
    index = VectorIndex.build(fused.matrix, list(fused.item_ids))
    index.save(folder, list(fused.item_ids))


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
    listed: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Every item's rows among its own kind (one search per kind), then across kinds;
    only the items of rows ``listed`` (default: all) get lists."""
    listed = np.arange(len(fused.item_ids)) if listed is None else listed
    everything = _similar_rows(items, fused, collaborative, k, params, ANY_KIND, listed)
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
            np.flatnonzero(np.isin(members, listed)),
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
    listed: np.ndarray,
    known: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """The top-k rows (at most) of the items of rows ``listed``, in that order then rank.
    ``known`` (without collaborative vectors): each listed item's nearest rows, best
    first (-1 padded), found already, so that they are not searched for again."""
    item_ids = fused.item_ids
    if len(item_ids) < 2:
        return []
    finder = _CandidateFinder(items, fused, collaborative, params, pool=params.candidate_factor * k)
    rows: list[dict[str, Any]] = []
    for start in range(0, len(listed), _QUERY_BLOCK):
        block = listed[start : start + _QUERY_BLOCK]
        nearest = (
            finder.search(block)
            if known is None
            else _Nearest(known.shape[1], known[start : start + _QUERY_BLOCK], None)
        )
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

    def search(self, block: np.ndarray) -> _Nearest:
        """The first content (and collaborative) neighbours of rows ``block``, in one batch."""
        depth = min(self.count, self.pool + self.largest_group)
        _, content = self.content_index.search(self.fused.matrix[block], depth)
        return _Nearest(depth=depth, content=content, collaborative=self._cf_block(block))

    def candidates(
        self, block: np.ndarray, nearest: _Nearest
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """Per item of ``block``: (row, candidate rows, blended scores, whether the cf blend
        applied), best first, without the item, its duplicates or duplicates of each other."""
        for offset, row in enumerate(block.tolist()):
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

    def _cf_block(self, block: np.ndarray) -> list[np.ndarray] | None:
        """Collaborative neighbours (catalog rows) of each warm item of rows ``block``."""
        if self.cf is None:
            return None
        collaborative, index, warm_rows = self.cf
        depth = min(warm_rows.size, self.pool + 1)
        _, nearest = index.search(collaborative.vectors[block], depth)
        return [
            warm_rows[found[found >= 0]] if collaborative.warm[row] else np.zeros(0, np.int64)
            for row, found in zip(block.tolist(), nearest, strict=True)
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
