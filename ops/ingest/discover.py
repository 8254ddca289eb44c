"""What a catalog site serves, parsed: media links and their metadata from pages, sitemaps, feeds.

Pure functions over bytes (no network), so the crawler stays a thin loop and
every parsing rule is testable on its own. Pages describe media with schema.org
JSON-LD or, failing that, ``rel="enclosure"`` links; sitemaps list pages;
JSON Feeds list media directly. Sitemaps (``<lastmod>``) and feeds
(``date_modified``) may also say when each entry last changed, which lets a
re-crawl skip what did not. Only the standard library is used, and XML
with DTD or entity declarations is refused outright (billion laughs, XXE), and
JSON nested deeper than :data:`MAX_JSON_DEPTH` is refused before it is parsed
(the parser would recurse past the stack).
"""

from __future__ import annotations

import codecs
import html
import json
import mimetypes
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from html.parser import HTMLParser
from itertools import accumulate
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit
from xml.parsers import expat

KIND_BY_SCHEMA_TYPE = {
    "VideoObject": "video",
    "AudioObject": "audio",
    "MusicRecording": "audio",
    "ImageObject": "image",
}
PEOPLE_PROPERTIES = ("actor", "director", "creator", "byArtist", "author")
YEAR_PROPERTIES = ("dateCreated", "datePublished", "copyrightYear")
# WHATWG: these labels mean windows-1252 in HTML, whose curly quotes latin-1 would garble.
_CP1252_ALIASES = frozenset({"iso-8859-1", "iso8859-1", "latin1", "latin-1", "ascii", "us-ascii"})
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.IGNORECASE)
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_YEAR = re.compile(r"^\s*(\d{4})(?!\d)")
_YEAR_OR_MONTH = re.compile(r"^(\d{4})(?:-(\d{2}))?$")  # W3C Datetime's coarsest forms
MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


@dataclass(frozen=True)
class MediaLink:
    """A media file a source points to, with whatever metadata came with the pointer."""

    url: str
    page_url: str | None
    item_key: str | None
    title: str | None
    description: str | None
    year: int | None
    tags: tuple[str, ...]
    people: tuple[str, ...]
    licence: str | None
    kind_hint: str | None
    expects_audio: bool | None
    modified: datetime | None = None
    """When the source says the item last changed (sitemap lastmod, feed date_modified)."""


@dataclass(frozen=True)
class SitemapEntry:
    """A page or child sitemap a sitemap lists, with its ``<lastmod>`` when it has one."""

    url: str
    modified: datetime | None


@dataclass(frozen=True)
class ParsedPage:
    page_links: tuple[str, ...]
    media: tuple[MediaLink, ...]
    problems: tuple[str, ...] = ()
    """What on the page was skipped, and why (a broken JSON-LD block, say)."""
    pictures: tuple[str, ...] = ()
    """``<img>`` sources and ``og:image``: a person's page shows them in pictures."""


# --- text helpers -------------------------------------------------------------------------------


def clean_text(value: object) -> str | None:
    """Entities decoded and whitespace collapsed; None for empty or non-scalar values."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = " ".join(html.unescape(str(value)).split())
    return text or None


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def parse_year(value: object) -> int | None:
    """The year of a date, a year number or an ISO date string; None when there is none."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 1000 <= value <= 9999 else None
    match = _YEAR.match(value) if isinstance(value, str) else None
    return int(match.group(1)) if match else None


def parse_modified(value: object) -> datetime | None:
    """A W3C Datetime / RFC 3339 date as an aware UTC datetime; None when it is not one.

    A date without a time is its first instant, and one without a zone is taken as UTC.
    """
    text = value.strip() if isinstance(value, str) else ""
    coarse = _YEAR_OR_MONTH.match(text)
    if coarse:
        text = f"{coarse.group(1)}-{coarse.group(2) or '01'}-01"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _names(value: Any) -> list[str]:
    """People or tags given as a string, an object with ``name``, or a list of either."""
    names = []
    for entry in _as_list(value):
        name = clean_text(entry.get("name")) if isinstance(entry, dict) else clean_text(entry)
        if name:
            names.append(name)
    return names


def _keywords(value: Any) -> tuple[str, ...]:
    """Keywords as a comma-separated string or a list of strings."""
    parts: list[str] = []
    for entry in _as_list(value):
        text = clean_text(entry)
        if text:
            parts.extend(part.strip() for part in text.split(","))
    return _unique(part for part in parts if part)


def kind_from_mime(mime: str | None) -> str | None:
    major = (mime or "").split("/", 1)[0].strip().lower()
    return major if major in ("video", "audio", "image") else None


def kind_from_url(url: str) -> str | None:
    """The media kind implied by the URL's file extension, if any."""
    mime, _ = mimetypes.guess_type(PurePosixPath(urlsplit(url).path).name)
    return kind_from_mime(mime)


def _absolute_http(url: str, base: str) -> str | None:
    """``url`` resolved against ``base`` without its fragment; None unless it is http(s)."""
    resolved = urldefrag(urljoin(base, url.strip())).url
    return resolved if urlsplit(resolved).scheme in ("http", "https") else None


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest in a JSON text (brackets in strings aside), unparsed."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(1 if bracket in "[{" else -1 for bracket in brackets), default=0)


def load_json(text: str) -> Any:
    """``json.loads``, refusing with a ValueError nesting it could not parse without crashing."""
    if json_depth(text) > MAX_JSON_DEPTH:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return json.loads(text)


# --- HTML ---------------------------------------------------------------------------------------


def _lookup_codec(label: str) -> str | None:
    label = label.strip().strip("\"'").lower()
    if label in _CP1252_ALIASES:
        return "cp1252"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _header_charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    message = Message()
    message["content-type"] = content_type
    charset = message.get_param("charset")
    return charset if isinstance(charset, str) else None


def decode_html(body: bytes, content_type: str | None) -> str:
    """Decode a page: byte-order mark, HTTP charset, ``<meta>`` charset, UTF-8, then cp1252."""
    for bom, bom_codec in _BYTE_ORDER_MARKS:
        if body.startswith(bom):
            return body[len(bom) :].decode(bom_codec, errors="replace")
    declared = _header_charset(content_type)
    if declared is None:
        match = _META_CHARSET.search(body[:2048])
        declared = match.group(1).decode("ascii") if match else None
    codec = _lookup_codec(declared) if declared else None
    if codec:
        return body.decode(codec, errors="replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("cp1252", errors="replace")


class _PageScanner(HTMLParser):
    """Collects what discovery needs from one page in a single pass."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base_href: str | None = None
        self.anchors: list[str] = []
        self.enclosures: list[tuple[str, str | None]] = []
        self.pictures: list[str] = []
        self.json_ld: list[str] = []
        self.meta: dict[str, str] = {}
        self.title_parts: list[str] = []
        self._in_json_ld = False
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        rel = attributes.get("rel", "").lower().split()
        href = attributes.get("href")
        if tag == "base" and href and self.base_href is None:
            self.base_href = href
        elif tag in ("a", "link") and href and "enclosure" in rel:
            self.enclosures.append((href, attributes.get("type") or None))
        elif tag == "a" and href:
            self.anchors.append(href)
        elif tag == "img" and attributes.get("src"):
            self.pictures.append(attributes["src"])
        elif tag == "script":
            self._in_json_ld = attributes.get("type", "").lower() == "application/ld+json"
            if self._in_json_ld:
                self.json_ld.append("")
        elif tag == "meta":
            key = (attributes.get("property") or attributes.get("name") or "").lower()
            if key and "content" in attributes:
                self.meta.setdefault(key, attributes["content"])
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_json_ld = False
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_json_ld:
            self.json_ld[-1] += data
        elif self._in_title:
            self.title_parts.append(data)


def _schema_types(node: dict[str, Any]) -> list[str]:
    """``@type`` values as bare names: ``schema:VideoObject`` and full URLs included."""
    return [re.split(r"[/:#]", str(t))[-1] for t in _as_list(node.get("@type"))]


def _json_ld_nodes(document: Any) -> Iterator[dict[str, Any]]:
    """Top-level objects of a JSON-LD block: one object, a list, or an ``@graph``."""
    for node in _as_list(document):
        if isinstance(node, dict):
            yield node
            yield from (child for child in _as_list(node.get("@graph")) if isinstance(child, dict))


def _identifier(node: dict[str, Any]) -> str | None:
    identifier = node.get("identifier")
    if isinstance(identifier, list):
        identifier = identifier[0] if identifier else None
    if isinstance(identifier, dict):
        identifier = identifier.get("value") or identifier.get("@id")
    return clean_text(identifier) or clean_text(node.get("@id"))


def _licence(value: Any) -> str | None:
    if isinstance(value, dict):
        return clean_text(value.get("name") or value.get("url") or value.get("@id"))
    return clean_text(value[0] if isinstance(value, list) and value else value)


def _has_audio(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _media_from_json_ld(node: dict[str, Any], base: str, page_url: str) -> MediaLink | None:
    kinds = [KIND_BY_SCHEMA_TYPE[t] for t in _schema_types(node) if t in KIND_BY_SCHEMA_TYPE]
    content = node.get("contentUrl")
    content = content[0] if isinstance(content, list) and content else content
    url = _absolute_http(content, base) if kinds and isinstance(content, str) else None
    if url is None:
        return None
    kind = kinds[0]
    has_audio = _has_audio(node.get("hasAudio"))
    if has_audio is None and kind == "video":
        has_audio = True
    years = (parse_year(node.get(name)) for name in YEAR_PROPERTIES)
    return MediaLink(
        url=url,
        page_url=page_url,
        item_key=_identifier(node),
        title=clean_text(node.get("name")),
        description=clean_text(node.get("description")),
        year=next((year for year in years if year is not None), None),
        tags=_keywords(node.get("keywords")),
        people=_unique(name for prop in PEOPLE_PROPERTIES for name in _names(node.get(prop))),
        licence=_licence(node.get("license")),
        kind_hint=kind,
        expects_audio=has_audio,
    )


def parse_html(body: bytes, base_url: str, content_type: str | None = None) -> ParsedPage:
    """Links to follow and media described on one HTML page.

    Media come from JSON-LD first; ``rel="enclosure"`` links add the rest,
    described by the page's own title, description and keywords. Broken
    JSON-LD blocks are skipped and named in ``problems`` (a page's other
    blocks and links still count).
    """
    scanner = _PageScanner()
    scanner.feed(decode_html(body, content_type))
    scanner.close()
    base = urljoin(base_url, scanner.base_href) if scanner.base_href else base_url

    media: dict[str, MediaLink] = {}
    problems: list[str] = []
    for block in scanner.json_ld:
        try:
            document = load_json(block)
        except ValueError as exc:
            problems.append(f"JSON-LD block skipped: {exc}")
            continue
        for node in _json_ld_nodes(document):
            link = _media_from_json_ld(node, base, base_url)
            if link is not None:
                media.setdefault(link.url, link)

    title = clean_text(scanner.meta.get("og:title")) or clean_text("".join(scanner.title_parts))
    for href, mime in scanner.enclosures:
        url = _absolute_http(href, base)
        if url is None or url in media:
            continue
        media[url] = MediaLink(
            url=url,
            page_url=base_url,
            item_key=None,
            title=title,
            description=clean_text(scanner.meta.get("description")),
            year=None,
            tags=_keywords(scanner.meta.get("keywords")),
            people=(),
            licence=None,
            kind_hint=kind_from_mime(mime) or kind_from_url(url),
            expects_audio=None,
        )

    resolved = (_absolute_http(href, base) for href in scanner.anchors)
    links = _unique(url for url in resolved if url is not None and url not in media)
    shown = [scanner.meta.get("og:image", ""), *scanner.pictures]
    pictures = _unique(url for url in (_absolute_http(src, base) for src in shown if src) if url)
    return ParsedPage(
        page_links=links,
        media=tuple(media.values()),
        problems=tuple(problems),
        pictures=pictures,
    )


# --- sitemaps -----------------------------------------------------------------------------------


def parse_sitemap(body: bytes, base_url: str) -> list[str]:
    """Page URLs of a ``<urlset>``, or child sitemap URLs of a ``<sitemapindex>``."""
    return [entry.url for entry in parse_sitemap_entries(body, base_url)]


def parse_sitemap_entries(body: bytes, base_url: str) -> list[SitemapEntry]:
    """The entries of a ``<urlset>`` or ``<sitemapindex>``, each with its ``<lastmod>``.

    Parsed with expat directly, which never builds a tree and stops at the
    first DTD or entity declaration, so entity-expansion bombs cannot start.
    A URL listed twice keeps its first entry; an unreadable lastmod counts as none.
    """
    root: list[str] = []
    path: list[str] = []
    entries: list[tuple[str, str]] = []  # (location, lastmod) per <url> or <sitemap>
    entry: dict[str, str] = {}
    text: list[str] = []

    def refuse(*_: object) -> None:
        raise ValueError("sitemap refused: DTD and entity declarations are not allowed")

    def start(name: str, _attributes: dict[str, str]) -> None:
        local = name.rsplit(" ", 1)[-1]
        if not root:
            if local not in ("urlset", "sitemapindex"):
                raise ValueError(f"not a sitemap: root element is <{local}>")
            root.append(local)
        path.append(local)
        text.clear()

    def end(_name: str) -> None:
        if path[-3:-1] in (["urlset", "url"], ["sitemapindex", "sitemap"]):
            if path[-1] in ("loc", "lastmod"):
                entry.setdefault(path[-1], "".join(text).strip())
        elif path[-2:] in (["urlset", "url"], ["sitemapindex", "sitemap"]):
            if entry.get("loc"):
                entries.append((entry["loc"], entry.get("lastmod", "")))
            entry.clear()
        path.pop()

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text.append
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise ValueError(
            f"malformed sitemap XML: {expat.ErrorString(exc.code)} at line "
            f"{exc.lineno} column {exc.offset}"
        ) from exc
    if not root:
        raise ValueError("not a sitemap: empty document")
    found: dict[str, SitemapEntry] = {}
    for location, lastmod in entries:
        url = _absolute_http(location, base_url)
        if url is not None and url not in found:
            found[url] = SitemapEntry(url, parse_modified(lastmod))
    return list(found.values())


# --- JSON Feed ----------------------------------------------------------------------------------


def _feed_item_links(item: dict[str, Any], base_url: str) -> Iterator[MediaLink]:
    extension = item.get("_cinescope")
    extension = extension if isinstance(extension, dict) else {}
    attachments = [a for a in _as_list(item.get("attachments")) if isinstance(a, dict)]
    page = item.get("url")
    page_url = (_absolute_http(page, base_url) if isinstance(page, str) else None) or base_url
    item_id = clean_text(item.get("id"))
    year = parse_year(extension.get("year"))
    if year is None:
        year = parse_year(item.get("date_published"))
    people = _unique([*_names(item.get("authors")), *_names(extension.get("people"))])
    modified = parse_modified(item.get("date_modified"))
    for number, attachment in enumerate(attachments, start=1):
        target = attachment.get("url")
        url = _absolute_http(target, base_url) if isinstance(target, str) else None
        if url is None:
            continue
        key = item_id if item_id is None or len(attachments) == 1 else f"{item_id}#{number}"
        mime = attachment.get("mime_type")
        yield MediaLink(
            url=url,
            page_url=page_url,
            item_key=key,
            title=clean_text(item.get("title")),
            description=clean_text(item.get("content_text")) or clean_text(item.get("summary")),
            year=year,
            tags=_keywords(item.get("tags")),
            people=people,
            licence=clean_text(extension.get("licence")),
            kind_hint=kind_from_mime(mime if isinstance(mime, str) else None) or kind_from_url(url),
            expects_audio=_has_audio(extension.get("has_audio")),
            modified=modified,
        )


def parse_json_feed(body: bytes, base_url: str) -> list[MediaLink]:
    """Media attachments of a JSON Feed 1.1, with the ``_cinescope`` extension's metadata.

    ``page_url`` is the item's own page when it has one, else the feed; ``modified`` is
    the item's ``date_modified`` (``date_published`` is not a change date). An item
    with several attachments keys them ``<id>#1``, ``<id>#2``, ...
    """
    try:
        feed = load_json(body.decode(json.detect_encoding(body), "surrogatepass"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"feed is not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    if not isinstance(feed, dict):
        raise ValueError(f"feed must be a JSON object, not {type(feed).__name__}")
    items = feed.get("items")
    if not isinstance(items, list):
        raise ValueError("feed has no 'items' list")
    return [
        link
        for item in items
        if isinstance(item, dict)
        for link in _feed_item_links(item, base_url)
    ]
