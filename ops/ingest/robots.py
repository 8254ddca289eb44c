"""robots.txt, fetched once per host through the same guarded fetcher."""

from __future__ import annotations

import threading
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from ops.ingest.fetch import FetchError, HttpFetcher


class RobotsGate:
    """Answers whether a URL may be crawled; a missing robots.txt allows everything."""

    def __init__(self, fetcher: HttpFetcher, user_agent: str, *, enabled: bool = True) -> None:
        self.fetcher = fetcher
        self.user_agent = user_agent
        self.enabled = enabled
        self._parsers: dict[str, RobotFileParser] = {}
        self._lock = threading.Lock()

    def _parser_for(self, origin: str) -> RobotFileParser:
        with self._lock:
            if origin in self._parsers:
                return self._parsers[origin]
            parser = RobotFileParser(origin + "/robots.txt")
            try:
                page = self.fetcher.get_page(origin + "/robots.txt")
                parser.parse(page.body.decode("utf-8", errors="replace").splitlines())
            except FetchError as exc:
                if exc.reason.startswith("HTTP 4"):
                    parser.allow_all = True  # type: ignore[attr-defined]
                else:  # unreachable robots.txt: be conservative, as search engines are
                    parser.disallow_all = True  # type: ignore[attr-defined]
            delay = parser.crawl_delay(self.user_agent)
            if delay:
                self.fetcher.limiter.slow_down(float(delay))
            self._parsers[origin] = parser
            return parser

    def allowed(self, url: str) -> bool:
        if not self.enabled:
            return True
        parts = urlsplit(url)
        return self._parser_for(f"{parts.scheme}://{parts.netloc}").can_fetch(self.user_agent, url)
