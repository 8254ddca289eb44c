"""The embedded search backend: one SQLite file with FTS5 (BM25) and facet tables.

Layout of the file, built once and then only read:

- ``documents``: one row per document; ``docno`` (the rowid) is the position in the
  listing order, so an unranked listing pages by rowid. List columns hold JSON arrays.
- ``fts``: an FTS5 index over title, description, tags, people, labels and the parts of
  words that join letters and digits (ops.index.text.word_parts), reading its text from
  ``documents`` (external content: the text is stored once). BM25 weighs title matches
  highest.
- ``facet_value`` (id, facet, value, folded) and ``document_facet`` (docno, value_id):
  every facet value of every document (kind and year too), so the facet counts of any
  match are one GROUP BY over the matching rows, and list filters (on the case-folded
  value) one index lookup.
- ``facet_count`` / ``scope_total``: counts for the plain listings (all, item, segment).

A query keeps at most FACET_MATCHES matches in a temporary table, for the page and the
facet counts: a ranked query its best-ranked ones (SQLite's top-N sort over BM25), a
filtered listing an even sample of the listing (see ops.index.text.listing_stride). The
total is counted apart only when the table is full (FTS5 alone counts 10^5 matches in
milliseconds), and a page outside the table is read afresh. Query text is reduced to
quoted words (see ops.index.text.query_terms): the words are ANDed, and ``word*``
matches words starting with ``word``.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from ops.atomic import atomic_path
from ops.index.query import SearchPage, SearchQuery
from ops.index.schema import DOCUMENT_COLUMNS
from ops.index.text import (
    FACET_COLUMNS,
    FACET_MATCHES,
    LIST_COLUMNS,
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
    facet_values,
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

BM25_WEIGHTS = (10.0, 2.0, 4.0, 4.0, 4.0, 4.0)
"""title, description, tags, people, labels, word parts (the order of the fts columns)."""

_BUILD_PRAGMAS = (
    "PRAGMA journal_mode = OFF",
    "PRAGMA synchronous = OFF",
    "PRAGMA locking_mode = EXCLUSIVE",
    "PRAGMA temp_store = MEMORY",
    "PRAGMA cache_size = -262144",
    "PRAGMA analysis_limit = 1000",
)
_READ_PRAGMAS = (
    "PRAGMA temp_store = MEMORY",
    "PRAGMA cache_size = -65536",
    "PRAGMA mmap_size = 1073741824",
)

_SCHEMA = """
CREATE TABLE documents (
    docno INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL UNIQUE,
    level TEXT NOT NULL,
    item_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT,
    url TEXT,
    title TEXT,
    description TEXT,
    year INTEGER,
    duration_s REAL,
    tags TEXT,
    people TEXT,
    labels TEXT,
    genres TEXT,
    moods TEXT,
    start_s REAL,
    end_s REAL,
    keyframe_s REAL,
    score REAL,
    lineage TEXT,
    vector_row INTEGER NOT NULL,
    word_parts TEXT NOT NULL
);
CREATE TABLE facet_value (
    id INTEGER PRIMARY KEY,
    facet TEXT NOT NULL,
    value TEXT NOT NULL,
    folded TEXT NOT NULL,
    UNIQUE (facet, value)
);
CREATE TABLE document_facet (
    docno INTEGER NOT NULL,
    value_id INTEGER NOT NULL,
    PRIMARY KEY (docno, value_id)
) WITHOUT ROWID;
CREATE TABLE facet_count (
    scope TEXT NOT NULL,
    value_id INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (scope, value_id)
) WITHOUT ROWID;
CREATE TABLE scope_total (scope TEXT PRIMARY KEY, total INTEGER NOT NULL);
"""

_INDEXES = """
CREATE INDEX document_facet_by_value ON document_facet (value_id, docno);
CREATE INDEX facet_value_folded ON facet_value (facet, folded);
CREATE INDEX documents_by_item ON documents (item_id);
CREATE INDEX documents_by_level ON documents (level);
CREATE INDEX documents_by_kind ON documents (kind);
CREATE INDEX documents_by_year ON documents (year);
CREATE INDEX documents_by_duration ON documents (duration_s);
CREATE VIRTUAL TABLE fts USING fts5(
    title, description, tags, people, labels, word_parts,
    content = 'documents', content_rowid = 'docno',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO fts (fts) VALUES ('rebuild');
"""

_FACET_COUNTS = """
INSERT INTO facet_count (scope, value_id, count)
SELECT 'all', value_id, count(*) FROM document_facet GROUP BY value_id;
INSERT INTO facet_count (scope, value_id, count)
SELECT d.level, f.value_id, count(*)
FROM document_facet AS f JOIN documents AS d ON d.docno = f.docno
GROUP BY d.level, f.value_id;
INSERT INTO scope_total (scope, total) SELECT 'all', count(*) FROM documents;
INSERT INTO scope_total (scope, total) SELECT level, count(*) FROM documents GROUP BY level;
"""

_TOP_VALUES = f"""
SELECT facet, value, count FROM (
    SELECT v.facet, v.value, c.count,
           row_number() OVER (PARTITION BY v.facet ORDER BY c.count DESC, v.value) AS place
    FROM ({{counts}}) AS c JOIN facet_value AS v ON v.id = c.value_id
) WHERE place <= {TOP_FACET_VALUES}
"""

_SNIPPET = (
    "CASE WHEN coalesce(d.description, '') != '' "
    "THEN snippet(fts, 1, ?, ?, ?, ?) ELSE snippet(fts, 0, ?, ?, ?, ?) END"
)
_SNIPPET_ARGS = (SNIPPET_START, SNIPPET_END, SNIPPET_ELLIPSIS, SNIPPET_WORDS) * 2
_COLUMNS = ", ".join(f"d.{name}" for name in DOCUMENT_COLUMNS)


def fts_expression(terms: Sequence[Term]) -> str:
    """An FTS5 MATCH expression ANDing the terms, each quoted (so never an operator)."""
    return " ".join(f'"{term.text}"' + ("*" if term.prefix else "") for term in terms)


class SqliteSearchBackend:
    """A read-only search index file; safe to share between threads (one connection each)."""

    def __init__(self, path: Path, facet_matches: int = FACET_MATCHES) -> None:
        self._path = path
        self._facet_matches = facet_limit(facet_matches)
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def build(cls, path: Path, documents: pd.DataFrame) -> None:
        """Write a new index file at ``path``; it appears only once complete."""
        table = document_table(documents)
        with atomic_path(path) as tmp:
            connection = sqlite3.connect(tmp, isolation_level=None)
            try:
                for pragma in _BUILD_PRAGMAS:
                    connection.execute(pragma)
                connection.executescript(_SCHEMA)
                connection.execute("BEGIN")
                _insert_documents(connection, table)
                connection.execute("COMMIT")
                connection.executescript(f"BEGIN; {_INDEXES} {_FACET_COUNTS} COMMIT; ANALYZE;")
            finally:
                connection.close()

    @classmethod
    def open(cls, path: Path, facet_matches: int = FACET_MATCHES) -> SqliteSearchBackend:
        """Open a built index file read-only; facets count at most ``facet_matches``."""
        if not path.is_file():
            raise FileNotFoundError(f"search index file not found: {path}")
        backend = cls(path, facet_matches)
        with backend._connection() as connection:
            connection.execute("SELECT 1 FROM scope_total").fetchall()
        return backend

    def search(self, query: SearchQuery, doc_ids: list[str] | None = None) -> SearchPage:
        mode = search_mode(query, doc_ids)
        with self._connection() as connection:
            scope = listing_scope(query, doc_ids)
            if scope is not None:
                return _listing_page(connection, query, scope)
            return _search_page(connection, query, doc_ids, mode, self._facet_matches)

    def documents(self, doc_ids: list[str]) -> list[dict[str, Any]]:
        with self._connection() as connection:
            rows = connection.execute(
                f"SELECT {_COLUMNS} FROM documents AS d "
                "WHERE d.doc_id IN (SELECT value FROM json_each(?))",
                (json.dumps(doc_ids),),
            ).fetchall()
        found = {document["doc_id"]: document for document in map(_document, rows)}
        return [found[doc_id] for doc_id in doc_ids if doc_id in found]

    def item_documents(self, item_id: str) -> list[dict[str, Any]]:
        with self._connection() as connection:
            rows = connection.execute(
                f"SELECT {_COLUMNS} FROM documents AS d WHERE d.item_id = ? "
                "ORDER BY d.level != 'item', d.start_s, d.docno",
                (item_id,),
            ).fetchall()
        return [_document(row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for connection in self._all:
                connection.close()
            self._all.clear()

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A connection no other thread uses meanwhile (made on demand, then reused)."""
        try:
            connection = self._idle.get_nowait()
        except queue.Empty:
            connection = self._connect()
        try:
            yield connection
        finally:
            self._idle.put(connection)

    def _connect(self) -> sqlite3.Connection:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"search index {self._path} is closed")
            connection = sqlite3.connect(
                f"{self._path.resolve().as_uri()}?mode=ro",
                uri=True,
                check_same_thread=False,
                isolation_level=None,
            )
            for pragma in _READ_PRAGMAS:
                connection.execute(pragma)
            connection.execute(
                "CREATE TEMP TABLE matches (docno INTEGER PRIMARY KEY, rank REAL NOT NULL)"
            )
            self._all.append(connection)
            return connection


def _insert_documents(connection: sqlite3.Connection, table: pa.Table) -> None:
    columns = {name: table.column(name).to_pylist() for name in DOCUMENT_COLUMNS}
    for name in LIST_COLUMNS:
        columns[name] = [
            None if values is None else json.dumps(values, ensure_ascii=False)
            for values in columns[name]
        ]
    parts = [
        word_parts(values)
        for values in zip(*(table.column(name).to_pylist() for name in TEXT_COLUMNS), strict=True)
    ]
    placeholders = ", ".join("?" * (len(DOCUMENT_COLUMNS) + 2))
    connection.executemany(
        f"INSERT INTO documents (docno, {', '.join(DOCUMENT_COLUMNS)}, word_parts) "
        f"VALUES ({placeholders})",
        zip(range(1, table.num_rows + 1), *columns.values(), parts, strict=True),
    )
    value_ids: dict[tuple[str, str], int] = {}
    facet_columns = table.select(list(dict.fromkeys(FACET_COLUMNS.values())))
    connection.executemany(
        "INSERT INTO document_facet (docno, value_id) VALUES (?, ?)",
        (
            (docno, value_ids.setdefault(pair, len(value_ids) + 1))
            for docno, document in enumerate(facet_columns.to_pylist(), start=1)
            for pair in dict.fromkeys(facet_values(document))
        ),
    )
    connection.executemany(
        "INSERT INTO facet_value (id, facet, value, folded) VALUES (?, ?, ?, ?)",
        (
            (value_id, facet, value, value.casefold())
            for (facet, value), value_id in value_ids.items()
        ),
    )


def _listing_page(connection: sqlite3.Connection, query: SearchQuery, scope: str) -> SearchPage:
    """A plain listing (of one level or all): totals and facets computed at build time."""
    (total,) = connection.execute(
        "SELECT total FROM scope_total WHERE scope = ?", (scope,)
    ).fetchone() or (0,)
    level = "" if scope == "all" else "WHERE d.level = ?"
    rows = connection.execute(
        f"SELECT {_COLUMNS} FROM documents AS d {level} ORDER BY d.docno LIMIT ? OFFSET ?",
        (*([] if scope == "all" else [scope]), query.page_size, _offset(query)),
    ).fetchall()
    counts = connection.execute(
        _TOP_VALUES.format(counts="SELECT value_id, count FROM facet_count WHERE scope = ?"),
        (scope,),
    ).fetchall()
    hits = [search_hit(_document(row), 0.0, None) for row in rows]
    return search_page(query, total=total, hits=hits, facet_counts=counts, counted=total)


def _search_page(
    connection: sqlite3.Connection,
    query: SearchQuery,
    doc_ids: list[str] | None,
    mode: Mode,
    limit: int,
) -> SearchPage:
    terms = query_terms(query.q)
    if query.q.strip() and not terms:
        return empty_page(query)
    match = fts_expression(terms)
    filters, filter_params = _filters(query)
    conditions = [*_text_conditions(mode, match), *filters] or ["1"]
    source = _source(mode, doc_ids, filtered=bool(filters))
    where = " AND ".join(conditions)
    matches = (
        f"SELECT {source.docno}, {source.rank} {source.tables} WHERE {where} "
        f"ORDER BY {source.order}"
    )
    params = (*source.params, *([match] if match else []), *filter_params)
    kept, total = _keep_matches(connection, mode, source, where, params, limit)
    if page_within(query, mode, kept, total):
        page_rows = "SELECT docno, rank FROM temp.matches ORDER BY rank DESC, docno"
        page_params: tuple[Any, ...] = ()
    else:
        page_rows, page_params = matches, params
    page = connection.execute(
        f"{page_rows} LIMIT ? OFFSET ?", (*page_params, query.page_size, _offset(query))
    ).fetchall()
    counts = connection.execute(
        _TOP_VALUES.format(
            counts="SELECT f.value_id, count(*) AS count FROM temp.matches AS m "
            "CROSS JOIN document_facet AS f ON f.docno = m.docno GROUP BY f.value_id"
        )
    ).fetchall()
    documents = _page_documents(connection, [docno for docno, _ in page])
    snippets = _snippets(connection, match, [docno for docno, _ in page]) if terms else {}
    hits = [
        search_hit(documents[docno], hit_score(mode, rank), snippets.get(docno))
        for docno, rank in page
    ]
    return search_page(query, total=total, hits=hits, facet_counts=counts, counted=kept)


def _keep_matches(
    connection: sqlite3.Connection,
    mode: Mode,
    source: _Source,
    where: str,
    params: Sequence[Any],
    limit: int,
) -> tuple[int, int]:
    """Fill temp.matches with at most ``limit`` matches (the best-ranked, or an even sample
    of a listing); return how many it holds and the total match count."""
    count = f"SELECT count(*) {source.tables} WHERE {where}"
    total: int | None = None
    stride = 1
    if mode == "listing":
        (total,) = connection.execute(count, params).fetchone()
        stride = listing_stride(total, limit)
    sample = " AND d.docno % ? = 0" if stride > 1 else ""
    connection.execute("DELETE FROM temp.matches")
    kept: int = connection.execute(
        f"INSERT INTO temp.matches (docno, rank) SELECT {source.docno}, {source.rank} "
        f"{source.tables} WHERE {where}{sample} ORDER BY {source.order} LIMIT ?",
        (*params, *([stride] if stride > 1 else []), limit),
    ).rowcount
    if total is None:
        total = kept if kept < limit else connection.execute(count, params).fetchone()[0]
    return kept, total


@dataclass(frozen=True)
class _Source:
    """Where a query's candidates come from: FROM clause, their docno and rank (higher
    first), ORDER BY for rank then docno (as the rowid or position where one gives that
    order, so a top-N read can stop early; bm25 only by its result column), parameters."""

    tables: str
    docno: str
    rank: str
    order: str
    params: list[Any]


def _source(mode: Mode, doc_ids: list[str] | None, filtered: bool) -> _Source:
    """The candidates of ``mode``; text without filters reads FTS5 alone (no document rows)."""
    if mode == "vector":
        ranked = json.dumps(list(dict.fromkeys(doc_ids or [])))
        return _Source(
            "FROM json_each(?) AS w JOIN documents AS d ON d.doc_id = w.value",
            "d.docno",
            "-(w.key + 1)",
            "w.key",
            [ranked],
        )
    if mode == "text":
        weights = ", ".join(str(weight) for weight in BM25_WEIGHTS)
        tables = "FROM fts JOIN documents AS d ON d.docno = fts.rowid" if filtered else "FROM fts"
        return _Source(tables, "fts.rowid", f"-bm25(fts, {weights})", "2 DESC, 1", [])
    return _Source("FROM documents AS d", "d.docno", "-d.docno", "d.docno", [])


def _text_conditions(mode: Mode, match: str) -> list[str]:
    """The text condition (one parameter: the MATCH expression), if the query has text.

    In vector mode a text query narrows the caller's list without ranking it.
    """
    if not match:
        return []
    return [
        "fts MATCH ?" if mode == "text" else "d.docno IN (SELECT rowid FROM fts WHERE fts MATCH ?)"
    ]


def _filters(query: SearchQuery) -> tuple[list[str], list[Any]]:
    """WHERE conditions on ``d`` (the documents) for the query's filters, with parameters."""
    conditions, params = scalar_conditions(query, "?")
    if query.kind:
        conditions.append("d.kind IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(query.kind))
    for facet in LIST_FILTERS:
        values = getattr(query, facet)
        if values:
            conditions.append(
                "d.docno IN (SELECT f.docno FROM document_facet AS f WHERE f.value_id IN "
                "(SELECT id FROM facet_value WHERE facet = ? "
                "AND folded IN (SELECT value FROM json_each(?))))"
            )
            params.extend([facet, json.dumps(fold(values))])
    return conditions, params


def _page_documents(connection: sqlite3.Connection, docnos: list[int]) -> dict[int, dict[str, Any]]:
    rows = connection.execute(
        f"SELECT d.docno, {_COLUMNS} FROM documents AS d "
        "WHERE d.docno IN (SELECT value FROM json_each(?))",
        (json.dumps(docnos),),
    ).fetchall()
    return {row[0]: _document(row[1:]) for row in rows}


def _snippets(connection: sqlite3.Connection, match: str, docnos: list[int]) -> dict[int, str]:
    """Highlighted description (or title) text of the page's hits."""
    rows = connection.execute(
        f"SELECT w.value, {_SNIPPET} FROM json_each(?) AS w "
        "CROSS JOIN fts ON fts.rowid = w.value "
        "JOIN documents AS d ON d.docno = w.value WHERE fts MATCH ?",
        (*_SNIPPET_ARGS, json.dumps(docnos), match),
    ).fetchall()
    return {docno: snippet for docno, snippet in rows if snippet}


def _document(row: Sequence[Any]) -> dict[str, Any]:
    document = dict(zip(DOCUMENT_COLUMNS, row, strict=True))
    for name in LIST_COLUMNS:
        if document[name] is not None:
            document[name] = json.loads(document[name])
    return document


def _offset(query: SearchQuery) -> int:
    return (query.page - 1) * query.page_size
