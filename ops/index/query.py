"""What a search asks and what it answers: shared by every backend, the API and the CLI."""

from __future__ import annotations

from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from ops.catalog.schema import Kind

Level = Literal["item", "segment"]
FACETS = ("kind", "year", "label", "genre", "mood", "person")
MAX_PAGE_SIZE = 100


class SearchQuery(BaseModel):
    """A full-text query (BM25) or a vector query (``like``: a document id), with filters.

    Every filter narrows the result; list filters match a document holding any of the
    values, whatever their case (``person=ann lee`` finds "Ann Lee"); a kind or level
    outside the allowed values is refused. An empty ``q`` and no ``like`` lists the
    filtered documents.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    q: str = Field(default="", max_length=500)
    like: str | None = Field(default=None, description="doc_id whose vector to search near")
    level: Level | None = None
    kind: list[Kind] = Field(default_factory=list)
    year_min: int | None = Field(default=None, ge=1800, le=2200)
    year_max: int | None = Field(default=None, ge=1800, le=2200)
    label: list[str] = Field(default_factory=list)
    genre: list[str] = Field(default_factory=list)
    mood: list[str] = Field(default_factory=list)
    person: list[str] = Field(default_factory=list)
    min_duration_s: float | None = Field(default=None, ge=0)
    max_duration_s: float | None = Field(default=None, ge=0)
    page: int = Field(default=1, ge=1, le=10_000)
    page_size: int = Field(default=10, ge=1, le=MAX_PAGE_SIZE)

    @model_validator(mode="after")
    def _consistent(self) -> SearchQuery:
        if self.q.strip() and self.like:
            raise ValueError("give either q (full text) or like (vector search), not both")
        years = (self.year_min, self.year_max)
        if None not in years and years[0] > years[1]:  # type: ignore[operator]
            raise ValueError("year_min is after year_max")
        durations = (self.min_duration_s, self.max_duration_s)
        if None not in durations and durations[0] > durations[1]:  # type: ignore[operator]
            raise ValueError("min_duration_s is above max_duration_s")
        return self


class SearchHit(BaseModel):
    """One matching document; ``score`` is the rank score (higher is better)."""

    doc_id: str
    level: Level
    item_id: str
    kind: str
    title: str | None
    year: int | None = None
    duration_s: float | None = None
    start_s: float | None = None
    end_s: float | None = None
    labels: list[str] = Field(default_factory=list)
    score: float
    snippet: str | None = None


class SearchPage(BaseModel):
    """One page of hits, the total match count, and facet counts over the matches.

    ``total`` is always exact. A broad query's facets count only part of its matches
    (ops.index.search_engine.FACET_MATCHES at most): a text or vector search its best-ranked ones,
    a filtered listing (no rank) an even sample of the listing; counting hundreds of
    thousands of matches would take seconds. ``facets_exact`` says whether the facets
    cover every match, ``facets_counted`` how many they cover.
    """

    total: int
    page: int
    page_size: int
    hits: list[SearchHit]
    facets: dict[str, dict[str, int]] = Field(default_factory=dict)
    index_version: str | None = None
    facets_counted: int | None = Field(
        default=None,
        description="how many matches the facet counts cover: the total, or the best-ranked "
        "ones or a sample of a listing (None: not reported, taken as all)",
    )

    @computed_field(description="True when the facet counts cover every match")  # type: ignore[prop-decorator]
    @property
    def facets_exact(self) -> bool:
        return self.facets_counted is None or self.facets_counted >= self.total


class SimilarItem(BaseModel):
    """A recommendation for an item, with why it was chosen."""

    item_id: str
    rank: int
    score: float
    title: str | None = None
    kind: str | None = None
    reason: str


class SearchBackend(Protocol):
    """A built index version's text + facet store (Tantivy, SQLite FTS5 or PostgreSQL)."""

    def search(self, query: SearchQuery, doc_ids: list[str] | None = None) -> SearchPage:
        """Answer ``query``; with ``doc_ids`` (ranked, from a vector search), keep only
        those documents, in that order, and apply the filters to them."""
        ...

    def documents(self, doc_ids: list[str]) -> list[dict[str, Any]]:
        """Full documents (DOCUMENT_SCHEMA fields) by id, in the order asked."""
        ...

    def item_documents(self, item_id: str) -> list[dict[str, Any]]:
        """The item document first, then its segment documents by start time."""
        ...

    def facet_values(self, facet: str) -> list[str]:
        """Every value ``facet`` takes in the index, sorted."""
        ...

    def close(self) -> None: ...
