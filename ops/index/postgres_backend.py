"""The server search backend: one PostgreSQL schema per index version.

``documents`` holds every document with a weighted tsvector (A: title; B: tags, people,
labels and the parts of words that join letters and digits, see
ops.index.text.word_parts; C: description) under a GIN index, and the multi-valued
facets as arrays, with their case-folded values (``<column>_folded``, what filters
compare) under GIN indexes; ``facet_count`` / ``scope_total`` hold the counts of the
plain listings. The ``docno`` column is the position in the listing order shared with
the SQLite backend. A schema is built in one transaction (dropped and created afresh),
so readers see the whole version or none of it. Query text becomes a tsquery of quoted
words only (see ops.index.text.query_terms), always passed as a parameter.

A search keeps at most FACET_MATCHES matches for the page and the facet counts: a
ranked query its best-ranked ones (a top-N sort), a filtered listing an even sample of
the listing (see ops.index.text.listing_stride). The total is counted apart only when
that many are kept, and a page outside them is read afresh.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

from ops.index.query import SearchPage, SearchQuery
from ops.index.schema import DOCUMENT_COLUMNS
from ops.index.text import (
    FACET_COLUMNS,
    FACET_MATCHES,
    LIST_FILTERS,
    SNIPPET_ELLIPSIS,
    SNIPPET_END,
    SNIPPET_START,
    SNIPPET_WORDS,
    TEXT_COLUMNS,
    TOP_FACET_VALUES,
    Mode,
    Term,
    document_table,
    empty_page,
    facet_limit,
    fold,
    hit_score,
    listing_scope,
    listing_stride,
    page_within,
    query_terms,
    scalar_conditions,
    search_hit,
    search_mode,
    search_page,
    word_parts,
)

TEXT_CONFIG = "search_text"
"""English stemming without stop words (as the SQLite backend: every word must match)."""
_TEXT_CONFIG_SETUP = f"""
CREATE TEXT SEARCH DICTIONARY english_stem_all (TEMPLATE = snowball, Language = english);
CREATE TEXT SEARCH CONFIGURATION {TEXT_CONFIG} (COPY = english);
ALTER TEXT SEARCH CONFIGURATION {TEXT_CONFIG}
    ALTER MAPPING REPLACE english_stem WITH english_stem_all;
"""
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_HEADLINE_OPTIONS = (
    f"StartSel={SNIPPET_START}, StopSel={SNIPPET_END}, FragmentDelimiter={SNIPPET_ELLIPSIS}, "
    f"MaxWords={SNIPPET_WORDS}, MinWords={SNIPPET_WORDS // 2}, MaxFragments=1"
)

_COLUMN_TYPES = {
    "doc_id": "text NOT NULL UNIQUE",
    "level": "text NOT NULL",
    "item_id": "text NOT NULL",
    "kind": "text NOT NULL",
    "source": "text",
    "url": "text",
    "title": "text",
    "description": "text",
    "year": "integer",
    "duration_s": "double precision",
    "tags": "text[]",
    "people": "text[]",
    "labels": "text[]",
    "genres": "text[]",
    "moods": "text[]",
    "start_s": "double precision",
    "end_s": "double precision",
    "keyframe_s": "double precision",
    "score": "double precision",
    "lineage": "text",
    "vector_row": "bigint NOT NULL",
}

_TSVECTOR = f"""
    setweight(to_tsvector('{TEXT_CONFIG}', coalesce(title, '')), 'A')
    || setweight(to_tsvector('{TEXT_CONFIG}', concat_ws(' ',
        array_to_string(tags, ' '), array_to_string(people, ' '), array_to_string(labels, ' ')
    )), 'B')
    || setweight(to_tsvector('{TEXT_CONFIG}', coalesce(description, '')), 'C')
    || setweight(to_tsvector('{TEXT_CONFIG}', word_parts), 'B')
"""

_FACET_ROWS = """
    SELECT 'kind' AS facet, kind AS value, {scope} FROM {source}
    UNION ALL SELECT 'year', year::text, {scope} FROM {source} WHERE year IS NOT NULL
    UNION ALL SELECT 'label', unnest(labels), {scope} FROM {source}
    UNION ALL SELECT 'genre', unnest(genres), {scope} FROM {source}
    UNION ALL SELECT 'mood', unnest(moods), {scope} FROM {source}
    UNION ALL SELECT 'person', unnest(people), {scope} FROM {source}
"""

_INDEXES = """
CREATE INDEX documents_tsv ON documents USING gin (tsv);
CREATE INDEX documents_labels ON documents USING gin (labels_folded);
CREATE INDEX documents_genres ON documents USING gin (genres_folded);
CREATE INDEX documents_moods ON documents USING gin (moods_folded);
CREATE INDEX documents_people ON documents USING gin (people_folded);
CREATE INDEX documents_item ON documents (item_id);
CREATE INDEX documents_level ON documents (level, docno);
CREATE INDEX documents_kind ON documents (kind);
CREATE INDEX documents_year ON documents (year);
CREATE INDEX documents_duration ON documents (duration_s);
"""

_COUNTS = f"""
CREATE TABLE facet_count (
    scope text NOT NULL, facet text NOT NULL, value text NOT NULL, count bigint NOT NULL,
    PRIMARY KEY (scope, facet, value)
);
INSERT INTO facet_count
SELECT scope, facet, value, count(*) FROM (
    {_FACET_ROWS.format(scope="'all' AS scope", source="documents")}
    UNION ALL
    {_FACET_ROWS.format(scope="level", source="documents")}
) AS rows GROUP BY scope, facet, value;
CREATE TABLE scope_total (scope text PRIMARY KEY, total bigint NOT NULL);
INSERT INTO scope_total SELECT 'all', count(*) FROM documents;
INSERT INTO scope_total SELECT level, count(*) FROM documents GROUP BY level;
"""

_TOP_VALUES = f"""
SELECT facet, value, count FROM (
    SELECT facet, value, count,
           row_number() OVER (PARTITION BY facet ORDER BY count DESC, value COLLATE "C") AS place
    FROM ({{counts}}) AS counts
) AS ranked WHERE place <= {TOP_FACET_VALUES}
"""

_COLUMNS = ", ".join(f"d.{name}" for name in DOCUMENT_COLUMNS)
_FOLDED = {facet: f"{FACET_COLUMNS[facet]}_folded" for facet in LIST_FILTERS}
"""The column each list filter compares (the facet's values, case-folded)."""


def tsquery_expression(terms: Sequence[Term]) -> str:
    """A to_tsquery text ANDing the terms, each quoted (letters and digits only)."""
    return " & ".join(f"'{term.text}'" + (":*" if term.prefix else "") for term in terms)


def validate_schema_name(schema: str) -> str:
    """Refuse any schema name that is not a plain lower-case identifier."""
    if not _SCHEMA_NAME.fullmatch(schema):
        raise ValueError(
            f"PostgreSQL schema name {schema!r} is not a plain identifier "
            "(lower-case letters, digits and _, not starting with a digit, at most 63)"
        )
    return schema


def drop(dsn: str, schema: str) -> None:
    """Remove an index version's schema (nothing happens when it does not exist)."""
    name = sql.Identifier(validate_schema_name(schema))
    with psycopg.connect(dsn) as connection:
        connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(name))


def list_schemas(dsn: str, prefix: str) -> list[str]:
    """The schemas whose names start with ``prefix`` (a plain identifier prefix)."""
    validate_schema_name(prefix)
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s) ORDER BY 1",
            [prefix],
        ).fetchall()
    return [str(row[0]) for row in rows]


class PostgresSearchBackend:
    """A built index version's schema, read through one shared autocommit connection."""

    def __init__(
        self, connection: psycopg.Connection[Any], schema: str, facet_matches: int = FACET_MATCHES
    ) -> None:
        self._connection = connection
        self._schema = schema
        self._facet_matches = facet_limit(facet_matches)
        self._lock = threading.Lock()

    @classmethod
    def build(cls, dsn: str, schema: str, documents: pd.DataFrame) -> None:
        """Create ``schema`` afresh with the documents, in one transaction."""
        name = sql.Identifier(validate_schema_name(schema))
        table = document_table(documents)
        with psycopg.connect(dsn) as connection, connection.cursor() as cursor:
            cursor.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(name))
            cursor.execute(sql.SQL("CREATE SCHEMA {}").format(name))
            cursor.execute(sql.SQL("SET LOCAL search_path TO {}").format(name))
            cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
            cursor.execute(_TEXT_CONFIG_SETUP)
            columns = ", ".join(f"{column} {kind}" for column, kind in _COLUMN_TYPES.items())
            folded = ", ".join(f"{column} text[]" for column in _FOLDED.values())
            cursor.execute(
                f"CREATE TEMP TABLE staging (docno bigint, {columns}, {folded}, "
                "word_parts text NOT NULL) ON COMMIT DROP"
            )
            cursor.execute(
                f"CREATE TABLE documents (docno bigint PRIMARY KEY, {columns}, {folded}, "
                "tsv tsvector)"
            )
            stored = ", ".join(("docno", *DOCUMENT_COLUMNS, *_FOLDED.values()))
            values = [table.column(column).to_pylist() for column in DOCUMENT_COLUMNS]
            folded_values = [
                [fold(row) for row in table.column(FACET_COLUMNS[facet]).to_pylist()]
                for facet in _FOLDED
            ]
            parts = [
                word_parts(row)
                for row in zip(
                    *(table.column(name).to_pylist() for name in TEXT_COLUMNS), strict=True
                )
            ]
            with cursor.copy(f"COPY staging ({stored}, word_parts) FROM STDIN") as copy:
                rows = zip(
                    range(1, table.num_rows + 1), *values, *folded_values, parts, strict=True
                )
                for row in rows:
                    copy.write_row(row)
            cursor.execute(
                f"INSERT INTO documents ({stored}, tsv) "
                f"SELECT {stored}, {_TSVECTOR} FROM staging ORDER BY docno"
            )
            cursor.execute(_INDEXES)
            cursor.execute(_COUNTS)
            cursor.execute("ANALYZE documents")

    @classmethod
    def open(
        cls, dsn: str, schema: str, facet_matches: int = FACET_MATCHES
    ) -> PostgresSearchBackend:
        """Connect (read-only) to a built schema; facets count at most ``facet_matches``."""
        name = validate_schema_name(schema)
        facet_limit(facet_matches)
        connection = psycopg.connect(dsn, autocommit=True)
        try:
            connection.execute("SET default_transaction_read_only = on")
            found = connection.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", (name,)
            ).fetchone()
            if found is None:
                raise LookupError(f"search index schema {name!r} does not exist in PostgreSQL")
            connection.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(name)))
        except BaseException:
            connection.close()
            raise
        return cls(connection, name, facet_matches)

    def search(self, query: SearchQuery, doc_ids: list[str] | None = None) -> SearchPage:
        mode = search_mode(query, doc_ids)
        with self._lock:
            scope = listing_scope(query, doc_ids)
            if scope is not None:
                return self._listing_page(query, scope)
            return self._search_page(query, doc_ids, mode)

    def documents(self, doc_ids: list[str]) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._connection.execute(
                f"SELECT {_COLUMNS} FROM documents AS d WHERE d.doc_id = ANY(%s)",
                (doc_ids,),
            ).fetchall()
        found = {document["doc_id"]: document for document in map(_document, rows)}
        return [found[doc_id] for doc_id in doc_ids if doc_id in found]

    def item_documents(self, item_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._connection.execute(
                f"SELECT {_COLUMNS} FROM documents AS d WHERE d.item_id = %s "
                "ORDER BY d.level <> 'item', d.start_s, d.docno",
                (item_id,),
            ).fetchall()
        return [_document(row) for row in rows]

    def close(self) -> None:
        self._connection.close()

    def _listing_page(self, query: SearchQuery, scope: str) -> SearchPage:
        """A plain listing (of one level or all): totals and facets computed at build time."""
        found = self._connection.execute(
            "SELECT total FROM scope_total WHERE scope = %s", (scope,)
        ).fetchone()
        level = "" if scope == "all" else "WHERE d.level = %s"
        rows = self._connection.execute(
            f"SELECT {_COLUMNS} FROM documents AS d {level} ORDER BY d.docno LIMIT %s OFFSET %s",
            (*([] if scope == "all" else [scope]), query.page_size, _offset(query)),
        ).fetchall()
        counts = self._connection.execute(
            _TOP_VALUES.format(
                counts="SELECT facet, value, count FROM facet_count WHERE scope = %s"
            ),
            (scope,),
        ).fetchall()
        total = found[0] if found else 0
        hits = [search_hit(_document(row), 0.0, None) for row in rows]
        return search_page(query, total=total, hits=hits, facet_counts=counts, counted=total)

    def _search_page(self, query: SearchQuery, doc_ids: list[str] | None, mode: Mode) -> SearchPage:
        terms = query_terms(query.q)
        if query.q.strip() and not terms:
            return empty_page(query)
        tsquery = tsquery_expression(terms)
        source = _source(mode, tsquery, doc_ids)
        conditions, filter_params = _conditions(query, tsquery)
        where = " AND ".join(conditions)
        params = (*source.params, *filter_params)
        limit = self._facet_matches
        count = f"SELECT count(*) {source.tables} WHERE {where}"
        total: int | None = None
        stride = 1
        if mode == "listing":
            total = self._count(count, params)
            stride = listing_stride(total, limit)
        sample = " AND d.docno %% %s = 0" if stride > 1 else ""
        kept = (
            f"SELECT d.docno, {source.rank} AS rank, d.kind, d.year, d.labels, d.genres, "
            f"d.moods, d.people {source.tables} WHERE {where}{sample} "
            f"ORDER BY {source.order} LIMIT %s"
        )
        counts = (
            "SELECT facet, value, count(*) AS count FROM ("
            + _FACET_ROWS.format(scope="1 AS one", source="kept")
            + ") AS rows GROUP BY facet, value"
        )
        statement = f"""
            WITH kept AS MATERIALIZED ({kept}),
            page AS (SELECT docno, rank FROM kept ORDER BY rank DESC, docno LIMIT %s OFFSET %s)
            SELECT (SELECT count(*) FROM kept),
                   (SELECT coalesce(json_agg(json_build_array(facet, value, count)), '[]')
                    FROM ({_TOP_VALUES.format(counts=counts)}) AS top),
                   (SELECT coalesce(json_agg(json_build_array(docno, rank)
                                             ORDER BY rank DESC, docno), '[]') FROM page)
        """
        row = self._connection.execute(
            statement,
            (*params, *([stride] if stride > 1 else []), limit, query.page_size, _offset(query)),
        ).fetchone()
        assert row is not None
        kept_count, counts_rows, page = row
        if total is None:
            total = kept_count if kept_count < limit else self._count(count, params)
        if not page_within(query, mode, kept_count, total):
            page = self._connection.execute(
                f"SELECT d.docno, {source.rank} AS rank {source.tables} WHERE {where} "
                f"ORDER BY {source.order} LIMIT %s OFFSET %s",
                (*params, query.page_size, _offset(query)),
            ).fetchall()
        documents = self._page_documents([docno for docno, _ in page], tsquery)
        hits = [
            search_hit(documents[docno][0], hit_score(mode, rank), documents[docno][1])
            for docno, rank in page
        ]
        return search_page(
            query, total=total, hits=hits, facet_counts=counts_rows, counted=kept_count
        )

    def _count(self, statement: str, params: Sequence[Any]) -> int:
        found = self._connection.execute(statement, params).fetchone()
        return int(found[0]) if found else 0

    def _page_documents(
        self, docnos: list[int], tsquery: str
    ) -> dict[int, tuple[dict[str, Any], str | None]]:
        """The page's documents with their highlighted description (or title) text."""
        headline = (
            f"ts_headline('{TEXT_CONFIG}', coalesce(nullif(d.description, ''), d.title, ''), "
            f"to_tsquery('{TEXT_CONFIG}', %s), %s)"
            if tsquery
            else "NULL::text"
        )
        rows = self._connection.execute(
            f"SELECT d.docno, {_COLUMNS}, {headline} FROM documents AS d WHERE d.docno = ANY(%s)",
            (*((tsquery, _HEADLINE_OPTIONS) if tsquery else ()), docnos),
        ).fetchall()
        return {row[0]: (_document(row[1:-1]), row[-1] or None) for row in rows}


@dataclass(frozen=True)
class _Source:
    """Where a query's candidates come from: FROM clause, rank (higher first), the order
    of rank then docno (as an index can give it), parameters."""

    tables: str
    rank: str
    order: str
    params: list[Any]


def _source(mode: Mode, tsquery: str, doc_ids: list[str] | None) -> _Source:
    """The candidates of ``mode``."""
    if mode == "vector":
        return _Source(
            "FROM unnest(%s::text[]) WITH ORDINALITY AS w(doc_id, position) "
            "JOIN documents AS d ON d.doc_id = w.doc_id",
            "-w.position",
            "w.position",
            [list(dict.fromkeys(doc_ids or []))],
        )
    if mode == "text":
        return _Source(
            f"FROM documents AS d, to_tsquery('{TEXT_CONFIG}', %s) AS query",
            "ts_rank(d.tsv, query)",
            "rank DESC, d.docno",
            [tsquery],
        )
    return _Source("FROM documents AS d", "-d.docno", "d.docno", [])


def _conditions(query: SearchQuery, tsquery: str) -> tuple[list[str], list[Any]]:
    """WHERE conditions for the query's text and filters, with their parameters."""
    conditions = ["TRUE"]
    params: list[Any] = []
    if tsquery:
        conditions.append(f"d.tsv @@ to_tsquery('{TEXT_CONFIG}', %s)")
        params.append(tsquery)
    scalar, values = scalar_conditions(query, "%s")
    conditions += scalar
    params += values
    if query.kind:
        conditions.append("d.kind = ANY(%s)")
        params.append(query.kind)
    for facet, column in _FOLDED.items():
        values = getattr(query, facet)
        if values:
            conditions.append(f"d.{column} && %s::text[]")
            params.append(fold(values))
    return conditions, params


def _document(row: Sequence[Any]) -> dict[str, Any]:
    return dict(zip(DOCUMENT_COLUMNS, row, strict=True))


def _offset(query: SearchQuery) -> int:
    return (query.page - 1) * query.page_size
