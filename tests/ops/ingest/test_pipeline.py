"""One source's ingest: a failure of the whole source is staged, never raised; a re-crawl
asks the server only about what its listings date later, or what is no longer fresh."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ops.catalog.merge import merge_staged
from ops.catalog.store import read_catalog
from ops.ingest.crawl import Discovery, SiteCrawler
from ops.ingest.pipeline import ingest_source, list_source_names
from ops.ingest.sources import SourceConfigError
from ops.ingest.staged import StagedSource
from ops.sample_site.media import make_image
from ops.sample_site.server import SampleSiteServer
from ops.settings import Settings


def test_a_source_that_fails_as_a_whole_is_staged_incomplete_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(self: SiteCrawler, declared: object = ()) -> Discovery:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(SiteCrawler, "discover", crash)
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "sources:\n  - name: broken\n    kind: http\n    start_urls: ['https://films.example/']\n"
    )
    settings = Settings(home=tmp_path / "home", sources_file=sources)

    staged = ingest_source("broken", settings=settings)

    assert not staged.complete  # so the merge keeps the source's items as they were
    assert json.loads(Path(staged.items_path).read_text()) == []
    refusals = pd.read_parquet(staged.refusals_path)
    assert refusals[["url", "check", "reason"]].to_dict(orient="records") == [
        {
            "url": "https://films.example/",
            "check": "source",
            "reason": "source failed (RecursionError: maximum recursion depth exceeded); "
            "its items are kept as they were",
        }
    ]


def test_the_chosen_sources_are_crawled_and_an_unknown_one_is_refused_by_name(
    tmp_path: Path,
) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "sources:\n"
        f"  - {{name: inbox, kind: local, path: {tmp_path}}}\n"
        f"  - {{name: attic, kind: local, path: {tmp_path}}}\n"
    )
    settings = Settings(home=tmp_path / "home", sources_file=sources)

    assert list_source_names(settings) == ["attic", "inbox"]
    assert list_source_names(settings, ["inbox"]) == ["inbox"]
    with pytest.raises(SourceConfigError) as refused:
        list_source_names(settings, ["inbox", "cellar"])
    assert str(refused.value) == (
        f"unknown source 'cellar': {sources} names attic, inbox; choose among these"
    )


# --- re-crawls that ask only about what changed ------------------------------------------------


def _media_page(name: str) -> str:
    document = {"@type": "ImageObject", "name": name, "contentUrl": f"/media/{name}.png"}
    return f'<html><head><script type="application/ld+json">{json.dumps(document)}</script>'


def _sitemap(dates: dict[str, str | None]) -> str:
    urls = "".join(
        f"<url><loc>/items/{name}.html</loc>{f'<lastmod>{date}</lastmod>' if date else ''}</url>"
        for name, date in dates.items()
    )
    return f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'


def _feed(dates: dict[str, str | None]) -> str:
    items = [
        {"id": name, "title": name, "attachments": [{"url": f"/media/{name}.png"}]}
        | ({"date_modified": date} if date else {})
        for name, date in dates.items()
    ]
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": items})


class DatedSite:
    """A site whose sitemap dates pages a and b, whose feed dates item c, and whose index
    alone links page d; a change replaces an item's picture and, if asked, dates it."""

    def __init__(self, root: Path) -> None:
        self.public = root / "public"
        (self.public / "items").mkdir(parents=True)
        (self.public / "media").mkdir()
        self.sitemap: dict[str, str | None] = dict.fromkeys("ab", "2026-01-01")
        self.feed: dict[str, str | None] = {"c": "2026-01-01T00:00:00Z"}
        for number, name in enumerate("abcd"):
            (self.public / "media" / f"{name}.png").write_bytes(
                make_image(number, mood="calm", image_format="png")
            )
            if name != "c":
                (self.public / "items" / f"{name}.html").write_text(_media_page(name))
        (self.public / "index.html").write_text('<a href="/items/d.html">d</a>')
        (self.public / "robots.txt").write_text("User-agent: *\nAllow: /\n")
        self.publish()

    def publish(self) -> None:
        (self.public / "sitemap.xml").write_text(_sitemap(self.sitemap))
        (self.public / "feed.json").write_text(_feed(self.feed))

    def change(self, name: str, *, dated: str | None) -> None:
        picture = self.public / "media" / f"{name}.png"
        picture.write_bytes(picture.read_bytes() + b"changed")  # PNG ignores a tail
        if dated and name in self.sitemap:
            self.sitemap[name] = dated
        elif dated:
            self.feed[name] = dated
        self.publish()


LISTING = {"/robots.txt", "/sitemap.xml", "/feed.json", "/index.html"}
FRESH_FOR_A_DAY = {"/items/": "max-age=86400", "/media/": "max-age=86400"}


@pytest.fixture
def dated_site(tmp_path: Path) -> DatedSite:
    return DatedSite(tmp_path / "site")


def _crawl_settings(tmp_path: Path, server: SampleSiteServer, **settings: Any) -> Settings:
    base = server.base_url
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "sources:\n  - name: dated\n    kind: http\n"
        f"    start_urls: ['{base}/index.html']\n    sitemaps: ['{base}/sitemap.xml']\n"
        f"    feeds: ['{base}/feed.json']\n    allow_private: ['127.0.0.1:{server.port}']\n"
        "    rate_per_s: 1000\n"
    )
    return Settings(home=tmp_path / "home", sources_file=sources, **settings)


def _crawl(settings: Settings, server: SampleSiteServer) -> tuple[StagedSource, set[str]]:
    """Ingest and merge the source; the paths it asked the server for."""
    server.reset_counters()
    staged = ingest_source("dated", settings=settings)
    merge_staged([staged], settings)
    asked = server.paths_requested
    assert server.requests_received == staged.stats.requests == len(asked)  # once each
    return staged, asked


def _statuses(staged: StagedSource) -> dict[str, str]:
    rows = json.loads(Path(staged.items_path).read_text())
    return {row["url"].rsplit("/", 1)[-1]: row["fetch_status"] for row in rows}


def test_an_unchanged_recrawl_asks_only_for_the_listings(
    tmp_path: Path, dated_site: DatedSite
) -> None:
    with SampleSiteServer(tmp_path / "site", cache_control=FRESH_FOR_A_DAY) as server:
        settings = _crawl_settings(tmp_path, server)
        first, _ = _crawl(settings, server)
        again, asked = _crawl(settings, server)

    assert first.stats.new == 4 and first.stats.full_revalidation
    assert asked == LISTING
    assert _statuses(again) == dict.fromkeys(["a.png", "b.png", "c.png", "d.png"], "unchanged")
    assert (again.stats.unchanged, again.stats.pages_unchanged) == (4, 3)  # a, b; d is fresh
    assert again.stats.downloaded_bytes == 0 and not again.stats.full_revalidation
    assert again.complete and again.seen_item_ids == first.seen_item_ids


def test_a_newer_date_refetches_just_that_item_and_an_undated_change_waits_for_the_full_one(
    tmp_path: Path, dated_site: DatedSite
) -> None:
    with SampleSiteServer(tmp_path / "site", cache_control=FRESH_FOR_A_DAY) as server:
        settings = _crawl_settings(tmp_path, server)
        _crawl(settings, server)
        dated_site.change("a", dated="2026-02-01")
        dated_site.change("c", dated="2026-02-01T00:00:00Z")
        dated_site.change("b", dated=None)  # a site that does not say so
        changed, asked = _crawl(settings, server)
        full = settings.model_copy(update={"ingest_full_revalidation_s": 0.0})
        revalidated, asked_in_full = _crawl(full, server)

    assert asked == LISTING | {"/items/a.html", "/media/a.png", "/media/c.png"}
    assert _statuses(changed) == {
        "a.png": "new",
        "b.png": "unchanged",
        "c.png": "new",
        "d.png": "unchanged",
    }
    assert revalidated.stats.full_revalidation
    assert asked_in_full == LISTING | {f"/items/{n}.html" for n in "abd"} | {
        f"/media/{n}.png" for n in "abcd"
    }
    assert _statuses(revalidated) == {
        "a.png": "not_modified",
        "b.png": "new",  # caught up with
        "c.png": "not_modified",
        "d.png": "not_modified",
    }
    assert revalidated.stats.pages_not_modified == revalidated.stats.pages_fetched


def test_a_source_without_dates_or_freshness_is_asked_with_conditional_gets(
    tmp_path: Path, dated_site: DatedSite
) -> None:
    dated_site.sitemap, dated_site.feed = dict.fromkeys("ab"), {"c": None}
    dated_site.publish()
    with SampleSiteServer(tmp_path / "site") as server:
        settings = _crawl_settings(tmp_path, server)
        _crawl(settings, server)
        again, asked = _crawl(settings, server)

    assert asked == LISTING | {f"/items/{n}.html" for n in "abd"} | {
        f"/media/{n}.png" for n in "abcd"
    }
    assert set(_statuses(again).values()) == {"not_modified"}
    assert again.stats.pages_not_modified == again.stats.pages_fetched
    assert (again.stats.unchanged, again.stats.pages_unchanged) == (0, 0)


def test_an_item_the_listing_drops_is_noticed_without_asking_about_the_rest(
    tmp_path: Path, dated_site: DatedSite
) -> None:
    with SampleSiteServer(tmp_path / "site", cache_control=FRESH_FOR_A_DAY) as server:
        settings = _crawl_settings(tmp_path, server)
        first, _ = _crawl(settings, server)
        del dated_site.feed["c"]
        dated_site.publish()
        again, asked = _crawl(settings, server)

    assert asked == LISTING
    assert again.complete and len(again.seen_item_ids) == len(first.seen_item_ids) - 1
    catalog = read_catalog(settings.catalog_path).set_index("url")["status"]
    assert catalog[f"{server.base_url}/media/c.png"] == "vanished"
    assert (catalog == "ok").sum() == 3


def test_what_a_crawl_fetched_is_not_trusted_until_the_catalog_holds_it(
    tmp_path: Path, dated_site: DatedSite
) -> None:
    with SampleSiteServer(tmp_path / "site", cache_control=FRESH_FOR_A_DAY) as server:
        settings = _crawl_settings(tmp_path, server)
        ingest_source("dated", settings=settings)  # never merged: its merge failed, say
        server.reset_counters()
        again = ingest_source("dated", settings=settings)

    assert set(_statuses(again).values()) == {"new"}  # asked again, not taken as unchanged
    assert {f"/media/{n}.png" for n in "abcd"} <= server.paths_requested
