"""The embedded search backend: one SQLite file with FTS5 (BM25) and facet tables.

Layout of the file, built once and then only read:

- ``documents``: one row per document; ``docno`` (the rowid) is the position in the
  listing order, so an unranked listing pages by rowid. List columns hold JSON arrays.
- ``fts``: an FTS5 index over title, description, tags, people, labels, the parts of
  words that join letters and digits (ops.index.text.word_parts), the transcript and the
  screen text, reading its text from ``documents`` (external content: the text is
  stored once). BM25 weighs title matches highest.
- ``facet_value`` (id, facet, value, folded) and ``document_facet`` (docno, value_id):
  every facet value of every document (kind and year too), so the facet counts of any
  match are one GROUP BY over the matching rows, and list filters (on the case-folded
  value) one index lookup.
- ``facet_count`` / ``scope_total``: counts for the plain listings (all, item, segment).

Queries are answered by the algorithm of ops.index.search_engine; this module is its
SQLite dialect. The matches kept for the page and the facet counts go to a temporary
table (a ranked query's best-ranked ones come from SQLite's top-N sort over BM25; text
without filters reads FTS5 alone, which counts 10^5 matches in milliseconds). Query text
is reduced to quoted words (see ops.index.text.query_terms): the words are ANDed, and
``word*`` matches words starting with ``word``.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from ops.atomic import atomic_path
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
    offset,
)
from ops.index.stored_documents import (
    FACET_COLUMNS,
    LIST_COLUMNS,
    document_table,
    document_word_parts,
    facet_values,
)
from ops.index.text import Term

BM25_WEIGHTS = (10.0, 2.0, 4.0, 4.0, 4.0, 4.0, 2.0, 2.0)
"""title, description, tags, people, labels, word parts, transcript, screen text (the order
of the fts columns)."""

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
    transcript TEXT,
    screen_text TEXT,
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
    title, description, tags, people, labels, word_parts, transcript, screen_text,
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

_NAMED_COUNTS = (
    "SELECT v.facet, v.value, c.count FROM ({counts}) AS c "
    "JOIN facet_value AS v ON v.id = c.value_id"
)
"""Facet counts by value id (``counts``: value_id, count) with the facet and value named."""
_KEPT_COUNTS = _NAMED_COUNTS.format(
    counts="SELECT f.value_id, count(*) AS count FROM temp.matches AS m "
    "CROSS JOIN document_facet AS f ON f.docno = m.docno GROUP BY f.value_id"
)
_SNIPPET = (
    "CASE WHEN instr(snippet(fts, 6, ?, ?, ?, ?), ?) THEN snippet(fts, 6, ?, ?, ?, ?) "
    "WHEN instr(snippet(fts, 7, ?, ?, ?, ?), ?) THEN snippet(fts, 7, ?, ?, ?, ?) "
    "WHEN coalesce(d.description, '') != '' "
    "THEN snippet(fts, 1, ?, ?, ?, ?) ELSE snippet(fts, 0, ?, ?, ?, ?) END"
)
"""SNIPPET_COLUMNS: the transcript or screen text holding the query's words, else the
description (or title)."""
_SNIPPET_PARTS = (SNIPPET_START, SNIPPET_END, SNIPPET_ELLIPSIS, SNIPPET_WORDS)
_SNIPPET_IF_MATCHED = (*_SNIPPET_PARTS, SNIPPET_START, *_SNIPPET_PARTS)
_SNIPPET_ARGS = (*_SNIPPET_IF_MATCHED * 2, *_SNIPPET_PARTS * 2)


def fts_expression(terms: Sequence[Term]) -> str:
    """An FTS5 MATCH expression ANDing the terms, each quoted (so never an operator)."""
    return " ".join(f'"{term.text}"' + ("*" if term.prefix else "") for term in terms)


class SqliteSearchBackend(SqlSearchEngine):
    """A read-only search index file; safe to share between threads (one connection each)."""

    placeholder = "?"
    modulo = "%"
    collation = "COLLATE BINARY"
    scope_counts = _NAMED_COUNTS.format(
        counts="SELECT value_id, count FROM facet_count WHERE scope = ?"
    )

    def __init__(self, path: Path, facet_matches: int = FACET_MATCHES) -> None:
        super().__init__(facet_matches)
        self._path = path
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

    def _in_list(self, expression: str) -> str:
        return f"{expression} IN (SELECT value FROM json_each(?))"

    def _list_param(self, values: Sequence[Any]) -> str:
        return json.dumps(list(values))

    def _document(self, row: Sequence[Any]) -> dict[str, Any]:
        document = dict(zip(DOCUMENT_COLUMNS, row, strict=True))
        for name in LIST_COLUMNS:
            if document[name] is not None:
                document[name] = json.loads(document[name])
        return document

    def _text_expression(self, terms: Sequence[Term]) -> str:
        return fts_expression(terms)

    def _text_condition(self, mode: Mode) -> str:
        if mode == "text":
            return "fts MATCH ?"
        return "d.docno IN (SELECT rowid FROM fts WHERE fts MATCH ?)"

    def _text_candidates(self, text: str, filtered: bool) -> Candidates:
        """FTS5 ranked by BM25; without filters FTS5 alone (no document rows read)."""
        weights = ", ".join(str(weight) for weight in BM25_WEIGHTS)
        tables = "FROM fts JOIN documents AS d ON d.docno = fts.rowid" if filtered else "FROM fts"
        # bm25() is ordered by its result column only; ties by rowid.
        return Candidates(tables, "fts.rowid", f"-bm25(fts, {weights})", "2 DESC, 1")

    def _vector_candidates(self, doc_ids: list[str]) -> Candidates:
        return Candidates(
            "FROM json_each(?) AS w JOIN documents AS d ON d.doc_id = w.value",
            "d.docno",
            "-(w.key + 1)",
            "w.key",
            (json.dumps(doc_ids),),
        )

    def _list_filter(self, facet: str, folded: list[str]) -> tuple[str, list[Any]]:
        condition = (
            "d.docno IN (SELECT f.docno FROM document_facet AS f WHERE f.value_id IN "
            "(SELECT id FROM facet_value WHERE facet = ? "
            "AND folded IN (SELECT value FROM json_each(?))))"
        )
        return condition, [facet, json.dumps(folded)]

    def _keep(
        self, connection: Connection, matches: Matches, limit: int, query: SearchQuery
    ) -> Kept:
        """Fill temp.matches; the page is read from it only when the engine asks."""
        connection.execute("DELETE FROM temp.matches")
        kept = connection.execute(
            f"INSERT INTO temp.matches (docno, rank) {matches.select()} LIMIT ?",
            (*matches.params, limit),
        ).rowcount
        counts = connection.execute(self._top_values(_KEPT_COUNTS)).fetchall()

        def read_page() -> list[Any]:
            return connection.execute(
                "SELECT docno, rank FROM temp.matches ORDER BY rank DESC, docno LIMIT ? OFFSET ?",
                (query.page_size, offset(query)),
            ).fetchall()

        return Kept(kept, counts, read_page)

    def _page_documents(
        self, connection: Connection, docnos: list[int], text: str
    ) -> dict[int, tuple[dict[str, Any], str | None]]:
        rows = connection.execute(
            f"SELECT d.docno, {COLUMNS} FROM documents AS d WHERE {self._in_list('d.docno')}",
            (self._list_param(docnos),),
        ).fetchall()
        snippets = _snippets(connection, text, docnos) if text else {}
        return {row[0]: (self._document(row[1:]), snippets.get(row[0])) for row in rows}


def _insert_documents(connection: sqlite3.Connection, table: pa.Table) -> None:
    columns = {name: table.column(name).to_pylist() for name in DOCUMENT_COLUMNS}
    for name in LIST_COLUMNS:
        columns[name] = [
            None if values is None else json.dumps(values, ensure_ascii=False)
            for values in columns[name]
        ]
    parts = document_word_parts(table)
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


def _snippets(connection: Connection, match: str, docnos: list[int]) -> dict[int, str]:
    """Highlighted description (or title) text of the page's hits."""
    rows = connection.execute(
        f"SELECT w.value, {_SNIPPET} FROM json_each(?) AS w "
        "CROSS JOIN fts ON fts.rowid = w.value "
        "JOIN documents AS d ON d.docno = w.value WHERE fts MATCH ?",
        (*_SNIPPET_ARGS, json.dumps(docnos), match),
    ).fetchall()
    return {docno: snippet for docno, snippet in rows if snippet}
