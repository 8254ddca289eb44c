"""What both search backends share: document validation and order, query terms, facets, hits.

Written once so the SQLite and PostgreSQL backends answer a query the same way: the same
listing order, the same notion of a search term, the same facet values and the same cut
of the top values per facet.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ops.index.query import FACETS, SearchHit, SearchPage, SearchQuery
from ops.index.schema import DOCUMENT_COLUMNS, DOCUMENT_SCHEMA, LEVELS

LIST_COLUMNS = ("tags", "people", "labels", "genres", "moods")
FACET_COLUMNS: dict[str, str] = {
    "kind": "kind",
    "year": "year",
    "label": "labels",
    "genre": "genres",
    "mood": "moods",
    "person": "people",
}
"""Each facet of ops.index.query.FACETS and the document column holding its values."""

LIST_FILTERS = ("label", "genre", "mood", "person")
"""Facets filtered through a multi-valued column (SearchQuery attribute == facet name).
Their values match whatever the case (see ``fold``)."""

TEXT_COLUMNS = ("title", "description", "tags", "people", "labels")
"""The document columns searched as text."""

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

_TERM = re.compile(r"([^\W_]+)(\*?)")
_WORD = re.compile(r"[^\W_]+")
_LETTERS_OR_DIGITS = re.compile(r"\d+|[^\W\d_]+")

Mode = Literal["text", "vector", "listing"]


@dataclass(frozen=True)
class Term:
    """One search word; ``prefix`` when the user wrote ``word*`` (matches words starting so)."""

    text: str
    prefix: bool


MIN_PREFIX_LETTERS = 3


def query_terms(q: str) -> list[Term]:
    """The words of a user query: runs of letters and digits, ANDed by the backends.

    Everything else (quotes, operators, SQL, column filters) is a separator, so no user
    text can reach the FTS5 or tsquery syntax; a ``*`` right after a word makes it a prefix.
    A prefix needs ``MIN_PREFIX_LETTERS``: ``s*`` would match nearly every document and
    rank them all (seconds at 10^6 documents) for no useful answer.
    """
    terms = [Term(word.lower(), star == "*") for word, star in _TERM.findall(q)]
    short = [
        f"{term.text}*" for term in terms if term.prefix and len(term.text) < MIN_PREFIX_LETTERS
    ]
    if short:
        raise ValueError(
            f"a prefix search needs at least {MIN_PREFIX_LETTERS} letters before '*' "
            f"(got {', '.join(short)})"
        )
    return terms


def word_parts(values: Iterable[str | list[str] | None]) -> str:
    """The letter and digit runs of each word that joins both (``obama1``: ``obama 1``),
    each once, to index beside the text.

    Both backends' tokenizers keep such a word whole, so without its parts ``obama``
    would not find the item titled ``obama1``.
    """
    texts = (
        text for value in values if value for text in ([value] if isinstance(value, str) else value)
    )
    parts = (
        part
        for text in texts
        for word in _WORD.findall(text)
        if not word.isdigit() and not word.isalpha()
        for part in _LETTERS_OR_DIGITS.findall(word)
    )
    return " ".join(dict.fromkeys(parts))


def fold(values: list[str] | None) -> list[str] | None:
    """Facet values in the form filters compare them (case-insensitive: ``casefold``)."""
    return None if values is None else [value.casefold() for value in values]


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


SCOPES = ("all", *LEVELS)
"""The listing scopes with precomputed totals and facet counts."""


def scalar_conditions(query: SearchQuery, placeholder: str) -> tuple[list[str], list[Any]]:
    """The query's single-valued filters as SQL conditions on ``d`` (alias of the documents
    table), with ``placeholder`` (``?`` or ``%s``) for their parameters."""
    filters = [
        ("d.level =", query.level),
        ("d.year >=", query.year_min),
        ("d.year <=", query.year_max),
        ("d.duration_s >=", query.min_duration_s),
        ("d.duration_s <=", query.max_duration_s),
    ]
    chosen = [(f"{column} {placeholder}", value) for column, value in filters if value is not None]
    return [condition for condition, _ in chosen], [value for _, value in chosen]


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


def document_table(documents: pd.DataFrame) -> pa.Table:
    """Validate documents against DOCUMENT_SCHEMA and sort them into the listing order.

    The listing order (item documents first, then by title, item, start time, id) is
    the row order of the index, so an unranked listing pages through it directly. List
    values are kept once each, in first-seen order; null list elements are refused.
    """
    missing = [name for name in DOCUMENT_COLUMNS if name not in documents.columns]
    if missing:
        raise ValueError(f"search documents lack the column(s) {missing} of DOCUMENT_SCHEMA")
    try:
        table = pa.Table.from_pandas(
            documents[list(DOCUMENT_COLUMNS)], schema=DOCUMENT_SCHEMA, preserve_index=False
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as error:
        raise ValueError(f"search documents do not fit DOCUMENT_SCHEMA: {error}") from error
    _check_documents(table)
    for name in LIST_COLUMNS:
        column = table.column(name)
        unique = pa.array(
            [None if vals is None else list(dict.fromkeys(vals)) for vals in column.to_pylist()],
            type=column.type,
        )
        table = table.set_column(table.schema.get_field_index(name), name, unique)
    order = pc.sort_indices(
        table.append_column("is_segment", pc.not_equal(table.column("level"), "item")),
        sort_keys=[
            (name, "ascending", "at_end")
            for name in ("is_segment", "title", "item_id", "start_s", "doc_id")
        ],
    )
    return table.take(order)


def _check_documents(table: pa.Table) -> None:
    bad_levels = set(pc.unique(table.column("level")).to_pylist()) - set(LEVELS)
    if bad_levels:
        raise ValueError(f"search documents: level(s) {sorted(bad_levels)} not in {LEVELS}")
    counts = pc.value_counts(table.column("doc_id"))
    repeated = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
    if len(repeated):
        raise ValueError(f"search documents: doc_id not unique, e.g. {repeated[:5].to_pylist()}")
    for name in LIST_COLUMNS:
        if pc.list_flatten(table.column(name)).null_count:
            raise ValueError(f"search documents: {name} holds null values")


def facet_values(document: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """The (facet, value) pairs a document is counted under, each once."""
    for facet in FACETS:
        column = FACET_COLUMNS[facet]
        value = document[column]
        if value is None:
            continue
        if column in LIST_COLUMNS:
            yield from ((facet, item) for item in value)
        else:
            yield facet, str(value)


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
