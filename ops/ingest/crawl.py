"""Discovery on a website: follow pages, sitemaps and feeds to the media they describe.

Pages are fetched in breadth-first waves, each wave in parallel (the fetcher
enforces per-host rate and concurrency). Links off the allowed hosts are not
followed; media links that are refused (robots.txt, another host, a private
address) are reported with their reason rather than dropped. Two caps bound a
crawl: links followed per page and pages fetched per crawl; hitting either is
reported (check ``link-limit`` or ``page-limit``) and leaves the crawl incomplete.

A sitemap's ``<lastmod>`` goes with what it lists: the fetcher answers a page (or child
sitemap) that is no newer than its cached copy from the cache, and the media a dated page
describes carry its date, so the ingest can skip those too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import PurePosixPath
from urllib.parse import urlsplit, urlunsplit

from ops.ingest.discover import MediaLink, parse_sitemap_entries
from ops.ingest.fetch import FetchError, HttpFetcher, Page
from ops.ingest.netguard import RefusedURL
from ops.ingest.recrawl import ParsedPages
from ops.ingest.robots import RobotsGate
from ops.ingest.sources import HttpSource

MEDIA_EXTENSIONS = frozenset(
    [
        ".mp4",
        ".m4v",
        ".mov",
        ".mkv",
        ".webm",
        ".avi",
        ".mp3",
        ".m4a",
        ".aac",
        ".wav",
        ".flac",
        ".ogg",
        ".opus",
        ".jpg",
        ".jpeg",
        ".png",
        ".gif",
        ".webp",
        ".bmp",
        ".tif",
        ".tiff",
    ]
)


@dataclass(frozen=True)
class Refusal:
    """A URL that was not ingested, with the check that refused it and why."""

    url: str
    check: str
    reason: str


@dataclass
class Discovery:
    media: list[MediaLink] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    pages_fetched: int = 0
    pages_not_modified: int = 0
    pages_unchanged: int = 0
    """Pages answered from the cache without a request (fresh, or not newer than the copy)."""
    external_links_skipped: int = 0
    complete: bool = True


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, drop the fragment: one spelling per resource."""
    parts = urlsplit(url)
    netloc = parts.netloc.lower()
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


def looks_like_media(url: str) -> bool:
    return PurePosixPath(urlsplit(url).path).suffix.lower() in MEDIA_EXTENSIONS


def picture_link(url: str, page_url: str | None) -> MediaLink:
    """A picture known only by its address (shown on a page, or declared)."""
    return MediaLink(
        url=url,
        page_url=page_url,
        item_key=None,
        title=None,
        description=None,
        year=None,
        tags=(),
        people=(),
        licence=None,
        kind_hint="image",
        expects_audio=None,
    )


def _merge_link(first: MediaLink, second: MediaLink) -> MediaLink:
    """Keep the first link's values and fill its gaps from the second."""
    updates = {
        name: getattr(second, name)
        for name in first.__dataclass_fields__
        if getattr(first, name) in (None, ()) and getattr(second, name) not in (None, ())
    }
    return first.__class__(**{**first.__dict__, **updates}) if updates else first


class SiteCrawler:
    """Crawls one :class:`HttpSource` for media links."""

    def __init__(
        self,
        source: HttpSource,
        fetcher: HttpFetcher,
        robots: RobotsGate,
        *,
        max_pages: int,
        max_links_per_page: int,
        on_page: Callable[[str], None] | None = None,
        pictures_only: bool = False,
        parsed_pages: ParsedPages | None = None,
    ) -> None:
        """``pictures_only``: fetch just the entry pages and take the pictures they show
        (a person's pages), instead of following links to media pages. ``parsed_pages``:
        what earlier crawls parsed out of pages and feeds (default: parse every one)."""
        self.source = source
        self.parsed_pages = parsed_pages or ParsedPages(None)
        self.pictures_only = pictures_only
        self.fetcher = fetcher
        self.robots = robots
        self.max_pages = max_pages
        self.max_links_per_page = max_links_per_page
        self.on_page = on_page or (lambda url: None)
        self._hosts = source.hosts()
        self._modified: dict[str, datetime] = {}  # canonical URL -> its sitemap lastmod

    def _on_allowed_host(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and (parts.hostname or "") in self._hosts

    def _fetch(self, url: str) -> Page | Refusal:
        if not self.robots.allowed(url):
            return Refusal(url, "robots", "disallowed by robots.txt")
        try:
            page = self.fetcher.get_page(url, self._modified.get(canonical_url(url)))
        except FetchError as exc:
            return Refusal(url, "fetch", exc.reason)
        self.on_page(url)
        return page

    def _fetch_all(self, urls: Iterable[str], found: Discovery) -> list[Page]:
        """Fetch pages in parallel; tally and keep refusals in the calling thread."""
        with ThreadPoolExecutor(max_workers=self.source.concurrency) as pool:
            results = list(pool.map(self._fetch, list(urls)))
        pages = []
        for result in results:
            if isinstance(result, Refusal):
                found.refusals.append(result)
                continue
            if result.requested:
                found.pages_fetched += 1
                found.pages_not_modified += result.from_cache
            else:
                found.pages_unchanged += 1
            pages.append(result)
        return pages

    def discover(self, declared: Iterable[MediaLink] = ()) -> Discovery:
        """Media found from the entry URLs, plus ``declared`` media (checked alike)."""
        found = Discovery()
        media: dict[str, MediaLink] = {}

        def add_media(links: Iterable[MediaLink]) -> None:
            for link in links:
                key = canonical_url(link.url)
                media[key] = _merge_link(media[key], link) if key in media else link

        add_media(declared)

        page_urls: list[str] = list(self.source.start_urls)
        for page in self._fetch_all(self.source.feeds, found):
            try:
                add_media(self.parsed_pages.feed(page))
            except ValueError as exc:
                found.refusals.append(Refusal(page.url, "feed", f"malformed feed: {exc}"))
        sitemaps = list(self.source.sitemaps)
        seen_sitemaps: set[str] = set()
        while sitemaps:
            batch = [s for s in sitemaps if s not in seen_sitemaps]
            seen_sitemaps.update(batch)
            sitemaps = []
            for page in self._fetch_all(batch, found):
                try:
                    entries = parse_sitemap_entries(page.body, page.url)
                except ValueError as exc:
                    found.refusals.append(Refusal(page.url, "sitemap", f"malformed sitemap: {exc}"))
                    continue
                for entry in entries:
                    if entry.modified is not None:
                        self._modified[canonical_url(entry.url)] = entry.modified
                    (sitemaps if entry.url.endswith(".xml") else page_urls).append(entry.url)

        seen_pages: set[str] = set()
        budget = self.max_pages
        wave = self._new_pages(page_urls, seen_pages, found, room=budget + 1)
        while wave and budget > 0:
            fetch_now, wave = wave[:budget], wave[budget:]
            budget -= len(fetch_now)
            next_links: list[str] = []
            for page in self._fetch_all(fetch_now, found):
                parsed = self.parsed_pages.page(page)
                found.refusals.extend(Refusal(page.url, "page", p) for p in parsed.problems)
                if self.pictures_only:
                    add_media(picture_link(url, page.url) for url in parsed.pictures)
                    continue
                add_media(self._dated(parsed.media, page.url))
                next_links.extend(self._links_to_follow(page.url, parsed.page_links, found))
            wave += self._new_pages(next_links, seen_pages, found, room=budget + 1 - len(wave))
        if wave:
            found.complete = False
            found.refusals.append(
                Refusal(
                    wave[0],
                    "page-limit",
                    f"page limit of {self.max_pages} pages per crawl reached "
                    "(CINESCOPE_MAX_PAGES_PER_SOURCE): further pages not fetched; "
                    "crawl incomplete",
                )
            )
        entry_urls = {*self.source.start_urls, *self.source.sitemaps, *self.source.feeds}
        if any(r.url in entry_urls for r in found.refusals):
            found.complete = False  # an outage must not mark the whole catalog vanished
        found.media = self._admissible_media(media.values(), found)
        return found

    def _dated(self, links: Iterable[MediaLink], page_url: str) -> Iterator[MediaLink]:
        """Media described on a page that its sitemap dates carry that date, unless dated."""
        modified = self._modified.get(canonical_url(page_url))
        for link in links:
            yield link if modified is None or link.modified else replace(link, modified=modified)

    def _links_to_follow(
        self, page_url: str, links: tuple[str, ...], found: Discovery
    ) -> tuple[str, ...]:
        """A page's links up to the per-page cap; past it the rest are reported, not followed."""
        if len(links) <= self.max_links_per_page:
            return links
        found.complete = False
        found.refusals.append(
            Refusal(
                page_url,
                "link-limit",
                f"link limit of {self.max_links_per_page} links per page reached "
                f"(CINESCOPE_MAX_LINKS_PER_PAGE): {len(links) - self.max_links_per_page} "
                f"of {len(links)} links not followed; crawl incomplete",
            )
        )
        return links[: self.max_links_per_page]

    def _new_pages(
        self, urls: Iterable[str], seen: set[str], found: Discovery, *, room: int
    ) -> list[str]:
        """Unseen links on allowed hosts, at most ``room`` (the pages left to fetch, plus one).

        The one extra tells that the page limit was reached, and no more are kept.
        """
        fresh: list[str] = []
        for url in urls:
            if len(fresh) >= room:
                break
            key = canonical_url(url)
            if key in seen or looks_like_media(url):
                continue
            if not self._on_allowed_host(url):
                found.external_links_skipped += 1
                continue
            seen.add(key)
            fresh.append(url)
        return fresh

    def _admissible_media(self, links: Iterable[MediaLink], found: Discovery) -> list[MediaLink]:
        """Refuse, with reasons, media links the crawler must not fetch."""
        admissible = []
        for link in links:
            if not self._on_allowed_host(link.url):
                try:
                    self.fetcher.policy.check(link.url)
                except RefusedURL as exc:
                    found.refusals.append(Refusal(link.url, "network", exc.reason))
                    continue
            if not self.robots.allowed(link.url):
                found.refusals.append(Refusal(link.url, "robots", "disallowed by robots.txt"))
                continue
            admissible.append(link)
        return admissible
