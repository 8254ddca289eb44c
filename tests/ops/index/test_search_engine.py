"""The shared search algorithm's rules: facet cuts, scores, listing scopes, kept matches."""

from __future__ import annotations

import pytest

from ops.index.query import FACETS, SearchQuery
from ops.index.search_engine import (
    facet_limit,
    hit_score,
    listing_scope,
    listing_stride,
    page_within,
    top_facets,
)


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
