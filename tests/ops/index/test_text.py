"""The helpers both search backends share: terms, document checks and order, facets, scores."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from ops.index.query import FACETS, SearchQuery
from ops.index.schema import DOCUMENT_SCHEMA
from ops.index.text import (
    Term,
    document_table,
    facet_limit,
    facet_values,
    fold,
    hit_score,
    listing_scope,
    listing_stride,
    page_within,
    query_terms,
    top_facets,
    word_parts,
)


def row(doc_id: str, level: str = "item", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict.fromkeys(DOCUMENT_SCHEMA.names)
    base.update(doc_id=doc_id, level=level, item_id=doc_id, kind="video", vector_row=-1)
    return base | fields


def test_query_terms_keep_only_words_and_a_trailing_star() -> None:
    assert query_terms('Kiss "me" OR title:quick* -- ; DROP') == [
        Term("kiss", False),
        Term("me", False),
        Term("or", False),
        Term("title", False),
        Term("quick", True),
        Term("drop", False),
    ]
    assert query_terms("car_chase été 2024") == [
        Term("car", False),
        Term("chase", False),
        Term("été", False),
        Term("2024", False),
    ]
    assert query_terms('*"():^ !!') == []


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


def test_top_facets_name_every_facet_and_cut_ties_by_value() -> None:
    counts = [("person", f"p{n:02d}", 5) for n in range(30)] + [("kind", "video", 2)]
    facets = top_facets(counts)
    assert set(facets) == set(FACETS)
    assert list(facets["person"]) == [f"p{n:02d}" for n in range(20)]
    assert facets["kind"] == {"video": 2}
    assert facets["mood"] == {}


def test_scores_are_higher_for_better_hits_in_every_mode() -> None:
    assert hit_score("text", 3.5) == 3.5
    assert hit_score("vector", -1) > hit_score("vector", -2) > 0
    assert hit_score("listing", -17) == 0.0


def test_only_plain_listings_use_the_precomputed_counts() -> None:
    assert listing_scope(SearchQuery(), None) == "all"
    assert listing_scope(SearchQuery(level="segment", page=3), None) == "segment"
    assert listing_scope(SearchQuery(q="kiss"), None) is None
    assert listing_scope(SearchQuery(), ["a"]) is None
    assert listing_scope(SearchQuery(year_min=2000), None) is None
    assert listing_scope(SearchQuery(mood=["calm"]), None) is None


def test_a_page_is_read_from_the_kept_matches_only_when_they_hold_it() -> None:
    first, second = SearchQuery(page=1, page_size=10), SearchQuery(page=2, page_size=6)
    assert page_within(first, "text", kept=10, total=500)
    assert not page_within(second, "text", kept=10, total=500)
    assert page_within(second, "text", kept=7, total=7)
    assert not page_within(first, "listing", kept=10, total=500)
    assert page_within(second, "listing", kept=7, total=7)


def test_a_facet_limit_must_keep_a_match() -> None:
    assert facet_limit(1) == 1
    with pytest.raises(ValueError, match="facet limit must be at least 1 match, got 0"):
        facet_limit(0)


def test_a_broad_listing_samples_every_kth_match_so_about_the_limit_remain() -> None:
    assert [listing_stride(total, 10) for total in (0, 7, 10)] == [1, 1, 1]
    assert [listing_stride(total, 10) for total in (11, 20, 21, 606_010)] == [2, 2, 3, 60_601]


@pytest.mark.parametrize("q", ["s*", "love st*", "a* b*"])
def test_a_prefix_shorter_than_three_letters_is_refused(q: str) -> None:
    with pytest.raises(ValueError, match="at least 3 letters before"):
        query_terms(q)


def test_a_three_letter_prefix_is_accepted() -> None:
    assert query_terms("sto*") == [Term("sto", True)]


def test_word_parts_split_only_words_that_join_letters_and_digits() -> None:
    assert word_parts(["obama1", None, ["Take2", "plain", "2024"], "1080p cut, obama1"]) == (
        "obama 1 Take 2 1080 p"
    )
    assert word_parts(["no digits here", "42"]) == ""


def test_fold_compares_values_whatever_their_case() -> None:
    assert fold(["Ada STONE", "Straße"]) == ["ada stone", "strasse"]
    assert fold(None) is None
