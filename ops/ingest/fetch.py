"""Polite HTTP fetching: rate limits, retries, conditional GET, size caps, guarded redirects.

Pages are kept in a :class:`PageCache` and answered from it without a request while the
server said they stay fresh (``Cache-Control: max-age``, ``Expires``), or when the page's
listing dates it no later than the cached copy; a fetcher made with ``revalidate_all``
asks the server every time (conditional GET).

Every request goes through :class:`HttpFetcher`, which checks each URL (and
each redirect target) against the source's :class:`NetworkPolicy` before
connecting, connects only to addresses the policy checked (:class:`PinnedBackend`),
and streams media straight into the raw store. Every page and every download
has a total time limit, so a server trickling bytes cannot hold a worker
forever, and bodies are decoded a bounded piece at a time
(:class:`BoundedDecoder`), so a stacked-gzip bomb cannot fill memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit

import httpcore
import httpx

from ops.atomic import atomic_open
from ops.ingest.inflate import ACCEPT_ENCODING, BoundedDecoder, DecodeError, OverCap
from ops.ingest.netguard import NetworkPolicy, PinnedBackend, RefusedURL
from ops.ingest.rawstore import RawStore, SizeCapExceeded

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})  # not 304: that is a cache hit
MAX_REDIRECTS = 5
MAX_PAGE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class _Deadline:
    """The total time the page or download running in this thread has."""

    what: str  # "page" or "download", as the failure reason names it
    seconds: float
    ends_at: float  # monotonic


_deadline: ContextVar[_Deadline | None] = ContextVar("deadline", default=None)
"""The deadline of the transfer running in this thread (None: no transfer)."""


class FetchError(Exception):
    """A URL could not be fetched; ``reason`` is what the quarantine shows."""

    def __init__(self, url: str, reason: str, *, retryable: bool = False) -> None:
        super().__init__(f"{reason}: {url}")
        self.url = url
        self.reason = reason
        self.retryable = retryable


@dataclass(frozen=True)
class Page:
    url: str
    status: int
    content_type: str | None
    body: bytes
    from_cache: bool
    requested: bool = True
    """False: answered from the cache without asking the server (fresh, or not newer)."""


@dataclass(frozen=True)
class Download:
    """The outcome of a media download: new content in the store, or not modified."""

    url: str
    not_modified: bool
    sha256: str | None
    bytes: int
    content_type: str | None
    file_name: str | None
    etag: str | None
    last_modified: str | None
    attempts: int
    fresh_until: float = 0.0
    """Until when (Unix time) the server says this content stays as it is; 0: not said."""


def fresh_until(headers: httpx.Headers, now: float) -> float:
    """Until when (Unix time) a response may be reused without asking again (RFC 9111 4.2).

    ``max-age`` (less the response's ``Age``), else ``Expires`` against ``Date``; 0 when
    the response says nothing, says ``no-cache`` or ``no-store``, or says it unreadably.
    """
    directives: dict[str, str] = {}
    for part in headers.get("cache-control", "").split(","):
        name, _, value = part.strip().partition("=")
        directives[name.strip().lower()] = value.strip().strip('"')
    if "no-store" in directives or "no-cache" in directives:
        return 0.0
    age = headers.get("age", "")
    lifetime: float
    if directives.get("max-age", "").isdigit():
        lifetime = int(directives["max-age"])
    elif "expires" in headers:
        expires, date = _http_date(headers["expires"]), _http_date(headers.get("date", ""))
        if expires is None:
            return 0.0
        lifetime = expires - (date if date is not None else now)
    else:
        return 0.0
    until = now + lifetime - (int(age) if age.isdigit() else 0)
    return until if until > now else 0.0


def _http_date(value: str) -> float | None:
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


def _past_deadline() -> bool:
    deadline = _deadline.get()
    return deadline is not None and time.monotonic() >= deadline.ends_at


@contextlib.contextmanager
def _deadline_of(what: str, seconds: float) -> Iterator[None]:
    """Give the transfer run inside (retries and redirects included) ``seconds`` in all."""
    token = _deadline.set(_Deadline(what, seconds, time.monotonic() + seconds))
    try:
        yield
    finally:
        _deadline.reset(token)


def _excuse_wait(waited_s: float) -> None:
    """Push the current deadline back by time spent waiting on our own politeness limits.

    The deadline is there for servers that are slow; a Crawl-delay is ours.
    """
    deadline = _deadline.get()
    if deadline is not None:
        _deadline.set(replace(deadline, ends_at=deadline.ends_at + waited_s))


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose reads never wait past the current transfer's deadline.

    Enforced per socket read, so neither a trickle of bytes (each within the
    read timeout) nor a body that decodes to nothing for a long time outlasts it.
    """

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        deadline = _deadline.get()
        if deadline is not None:
            left = deadline.ends_at - time.monotonic()
            if left <= 0:
                raise httpcore.ReadTimeout(f"{deadline.what} deadline passed")
            timeout = left if timeout is None else min(timeout, left)
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> object:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """Wraps every connection of ``inner`` in a :class:`_DeadlineStream`."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _guarded_transport(policy: NetworkPolicy, limits: httpx.Limits) -> httpx.HTTPTransport:
    """An httpx transport whose connections go through :class:`PinnedBackend` and deadlines.

    httpx 0.28 takes no network backend, so its connection pool is replaced by
    an httpcore pool built with one (same settings httpx would use).
    """
    transport = httpx.HTTPTransport(limits=limits, trust_env=False)
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=_DeadlineBackend(PinnedBackend(policy)),
    )
    return transport


class HostLimiter:
    """Per-host spacing between requests and a cap on parallel requests."""

    def __init__(self, rate_per_s: float, concurrency: int) -> None:
        self.interval = 1.0 / rate_per_s
        self.concurrency = concurrency
        self._lock = threading.Lock()
        self._next_slot: dict[str, float] = {}
        self._slots: dict[str, threading.BoundedSemaphore] = {}

    def slow_down(self, crawl_delay_s: float) -> None:
        """Honour a robots.txt Crawl-delay."""
        with self._lock:
            self.interval = max(self.interval, crawl_delay_s)

    def acquire(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            slots = self._slots.setdefault(host, threading.BoundedSemaphore(self.concurrency))
        slots.acquire()
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_slot.get(host, now))
            self._next_slot[host] = start + self.interval
        if start > now:
            time.sleep(start - now)
        return slots


@dataclass(frozen=True)
class CachedPage:
    """A page as last fetched: its body, validators, freshness and the date its listing gave."""

    etag: str
    last_modified: str
    content_type: str
    body: bytes
    fresh_until: float = 0.0
    modified: datetime | None = None

    def current(self, modified: datetime | None, now: float) -> bool:
        """Whether this copy can stand for the page without asking the server.

        Where the listing dates the page, only that date counts: no later than the date the
        copy was fetched under. Otherwise the server's own freshness lifetime decides.
        """
        if modified is not None:
            return self.modified is not None and modified <= self.modified
        return now < self.fresh_until

    def page(self, url: str, *, status: int, requested: bool) -> Page:
        return Page(url, status, self.content_type or None, self.body, True, requested)


class PageCache:
    """Bodies of pages by URL with their validators, for conditional GET of pages, and with
    their freshness and listing date, to skip asking for pages that have not changed."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, url: str) -> Path:
        return self.root / f"{hashlib.sha256(url.encode()).hexdigest()}.json"

    def get(self, url: str) -> CachedPage | None:
        path = self._path(url)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            modified = entry.get("modified")
            return CachedPage(
                etag=entry["etag"],
                last_modified=entry["last_modified"],
                content_type=entry["content_type"],
                body=entry["body"].encode("latin-1"),
                fresh_until=float(entry.get("fresh_until", 0.0)),
                modified=datetime.fromisoformat(modified) if modified else None,
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def put(self, url: str, cached: CachedPage) -> None:
        """Keep a copy that can be revalidated, is fresh for a while, or has a listing date."""
        if not (cached.etag or cached.last_modified or cached.fresh_until or cached.modified):
            return
        entry = {
            "etag": cached.etag,
            "last_modified": cached.last_modified,
            "content_type": cached.content_type,
            "body": cached.body.decode("latin-1"),
            "fresh_until": cached.fresh_until,
            "modified": cached.modified.isoformat() if cached.modified else "",
        }
        with atomic_open(self._path(url)) as handle:
            handle.write(json.dumps(entry))


def safe_file_name(content_disposition: str | None, url: str) -> str | None:
    """The file's own name, reduced to a bare base name: it is metadata, never a path."""
    name: str | None = None
    if content_disposition:
        message = Message()
        message["content-disposition"] = content_disposition
        name = message.get_filename()
    if not name:
        name = unquote(urlsplit(url).path)
    base = PurePosixPath(name.replace("\\", "/")).name
    base = re.sub(r"[\x00-\x1f]", "", base).strip().lstrip(".")
    return base[:200] or None


class HttpFetcher:
    """One source's HTTP client (thread-safe)."""

    def __init__(
        self,
        policy: NetworkPolicy,
        *,
        user_agent: str,
        timeout_s: float,
        retries: int,
        backoff_s: float,
        rate_per_s: float,
        concurrency: int,
        download_deadline_s: float,
        page_deadline_s: float,
        page_cache: PageCache | None = None,
        on_retry: Callable[[str, str], None] | None = None,
        revalidate_all: bool = False,
    ) -> None:
        """``revalidate_all``: ask the server about every page (conditional GET), whatever
        the cached copy's freshness or listing date."""
        self.policy = policy
        self.revalidate_all = revalidate_all
        self.retries = retries
        self.backoff_s = backoff_s
        self.limiter = HostLimiter(rate_per_s, concurrency)
        self.page_cache = page_cache
        self.on_retry = on_retry
        self.download_deadline_s = download_deadline_s
        self.page_deadline_s = page_deadline_s
        self._client = httpx.Client(
            headers={"User-Agent": user_agent, "Accept-Encoding": ACCEPT_ENCODING},
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            transport=_guarded_transport(policy, httpx.Limits(max_connections=concurrency * 4)),
            trust_env=False,
        )
        self._stats_lock = threading.Lock()
        self.bytes_downloaded = 0
        self.requests = 0

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _count(self, nbytes: int) -> None:
        with self._stats_lock:
            self.bytes_downloaded += nbytes
            self.requests += 1

    def _open(self, url: str, headers: dict[str, str]) -> tuple[httpx.Response, int]:
        """Send GET, following guarded redirects and retrying transient failures."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._open_once(url, headers), attempt
            except FetchError as exc:
                if not exc.retryable or attempt > self.retries:
                    if exc.retryable and attempt > 1:
                        raise FetchError(url, f"{exc.reason} after {attempt} attempts") from exc
                    raise
                if self.on_retry:
                    self.on_retry(url, exc.reason)
                time.sleep(self.backoff_s * 2 ** (attempt - 1))

    def _open_once(self, url: str, headers: dict[str, str]) -> httpx.Response:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            try:
                self.policy.check(current)
            except RefusedURL as exc:
                prefix = "redirect to " if current != url else ""
                raise FetchError(url, prefix + exc.reason) from exc
            host = urlsplit(current).hostname or ""
            asked_at = time.monotonic()
            slot = self.limiter.acquire(host)
            _excuse_wait(time.monotonic() - asked_at)
            try:
                request = self._client.build_request("GET", current, headers=headers)
                response = self._client.send(request, stream=True)
            except RefusedURL as exc:  # the address check where the connection is made
                prefix = "redirect to " if current != url else ""
                raise FetchError(url, prefix + exc.reason) from exc
            except httpx.TimeoutException as exc:
                raise self._timeout_error(url, "timeout", retryable=True) from exc
            except httpx.TransportError as exc:
                raise FetchError(
                    url, f"connection error ({type(exc).__name__})", retryable=True
                ) from exc
            finally:
                slot.release()
            if response.status_code in REDIRECT_STATUSES:
                response.close()
                location = response.headers.get("location")
                if not location:
                    raise FetchError(url, f"HTTP {response.status_code} without Location")
                current = urljoin(current, location)
                continue
            if response.status_code >= 400:
                response.close()
                status = response.status_code
                raise FetchError(url, f"HTTP {status}", retryable=status in RETRY_STATUSES)
            return response
        raise FetchError(url, f"more than {MAX_REDIRECTS} redirects")

    def _timeout_error(self, url: str, reason: str, *, retryable: bool) -> FetchError:
        """A timeout that ran into the transfer's deadline is the deadline's failure, final."""
        deadline = _deadline.get()
        if deadline is not None and _past_deadline():
            return FetchError(url, f"{deadline.what} exceeded {deadline.seconds:g} s")
        return FetchError(url, reason, retryable=retryable)

    def _check_deadline(self, url: str) -> None:
        if _past_deadline():
            raise self._timeout_error(url, "timeout", retryable=False)

    def _body(
        self, url: str, response: httpx.Response, cap: int, activity: str, over_cap: str
    ) -> Iterator[bytes]:
        """The body decoded in small pieces, each layer capped; any failure is a FetchError.

        ``activity`` names what was going on in failure reasons; ``over_cap``
        is the reason given when decoding would pass ``cap`` bytes.
        """
        try:
            decoder = BoundedDecoder(
                response.headers.get("content-encoding"), cap, lambda: self._check_deadline(url)
            )
            yield from decoder.decode(response.iter_raw())
        except OverCap as exc:
            raise FetchError(url, over_cap) from exc
        except DecodeError as exc:
            raise FetchError(url, str(exc)) from exc
        except httpx.TimeoutException as exc:
            raise self._timeout_error(url, f"timeout while {activity}", retryable=False) from exc
        except httpx.TransportError as exc:
            raise FetchError(
                url, f"connection error while {activity} ({type(exc).__name__})"
            ) from exc

    def get_page(self, url: str, modified: datetime | None = None) -> Page:
        """Fetch an HTML/XML/JSON document, answering from the page cache on 304.

        ``modified``: when the page's listing (a sitemap's lastmod) says it last changed.
        A cached copy that is still current (:meth:`CachedPage.current`) is answered
        without a request, unless the fetcher revalidates all.

        Like a download, a page (retries and redirects included) must be done
        within ``page_deadline_s``; past it, it fails for good with
        "page exceeded N s".
        """
        cached = self.page_cache.get(url) if self.page_cache else None
        if cached and not self.revalidate_all and cached.current(modified, time.time()):
            return cached.page(url, status=200, requested=False)
        with _deadline_of("page", self.page_deadline_s):
            return self._get_page(url, cached, modified)

    def _get_page(self, url: str, cached: CachedPage | None, modified: datetime | None) -> Page:
        headers = _validators(cached.etag, cached.last_modified) if cached else {}
        response, _ = self._open(url, headers)
        with contextlib.closing(response):
            fresh = fresh_until(response.headers, time.time())
            if response.status_code == 304 and cached:
                self._count(0)
                if self.page_cache and (fresh, modified) != (cached.fresh_until, cached.modified):
                    self.page_cache.put(url, replace(cached, fresh_until=fresh, modified=modified))
                return cached.page(url, status=304, requested=True)
            over_cap = f"page over size cap ({MAX_PAGE_BYTES} bytes)"
            body = bytearray()
            for piece in self._body(url, response, MAX_PAGE_BYTES, "reading page", over_cap):
                body.extend(piece)
                if len(body) > MAX_PAGE_BYTES:
                    raise FetchError(url, over_cap)
            page = Page(
                url, response.status_code, response.headers.get("content-type"), bytes(body), False
            )
            self._count(len(body))
            if self.page_cache:
                self.page_cache.put(
                    url,
                    CachedPage(
                        etag=response.headers.get("etag") or "",
                        last_modified=response.headers.get("last-modified") or "",
                        content_type=page.content_type or "",
                        body=page.body,
                        fresh_until=fresh,
                        modified=modified,
                    ),
                )
            return page

    def download(
        self,
        url: str,
        store: RawStore,
        *,
        max_bytes: int,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> Download:
        """Stream a media file into the raw store, or learn it is unchanged (304).

        The whole download (retries and redirects included) must finish within
        ``download_deadline_s``; past it the download fails for good with
        "download exceeded N s" and its partial file is removed. Not retried:
        the same server would most likely trickle again, and retrying would
        multiply the time a worker is held; the next scheduled run tries anew.
        """
        with _deadline_of("download", self.download_deadline_s):
            return self._download(url, store, max_bytes, etag, last_modified)

    def _download(
        self,
        url: str,
        store: RawStore,
        max_bytes: int,
        etag: str | None,
        last_modified: str | None,
    ) -> Download:
        response, attempts = self._open(url, _validators(etag, last_modified))
        with contextlib.closing(response):
            headers = response.headers
            fresh = fresh_until(headers, time.time())
            if response.status_code == 304:
                self._count(0)
                return Download(
                    url, True, None, 0, None, None, etag, last_modified, attempts, fresh
                )
            declared = headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(url, f"over size cap ({declared} > {max_bytes} bytes)")
            over_cap = f"over size cap (more than {max_bytes} bytes once decoded)"
            try:
                with store.pending(max_bytes) as pending:
                    for piece in self._body(url, response, max_bytes, "downloading", over_cap):
                        pending.write(piece)
                    store.commit(pending)
            except SizeCapExceeded as exc:
                raise FetchError(url, str(exc)) from exc
            self._count(pending.bytes_written)
            return Download(
                url=url,
                not_modified=False,
                sha256=pending.sha256,
                bytes=pending.bytes_written,
                content_type=headers.get("content-type"),
                file_name=safe_file_name(headers.get("content-disposition"), url),
                etag=headers.get("etag"),
                last_modified=headers.get("last-modified"),
                attempts=attempts,
                fresh_until=fresh,
            )


def _validators(etag: str | None, last_modified: str | None) -> dict[str, str]:
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers
