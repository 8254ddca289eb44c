"""What a source's last crawls fetched, so that the next one asks only about what changed.

Per item: the URL fetched, the date the source gave it then (sitemap lastmod or feed
date_modified), until when the server said it stays fresh, and the sha256 of the content.
A re-crawl skips an item, without a request, when the catalog still holds that content
and the source dates the item no later than then (or, undated, the copy is still fresh).
A full revalidation, every ``ingest_full_revalidation_s``, asks about everything again
(conditional GET), so a source whose dates lie is caught up with in the end.

Pages answered from the cache are not even parsed again: :class:`ParsedPages` keeps what
the last crawl parsed out of each page, with the digest of the body it came from.

The state is the crawler's own (under ``http_cache_dir``); the catalog stays the truth.
Should a merge never record what a crawl fetched, the sha256 no longer matches the
catalog's and the item is asked about again: a lost state costs requests, never changes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from ops.atomic import atomic_open
from ops.ingest.discover import MediaLink, ParsedPage, parse_html, parse_json_feed
from ops.ingest.fetch import Page

STATE_NAME = "recrawl.json"
PARSED_NAME = "parsed-pages.json"


@dataclass(frozen=True)
class FetchedCopy:
    """What the last request for one item brought back."""

    url: str
    modified: datetime | None
    fresh_until: float
    sha256: str | None

    def still_current(self, link: MediaLink, held_sha256: str | None, now: float) -> bool:
        """Whether ``link`` needs no request: the catalog holds this copy, which is as new as
        the source dates the item (or, when it does not, still fresh)."""
        if self.sha256 is None or self.sha256 != held_sha256 or self.url != link.url:
            return False
        if link.modified is not None:
            return self.modified is not None and link.modified <= self.modified
        return now < self.fresh_until


class RecrawlState:
    """One source's :class:`FetchedCopy` per item id, and its last full revalidation."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / STATE_NAME
        self.revalidated_at: datetime | None = None
        self.copies: dict[str, FetchedCopy] = {}
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
            copies = {
                item_id: FetchedCopy(
                    url, datetime.fromisoformat(modified) if modified else None, fresh, sha256
                )
                for item_id, (url, modified, fresh, sha256) in state["copies"].items()
            }
            revalidated = state["revalidated_at"]
            revalidated_at = datetime.fromisoformat(revalidated) if revalidated else None
        except (OSError, ValueError, KeyError, TypeError):
            return  # none yet, or unreadable: the crawl asks about everything
        self.copies, self.revalidated_at = copies, revalidated_at

    def full_revalidation_due(self, now: datetime, every_s: float) -> bool:
        if self.revalidated_at is None:
            return True
        return (now - self.revalidated_at).total_seconds() >= every_s

    def save(self, seen: Collection[str] | None, revalidated_at: datetime | None) -> None:
        """Write the state atomically, forgetting items not in ``seen`` (a complete crawl's
        items; None keeps them all), and recording ``revalidated_at`` when given."""
        if revalidated_at is not None:
            self.revalidated_at = revalidated_at
        kept = {k: c for k, c in self.copies.items() if seen is None or k in seen}
        state = {
            "revalidated_at": self.revalidated_at.isoformat() if self.revalidated_at else "",
            "copies": {
                item_id: [
                    copy.url,
                    copy.modified.isoformat() if copy.modified else "",
                    copy.fresh_until,
                    copy.sha256,
                ]
                for item_id, copy in kept.items()
            },
        }
        with atomic_open(self.path) as handle:
            handle.write(json.dumps(state, separators=(",", ":")))


class ParsedPages:
    """What each page and feed parsed into, kept from one crawl to the next with the digest
    of the body parsed: a body (and content type) seen before is not parsed again.
    ``folder`` None keeps nothing."""

    def __init__(self, folder: Path | None) -> None:
        self.path = folder / PARSED_NAME if folder else None
        self._earlier: dict[str, list[Any]] = {}  # "page <url>" -> [digest, stored form]
        self._now: dict[str, list[Any]] = {}
        self._parsed_anew = False
        if self.path is not None:  # none yet, or unreadable: everything is parsed
            with contextlib.suppress(OSError, ValueError, TypeError):
                self._earlier = dict(json.loads(self.path.read_text(encoding="utf-8")))

    def page(self, page: Page) -> ParsedPage:
        """:func:`parse_html` of ``page``."""
        return self._memo(
            f"page {page.url}", page, lambda: parse_html(page.body, page.url, page.content_type)
        )

    def feed(self, page: Page) -> tuple[MediaLink, ...]:
        """:func:`parse_json_feed` of ``page`` (a malformed feed raises, and is not kept)."""

        def parse() -> ParsedPage:
            return ParsedPage(page_links=(), media=tuple(parse_json_feed(page.body, page.url)))

        return self._memo(f"feed {page.url}", page, parse).media

    def _memo(self, key: str, page: Page, parse: Callable[[], ParsedPage]) -> ParsedPage:
        digest = hashlib.sha256(f"{page.content_type}\n".encode() + page.body).hexdigest()
        earlier = self._earlier.get(key)
        if earlier is not None and earlier[0] == digest:
            try:
                parsed = _parsed(earlier[1])
            except (KeyError, TypeError, ValueError, AttributeError):
                pass  # kept by another version: parsed again below
            else:
                self._now[key] = earlier
                return parsed
        parsed = parse()
        self._now[key] = [digest, _stored(parsed)]
        self._parsed_anew = True
        return parsed

    def save(self) -> None:
        """Keep what this crawl parsed (pages it no longer reached are forgotten); nothing
        is written when that is what was kept already."""
        if self.path is None or (
            not self._parsed_anew and self._now.keys() == self._earlier.keys()
        ):
            return
        with atomic_open(self.path) as handle:
            handle.write(json.dumps(self._now, separators=(",", ":")))


def _stored(parsed: ParsedPage) -> dict[str, Any]:
    """A :class:`ParsedPage` as JSON values."""
    media = [
        {f.name: getattr(link, f.name) for f in fields(MediaLink)}
        | {"modified": link.modified.isoformat() if link.modified else None}
        for link in parsed.media
    ]
    return {
        "page_links": parsed.page_links,
        "media": media,
        "problems": parsed.problems,
        "pictures": parsed.pictures,
    }


def _parsed(stored: dict[str, Any]) -> ParsedPage:
    """The :class:`ParsedPage` of :func:`_stored` (lists back to tuples)."""
    media = tuple(
        MediaLink(
            **link
            | {
                "tags": tuple(link["tags"]),
                "people": tuple(link["people"]),
                "modified": datetime.fromisoformat(link["modified"]) if link["modified"] else None,
            }
        )
        for link in stored["media"]
    )
    return ParsedPage(
        page_links=tuple(stored["page_links"]),
        media=media,
        problems=tuple(stored["problems"]),
        pictures=tuple(stored["pictures"]),
    )
