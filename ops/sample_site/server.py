"""Serve a generated sample site on localhost, with the dynamic routes its traps need.

A real HTTP server (threads, keep-alive, validators, 304s, HEAD) so the
crawler is tested against the protocol rather than a mock. It never connects
anywhere itself: the redirect to a private address is only a Location header.
Request counts and bytes sent are kept so tests and benchmarks can see what
the crawler actually asked for (nothing again on a re-crawl, for instance).
Freshness is opt-in: ``cache_control`` gives paths a ``Cache-Control`` header, as a site
that promises its item pages and media stay as they are for a while.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import mimetypes
import re
import sys
import threading
from collections import Counter
from collections.abc import Mapping
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from os import stat_result
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qs, unquote, urlsplit

DOWNLOADS_DIR = "downloads"
EVIL_FILE_NAME = "cinescope-evil.mp4"
EVIL_CONTENT_DISPOSITION = f'attachment; filename="../../../../etc/{EVIL_FILE_NAME}"'
PRIVATE_REDIRECT_PATH = "/go/private"
PRIVATE_REDIRECT_TARGET = "http://169.254.169.254/latest/meta-data/"
FLAKY_PREFIX, SLOW_PREFIX, THROTTLE_PREFIX = "/flaky/", "/slow/", "/throttle/"
CHUNK_BYTES = 64 * 1024
_DOWNLOAD_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")
CONTENT_TYPES = {
    # HTML without a charset on purpose: pages declare their own (one trap relies on it).
    ".html": "text/html",
    ".xml": "application/xml",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".wav": "audio/wav",
    ".jpg": "image/jpeg",
    ".png": "image/png",
}


class _BadPath(ValueError):
    """A request path that tries to leave the served folder."""


def _safe_segments(url_path: str) -> list[str]:
    """The decoded path segments; :class:`_BadPath` for dot segments, NULs or backslashes.

    Checked on the decoded path, so percent-encoding hides nothing, and such a
    request is refused rather than normalised into something else.
    """
    decoded = unquote(url_path)
    parts = [part for part in decoded.split("/") if part]
    if "\x00" in decoded or "\\" in decoded or any(part in (".", "..") for part in parts):
        raise _BadPath(url_path)
    return parts


class _SiteState:
    """What request handlers share: the folder, the delays, the counters."""

    def __init__(
        self,
        public: Path,
        slow_delay_s: float,
        throttle_bytes_per_s: int,
        cache_control: Mapping[str, str],
    ) -> None:
        self.public = public
        self.slow_delay_s = slow_delay_s
        self.throttle_bytes_per_s = throttle_bytes_per_s
        self.cache_control = dict(cache_control)
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.bytes_sent = 0
        self.flaky_failed: set[str] = set()
        self._etags: dict[tuple[str, int, int], str] = {}

    def count_request(self, path: str) -> None:
        with self.lock:
            self.requests[path] += 1

    def count_bytes(self, sent: int) -> None:
        with self.lock:
            self.bytes_sent += sent

    def first_flaky_request(self, path: str) -> bool:
        with self.lock:
            first = path not in self.flaky_failed
            self.flaky_failed.add(path)
            return first

    def cache_control_for(self, url_path: str) -> str | None:
        """The Cache-Control header of the first configured prefix of ``url_path``."""
        return next((v for k, v in self.cache_control.items() if url_path.startswith(k)), None)

    def resolve(self, url_path: str) -> Path | None:
        """The file a URL path names inside the public folder; None if there is none."""
        parts = _safe_segments(url_path)
        candidate = self.public.joinpath(*parts)
        if not parts or url_path.endswith("/"):
            candidate = candidate / "index.html"
        resolved = candidate.resolve()
        if not resolved.is_relative_to(self.public) or not resolved.is_file():
            return None
        return resolved

    def etag(self, file: Path, stat: stat_result) -> str:
        """A strong validator from the content hash, cached while the file is unchanged."""
        key = (str(file), stat.st_mtime_ns, stat.st_size)
        with self.lock:
            cached = self._etags.get(key)
        if cached is None:
            with open(file, "rb") as handle:
                cached = f'"{hashlib.file_digest(handle, "sha256").hexdigest()[:32]}"'
            with self.lock:
                self._etags[key] = cached
        return cached


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], state: _SiteState) -> None:
        super().__init__(address, _Handler)
        self.state = state

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients hanging up (a killed download, a timeout) are normal here, not errors."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class SampleSiteServer:
    """Serves ``root/public`` at :attr:`base_url` from a background thread."""

    def __init__(
        self,
        root: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        slow_delay_s: float = 30.0,
        throttle_bytes_per_s: int = 200_000,
        cache_control: Mapping[str, str] | None = None,
    ) -> None:
        """``cache_control``: URL path prefix -> Cache-Control header of the files under it
        (the first prefix that matches); none by default."""
        if throttle_bytes_per_s <= 0:
            raise ValueError(f"throttle_bytes_per_s must be > 0, got {throttle_bytes_per_s}")
        self.public = (Path(root) / "public").resolve()
        self.host = host
        self.port = port
        self._state = _SiteState(
            self.public, slow_delay_s, throttle_bytes_per_s, cache_control or {}
        )
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SampleSiteServer:
        if self._httpd is not None:
            raise RuntimeError("server already started")
        if not self.public.is_dir():
            raise FileNotFoundError(f"no generated site at {self.public}")
        self._state.stopping.clear()
        self._httpd = _HttpServer((self.host, self.port), self._state)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sample-site:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop at once: waiting slow and throttled responses are abandoned."""
        if self._httpd is None:
            return
        self._state.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def wait(self) -> None:
        """Block until :meth:`stop` is called (from another thread or a signal)."""
        self._state.stopping.wait()

    def __enter__(self) -> SampleSiteServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def requests_for(self, path: str) -> int:
        """Requests received for a URL path (as sent, without the query string)."""
        with self._state.lock:
            return self._state.requests[path]

    @property
    def requests_received(self) -> int:
        """Requests received for any path since start or the last reset."""
        with self._state.lock:
            return self._state.requests.total()

    @property
    def paths_requested(self) -> set[str]:
        """The URL paths requested since start or the last reset."""
        with self._state.lock:
            return {path for path, count in self._state.requests.items() if count}

    @property
    def bytes_sent(self) -> int:
        """Response body bytes sent since start or the last reset."""
        with self._state.lock:
            return self._state.bytes_sent

    def reset_counters(self) -> None:
        """Forget requests, bytes and flaky failures: the next crawl meets a fresh server."""
        with self._state.lock:
            self._state.requests.clear()
            self._state.bytes_sent = 0
            self._state.flaky_failed.clear()


def _content_type(file: Path) -> str:
    known = CONTENT_TYPES.get(file.suffix.lower())
    return known or mimetypes.guess_type(file.name)[0] or "application/octet-stream"


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.1"
    server_version = "CinescopeSampleSite/1.0"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests and the demo read counters, not access logs."""

    def do_GET(self) -> None:
        self._respond(head=False)

    def do_HEAD(self) -> None:
        self._respond(head=True)

    def _respond(self, *, head: bool) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        path = parts.path
        state.count_request(path)
        try:
            _safe_segments(path)  # before any route, so no route sees an escaping path
            if path == PRIVATE_REDIRECT_PATH:
                self._redirect(PRIVATE_REDIRECT_TARGET)
            elif path == "/download":
                self._download(parse_qs(parts.query).get("id", [""])[0], head)
            elif path.startswith(FLAKY_PREFIX):
                if state.first_flaky_request(path):
                    self.send_error(HTTPStatus.INTERNAL_SERVER_ERROR, "flaky on purpose")
                else:
                    self._static(path[len(FLAKY_PREFIX) - 1 :], head)
            elif path.startswith(SLOW_PREFIX):
                if state.stopping.wait(state.slow_delay_s):
                    self.close_connection = True
                    return
                self._static(path[len(SLOW_PREFIX) - 1 :], head)
            elif path.startswith(THROTTLE_PREFIX):
                self._static(path[len(THROTTLE_PREFIX) - 1 :], head, state.throttle_bytes_per_s)
            else:
                self._static(path, head)
        except _BadPath:
            self.send_error(HTTPStatus.BAD_REQUEST, "path leaves the site")
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def _redirect(self, location: str) -> None:
        self.send_response(HTTPStatus.FOUND)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _download(self, token: str, head: bool) -> None:
        file = None
        if _DOWNLOAD_TOKEN.fullmatch(token):
            file = self.server.state.resolve(f"/{DOWNLOADS_DIR}/{token}.mp4")
        if file is None:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        self._send_file(file, head, {"Content-Disposition": EVIL_CONTENT_DISPOSITION})

    def _static(self, path: str, head: bool, rate: int | None = None) -> None:
        file = self.server.state.resolve(path)
        if file is None:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        cache_control = self.server.state.cache_control_for(path)
        self._send_file(file, head, {"Cache-Control": cache_control} if cache_control else {}, rate)

    def _not_modified(self, etag: str, mtime: float) -> bool:
        """RFC 9110: If-None-Match decides when present; If-Modified-Since only otherwise."""
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:
            tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
            return "*" in tags or etag in tags
        if_modified_since = self.headers.get("If-Modified-Since")
        if not if_modified_since:
            return False
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        return since.tzinfo is not None and int(mtime) <= since.timestamp()

    def _send_file(
        self, file: Path, head: bool, extra: dict[str, str], rate: int | None = None
    ) -> None:
        state = self.server.state
        stat = file.stat()
        etag = state.etag(file, stat)
        last_modified = formatdate(stat.st_mtime, usegmt=True)
        if self._not_modified(etag, stat.st_mtime):
            self.send_response(HTTPStatus.NOT_MODIFIED)
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", last_modified)
            if "Cache-Control" in extra:  # RFC 9110: a 304 repeats the 200's freshness
                self.send_header("Cache-Control", extra["Cache-Control"])
            self.end_headers()
            return
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", _content_type(file))
        self.send_header("Content-Length", str(stat.st_size))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", last_modified)
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        if head:
            return
        chunk_bytes = CHUNK_BYTES if rate is None else max(1024, rate // 20)
        with open(file, "rb") as handle:
            while chunk := handle.read(chunk_bytes):
                self.wfile.write(chunk)
                state.count_bytes(len(chunk))
                if rate is not None and state.stopping.wait(len(chunk) / rate):
                    self.close_connection = True
                    return


def main(argv: list[str] | None = None) -> None:
    """``python -m ops.sample_site.server ROOT --port 8765``: serve until Ctrl-C."""
    parser = argparse.ArgumentParser(description="Serve a generated sample catalog site.")
    parser.add_argument("root", type=Path, help="folder given to generate_site")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--slow-delay", type=float, default=30.0, help="seconds for /slow/")
    args = parser.parse_args(argv)
    with SampleSiteServer(args.root, args.host, args.port, slow_delay_s=args.slow_delay) as server:
        print(f"serving {args.root} at {server.base_url}/index.html (Ctrl-C to stop)")
        with contextlib.suppress(KeyboardInterrupt):
            server.wait()


if __name__ == "__main__":
    main()
