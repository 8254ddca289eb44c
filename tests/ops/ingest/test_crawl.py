"""SiteCrawler against local servers: separate link and page caps, hostile pages refused,
sitemap dates passed on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ops.ingest.crawl import Discovery, Refusal, SiteCrawler
from ops.ingest.fetch import HttpFetcher
from ops.ingest.netguard import NetworkPolicy
from ops.ingest.robots import RobotsGate
from ops.ingest.sources import HttpSource
from ops.sample_site.server import SampleSiteServer
from tests.support.hostile_site import HostileSite, raw_response

DEEP = 100_000


def _links_page(count: int) -> str:
    anchors = "".join(f'<a href="/p{n}.html">page {n}</a>' for n in range(count))
    return f"<html><body>{anchors}</body></html>"


def _media_page(name: str) -> str:
    document = {"@type": "VideoObject", "name": name, "contentUrl": f"/media/{name}.mp4"}
    block = f'<script type="application/ld+json">{json.dumps(document)}</script>'
    return f"<html><head>{block}</head><body></body></html>"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SampleSiteServer]:
    """An index page linking to 30 pages, each describing one video."""
    public = tmp_path / "site" / "public"
    public.mkdir(parents=True)
    (public / "index.html").write_text(_links_page(30))
    for n in range(30):
        (public / f"p{n}.html").write_text(_media_page(f"v{n}"))
    with SampleSiteServer(tmp_path / "site") as server:
        yield server


def _crawl(
    base_url: str,
    port: int,
    *,
    max_pages: int = 1000,
    max_links_per_page: int = 1000,
    feeds: tuple[str, ...] = (),
    sitemaps: tuple[str, ...] = (),
) -> Discovery:
    source = HttpSource(
        name="local",
        start_urls=[] if sitemaps else [f"{base_url}/index.html"],
        feeds=list(feeds),
        sitemaps=list(sitemaps),
        allow_private=[f"127.0.0.1:{port}"],
        respect_robots=False,
    )
    policy = NetworkPolicy(source.hosts(), frozenset(source.allow_private))
    with HttpFetcher(
        policy,
        user_agent="cinescope-test",
        timeout_s=5.0,
        retries=0,
        backoff_s=0.0,
        rate_per_s=1000.0,
        concurrency=4,
        download_deadline_s=60.0,
        page_deadline_s=60.0,
    ) as fetcher:
        robots = RobotsGate(fetcher, "cinescope-test", enabled=False)
        crawler = SiteCrawler(
            source, fetcher, robots, max_pages=max_pages, max_links_per_page=max_links_per_page
        )
        return crawler.discover()


def test_links_past_the_per_page_cap_are_reported_and_the_crawl_goes_on(
    site: SampleSiteServer,
) -> None:
    found = _crawl(site.base_url, site.port, max_links_per_page=10)
    assert found.pages_fetched == 11  # the index and the first 10 of its links
    assert len(found.media) == 10
    assert found.refusals == [
        Refusal(
            f"{site.base_url}/index.html",
            "link-limit",
            "link limit of 10 links per page reached (CINESCOPE_MAX_LINKS_PER_PAGE): "
            "20 of 30 links not followed; crawl incomplete",
        )
    ]
    assert not found.complete


def test_page_limit_stops_after_that_many_pages_and_says_so(site: SampleSiteServer) -> None:
    """More links on one page than the page limit: the crawl still fetches up to the limit."""
    found = _crawl(site.base_url, site.port, max_pages=20)
    assert found.pages_fetched == 20
    assert len(found.media) == 19
    assert [(r.check, r.reason) for r in found.refusals] == [
        (
            "page-limit",
            "page limit of 20 pages per crawl reached (CINESCOPE_MAX_PAGES_PER_SOURCE): "
            "further pages not fetched; crawl incomplete",
        )
    ]
    assert not found.complete


def test_a_crawl_within_both_caps_is_complete(site: SampleSiteServer) -> None:
    found = _crawl(site.base_url, site.port, max_pages=31, max_links_per_page=30)
    assert found.pages_fetched == 31
    assert len(found.media) == 30
    assert found.refusals == []
    assert found.complete


def test_hostile_pages_and_feeds_are_refused_and_the_crawl_goes_on() -> None:
    deep_json = "[" * DEEP + "]" * DEEP
    deep_block = f'<script type="application/ld+json">{deep_json}</script>'
    index = '<a href="/deep.html">deep</a><a href="/cut.html">cut</a><a href="/good.html">ok</a>'
    answers = {
        "/index.html": raw_response(index.encode()),
        "/deep.html": raw_response(f"<html><head>{deep_block}</head></html>".encode()),
        "/cut.html": raw_response(b"<html><body>half a p", declared_length=5_000),
        "/good.html": raw_response(_media_page("good").encode()),
        "/feed.json": raw_response(
            b'{"items": ' + deep_json.encode() + b"}", content_type="application/json"
        ),
    }
    with HostileSite(answers) as hostile:
        base = hostile.base_url
        found = _crawl(base, hostile.port, feeds=(f"{base}/feed.json",))
    assert [link.url for link in found.media] == [f"{base}/media/good.mp4"]
    assert sorted((r.url, r.check, r.reason) for r in found.refusals) == [
        (f"{base}/cut.html", "fetch", "connection error while reading page (RemoteProtocolError)"),
        (f"{base}/deep.html", "page", "JSON-LD block skipped: JSON nested deeper than 64 levels"),
        (f"{base}/feed.json", "feed", "malformed feed: JSON nested deeper than 64 levels"),
    ]


def test_media_on_a_page_its_sitemap_dates_carry_that_date(tmp_path: Path) -> None:
    public = tmp_path / "dated" / "public"
    public.mkdir(parents=True)
    (public / "a.html").write_text(_media_page("a"))
    (public / "b.html").write_text(_media_page("b"))
    (public / "sitemap.xml").write_text(
        "<urlset><url><loc>/a.html</loc><lastmod>2026-03-04</lastmod></url>"
        "<url><loc>/b.html</loc></url></urlset>"
    )
    with SampleSiteServer(tmp_path / "dated") as server:
        base = server.base_url
        found = _crawl(base, server.port, sitemaps=(f"{base}/sitemap.xml",))
    dates = {link.url.rsplit("/", 1)[-1]: link.modified for link in found.media}
    assert dates == {"a.mp4": datetime(2026, 3, 4, tzinfo=UTC), "b.mp4": None}
