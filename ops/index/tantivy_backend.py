"""The embedded search backend: a Tantivy index (BM25 over an inverted index, facets and
filters over columnar fast fields) in one folder of the index version.

Chosen by measurement (benchmarks/search.py, 1M segment documents, 2 cores): SQLite FTS5
could count facets only over the first 10,000 matches within its latency budget; Tantivy
counts every match of every query shape, so its facets are always exact
(SearchPage.facets_counted == total) and no facet limit applies.

Fields, written once and then only read:

- ``listing_key`` (the document's place in the listing order as a string,
  ops.index.stored_documents.listing_keys): an unranked listing pages in its order, and
  an incremental build adds documents in between without renumbering the others. An
  index built before it existed orders by ``docno`` (the listing position) instead.
- ``title``, ``description``, ``tags``, ``people``, ``labels``, ``word_parts``,
  ``transcript`` and ``screen_text`` as text (lower-cased, accents folded, English
  stems), weighted as the SQLite backend's BM25 weights; a query's words are ANDed,
  each matching any of them, ``word*`` a prefix.
- ``doc_id``, ``item_id``, ``level``, ``kind``, ``year``, ``duration_s`` for filters;
  list facets (label, genre, mood, person) case-folded for filtering, and for counting
  as single-valued columns by list position (``facet_person_0``, ``facet_person_1``,
  ...: as many as the longest list, named in ``facet_columns.json``). Tantivy counts a
  single-valued column about 20 times faster than a multi-valued one (1M documents:
  1 ms against 19 ms), and a facet's count is the sum over its columns (a list holds
  each value once).
- ``document``: the whole document as JSON, read back for the page's hits only.

Segments are immutable, so a version derived from another (:meth:`TantivySearchBackend.
update`) hard-links the other's files, deletes the documents of the items that changed
(Tantivy records deletions in new files) and adds theirs as a new segment: it writes
what changed, plus a deletion bitmap of one bit per document of each segment touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import tantivy

from ops.index.layers import FullBuildNeeded, link_files
from ops.index.query import FACETS, SearchPage, SearchQuery
from ops.index.schema import DOCUMENT_COLUMNS
from ops.index.search_engine import (
    SNIPPET_ELLIPSIS,
    SNIPPET_START,
    SNIPPET_WORDS,
    empty_page,
    listing_scope,
    offset,
    search_hit,
    search_page,
)
from ops.index.stored_documents import (
    FACET_COLUMNS,
    LIST_FILTERS,
    SNIPPET_COLUMNS,
    document_table,
    document_word_parts,
    listing_keys,
)
from ops.index.text import Term, fold, query_terms

TEXT_WEIGHTS = {
    "title": 10.0,
    "description": 2.0,
    "tags": 4.0,
    "people": 4.0,
    "labels": 4.0,
    "word_parts": 4.0,
    "transcript": 2.0,
    "screen_text": 2.0,
}
"""BM25 boost per text field: the SQLite backend's weights, so both rank alike."""

ANALYZER = "cinescope_text"
ALL_TEXT = "all_text"
"""Every text field in one, matched by prefixes (not ranked: BM25 uses the fields)."""
COLUMNS_FILE = "facet_columns.json"
FacetColumns = dict[str, list[str]]
"""Each facet and the fast-field columns its values are counted over (original values)."""
FOLDED_FIELDS = {facet: f"folded_{facet}" for facet in LIST_FILTERS}
"""The field each list filter matches (case-folded values, as ops.index.text.fold)."""
NO_VALUE = ""
"""What a facet column holds where a document has no value there: every column is then
dense, which Tantivy counts about 5 times faster than a column with gaps (1M documents:
1.0 ms against 4.8-6.4 ms); the value is never counted."""
ALL_VALUES = 1_000_000
"""Terms-aggregation size: above any column's number of distinct values, so every value
is counted in every segment and the counts are exact (the top 20 are chosen afterwards)."""
LISTING_FIELD = "listing_key"
LEGACY_LISTING_FIELD = "docno"
REWRITTEN_FILES = ("meta.json", ".managed.json")
"""Files Tantivy replaces when it commits: a derived index gets copies, not links."""
WRITER_HEAP_BYTES = 512 * 1024 * 1024
MAX_DOC_IDS = 100_000
"""Most ids one ``documents`` or vector-mode call may name (a vector search asks ~2,000)."""


def _analyzer(stem: bool) -> tantivy.TextAnalyzer:
    """Words as both backends see them (runs of letters and digits), lower-cased, accents
    folded (as FTS5's ``remove_diacritics``), and stemmed unless for prefixes."""
    builder = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(255))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
    )
    if stem:
        builder = builder.filter(tantivy.Filter.stemmer("english"))
    return builder.build()


def facet_columns(table: pa.Table) -> FacetColumns:
    """The columns of each facet for these documents: one per position of the longest list."""
    columns: FacetColumns = {"kind": ["facet_kind"], "year": ["facet_year"]}
    for facet in LIST_FILTERS:
        longest = pc.max(pc.list_value_length(table.column(FACET_COLUMNS[facet]))).as_py()
        columns[facet] = [f"facet_{facet}_{position}" for position in range(longest or 0)]
    return columns


def _schema(columns: FacetColumns) -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field(LISTING_FIELD, tokenizer_name="raw", index_option="basic", fast=True)
    builder.add_unsigned_field("doc_key", stored=False, indexed=False, fast=True)
    for name in ("doc_id", "item_id", "level"):
        builder.add_text_field(name, tokenizer_name="raw", index_option="basic", fast=True)
    builder.add_integer_field("year", indexed=True, fast=True)
    builder.add_float_field("duration_s", indexed=True, fast=True)
    for name in TEXT_WEIGHTS:
        builder.add_text_field(name, stored=name in SNIPPET_COLUMNS, tokenizer_name=ANALYZER)
    builder.add_text_field(ALL_TEXT, tokenizer_name=ANALYZER, index_option="basic")
    for facet in FACETS:
        for field in columns[facet]:
            builder.add_text_field(field, tokenizer_name="raw", index_option="basic", fast=True)
    for field in FOLDED_FIELDS.values():
        builder.add_text_field(field, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("document", stored=True, index_option="basic", tokenizer_name="raw")
    return builder.build()


def _register(index: tantivy.Index) -> tantivy.Index:
    index.register_tokenizer(ANALYZER, _analyzer(stem=True))
    return index


class TantivySearchBackend:
    """A read-only Tantivy index folder; one searcher shared by every thread."""

    def __init__(self, path: Path, index: tantivy.Index, columns: FacetColumns) -> None:
        self._path = path
        self._index = index
        self._columns = columns
        self._searcher: tantivy.Searcher | None = index.searcher()
        self._schema = index.schema
        self._stem = _analyzer(stem=True)
        self._fold = _analyzer(stem=False)
        self._scope_answers: dict[str, list[tuple[str, str, int]]] = {}
        fields = json.loads((path / "meta.json").read_text(encoding="utf-8"))["schema"]
        named = {field["name"] for field in fields}
        self._listing = LISTING_FIELD if LISTING_FIELD in named else LEGACY_LISTING_FIELD

    @classmethod
    def build(cls, path: Path, documents: pd.DataFrame) -> None:
        """Write a new index folder at ``path``; it appears only once complete."""
        table = document_table(documents)
        columns = facet_columns(table)
        schema = _schema(columns)
        with _new_folder(path) as tmp:
            index = _register(tantivy.Index(schema, path=str(tmp), reuse=False))
            _write(index, table, columns)
            (tmp / COLUMNS_FILE).write_text(json.dumps(columns), encoding="utf-8")

    @classmethod
    def update(
        cls, base: Path, path: Path, replaced: Iterable[str], documents: pd.DataFrame
    ) -> None:
        """Write at ``path`` the index at ``base`` with the documents of the ``replaced``
        items deleted and ``documents`` added; ``base`` is never written to (its segments
        are hard-linked). :class:`FullBuildNeeded` when the new documents hold longer
        lists than ``base`` has facet columns for."""
        table = document_table(documents)
        columns = cls.check_columns(base, documents)
        with _new_folder(path) as tmp:
            link_files(base, tmp, skip=REWRITTEN_FILES)
            for name in REWRITTEN_FILES:
                if (base / name).is_file():
                    shutil.copyfile(base / name, tmp / name)
            index = _register(tantivy.Index.open(str(tmp)))
            _write(index, table, columns, replaced)

    @staticmethod
    def check_columns(base: Path, documents: pd.DataFrame) -> FacetColumns:
        """The facet columns of the index at ``base``; :class:`FullBuildNeeded` when
        ``documents`` hold longer lists than they can count."""
        columns: FacetColumns = json.loads((base / COLUMNS_FILE).read_text(encoding="utf-8"))
        wanted = facet_columns(document_table(documents))
        longer = [facet for facet in wanted if len(wanted[facet]) > len(columns[facet])]
        if longer:
            raise FullBuildNeeded(
                f"new documents list more {', '.join(longer)} values than the search index "
                "has facet columns for"
            )
        return columns

    @classmethod
    def open(cls, path: Path) -> TantivySearchBackend:
        """Open a built index folder for reading."""
        if not (path / "meta.json").is_file():
            raise FileNotFoundError(f"search index not found: {path}")
        columns = json.loads((path / COLUMNS_FILE).read_text(encoding="utf-8"))
        return cls(path, _register(tantivy.Index.open(str(path))), columns)

    def close(self) -> None:
        self._searcher = None

    def search(self, query: SearchQuery, doc_ids: list[str] | None = None) -> SearchPage:
        """Answer ``query``; with ``doc_ids`` (ranked, from a vector search), keep only
        those documents, in that order, and apply the filters to them. Facets count every
        match."""
        if doc_ids is not None:
            return self._vector_page(query, list(dict.fromkeys(doc_ids)))
        terms = query_terms(query.q)
        if query.q.strip() and not terms:
            return empty_page(query)
        searcher = self._open_searcher()
        scope = listing_scope(query, None)
        text = self._text_query(terms) if terms else None
        matches = self._and([text, *self._filters(query)])
        if text is None:
            found = searcher.search(
                matches,
                limit=query.page_size,
                offset=offset(query),
                order_by_field=self._listing,
                order=tantivy.Order.Asc,
                count=False,
            )
        else:
            found = searcher.search(
                matches, limit=query.page_size, offset=offset(query), count=False
            )
        counts = self._scope_counts(scope, matches) if scope else self._facet_counts(matches)
        total = matches_counted(counts)
        snippets = self._snippet_generators(text)
        hits = []
        for key, address in found.hits:
            stored = searcher.doc(address)
            document = _document(stored)
            score = float(key) if text is not None else 0.0
            hits.append(search_hit(document, score, _snippet(snippets, stored, document)))
        return search_page(query, total=total, hits=hits, facet_counts=counts, counted=total)

    def documents(self, doc_ids: list[str]) -> list[dict[str, Any]]:
        """Full documents (DOCUMENT_SCHEMA fields) by id, in the order asked."""
        wanted = list(dict.fromkeys(doc_ids))
        if not wanted:
            return []
        searcher = self._open_searcher()
        hits = searcher.search(self._ids(wanted), limit=len(wanted), count=False).hits
        found = {
            document["doc_id"]: document
            for document in (_document(searcher.doc(address)) for _, address in hits)
        }
        return [found[doc_id] for doc_id in doc_ids if doc_id in found]

    def item_documents(self, item_id: str) -> list[dict[str, Any]]:
        """The item document first, then its segment documents by start time."""
        query = tantivy.Query.term_query(self._schema, "item_id", item_id)
        documents = self._all_documents(query)
        return sorted(
            documents,
            key=lambda d: (d["level"] != "item", d["start_s"] is None, d["start_s"] or 0.0),
        )

    def facet_values(self, facet: str) -> list[str]:
        """Every value ``facet`` takes in the index, sorted."""
        counts = self._scope_counts("all", tantivy.Query.all_query())
        return sorted({value for name, value, _ in counts if name == facet})

    # Queries.

    def _text_query(self, terms: Sequence[Term]) -> tantivy.Query:
        """Every term in some text field (BM25, boosted per field); ``word*`` a prefix."""
        per_term = []
        for term in terms:
            if term.prefix:
                per_term.append(self._prefix_query(term))
                continue
            tokens = self._stem.analyze(term.text)
            if not tokens:
                return tantivy.Query.empty_query()
            fields = [
                tantivy.Query.boost_query(
                    self._and([tantivy.Query.term_query(self._schema, field, t) for t in tokens]),
                    weight,
                )
                for field, weight in TEXT_WEIGHTS.items()
            ]
            per_term.append(
                tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in fields])
            )
        return self._and(per_term)

    def _prefix_query(self, term: Term) -> tantivy.Query:
        """Documents with a word starting so in any text field: one pass over ``all_text``,
        at a constant score (a prefix has no term statistics), so prefix matches keep the
        listing order among themselves. Matching the six fields apart and ranking title
        matches first cost 1.5 to 2 times as much over a prefix that every document holds
        (1M documents: 15 or 20 ms against 10 ms)."""
        pattern = f"{re.escape(''.join(self._fold.analyze(term.text)))}.*"
        anywhere = tantivy.Query.regex_query(self._schema, ALL_TEXT, pattern)
        return tantivy.Query.const_score_query(anywhere, 1.0)

    def _filters(self, query: SearchQuery) -> list[tantivy.Query]:
        """The query's filters, each scoring nothing (only the text ranks)."""
        schema = self._schema
        filters: list[tantivy.Query] = []
        if query.level:
            filters.append(tantivy.Query.term_query(schema, "level", query.level))
        if query.kind:
            filters.append(tantivy.Query.term_set_query(schema, "facet_kind", list(query.kind)))
        if query.year_min is not None or query.year_max is not None:
            filters.append(
                tantivy.Query.range_query(
                    schema, "year", tantivy.FieldType.Integer, query.year_min, query.year_max
                )
            )
        if query.min_duration_s is not None or query.max_duration_s is not None:
            filters.append(
                tantivy.Query.range_query(
                    schema,
                    "duration_s",
                    tantivy.FieldType.Float,
                    query.min_duration_s,
                    query.max_duration_s,
                )
            )
        for facet in LIST_FILTERS:
            values = fold(getattr(query, facet))
            if values:
                filters.append(tantivy.Query.term_set_query(schema, FOLDED_FIELDS[facet], values))
        return [tantivy.Query.const_score_query(f, 0.0) for f in filters]

    def _ids(self, doc_ids: list[str]) -> tantivy.Query:
        if len(doc_ids) > MAX_DOC_IDS:
            raise ValueError(f"at most {MAX_DOC_IDS} document ids per call, got {len(doc_ids)}")
        return tantivy.Query.term_set_query(self._schema, "doc_id", doc_ids)

    @staticmethod
    def _and(queries: Iterable[tantivy.Query | None]) -> tantivy.Query:
        chosen = [query for query in queries if query is not None]
        if not chosen:
            return tantivy.Query.all_query()
        if len(chosen) == 1:
            return chosen[0]
        return tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in chosen])

    # Answers.

    def _vector_page(self, query: SearchQuery, doc_ids: list[str]) -> SearchPage:
        """The caller's ranked ids that exist and pass the filters, in the caller's order."""
        if not doc_ids:
            return empty_page(query)
        matches = self._and([self._ids(doc_ids), *self._filters(query)])
        searcher = self._open_searcher()
        matched = searcher.search(matches, limit=len(doc_ids), count=False).hits
        by_key = {doc_key(doc_id): doc_id for doc_id in doc_ids}
        keys = searcher.fast_field_values("doc_key", [address for _, address in matched])
        kept = {by_key[key] for key in keys if isinstance(key, int)}
        aggregations = self._aggregate(matches, self._facet_request())
        ranked = [doc_id for doc_id in doc_ids if doc_id in kept]
        start = offset(query)
        page = self.documents(ranked[start : start + query.page_size])
        hits = [
            search_hit(document, 1.0 / (start + position + 1), None)
            for position, document in enumerate(page)
        ]
        counts = self._counts(aggregations)
        return search_page(
            query, total=len(ranked), hits=hits, facet_counts=counts, counted=len(ranked)
        )

    def _scope_counts(self, scope: str, matches: tantivy.Query) -> list[tuple[str, str, int]]:
        """Facet counts of a plain listing, counted once per open index."""
        if scope not in self._scope_answers:
            self._scope_answers[scope] = self._facet_counts(matches)
        return self._scope_answers[scope]

    def _facet_counts(self, matches: tantivy.Query) -> list[tuple[str, str, int]]:
        return self._counts(self._aggregate(matches, self._facet_request()))

    def _facet_request(self) -> dict[str, str]:
        """An aggregation per facet column, named ``facet:position``."""
        return {
            f"{facet}:{position}": column
            for facet in FACETS
            for position, column in enumerate(self._columns[facet])
        }

    def _counts(self, aggregations: dict[str, Any]) -> list[tuple[str, str, int]]:
        """(facet, value, count) of every counted value of every facet, summed over the
        facet's columns."""
        counts: dict[tuple[str, str], int] = {}
        for facet in FACETS:
            for position in range(len(self._columns[facet])):
                for bucket in aggregations[f"{facet}:{position}"]["buckets"]:
                    value = str(bucket["key"])
                    if value != NO_VALUE:
                        counts[facet, value] = counts.get((facet, value), 0) + bucket["doc_count"]
        return [(facet, value, count) for (facet, value), count in counts.items()]

    def _aggregate(self, matches: tantivy.Query, fields: dict[str, str]) -> dict[str, Any]:
        request = {
            name: {"terms": {"field": field, "size": ALL_VALUES, "segment_size": ALL_VALUES}}
            for name, field in fields.items()
        }
        result: dict[str, Any] = self._open_searcher().aggregate(matches, request)
        return result

    def _all_documents(self, query: tantivy.Query) -> list[dict[str, Any]]:
        searcher = self._open_searcher()
        kinds = self._aggregate(query, {"kind": "facet_kind"})["kind"]["buckets"]
        count = sum(int(bucket["doc_count"]) for bucket in kinds)  # one kind per document
        if count == 0:
            return []
        found = searcher.search(query, limit=count)
        return [_document(searcher.doc(address)) for _, address in found.hits]

    def _snippet_generators(self, text: tantivy.Query | None) -> dict[str, Any]:
        if text is None:
            return {}
        searcher = self._open_searcher()
        generators = {}
        for field in SNIPPET_COLUMNS:
            generator = tantivy.SnippetGenerator.create(searcher, text, self._schema, field)
            generator.set_max_num_chars(SNIPPET_WORDS * 8)
            generators[field] = generator
        return generators

    def _open_searcher(self) -> tantivy.Searcher:
        if self._searcher is None:
            raise RuntimeError(f"search index {self._path} is closed")
        return self._searcher


def matches_counted(counts: Iterable[tuple[str, str, int]]) -> int:
    """How many documents the facet counts cover: every document has exactly one kind, so
    the kind counts add up to the matches (the facet pass counts them; the top-k search
    then needs no count of its own, which let it skip over 1M matches)."""
    return sum(count for facet, _, count in counts if facet == "kind")


def doc_key(doc_id: str) -> int:
    """A 64-bit key of a document id, read back from a fast field to tell which of a
    vector search's candidates matched (a column read, where the id itself would take a
    terms aggregation over a million distinct ids: 2 ms at 1M documents)."""
    return int.from_bytes(hashlib.blake2b(doc_id.encode(), digest_size=8).digest(), "big")


@contextmanager
def _new_folder(path: Path) -> Iterator[Path]:
    """A scratch folder that becomes ``path`` (replacing it) only once the block ends."""
    tmp = path.with_name(f".{path.name}.part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        shutil.rmtree(path, ignore_errors=True)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write(
    index: tantivy.Index, table: pa.Table, columns: FacetColumns, deleted: Iterable[str] = ()
) -> None:
    """Delete the documents of the ``deleted`` items, add ``table``'s, and commit."""
    schema = index.schema
    writer = index.writer(WRITER_HEAP_BYTES, 1)
    for item_id in deleted:
        writer.delete_documents_by_term("item_id", item_id)
    for document in _index_documents(table, columns):
        writer.add_document(tantivy.Document.from_dict(document, schema))
    writer.commit()
    writer.wait_merging_threads()


def _index_documents(table: pa.Table, columns: FacetColumns) -> Iterable[dict[str, Any]]:
    """The Tantivy fields of each document."""
    parts = document_word_parts(table)
    rows = zip(table.to_pylist(), parts, listing_keys(table), strict=True)
    for row, word_parts, listing_key in rows:
        fields: dict[str, Any] = {
            LISTING_FIELD: listing_key,
            "doc_key": doc_key(row["doc_id"]),
            "doc_id": row["doc_id"],
            "item_id": row["item_id"],
            "level": row["level"],
            "facet_kind": row["kind"],
            "facet_year": NO_VALUE if row["year"] is None else str(row["year"]),
            "word_parts": word_parts,
            "document": json.dumps(row, ensure_ascii=False),
        }
        for name in SNIPPET_COLUMNS:
            if row[name]:
                fields[name] = row[name]
        for name in ("tags", "people", "labels"):
            if row[name]:
                fields[name] = " \n ".join(row[name])
        fields[ALL_TEXT] = " \n ".join(
            str(fields[name]) for name in TEXT_WEIGHTS if fields.get(name)
        )
        if row["year"] is not None:
            fields["year"] = int(row["year"])
        if row["duration_s"] is not None:
            fields["duration_s"] = float(row["duration_s"])
        for facet in LIST_FILTERS:
            values = row[FACET_COLUMNS[facet]] or []
            padded = [*values, *[NO_VALUE] * len(columns[facet])]
            fields.update(zip(columns[facet], padded, strict=False))
            if values:
                fields[FOLDED_FIELDS[facet]] = list(dict.fromkeys(fold(values) or []))
        yield fields


def _document(stored: tantivy.Document) -> dict[str, Any]:
    row: dict[str, Any] = json.loads(str(stored.get_first("document")))
    return {name: row[name] for name in DOCUMENT_COLUMNS}


def _snippet(
    generators: dict[str, Any], stored: tantivy.Document, document: dict[str, Any]
) -> str | None:
    """The first of SNIPPET_COLUMNS with the query's words in ``<b>``; else the description
    (or title), its opening words when they hold none (as FTS5's snippet())."""
    if not generators:
        return None
    for name in SNIPPET_COLUMNS[:2]:
        if document[name]:
            said = str(generators[name].snippet_from_doc(stored).to_html())
            if SNIPPET_START in said:
                return said
    field = "description" if document["description"] else "title"
    text = document[field]
    if not text:
        return None
    html = generators[field].snippet_from_doc(stored).to_html()
    if html:
        return str(html)
    words = text.split()
    return " ".join(words[:SNIPPET_WORDS]) + (
        SNIPPET_ELLIPSIS if len(words) > SNIPPET_WORDS else ""
    )
