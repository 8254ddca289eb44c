"""What both search backends store: the documents, checked and in listing order, and the
facet values each document is counted under.

Written once so the SQLite and PostgreSQL indexes of the same documents hold the same rows
at the same listing positions (``docno``) and count the same facet values.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ops.index.query import FACETS
from ops.index.schema import DOCUMENT_COLUMNS, DOCUMENT_SCHEMA, LEVELS
from ops.index.text import word_parts

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
Their values match whatever the case (see ops.index.text.fold)."""

TEXT_COLUMNS = ("title", "description", "tags", "people", "labels", "transcript", "screen_text")
"""The document columns searched as text."""
SNIPPET_COLUMNS = ("transcript", "screen_text", "description", "title")
"""Where a hit's snippet comes from: the first of these holding the query's words (what
was said or shown, before the metadata), else the description's or title's opening."""


LISTING_ORDER = ("is_segment", "title", "item_id", "start_s", "doc_id")
"""The listing order's keys, each ascending with missing values last."""


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
        sort_keys=[(name, "ascending", "at_end") for name in LISTING_ORDER],
    )
    return table.take(order)


def listing_keys(table: pa.Table) -> list[str]:
    """Each document's place in the listing order as one string: the strings sort (by
    their UTF-8 bytes) as :func:`document_table` sorts the documents, so an index ordered
    by them takes new documents in between without renumbering the others (what an
    incremental build needs; a position number would change for every later document)."""
    columns = (table.column(name).to_pylist() for name in ("level", *LISTING_ORDER[1:]))
    return [
        ("0" if level == "item" else "1")
        + _text_key(title)
        + _text_key(item_id)
        + _number_key(start_s)
        + doc_id
        for level, title, item_id, start_s, doc_id in zip(*columns, strict=True)
    ]


def _text_key(value: str | None) -> str:
    """A text that sorts as its value, missing last, and ends where it ends (``\\x00``
    escaped, then a terminator that sorts before any character that could follow)."""
    if value is None:
        return "\x01"
    return "\x00" + value.replace("\x00", "\x00\x01") + "\x00\x00"


def _number_key(value: float | None) -> str:
    """A fixed-width text that sorts as the number, missing last (IEEE 754 bits with the
    sign flipped, and every bit of a negative number)."""
    if value is None:
        return "\x01"
    (bits,) = struct.unpack(">Q", struct.pack(">d", value))
    bits = bits ^ 0xFFFF_FFFF_FFFF_FFFF if bits >> 63 else bits | 1 << 63
    return f"\x00{bits:016x}"


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


def document_word_parts(table: pa.Table) -> list[str]:
    """Each document's word parts (ops.index.text.word_parts of its TEXT_COLUMNS), which
    both backends index beside the text."""
    texts = zip(*(table.column(name).to_pylist() for name in TEXT_COLUMNS), strict=True)
    return [word_parts(values) for values in texts]


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
