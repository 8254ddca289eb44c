"""The server search backend: one PostgreSQL schema per index version. ``documents`` holds
every document with a weighted tsvector (A: title; B: tags, people, labels and the parts
of words that join letters and digits, see ops.index.text.word_parts; C: description,
transcript and screen text) under a GIN index, and the multi-valued facets as arrays,
with their case-folded values (``<column>_folded``, what filters compare) under GIN
indexes; ``facet_count`` / ``scope_total`` hold the counts of the plain listings. The
``docno`` column is the position in the listing order shared with the SQLite backend. A
schema is built in one transaction (dropped and created afresh), so readers see the
whole version or none of it. Query text becomes a tsquery of quoted words only (see
ops.index.text.query_terms), always passed as a parameter.

Queries are answered by the algorithm of ops.index.search_engine; this module is its
PostgreSQL dialect. The matches kept for the page and the facet counts live in one
statement (a materialized CTE) that also counts their facets and reads the page.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

from ops.index.query import SearchQuery
from ops.index.schema import DOCUMENT_COLUMNS
from ops.index.search_engine import (
    COLUMNS,
    FACET_MATCHES,
    SNIPPET_ELLIPSIS,
    SNIPPET_END,
    SNIPPET_START,
    SNIPPET_WORDS,
    Candidates,
    Connection,
    Kept,
    Matches,
    Mode,
    SqlSearchEngine,
    facet_limit,
    offset,
)
from ops.index.stored_documents import (
    FACET_COLUMNS,
    LIST_FILTERS,
    document_table,
    document_word_parts,
)
from ops.index.text import Term, fold

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
    "transcript": "text",
    "screen_text": "text",
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
    || setweight(to_tsvector('{TEXT_CONFIG}', coalesce(transcript, '')), 'C')
    || setweight(to_tsvector('{TEXT_CONFIG}', coalesce(screen_text, '')), 'C')
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

_KEPT_COUNTS = (
    "SELECT facet, value, count(*) AS count FROM ("
    + _FACET_ROWS.format(scope="1 AS one", source="kept")
    + ") AS rows GROUP BY facet, value"
)
_KEPT_FACET_COLUMNS = "d.kind, d.year, d.labels, d.genres, d.moods, d.people"
"""What _KEPT_COUNTS reads of each kept match."""
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


class PostgresSearchBackend(SqlSearchEngine):
    """A built index version's schema, read through one shared autocommit connection."""

    placeholder = "%s"
    modulo = "%%"
    collation = 'COLLATE "C"'
    scope_counts = "SELECT facet, value, count FROM facet_count WHERE scope = %s"

    def __init__(
        self, connection: psycopg.Connection[Any], schema: str, facet_matches: int = FACET_MATCHES
    ) -> None:
        super().__init__(facet_matches)
        self._shared = connection
        self._schema = schema
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
            parts = document_word_parts(table)
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

    def close(self) -> None:
        self._shared.close()

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        with self._lock:
            yield self._shared

    def _in_list(self, expression: str) -> str:
        return f"{expression} = ANY(%s)"

    def _list_param(self, values: Sequence[Any]) -> list[Any]:
        return list(values)

    def _document(self, row: Sequence[Any]) -> dict[str, Any]:
        return dict(zip(DOCUMENT_COLUMNS, row, strict=True))

    def _text_expression(self, terms: Sequence[Term]) -> str:
        return tsquery_expression(terms)

    def _text_condition(self, mode: Mode) -> str:
        return f"d.tsv @@ to_tsquery('{TEXT_CONFIG}', %s)"

    def _text_candidates(self, text: str, filtered: bool) -> Candidates:
        return Candidates(
            f"FROM documents AS d, to_tsquery('{TEXT_CONFIG}', %s) AS query",
            "d.docno",
            "ts_rank(d.tsv, query)",
            "rank DESC, d.docno",
            (text,),
        )

    def _vector_candidates(self, doc_ids: list[str]) -> Candidates:
        return Candidates(
            "FROM unnest(%s::text[]) WITH ORDINALITY AS w(doc_id, position) "
            "JOIN documents AS d ON d.doc_id = w.doc_id",
            "d.docno",
            "-w.position",
            "w.position",
            (doc_ids,),
        )

    def _list_filter(self, facet: str, folded: list[str]) -> tuple[str, list[Any]]:
        return f"d.{_FOLDED[facet]} && %s::text[]", [folded]

    def _keep(
        self, connection: Connection, matches: Matches, limit: int, query: SearchQuery
    ) -> Kept:
        """One statement keeps the matches, counts their facets and reads the page."""
        statement = f"""
            WITH kept AS MATERIALIZED ({matches.select(_KEPT_FACET_COLUMNS)} LIMIT %s),
            page AS (SELECT docno, rank FROM kept ORDER BY rank DESC, docno LIMIT %s OFFSET %s)
            SELECT (SELECT count(*) FROM kept),
                   (SELECT coalesce(json_agg(json_build_array(facet, value, count)), '[]')
                    FROM ({self._top_values(_KEPT_COUNTS)}) AS top),
                   (SELECT coalesce(json_agg(json_build_array(docno, rank)
                                             ORDER BY rank DESC, docno), '[]') FROM page)
        """
        row = connection.execute(
            statement, (*matches.params, limit, query.page_size, offset(query))
        ).fetchone()
        kept, counts, page = row
        return Kept(int(kept), counts, lambda: page)

    def _page_documents(
        self, connection: Connection, docnos: list[int], text: str
    ) -> dict[int, tuple[dict[str, Any], str | None]]:
        """The page's documents with their highlighted text (SNIPPET_COLUMNS: the transcript
        or screen text holding the query's words, else the description or title)."""
        headline = (
            f"""CASE
                WHEN to_tsvector('{TEXT_CONFIG}', coalesce(d.transcript, '')) @@ q.query
                THEN ts_headline('{TEXT_CONFIG}', d.transcript, q.query, q.options)
                WHEN to_tsvector('{TEXT_CONFIG}', coalesce(d.screen_text, '')) @@ q.query
                THEN ts_headline('{TEXT_CONFIG}', d.screen_text, q.query, q.options)
                ELSE ts_headline('{TEXT_CONFIG}', coalesce(nullif(d.description, ''), d.title, ''),
                                 q.query, q.options)
            END"""
            if text
            else "NULL::text"
        )
        query = (
            f"CROSS JOIN (SELECT to_tsquery('{TEXT_CONFIG}', %s) AS query, %s AS options) AS q"
            if text
            else ""
        )
        rows = connection.execute(
            f"SELECT d.docno, {COLUMNS}, {headline} FROM documents AS d {query} "
            f"WHERE {self._in_list('d.docno')}",
            (*((text, _HEADLINE_OPTIONS) if text else ()), docnos),
        ).fetchall()
        return {row[0]: (self._document(row[1:-1]), row[-1] or None) for row in rows}
