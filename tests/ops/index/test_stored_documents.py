"""What both backends store: documents checked and in listing order, their facet values."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from ops.index.schema import DOCUMENT_SCHEMA
from ops.index.stored_documents import document_table, facet_values, listing_keys


def row(doc_id: str, level: str = "item", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict.fromkeys(DOCUMENT_SCHEMA.names)
    base.update(doc_id=doc_id, level=level, item_id=doc_id, kind="video", vector_row=-1)
    return base | fields


def test_documents_are_sorted_items_first_then_title_item_start() -> None:
    rows = [
        row("s2", "segment", item_id="a", title="A", start_s=9.0),
        row("b", title="B"),
        row("s1", "segment", item_id="a", title="A", start_s=1.0),
        row("none"),
        row("a", title="A"),
    ]
    table = document_table(pa.Table.from_pylist(rows, schema=DOCUMENT_SCHEMA).to_pandas())
    assert table.column("doc_id").to_pylist() == ["a", "b", "none", "s1", "s2"]
    assert table.schema == DOCUMENT_SCHEMA


def test_list_values_are_kept_once_in_first_seen_order() -> None:
    rows = [row("a", labels=["kiss", "beach", "kiss"], people=None)]
    table = document_table(pa.Table.from_pylist(rows, schema=DOCUMENT_SCHEMA).to_pandas())
    assert table.column("labels").to_pylist() == [["kiss", "beach"]]
    assert table.column("people").to_pylist() == [None]


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ([row("a"), row("a")], "doc_id not unique"),
        ([row("a", level="scene")], r"level\(s\) \['scene'\] not in"),
        ([row("a", kind=None)], "kind: string not null> was non-nullable"),
        ([row("a", tags=["x", None])], "tags holds null values"),
    ],
)
def test_bad_documents_are_refused_with_the_reason(rows: list[dict[str, Any]], reason: str) -> None:
    frame = pd.DataFrame(rows, columns=DOCUMENT_SCHEMA.names)
    with pytest.raises(ValueError, match=reason):
        document_table(frame)


def test_missing_or_mistyped_columns_are_refused() -> None:
    frame = pa.Table.from_pylist([row("a")], schema=DOCUMENT_SCHEMA).to_pandas()
    with pytest.raises(ValueError, match=r"lack the column\(s\) \['lineage'\]"):
        document_table(frame.drop(columns=["lineage"]))
    with pytest.raises(ValueError, match="do not fit DOCUMENT_SCHEMA"):
        document_table(frame.assign(year="last year"))


def test_facet_values_cover_every_facet_of_a_document() -> None:
    document = row("a", year=2001, labels=["kiss"], genres=[], moods=None, people=["Ann", "Bo"])
    assert list(facet_values(document)) == [
        ("kind", "video"),
        ("year", "2001"),
        ("label", "kiss"),
        ("person", "Ann"),
        ("person", "Bo"),
    ]


def test_listing_keys_sort_as_the_listing_order() -> None:
    rows = [
        row("b", title="B"),
        row("nul", title="A\x00z"),
        row("a-long", title="A long"),
        row("a", title="A"),
        row("none"),
        row("s-late", "segment", item_id="a", title="A", start_s=10.5),
        row("s-early", "segment", item_id="a", title="A", start_s=2.0),
        row("s-neg", "segment", item_id="a", title="A", start_s=-1.0),
        row("s-none", "segment", item_id="a", title="A"),
        row("s-other", "segment", item_id="a2", title="A", start_s=0.0),
        row("s-untitled", "segment", item_id="z", start_s=0.0),
    ]
    table = document_table(pa.Table.from_pylist(rows, schema=DOCUMENT_SCHEMA).to_pandas())
    keys = listing_keys(table)
    assert sorted(keys, key=lambda key: key.encode()) == keys  # byte order, as Tantivy sorts
    assert table.column("doc_id").to_pylist() == [
        "a",
        "nul",
        "a-long",
        "b",
        "none",
        "s-neg",
        "s-early",
        "s-late",
        "s-none",
        "s-other",
        "s-untitled",
    ]
