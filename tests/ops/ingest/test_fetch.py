"""HttpFetcher against a real local server: pinned addresses, deadlines, the page cache."""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pandas as pd
import pytest

from ops.ingest.fetch import MAX_PAGE_BYTES, FetchError, HttpFetcher, PageCache, fresh_until
from ops.ingest.netguard import NetworkPolicy
from ops.ingest.pipeline import ingest_source
from ops.ingest.rawstore import RawStore
from ops.sample_site.server import SampleSiteServer
from ops.settings import Settings
from tests.support.hostile_site import HostileSite, raw_response

PAYLOAD = os.urandom(200_000)
TRICKLE_BYTES_PER_S = 2_000  # 200 kB would take 100 s: only the deadline ends it sooner


class _Answers:
    """A resolver that gives scripted answers in turn (the last one repeats) and counts lookups."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = answers
        self.lookups = 0

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups += 1
        return self.answers[min(self.lookups, len(self.answers)) - 1]


def _fetcher(
    policy: NetworkPolicy,
    *,
    deadline_s: float = 60.0,
    page_deadline_s: float = 60.0,
    retries: int = 0,
) -> HttpFetcher:
    return HttpFetcher(
        policy,
        user_agent="cinescope-test",
        timeout_s=5.0,
        retries=retries,
        backoff_s=0.0,
        rate_per_s=1000.0,
        concurrency=2,
        download_deadline_s=deadline_s,
        page_deadline_s=page_deadline_s,
    )


def _local(server: SampleSiteServer | HostileSite) -> NetworkPolicy:
    return NetworkPolicy(frozenset({"127.0.0.1"}), frozenset({f"127.0.0.1:{server.port}"}))


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SampleSiteServer]:
    public = tmp_path / "site" / "public"
    (public / "media").mkdir(parents=True)
    (public / "index.html").write_text("<html><body>catalog</body></html>")
    (public / "media" / "clip.mp4").write_bytes(PAYLOAD)
    (public / "long.html").write_text(f"<html><body>{'x' * len(PAYLOAD)}</body></html>")
    with SampleSiteServer(tmp_path / "site", throttle_bytes_per_s=TRICKLE_BYTES_PER_S) as server:
        yield server


@pytest.fixture
def store(tmp_path: Path) -> RawStore:
    return RawStore(tmp_path / "raw", tmp_path / "scratch")


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


# --- DNS rebinding ------------------------------------------------------------------------------


@pytest.mark.parametrize("call", ["page", "download"])
def test_rebound_dns_answer_never_reaches_the_local_server(
    site: SampleSiteServer, store: RawStore, call: str
) -> None:
    """Public to the URL check, loopback a moment later: the connection is refused."""
    answers = _Answers(["93.184.216.34"], ["127.0.0.1"])
    policy = NetworkPolicy(frozenset({"films.test"}), resolver=answers)
    base = f"http://films.test:{site.port}"
    with _fetcher(policy) as fetcher, pytest.raises(FetchError) as caught:
        if call == "page":
            fetcher.get_page(f"{base}/index.html")
        else:
            fetcher.download(f"{base}/media/clip.mp4", store, max_bytes=1 << 20)
    assert caught.value.reason == "private address 127.0.0.1 (from films.test) refused"
    assert not caught.value.retryable
    assert answers.lookups == 2  # the URL check passed; the connect-time check refused
    assert site.requests_for("/index.html") + site.requests_for("/media/clip.mp4") == 0


def test_host_name_pinned_to_an_opted_in_local_address_is_fetched(site: SampleSiteServer) -> None:
    answers = _Answers(["127.0.0.1"])
    policy = NetworkPolicy(
        frozenset({"films.test"}), frozenset({f"films.test:{site.port}"}), answers
    )
    with _fetcher(policy) as fetcher:
        page = fetcher.get_page(f"http://films.test:{site.port}/index.html")
    assert page.status == 200
    assert page.body == b"<html><body>catalog</body></html>"
    assert site.requests_for("/index.html") == 1


def test_download_from_the_local_test_server_still_works(
    site: SampleSiteServer, store: RawStore
) -> None:
    with _fetcher(_local(site)) as fetcher:
        got = fetcher.download(f"{site.base_url}/media/clip.mp4", store, max_bytes=1 << 20)
    assert got.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    assert store.path_for(got.sha256).read_bytes() == PAYLOAD


# --- the per-download deadline ------------------------------------------------------------------


def test_trickling_download_fails_at_the_deadline_and_leaves_nothing(
    site: SampleSiteServer, store: RawStore
) -> None:
    with (
        _fetcher(_local(site), deadline_s=0.4, retries=2) as fetcher,
        pytest.raises(FetchError) as caught,
    ):
        fetcher.download(f"{site.base_url}/throttle/media/clip.mp4", store, max_bytes=1 << 20)
    assert caught.value.reason == "download exceeded 0.4 s"
    assert not caught.value.retryable
    assert site.requests_for("/throttle/media/clip.mp4") == 1  # not retried
    assert _files(store.scratch) == []
    assert _files(store.root) == []


def test_deadline_is_per_download_not_per_fetcher(site: SampleSiteServer, store: RawStore) -> None:
    """A download that ran into the deadline does not shorten the next one."""
    with _fetcher(_local(site), deadline_s=1.0) as fetcher:
        with pytest.raises(FetchError):
            fetcher.download(f"{site.base_url}/throttle/media/clip.mp4", store, max_bytes=1 << 20)
        got = fetcher.download(f"{site.base_url}/media/clip.mp4", store, max_bytes=1 << 20)
        page = fetcher.get_page(f"{site.base_url}/index.html")
    assert got.bytes == len(PAYLOAD)
    assert page.status == 200


def test_download_over_the_deadline_is_quarantined_and_the_run_goes_on(
    site: SampleSiteServer, tmp_path: Path
) -> None:
    public = tmp_path / "site" / "public"
    slow_url = f"{site.base_url}/throttle/media/clip.mp4"
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "trickle",
        "items": [
            {
                "id": "fast",
                "title": "Fast",
                "url": "/fast.html",
                "attachments": [{"url": "/media/clip.mp4", "mime_type": "video/mp4"}],
            },
            {
                "id": "slow",
                "title": "Slow",
                "url": "/slow.html",
                "attachments": [{"url": "/throttle/media/clip.mp4", "mime_type": "video/mp4"}],
            },
        ],
    }
    (public / "feed.json").write_text(json.dumps(feed))
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "sources:\n  - name: trickle\n    kind: http\n"
        f"    feeds: ['{site.base_url}/feed.json']\n"
        f"    allow_private: ['127.0.0.1:{site.port}']\n    respect_robots: false\n"
    )
    settings = Settings(
        home=tmp_path / "home",
        sources_file=sources,
        http_download_deadline_s=0.5,
        http_retries=0,
    )
    staged = ingest_source("trickle", settings=settings)
    refusals = pd.read_parquet(staged.refusals_path)
    assert refusals[["url", "reason"]].to_dict(orient="records") == [
        {"url": slow_url, "reason": "download exceeded 0.5 s"}
    ]
    items = json.loads(Path(staged.items_path).read_text())
    assert [(i["url"], i["fetch_status"]) for i in items] == [
        (f"{site.base_url}/media/clip.mp4", "new")
    ]
    assert list((settings.tmp_dir / "downloads").glob("*.part")) == []


# --- the per-page deadline ----------------------------------------------------------------------


def test_trickling_page_fails_at_the_page_deadline(site: SampleSiteServer) -> None:
    with (
        _fetcher(_local(site), page_deadline_s=0.4, retries=2) as fetcher,
        pytest.raises(FetchError) as caught,
    ):
        fetcher.get_page(f"{site.base_url}/throttle/long.html")
    assert caught.value.reason == "page exceeded 0.4 s"
    assert not caught.value.retryable
    assert site.requests_for("/throttle/long.html") == 1  # not retried


def test_page_deadline_does_not_shorten_downloads(site: SampleSiteServer, store: RawStore) -> None:
    with _fetcher(_local(site), page_deadline_s=0.4) as fetcher:
        with pytest.raises(FetchError):
            fetcher.get_page(f"{site.base_url}/throttle/long.html")
        got = fetcher.download(f"{site.base_url}/media/clip.mp4", store, max_bytes=1 << 20)
    assert got.bytes == len(PAYLOAD)


# --- hostile bodies: stacked encodings, early hang-ups ------------------------------------------


@functools.cache
def _double_gzip_zeros(size: int) -> bytes:
    """``size`` zero bytes gzipped twice: a few kilobytes on the wire."""
    return gzip.compress(gzip.compress(bytes(size), 9), 9)


def _peak_bytes_while(action: Callable[[], object]) -> int:
    """Peak Python memory allocated while ``action`` runs (it is expected to raise)."""
    tracemalloc.start()
    try:
        with pytest.raises(FetchError):
            action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_double_gzip_page_is_refused_at_the_cap_with_memory_bounded(
    store: RawStore,
) -> None:
    bomb = raw_response(_double_gzip_zeros(64 << 20), headers={"Content-Encoding": "gzip, gzip"})
    with HostileSite({"/bomb.html": bomb}) as hostile, _fetcher(_local(hostile)) as fetcher:
        url = f"{hostile.base_url}/bomb.html"
        peak = _peak_bytes_while(lambda: fetcher.get_page(url))
        with pytest.raises(FetchError) as caught:
            fetcher.get_page(url)
    assert caught.value.reason == f"page over size cap ({MAX_PAGE_BYTES} bytes)"
    assert peak < MAX_PAGE_BYTES + (4 << 20)  # the page up to its cap, not the 64 MiB bomb


def test_double_gzip_download_is_refused_at_the_cap_with_memory_bounded(
    store: RawStore,
) -> None:
    bomb = raw_response(
        _double_gzip_zeros(64 << 20),
        content_type="video/mp4",
        headers={"Content-Encoding": "gzip, gzip"},
    )
    with HostileSite({"/bomb.mp4": bomb}) as hostile, _fetcher(_local(hostile)) as fetcher:
        url = f"{hostile.base_url}/bomb.mp4"
        peak = _peak_bytes_while(lambda: fetcher.download(url, store, max_bytes=1 << 20))
        with pytest.raises(FetchError) as caught:
            fetcher.download(url, store, max_bytes=1 << 20)
    assert caught.value.reason.startswith("over size cap")
    assert peak < 2 << 20  # streamed to disk through small buffers
    assert _files(store.root) == []


def test_stacked_and_deflate_encodings_still_decode() -> None:
    body = b"<html><body>" + b"catalog " * 10_000 + b"</body></html>"
    answers = {
        "/twice.html": raw_response(
            gzip.compress(gzip.compress(body)), headers={"Content-Encoding": "gzip, gzip"}
        ),
        "/deflate.html": raw_response(zlib.compress(body), headers={"Content-Encoding": "deflate"}),
        "/raw-deflate.html": raw_response(
            zlib.compress(body, wbits=-15), headers={"Content-Encoding": "deflate"}
        ),
    }
    with HostileSite(answers) as hostile, _fetcher(_local(hostile)) as fetcher:
        pages = [fetcher.get_page(f"{hostile.base_url}{path}") for path in answers]
    assert [page.body for page in pages] == [body, body, body]


def test_unknown_or_corrupt_encoding_is_a_fetch_error() -> None:
    answers = {
        "/br.html": raw_response(b"\x0b\x02\x80hi\x03", headers={"Content-Encoding": "br"}),
        "/corrupt.html": raw_response(b"not gzip at all", headers={"Content-Encoding": "gzip"}),
    }
    with HostileSite(answers) as hostile, _fetcher(_local(hostile)) as fetcher:
        reasons = []
        for path in answers:
            with pytest.raises(FetchError) as caught:
                fetcher.get_page(f"{hostile.base_url}{path}")
            reasons.append(caught.value.reason)
    assert reasons[0] == "unsupported Content-Encoding 'br'"
    assert reasons[1].startswith("body does not decode as gzip")


def test_page_cut_short_by_the_server_is_a_fetch_error() -> None:
    cut = raw_response(b"<html><body>half a pa", declared_length=10_000)
    with (
        HostileSite({"/cut.html": cut}) as hostile,
        _fetcher(_local(hostile)) as fetcher,
        pytest.raises(FetchError) as caught,
    ):
        fetcher.get_page(f"{hostile.base_url}/cut.html")
    assert caught.value.reason == "connection error while reading page (RemoteProtocolError)"


def test_waiting_for_the_rate_limit_does_not_count_against_the_page_deadline(
    site: SampleSiteServer,
) -> None:
    """Two requests a second: the second page waits 0.5 s for its slot, past a 0.3 s deadline."""
    fetcher = HttpFetcher(
        _local(site),
        user_agent="cinescope-test",
        timeout_s=5.0,
        retries=0,
        backoff_s=0.0,
        rate_per_s=2.0,
        concurrency=1,
        download_deadline_s=60.0,
        page_deadline_s=0.3,
    )
    with fetcher:
        pages = [fetcher.get_page(f"{site.base_url}/index.html") for _ in range(2)]
    assert [page.status for page in pages] == [200, 200]


# --- freshness and dated pages: answered from the cache without a request -----------------------

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("headers", "fresh_for"),
    [
        ({"cache-control": "public, max-age=600"}, 600),
        ({"cache-control": "max-age=600", "age": "100"}, 500),
        (
            {"expires": "Fri, 15 Jan 2027 08:10:00 GMT", "date": "Fri, 15 Jan 2027 08:00:00 GMT"},
            600,
        ),
        ({"cache-control": "max-age=600, no-cache"}, None),
        ({"cache-control": "no-store", "expires": "Fri, 15 Jan 2027 08:10:00 GMT"}, None),
        ({"expires": "0"}, None),  # an unreadable Expires means already expired
        ({"cache-control": "max-age=60", "age": "120"}, None),
        ({}, None),
    ],
)
def test_freshness_comes_from_max_age_or_expires(
    headers: dict[str, str], fresh_for: int | None
) -> None:
    until = fresh_until(httpx.Headers(headers), NOW)
    assert until == (NOW + fresh_for if fresh_for is not None else 0.0)


@pytest.fixture
def dated(tmp_path: Path) -> Iterator[SampleSiteServer]:
    public = tmp_path / "dated" / "public"
    public.mkdir(parents=True)
    for name in ("fresh.html", "stale.html"):
        (public / name).write_text(f"<html><body>{name}</body></html>")
    with SampleSiteServer(tmp_path / "dated", cache_control={"/fresh": "max-age=3600"}) as server:
        yield server


def _caching_fetcher(
    server: SampleSiteServer, cache: Path, *, revalidate_all: bool = False
) -> HttpFetcher:
    return HttpFetcher(
        _local(server),
        user_agent="cinescope-test",
        timeout_s=5.0,
        retries=0,
        backoff_s=0.0,
        rate_per_s=1000.0,
        concurrency=2,
        download_deadline_s=60.0,
        page_deadline_s=60.0,
        page_cache=PageCache(cache),
        revalidate_all=revalidate_all,
    )


def test_a_fresh_or_undated_since_page_is_answered_without_asking(
    dated: SampleSiteServer, tmp_path: Path
) -> None:
    base, cache = dated.base_url, tmp_path / "cache"
    january, february = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    with _caching_fetcher(dated, cache) as fetcher:
        fetcher.get_page(f"{base}/fresh.html")
        fetcher.get_page(f"{base}/stale.html", january)
        dated.reset_counters()
        fresh = fetcher.get_page(f"{base}/fresh.html")
        same_date = fetcher.get_page(f"{base}/stale.html", january)
        assert dated.requests_received == 0
        assert (fresh.requested, fresh.from_cache, fresh.body) == (
            False,
            True,
            b"<html><body>fresh.html</body></html>",
        )
        assert not same_date.requested
        newer = fetcher.get_page(f"{base}/stale.html", february)  # its listing says it changed
        undated = fetcher.get_page(f"{base}/stale.html")  # no date, no freshness: asked
    assert (newer.requested, newer.status, undated.status) == (True, 304, 304)
    assert dated.requests_for("/stale.html") == 2
    with _caching_fetcher(dated, cache, revalidate_all=True) as fetcher:
        dated.reset_counters()
        assert fetcher.get_page(f"{base}/fresh.html").status == 304
        assert fetcher.get_page(f"{base}/stale.html", january).status == 304
    assert dated.requests_received == 2
