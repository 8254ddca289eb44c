"""What a crawl keeps for the next: when an item needs no request, and pages not parsed twice."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import ops.ingest.recrawl as recrawl
from ops.ingest.crawl import picture_link
from ops.ingest.discover import MediaLink, ParsedPage
from ops.ingest.fetch import Page
from ops.ingest.recrawl import FetchedCopy, ParsedPages, RecrawlState

URL = "https://films.example/media/a.png"
JANUARY, FEBRUARY = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
NOW = 1_800_000_000.0
HELD = "a" * 64


def link(modified: datetime | None, url: str = URL) -> MediaLink:
    return replace(picture_link(url, None), modified=modified)


@pytest.mark.parametrize(
    ("copy", "listed", "current"),
    [
        (FetchedCopy(URL, FEBRUARY, 0.0, HELD), link(JANUARY), True),  # dated no later
        (FetchedCopy(URL, JANUARY, 0.0, HELD), link(JANUARY), True),
        (FetchedCopy(URL, JANUARY, NOW + 60, HELD), link(FEBRUARY), False),  # a newer date wins
        (FetchedCopy(URL, None, 0.0, HELD), link(JANUARY), False),  # dated only now
        (FetchedCopy(URL, None, NOW + 60, HELD), link(None), True),  # undated, still fresh
        (FetchedCopy(URL, None, NOW - 60, HELD), link(None), False),  # undated, stale
        (FetchedCopy(URL, JANUARY, 0.0, "b" * 64), link(JANUARY), False),  # not what is held
        (FetchedCopy(URL, JANUARY, 0.0, None), link(JANUARY), False),
        (FetchedCopy(URL + "?v=2", JANUARY, 0.0, HELD), link(JANUARY), False),  # moved
    ],
)
def test_an_item_needs_no_request_only_when_the_catalog_holds_a_copy_as_new_as_listed(
    copy: FetchedCopy, listed: MediaLink, current: bool
) -> None:
    assert copy.still_current(listed, HELD, NOW) is current


def test_the_state_keeps_the_items_of_the_last_complete_crawl(tmp_path: Path) -> None:
    state = RecrawlState(tmp_path)
    assert state.full_revalidation_due(JANUARY, 86_400)  # never revalidated
    state.copies = {
        "kept": FetchedCopy(URL, JANUARY, NOW, HELD),
        "gone": FetchedCopy(URL, None, 0.0, None),
    }
    state.save({"kept"}, JANUARY)

    again = RecrawlState(tmp_path)
    assert again.copies == {"kept": FetchedCopy(URL, JANUARY, NOW, HELD)}
    assert again.revalidated_at == JANUARY
    assert not again.full_revalidation_due(JANUARY + timedelta(hours=23), 86_400)
    assert again.full_revalidation_due(JANUARY + timedelta(hours=24), 86_400)
    assert again.full_revalidation_due(JANUARY, 0)

    again.save(None, None)  # an incomplete crawl forgets nothing and revalidated nothing
    assert RecrawlState(tmp_path).copies.keys() == {"kept"}
    assert RecrawlState(tmp_path).revalidated_at == JANUARY


def test_an_unreadable_state_asks_about_everything(tmp_path: Path) -> None:
    (tmp_path / recrawl.STATE_NAME).write_text("{not json")
    state = RecrawlState(tmp_path)
    assert state.copies == {} and state.full_revalidation_due(JANUARY, 86_400)


def _page(body: str, url: str = "https://films.example/a.html") -> Page:
    return Page(url, 200, "text/html", body.encode(), False)


def test_a_page_body_seen_before_is_not_parsed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[str] = []
    real_parse = recrawl.parse_html

    def counting(body: bytes, url: str, content_type: str | None = None) -> ParsedPage:
        parsed.append(url)
        return real_parse(body, url, content_type)

    monkeypatch.setattr(recrawl, "parse_html", counting)
    document = {"@type": "VideoObject", "name": "Dusk", "contentUrl": "/v.mp4", "keywords": "a, b"}
    body = f'<script type="application/ld+json">{json.dumps(document)}</script><a href="/b">b</a>'
    feed = {
        "items": [{"id": "x", "date_modified": "2026-01-01", "attachments": [{"url": "/x.png"}]}]
    }
    feed_page = Page(
        "https://films.example/feed.json", 200, "application/json", json.dumps(feed).encode(), False
    )

    first = ParsedPages(tmp_path)
    page, links = first.page(_page(body)), first.feed(feed_page)
    first.save()
    second = ParsedPages(tmp_path)
    assert second.page(_page(body)) == page  # the same, from what was kept
    assert second.feed(feed_page) == links and links[0].modified == JANUARY
    assert parsed == ["https://films.example/a.html"]

    changed = second.page(_page(body.replace("Dusk", "Dawn")))
    assert changed.media[0].title == "Dawn" and len(parsed) == 2
    second.save()
    assert ParsedPages(tmp_path).page(_page(body.replace("Dusk", "Dawn"))) == changed
    assert len(parsed) == 2
