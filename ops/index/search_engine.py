"""The search algorithm, written once for every SQL backend; a backend adds its dialect.

Both backends store the documents in the listing order (``docno``, see
ops.index.stored_documents), plus the facet counts and totals of the plain listings
(tables ``facet_count`` and ``scope_total``). A query is answered in the same steps on
both:

1. A plain listing (everything, or one level) reads its total and facets from the counts
   computed at build time and pages by ``docno``.
2. Otherwise the query becomes its matches: candidates (the text index, the caller's
   vector order, or the documents) narrowed by the text and the filters.
3. At most FACET_MATCHES matches are kept, for the page and the facet counts: a ranked
   query its best-ranked ones (a top-N sort), a filtered listing an even sample of the
   listing (see listing_stride). The total is counted apart only when the kept matches
   are full (or, for a listing, first, to choose the sample), and a page outside the
   kept matches is read afresh.
4. The page's documents are read, with a highlighted snippet for text queries.

A backend (SqlSearchEngine subclass) supplies the dialect: placeholders, how a list
parameter is passed, the text expression and condition with its ranking function, the
candidates of each mode, list filters, how matches are kept, and how the page's documents
and snippets are read.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal, Protocol

from ops.index.query import FACETS, SearchHit, SearchPage, SearchQuery
from ops.index.schema import DOCUMENT_COLUMNS
from ops.index.stored_documents import LIST_FILTERS
from ops.index.text import Term, fold, query_terms

TOP_FACET_VALUES = 20
FACET_MATCHES = 10_000
"""A search counts facets over at most this many matches: the best-ranked, or for a
filtered listing (no rank) an even sample.

Counting every match of a broad query (a common word: 10^5 of 10^6 documents) cost
seconds; 10,000 cost about 25 ms. The answer says when the cut applied
(SearchPage.facets_exact, facets_counted); the total stays exact.
"""
SNIPPET_START = "<b>"
SNIPPET_END = "</b>"
SNIPPET_ELLIPSIS = "…"
SNIPPET_WORDS = 16

COLUMNS = ", ".join(f"d.{name}" for name in DOCUMENT_COLUMNS)
"""The document columns, in DOCUMENT_COLUMNS order, of the documents table aliased ``d``."""

Mode = Literal["text", "vector", "listing"]


class Cursor(Protocol):
    """What the engine reads from a statement (sqlite3 and psycopg cursors both fit)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """What the engine needs of a database connection (sqlite3 and psycopg both fit)."""

    def execute(self, statement: str, params: Sequence[Any] = ..., /) -> Cursor: ...


@dataclass(frozen=True)
class Candidates:
    """Where a query's candidates come from: FROM clause, their docno and rank (higher
    first), ORDER BY for rank then docno (as an index can give it, so a top-N read can
    stop early), and the FROM clause's parameters."""

    tables: str
    docno: str
    rank: str
    order: str
    params: tuple[Any, ...] = ()


LISTING = Candidates("FROM documents AS d", "d.docno", "-d.docno", "d.docno")
"""A filtered listing's candidates: every document, in the listing order."""


@dataclass(frozen=True)
class Matches:
    """A query's matches: its candidates narrowed by ``where``; ``params`` are the
    candidates' then the conditions' parameters."""

    candidates: Candidates
    where: str
    params: tuple[Any, ...]

    def select(self, columns: str = "") -> str:
        """The matches' docno and rank (then ``columns``), in rank order."""
        source = self.candidates
        extra = f", {columns}" if columns else ""
        return (
            f"SELECT {source.docno}, {source.rank} AS rank{extra} {source.tables} "
            f"WHERE {self.where} ORDER BY {source.order}"
        )

    def count(self) -> str:
        """How many matches there are."""
        return f"SELECT count(*) {self.candidates.tables} WHERE {self.where}"


@dataclass(frozen=True)
class Kept:
    """The matches kept for the facets: how many, their facet counts (facet, value,
    count) and a way to read the page from them."""

    count: int
    facet_counts: list[tuple[str, str, int]]
    read_page: Callable[[], Sequence[Sequence[Any]]]


class SqlSearchEngine(ABC):
    """One built index version answered by the shared algorithm (see the module docstring)."""

    placeholder: ClassVar[str]
    """The parameter placeholder of the dialect (``?`` or ``%s``)."""
    modulo: ClassVar[str]
    """The remainder operator as written in a statement with parameters."""
    collation: ClassVar[str]
    """COLLATE clause that orders facet values by their bytes (as Python orders them)."""
    scope_counts: ClassVar[str]
    """Facet counts (facet, value, count) of a listing scope (one parameter: the scope)."""

    def __init__(self, facet_matches: int = FACET_MATCHES) -> None:
        self._facet_matches = facet_limit(facet_matches)

    def search(self, query: SearchQuery, doc_ids: list[str] | None = None) -> SearchPage:
        """Answer ``query``; with ``doc_ids`` (ranked, from a vector search), keep only
        those documents, in that order, and apply the filters to them."""
        with self._connection() as connection:
            scope = listing_scope(query, doc_ids)
            if scope is not None:
                return self._listing_page(connection, query, scope)
            return self._search_page(connection, query, doc_ids, search_mode(query, doc_ids))

    def documents(self, doc_ids: list[str]) -> list[dict[str, Any]]:
        """Full documents (DOCUMENT_SCHEMA fields) by id, in the order asked."""
        with self._connection() as connection:
            rows = connection.execute(
                f"SELECT {COLUMNS} FROM documents AS d WHERE {self._in_list('d.doc_id')}",
                (self._list_param(doc_ids),),
            ).fetchall()
        found = {document["doc_id"]: document for document in map(self._document, rows)}
        return [found[doc_id] for doc_id in doc_ids if doc_id in found]

    def facet_values(self, facet: str) -> list[str]:
        """Every value ``facet`` takes in the index (build-time counts), sorted."""
        with self._connection() as connection:
            rows = connection.execute(self.scope_counts, ("all",)).fetchall()
        return sorted({str(value) for name, value, _ in rows if name == facet})

    def item_documents(self, item_id: str) -> list[dict[str, Any]]:
        """The item document first, then its segment documents by start time."""
        with self._connection() as connection:
            rows = connection.execute(
                f"SELECT {COLUMNS} FROM documents AS d WHERE d.item_id = {self.placeholder} "
                "ORDER BY d.level <> 'item', d.start_s, d.docno",
                (item_id,),
            ).fetchall()
        return [self._document(row) for row in rows]

    @abstractmethod
    def close(self) -> None: ...

    # The dialect.

    @abstractmethod
    def _connection(self) -> AbstractContextManager[Connection]:
        """A connection that no other thread uses while the context lasts."""

    @abstractmethod
    def _in_list(self, expression: str) -> str:
        """A condition: ``expression`` is one of a list parameter (see _list_param)."""

    @abstractmethod
    def _list_param(self, values: Sequence[Any]) -> Any:
        """A list of values as the parameter of an _in_list condition."""

    @abstractmethod
    def _document(self, row: Sequence[Any]) -> dict[str, Any]:
        """A document from its stored COLUMNS."""

    @abstractmethod
    def _text_expression(self, terms: Sequence[Term]) -> str:
        """The text query of the terms (ANDed), passed as a parameter."""

    @abstractmethod
    def _text_condition(self, mode: Mode) -> str:
        """The condition that a document matches the text expression (one parameter).
        In vector mode it narrows the caller's list without ranking it."""

    @abstractmethod
    def _text_candidates(self, text: str, filtered: bool) -> Candidates:
        """The documents matching the text expression, ranked by relevance; ``filtered``
        when conditions on ``d`` (the documents) follow."""

    @abstractmethod
    def _vector_candidates(self, doc_ids: list[str]) -> Candidates:
        """The documents ``doc_ids``, ranked in that order (the first best)."""

    @abstractmethod
    def _list_filter(self, facet: str, folded: list[str]) -> tuple[str, list[Any]]:
        """The condition that a document holds one of the case-folded values of a list
        facet (one of LIST_FILTERS), with its parameters."""

    @abstractmethod
    def _keep(
        self, connection: Connection, matches: Matches, limit: int, query: SearchQuery
    ) -> Kept:
        """Keep the first ``limit`` of ``matches`` and count their facets."""

    @abstractmethod
    def _page_documents(
        self, connection: Connection, docnos: list[int], text: str
    ) -> dict[int, tuple[dict[str, Any], str | None]]:
        """The page's documents by docno, with a snippet when there is text."""

    # The algorithm.

    def _listing_page(self, connection: Connection, query: SearchQuery, scope: str) -> SearchPage:
        """A plain listing (of one level or all): totals and facets computed at build time."""
        p = self.placeholder
        found = connection.execute(
            f"SELECT total FROM scope_total WHERE scope = {p}", (scope,)
        ).fetchone()
        level = "" if scope == "all" else f"WHERE d.level = {p}"
        rows = connection.execute(
            f"SELECT {COLUMNS} FROM documents AS d {level} ORDER BY d.docno LIMIT {p} OFFSET {p}",
            (*([] if scope == "all" else [scope]), query.page_size, offset(query)),
        ).fetchall()
        counts = connection.execute(self._top_values(self.scope_counts), (scope,)).fetchall()
        total = int(found[0]) if found else 0
        hits = [search_hit(self._document(row), 0.0, None) for row in rows]
        return search_page(query, total=total, hits=hits, facet_counts=counts, counted=total)

    def _search_page(
        self,
        connection: Connection,
        query: SearchQuery,
        doc_ids: list[str] | None,
        mode: Mode,
    ) -> SearchPage:
        """A text, vector or filtered query: steps 2 to 4 of the module docstring."""
        terms = query_terms(query.q)
        if query.q.strip() and not terms:
            return empty_page(query)
        text = self._text_expression(terms) if terms else ""
        matches = self._matches(query, mode, text, doc_ids)
        limit = self._facet_matches
        total: int | None = None
        kept_matches = matches
        if mode == "listing":
            total = _count(connection, matches)
            stride = listing_stride(total, limit)
            if stride > 1:
                kept_matches = replace(
                    matches,
                    where=f"{matches.where} AND d.docno {self.modulo} {self.placeholder} = 0",
                    params=(*matches.params, stride),
                )
        kept = self._keep(connection, kept_matches, limit, query)
        if total is None:
            total = kept.count if kept.count < limit else _count(connection, matches)
        if page_within(query, mode, kept.count, total):
            page = kept.read_page()
        else:
            p = self.placeholder
            page = connection.execute(
                f"{matches.select()} LIMIT {p} OFFSET {p}",
                (*matches.params, query.page_size, offset(query)),
            ).fetchall()
        documents = self._page_documents(connection, [docno for docno, _ in page], text)
        hits = [
            search_hit(documents[docno][0], hit_score(mode, rank), documents[docno][1])
            for docno, rank in page
        ]
        return search_page(
            query, total=total, hits=hits, facet_counts=kept.facet_counts, counted=kept.count
        )

    def _matches(
        self, query: SearchQuery, mode: Mode, text: str, doc_ids: list[str] | None
    ) -> Matches:
        """The query's candidates narrowed by its text and filters."""
        filters, filter_params = self._filters(query)
        texts = [self._text_condition(mode)] if text else []
        if mode == "vector":
            candidates = self._vector_candidates(list(dict.fromkeys(doc_ids or [])))
        elif mode == "text":
            candidates = self._text_candidates(text, filtered=bool(filters))
        else:
            candidates = LISTING
        return Matches(
            candidates,
            " AND ".join([*texts, *filters] or ["TRUE"]),
            (*candidates.params, *([text] if text else []), *filter_params),
        )

    def _filters(self, query: SearchQuery) -> tuple[list[str], list[Any]]:
        """WHERE conditions on ``d`` (the documents) for the query's filters, with parameters."""
        bounds = [
            ("d.level =", query.level),
            ("d.year >=", query.year_min),
            ("d.year <=", query.year_max),
            ("d.duration_s >=", query.min_duration_s),
            ("d.duration_s <=", query.max_duration_s),
        ]
        chosen = [(column, value) for column, value in bounds if value is not None]
        conditions = [f"{column} {self.placeholder}" for column, _ in chosen]
        params: list[Any] = [value for _, value in chosen]
        if query.kind:
            conditions.append(self._in_list("d.kind"))
            params.append(self._list_param(query.kind))
        for facet in LIST_FILTERS:
            values = getattr(query, facet)
            if values:
                condition, values_params = self._list_filter(facet, fold(values) or [])
                conditions.append(condition)
                params.extend(values_params)
        return conditions, params

    def _top_values(self, counts: str) -> str:
        """The most frequent values of each facet among ``counts`` (facet, value, count)."""
        return f"""
        SELECT facet, value, count FROM (
            SELECT facet, value, count,
                   row_number() OVER (
                       PARTITION BY facet ORDER BY count DESC, value {self.collation}
                   ) AS place
            FROM ({counts}) AS counts
        ) AS ranked WHERE place <= {TOP_FACET_VALUES}
        """


def _count(connection: Connection, matches: Matches) -> int:
    found = connection.execute(matches.count(), matches.params).fetchone()
    return int(found[0]) if found else 0


def offset(query: SearchQuery) -> int:
    """How many matches come before the query's page."""
    return (query.page - 1) * query.page_size


def search_mode(query: SearchQuery, doc_ids: list[str] | None) -> Mode:
    """Rank by the caller's vector order, by text relevance, or list in the stable order."""
    if doc_ids is not None:
        return "vector"
    return "text" if query.q.strip() else "listing"


def listing_scope(query: SearchQuery, doc_ids: list[str] | None) -> str | None:
    """``"all"`` or a level when the query lists everything (of that level), else None.

    Such queries are answered from totals and facet counts computed at build time.
    """
    if search_mode(query, doc_ids) != "listing":
        return None
    narrowed = (
        query.kind
        or query.label
        or query.genre
        or query.mood
        or query.person
        or query.year_min is not None
        or query.year_max is not None
        or query.min_duration_s is not None
        or query.max_duration_s is not None
    )
    if narrowed:
        return None
    return query.level or "all"


def facet_limit(limit: int) -> int:
    """Check a backend's facet limit (FACET_MATCHES unless a caller needs another)."""
    if limit < 1:
        raise ValueError(f"facet limit must be at least 1 match, got {limit}")
    return limit


def listing_stride(total: int, limit: int) -> int:
    """Every how many-th document (by listing position) a filtered listing of ``total``
    matches counts facets over: 1 (every match) up to ``limit``, else about ``limit``
    spread evenly over the listing. A listing has no rank, so its first matches (by
    title) would be a skewed sample; ranked queries count their best-ranked instead."""
    return max(1, -(-total // limit))


def page_within(query: SearchQuery, mode: Mode, kept: int, total: int) -> bool:
    """Whether the page can be read from the matches kept for the facets: they are all the
    matches, or a ranked query's best ``kept`` hold it (a listing keeps a sample)."""
    return kept == total or (mode != "listing" and query.page * query.page_size <= kept)


def hit_score(mode: Mode, rank: float) -> float:
    """The hit's score from the backend's rank (higher is better in every mode).

    Text: the relevance. Vector: 1/position in the caller's list (the rank is
    -position; the reader replaces it with the cosine similarity). Listing: no
    relevance, 0.
    """
    if mode == "text":
        return float(rank)
    if mode == "vector":
        return -1.0 / rank
    return 0.0


def top_facets(counts: Iterable[tuple[str, str, int]]) -> dict[str, dict[str, int]]:
    """Every facet with its most frequent values (count descending, then value), at most 20."""
    by_facet: dict[str, list[tuple[str, int]]] = {facet: [] for facet in FACETS}
    for facet, value, count in counts:
        by_facet[facet].append((value, int(count)))
    return {
        facet: dict(sorted(pairs, key=lambda pair: (-pair[1], pair[0]))[:TOP_FACET_VALUES])
        for facet, pairs in by_facet.items()
    }


def search_page(
    query: SearchQuery,
    *,
    total: int,
    hits: list[SearchHit],
    facet_counts: Iterable[tuple[str, str, int]],
    counted: int,
) -> SearchPage:
    """One page of an answer; ``counted`` is how many matches the facet counts cover."""
    return SearchPage(
        total=total,
        page=query.page,
        page_size=query.page_size,
        hits=hits,
        facets=top_facets(facet_counts),
        facets_counted=counted,
    )


def empty_page(query: SearchQuery) -> SearchPage:
    """The answer to a query that cannot match anything (text with no words in it)."""
    return search_page(query, total=0, hits=[], facet_counts=[], counted=0)


def search_hit(document: Mapping[str, Any], score: float, snippet: str | None) -> SearchHit:
    """A hit from a stored document (DOCUMENT_SCHEMA fields)."""
    return SearchHit(
        doc_id=document["doc_id"],
        level=document["level"],
        item_id=document["item_id"],
        kind=document["kind"],
        title=document["title"],
        year=document["year"],
        duration_s=document["duration_s"],
        start_s=document["start_s"],
        end_s=document["end_s"],
        labels=document["labels"] or [],
        score=score,
        snippet=snippet,
    )
