"""Reading one index version: search, vector search, item details, similar items.

The version is resolved once when the reader opens; a publish or rollback afterwards
does not change what an open reader answers from, so a request never mixes versions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from ops.errors import BrokenStateError
from ops.index.build import SQLITE_FILE, TANTIVY_DIR, index_store
from ops.index.layers import Layers
from ops.index.query import MAX_PAGE_SIZE, SearchBackend, SearchPage, SearchQuery, SimilarItem
from ops.index.vectors import LayeredVectors, use_search_threads
from ops.refresh.tasks import SHOT_LABEL
from ops.settings import Settings
from ops.versioned import Version

VECTOR_CANDIDATES_PER_HIT = 4
"""Vector candidates fetched per hit asked for, so filters still leave a full page."""

MAX_VECTOR_CANDIDATES = 2_000
MAX_APPEARANCES = 1_000


class NoPublishedIndex(RuntimeError):
    """Nothing has been published yet, so there is nothing to query."""


class DamagedIndex(BrokenStateError):
    """The index version's files no longer match its manifest (truncated or changed)."""


class UnknownDocument(LookupError, ValueError):
    """A ``like=`` document id that the index version does not hold."""


class UnknownFilterValue(ValueError):
    """A label, genre or mood filter naming a value the index version does not hold."""


CLOSED_FACETS = ("label", "genre", "mood")
"""Facets whose values come from the models (a short list worth naming in a refusal);
people and years are open, so an unknown one simply matches nothing."""


class NoVector(ValueError):
    """A ``like=`` document that has no content vector to search near."""


class PublishedIndex:
    """An open index version: its search backend, its vectors and its recommendations."""

    def __init__(
        self, version: Version, backend: SearchBackend, vectors: LayeredVectors, similar: _Similar
    ) -> None:
        self._version = version
        self._backend = backend
        self._vectors = vectors
        self._similar = similar

    @classmethod
    def open(cls, settings: Settings, version: str | None = None) -> PublishedIndex:
        """The live version (or a named sealed one), opened read-only."""
        store = index_store(settings)
        resolved = store.get(version) if version is not None else store.current()
        if resolved is None:
            raise NoPublishedIndex(
                store.missing_pointer()
                or f"no search index is published under {settings.index_dir}: run a catalog "
                "refresh (`cinescope refresh` or the catalog_refresh DAG) first"
            )
        with _diagnosed(resolved):
            backend = _open_backend(settings, resolved)
            try:
                use_search_threads(settings.vector_search_threads)
                layers = Layers.of(resolved)
                vectors = layers.vectors(rerank=settings.vector_rerank)
                similar = _Similar(layers.similar())
            except BaseException:
                backend.close()
                raise
        return cls(resolved, backend, vectors, similar)

    @property
    def version(self) -> str:
        return self._version.name

    def search(self, query: SearchQuery) -> SearchPage:
        """Full-text or filter search, or with ``like`` the nearest documents to that one,
        each hit scored by its cosine similarity to it."""
        with _diagnosed(self._version):
            self._refuse_unknown_values(query)
            similarity = self._neighbours(query.like, query) if query.like else None
            page = self._backend.search(query, None if similarity is None else list(similarity))
        if similarity is not None:
            hits = [hit.model_copy(update={"score": similarity[hit.doc_id]}) for hit in page.hits]
            page = page.model_copy(update={"hits": hits})
        return page.model_copy(update={"index_version": self.version})

    def _refuse_unknown_values(self, query: SearchQuery) -> None:
        """A typo in a closed filter (``label=kis``) would silently match nothing: refuse it,
        naming the values this version holds."""
        for facet in CLOSED_FACETS:
            asked: list[str] = getattr(query, facet)
            if not asked:
                continue
            known = self._backend.facet_values(facet)
            folded = {value.casefold() for value in known}
            unknown = [value for value in asked if value.casefold() not in folded]
            if unknown:
                held = ", ".join(known) if known else f"no {facet} values yet"
                raise UnknownFilterValue(
                    f"unknown {facet} {', '.join(map(repr, unknown))}: "
                    f"index {self.version} holds {held}"
                )

    def item(self, item_id: str) -> dict[str, Any] | None:
        """{"item": document, "segments": [scene and appearance documents by start],
        "shots": [shot documents by start, with keyframe_s], "transcript" and
        "screen_text": [{start_s, end_s, text} by start], "lineage": [...]}, or None."""
        documents = self._backend.item_documents(item_id)
        if not documents or documents[0]["level"] != "item":
            return None
        item, *spans = ({k: v for k, v in d.items() if k != "lineage"} for d in documents)
        words: dict[str, list[dict[str, Any]]] = {"transcript": [], "screen_text": []}
        for span in spans:
            for field, found in words.items():
                if span[field]:
                    found.append(
                        {"start_s": span["start_s"], "end_s": span["end_s"], "text": span[field]}
                    )
        scenes = [s for s in spans if not (s["transcript"] or s["screen_text"])]
        return {
            "item": item,
            "segments": [span for span in scenes if span["labels"] != [SHOT_LABEL]],
            "shots": [span for span in scenes if span["labels"] == [SHOT_LABEL]],
            **words,
            "lineage": json.loads(documents[0]["lineage"] or "[]"),
        }

    def appearances(self, person: str, limit: int = MAX_APPEARANCES) -> list[dict[str, Any]] | None:
        """Where ``person`` is on screen (at most ``limit`` spans, by item then start),
        with the face-gallery version that recognised them; None when this version holds
        no appearances at all (no face-gallery champion ran)."""
        from ops.index.documents import APPEARANCE_LABEL

        if APPEARANCE_LABEL not in self._backend.facet_values("label"):
            return None
        query = SearchQuery(level="segment", label=[APPEARANCE_LABEL], person=[person])
        found: list[str] = []
        for page in range(1, limit // MAX_PAGE_SIZE + 2):
            hits = self._backend.search(
                query.model_copy(update={"page": page, "page_size": MAX_PAGE_SIZE})
            ).hits
            found += [hit.doc_id for hit in hits]
            if len(hits) < MAX_PAGE_SIZE or len(found) >= limit:
                break
        spans = [
            {
                "item_id": document["item_id"],
                "title": document["title"],
                "start_s": document["start_s"],
                "end_s": document["end_s"],
                "score": document["score"],
                "models": json.loads(document["lineage"] or "[]"),
            }
            for document in self._backend.documents(found[:limit])
        ]
        return sorted(spans, key=lambda span: (str(span["item_id"]), span["start_s"]))

    def similar(self, item_id: str, k: int = 10, any_kind: bool = False) -> list[SimilarItem]:
        """Up to ``k`` recommendations for an item, best first (empty when it has none):
        items of its own kind unless ``any_kind``; fewer when too few are related."""
        from ops.recommend.build import ANY_KIND, SAME_KIND

        return self._listed(item_id, ANY_KIND if any_kind else SAME_KIND, k)

    def music_for(self, item_id: str, k: int = 10) -> list[SimilarItem]:
        """Up to ``k`` tracks whose mood matches this picture's or video's, nearest on the
        mood circle first (empty when it has no mood, or there is no music near it)."""
        from ops.recommend.build import mood_key
        from ops.recommend.by_mood import MUSIC_FOR, PICTURE_KINDS

        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        rows = self._similar.of(item_id, MUSIC_FOR)  # a version that kept lists per picture
        if not rows:
            document = next(iter(self._backend.documents([item_id])), None)
            if document and document["kind"] in PICTURE_KINDS and document["moods"]:
                rows = self._similar.of(mood_key(document["moods"][0]), MUSIC_FOR)
        return self._items(rows, k)

    def _listed(self, item_id: str, scope: str, k: int) -> list[SimilarItem]:
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        return self._items(self._similar.of(item_id, scope), k)

    def _items(self, rows: list[dict[str, Any]], k: int) -> list[SimilarItem]:
        """The first ``k`` of ``rows`` that name an item this version holds (a list an
        incremental build kept may still name an item removed since)."""
        found = {
            document["doc_id"]: document
            for document in self._backend.documents([row["similar_item_id"] for row in rows])
        }
        held = [row for row in rows if row["similar_item_id"] in found][:k]
        return [
            SimilarItem(
                item_id=row["similar_item_id"],
                rank=rank,
                score=row["score"],
                title=found[row["similar_item_id"]]["title"],
                kind=found[row["similar_item_id"]]["kind"],
                reason=row["reason"],
            )
            for rank, row in enumerate(held, start=1)
        ]

    def close(self) -> None:
        self._backend.close()

    def _neighbours(self, like: str, query: SearchQuery) -> dict[str, float]:
        """The documents nearest to ``like`` (itself excluded), best first, with their
        cosine similarity to it."""
        vector = self._vectors.vector_of(like)
        if vector is None:
            if not self._backend.documents([like]):
                raise UnknownDocument(
                    f"like={like!r}: no such document in index version {self.version}"
                )
            raise NoVector(
                f"like={like!r}: this document has no content vector "
                "(no embedding was predicted for it), so nothing can be found near it"
            )
        wanted = query.page * query.page_size * VECTOR_CANDIDATES_PER_HIT
        nearest = self._vectors.search(vector, min(wanted, MAX_VECTOR_CANDIDATES) + 1)
        return {doc_id: score for doc_id, score in nearest if doc_id != like}


class _Similar:
    """The recommendation rows sorted by scope and item, looked up by binary search (no
    per-item objects). A version built before lists were scoped holds one list per item,
    served for either scope."""

    def __init__(self, rows: pd.DataFrame) -> None:
        self._scoped = "scope" in rows
        keys = (rows["scope"] + "\x00" if self._scoped else "") + rows["item_id"]
        rows = rows.assign(key=keys).sort_values(["key", "rank"], kind="stable")
        self._keys = rows["key"].to_numpy(dtype=object)
        self._rows = rows[["similar_item_id", "rank", "score", "reason"]].to_numpy(dtype=object)

    def of(self, item_id: str, scope: str) -> list[dict[str, Any]]:
        key = f"{scope}\x00{item_id}" if self._scoped else item_id
        start = int(np.searchsorted(self._keys, key, "left"))
        end = int(np.searchsorted(self._keys, key, "right"))
        return [
            {
                "similar_item_id": str(other),
                "rank": int(rank),
                "score": float(score),
                "reason": str(reason),
            }
            for other, rank, score, reason in self._rows[start:end]
        ]


@contextmanager
def _diagnosed(version: Version) -> Iterator[None]:
    """A failure while reading a version whose files differ from its manifest becomes
    :class:`DamagedIndex`, naming the files and the repair; other failures pass as they are."""
    try:
        yield
    except Exception as error:
        problems = version.problems()
        if not problems:
            raise
        raise DamagedIndex(
            f"index {version.name} is damaged: {'; '.join(problems)}. Repair: "
            "`cinescope index rollback` to the version before it, or `cinescope refresh` "
            "to build a new one"
        ) from error


def _open_backend(settings: Settings, version: Version) -> SearchBackend:
    """The backend the version was built with (from its manifest, not today's settings)."""
    manifest = version.manifest()
    if manifest.get("backend") == "postgres":
        from ops.index.postgres_backend import PostgresSearchBackend

        if not settings.search_postgres_dsn:
            raise ValueError(
                f"index {version.name} lives in PostgreSQL, "
                "but CINESCOPE_SEARCH_POSTGRES_DSN is unset"
            )
        return PostgresSearchBackend.open(
            settings.search_postgres_dsn,
            manifest["postgres_schema"],
            facet_matches=settings.search_facet_matches,
        )
    if manifest.get("backend") == "tantivy":
        from ops.index.tantivy_backend import TantivySearchBackend

        return TantivySearchBackend.open(version.path / TANTIVY_DIR)
    from ops.index.sqlite_backend import SqliteSearchBackend

    return SqliteSearchBackend.open(
        version.path / SQLITE_FILE, facet_matches=settings.search_facet_matches
    )
