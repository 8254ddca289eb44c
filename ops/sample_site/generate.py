"""Generate the sample catalog site: pages, media, sitemap, feed, robots.txt and traps.

The site is what a small real catalog looks like to a crawler: paginated index
pages, item pages describing their media with schema.org JSON-LD (or only an
enclosure link), a sitemap index, a JSON Feed, and a robots.txt. Every
discovery path is needed to find everything: some items are linked only from
the index, some only from the sitemap, some only from the feed. The traps are
the failures a crawler meets in the wild; ``manifest.json`` says how each must
end (quarantined with which reason, or ingested intact), so the ingest can be
checked end to end. Some videos are longer scenes rendered by the scene clip generator
(:mod:`ops.scene.synthetic`), so the scene model trained on its clips has something to
find in the catalog; only the manifest says where.

The sitemap dates every page it lists (``<lastmod>``, and each child sitemap by its newest
page) and the feed every item (``date_modified``), all :data:`PUBLISHED` when generated;
:func:`publish_changes` says that some pages changed later, as a site does when it
replaces an item's media.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import logging
import posixpath
import re
import shutil
import tempfile
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np
from pydantic import BaseModel, ConfigDict

from ops.atomic import atomic_open
from ops.mood.circle import MOODS
from ops.sample_site import media, portraits, words
from ops.sample_site.names import ADJECTIVES, NOUNS, slugify
from ops.sample_site.server import DOWNLOADS_DIR, EVIL_FILE_NAME, PRIVATE_REDIRECT_PATH
from ops.scene.synthetic import render_scene_clip

PUBLIC_DIR = "public"
MANIFEST_NAME = "manifest.json"
ITEMS_PER_INDEX_PAGE = 20
URLS_PER_SITEMAP = 50
KEY_PREFIX = "cinescope-sample:"
OTHER_HOST = "https://cdn.elsewhere.example"
NON_UTF8_TITLE = "Café “Noir” – Été"
TRAP_INDEX_BASE = 1_000_000  # media indexes of trap files, far from the items' own
# Scene videos hold the scene model's training motif twice (a clip of 32 s or more plans
# two kiss scenes), among motif-only and chord-only decoys and set dressing.
SCENE_VIDEO_SECONDS = (32, 36, 40)
log = logging.getLogger(__name__)
SITE_FORMAT_VERSION = 6  # 6: lastmod, date_modified; 5: speech and captions; 4: mood; 3: cast
PUBLISHED = "2026-01-01T00:00:00+00:00"
"""The sitemap lastmod and feed date_modified of everything a generated site lists."""
_SITEMAP_URL = re.compile(r"<(url|sitemap)><loc>([^<]*)</loc><lastmod>([^<]*)</lastmod></\1>")

Kind = Literal["video", "audio", "image"]
Via = Literal["index", "sitemap", "feed"]
KIND_CYCLE: tuple[Kind, ...] = ("video", "image", "audio", "image")
VIA_CYCLE: tuple[Via, ...] = ("index", "sitemap", "feed")
JSON_LD_SHAPES = ("object", "graph", "list")
MIME = {
    "mp4": "video/mp4",
    "m4a": "audio/mp4",
    "wav": "audio/wav",
    "jpg": "image/jpeg",
    "png": "image/png",
}
SCHEMA_TYPE = {"video": "VideoObject", "audio": "MusicRecording", "image": "ImageObject"}

MUSIC_FORMS = {
    "baroque": ("Gigue", "Partita", "Chaconne", "Allemande"),
    "classical": ("Sonatina", "Minuet", "Rondo", "Serenade"),
    "ragtime": ("Rag", "Cakewalk", "Two-Step", "Stomp"),
    "jazz": ("Blues", "Ballad", "Swing", "Nocturne"),
}
KEYS = ("C major", "D minor", "E-flat major", "F major", "G minor", "A major", "B-flat major")
FIRST_NAMES = (
    "Ada", "Bruno", "Clara", "Dmitri", "Elena", "Farid", "Greta", "Hiro",
    "Ines", "Jonas", "Keiko", "Luca", "Maya", "Nils", "Olga", "Pablo",
)  # fmt: skip
LAST_NAMES = (
    "Almeida", "Berg", "Castillo", "Dubois", "Eriksen", "Fontaine", "Gallo", "Hartmann",
    "Ivanova", "Jensen", "Kowalski", "Lindqvist", "Moreau", "Novak", "Okafor", "Petrov",
)  # fmt: skip
TOPICS = (
    "archive", "restored", "amateur", "street", "nature", "city", "night", "travel",
    "portrait", "festival", "rain", "sea", "winter", "family", "dance", "workshop",
)  # fmt: skip
LICENCES = ("CC-BY-4.0", "CC-BY-SA-4.0", "CC0-1.0", "Public Domain")
KIND_WORDS = {"video": "short film", "audio": "recording", "image": "photograph"}
DESCRIPTIONS = (
    "A {length} {word} about the {noun} and the people who pass through it.",
    "This {length} {word} follows a {adjective} {noun} from morning until dusk.",
    "An archival {length} {word} showing the {noun} as few remember it.",
    "Recorded on location: a {length} {word} of a {adjective} {noun}, with no narration.",
)


class SiteItem(BaseModel):
    """One ordinary catalog item as the site serves it."""

    model_config = ConfigDict(frozen=True)

    path: str  # URL path of the media file
    page: str  # URL path of its item page
    kind: Kind
    title: str
    sha256: str
    bytes: int
    discovered_via: Via  # the only way the crawler can find it
    description: str
    year: int
    tags: list[str]
    people: list[str]
    licence: str
    label: str | None  # the genre of a track, the mood of an image
    has_audio: bool | None
    scenes: list[tuple[int, int]] = []  # a video's kiss scenes [start_s, end_s): ground truth


class SiteTrap(BaseModel):
    """A deliberate failure and how the ingest must end for it."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    url_path: str  # where the crawler meets it: a path on the site, or an absolute URL
    page: str | None  # the item page pointing to it
    expect: Literal["quarantined", "ingested"]
    reason: str | None  # keyword of the quarantine reason (case-insensitive), when quarantined
    check: dict[str, str] = {}  # exact catalog values, when ingested
    also_url_paths: list[str] = []  # other URLs of the same trap (the duplicate's first copy)


class CastMember(BaseModel):
    """A real person the site shows (ops.sample_site.portraits): the pages, feed and
    pictures that sources.yaml declares for them."""

    model_config = ConfigDict(frozen=True)

    name: str
    page: str | None  # their page, showing their pictures
    feed: str | None  # a JSON Feed whose attachments are their pictures
    pictures: list[str]  # every picture of theirs the site serves


class SiteManifest(BaseModel):
    """What a generated site contains: written to ``<root>/manifest.json``."""

    format_version: int = SITE_FORMAT_VERSION
    seed: int
    public_dir: str = PUBLIC_DIR
    index_path: str = "/index.html"
    sitemap_path: str = "/sitemap.xml"
    feed_path: str = "/feed.json"
    robots_path: str = "/robots.txt"
    size_cap_bytes: int
    items: list[SiteItem]
    traps: list[SiteTrap]
    cast: list[CastMember] = []

    @classmethod
    def load(cls, root: Path) -> SiteManifest:
        return cls.model_validate_json((root / MANIFEST_NAME).read_text(encoding="utf-8"))

    def save(self, root: Path) -> None:
        with atomic_open(root / MANIFEST_NAME) as handle:
            handle.write(self.model_dump_json(indent=2))

    def expected_ok_count(self) -> int:
        """Items a correct ingest catalogues: the items, the ingested traps, one duplicate copy."""
        duplicates = sum(trap.name == "duplicate" for trap in self.traps)
        return len(self.items) + sum(t.expect == "ingested" for t in self.traps) + duplicates


@dataclass
class _Page:
    """An item page to write: its media description and how it is marked up."""

    slug: str
    kind: Kind
    media_url: str  # as the page links it
    title: str
    description: str
    year: int
    tags: list[str]
    people: dict[str, list[str]]  # JSON-LD property -> names
    licence: str
    has_audio: bool | None = None
    markup: str = "object"  # a JSON_LD_SHAPES entry, or "enclosure"
    directory: str = "items"
    encoding: str = "utf-8"

    @property
    def path(self) -> str:
        return f"/{self.directory}/{self.slug}.html"

    @property
    def all_people(self) -> list[str]:
        return list(dict.fromkeys(name for names in self.people.values() for name in names))


def _relative(url_path: str, from_page: str) -> str:
    """A site path written relative to the page that links it, as hand-made sites do."""
    if "://" in url_path or "?" in url_path:
        return url_path
    return posixpath.relpath(url_path, posixpath.dirname(from_page))


def _mime_for(url: str) -> str:
    """The media type a page declares; extension-less trap URLs all stand for videos."""
    extension = PurePosixPath(urlsplit(url).path).suffix.lstrip(".").lower()
    return MIME.get(extension, "video/mp4")


def _json_ld(page: _Page) -> str:
    node: dict[str, Any] = {
        "@type": SCHEMA_TYPE[page.kind],
        "identifier": KEY_PREFIX + page.slug,
        "name": page.title,
        "description": page.description,
        "contentUrl": page.media_url,
        "encodingFormat": _mime_for(page.media_url),
        "keywords": ", ".join(page.tags),
        "license": page.licence,
    }
    node["dateCreated" if page.kind == "video" else "datePublished"] = f"{page.year}-01-01"
    for prop, names in page.people.items():
        people = [{"@type": "Person", "name": name} for name in names]
        node[prop] = people[0] if len(people) == 1 else people
    if page.has_audio is False:
        node["hasAudio"] = False
    document: Any
    if page.markup == "graph":
        webpage = {"@type": "WebPage", "name": page.title}
        document = {"@context": "https://schema.org", "@graph": [webpage, node]}
    elif page.markup == "list":
        document = [{"@context": "https://schema.org", **node}]
    else:
        document = {"@context": "https://schema.org", **node}
    # "</" inside a script element would end it early.
    return json.dumps(document, ensure_ascii=False, indent=1).replace("</", "<\\/")


def _page_html(page: _Page) -> str:
    escape = html.escape
    media_href = escape(_relative(page.media_url, page.path))
    player = {
        "video": f'<video controls width="320" src="{media_href}"></video>',
        "audio": f'<audio controls src="{media_href}"></audio>',
        "image": f'<img src="{media_href}" alt="{escape(page.title)}">',
    }[page.kind]
    if page.markup == "enclosure":
        mime = _mime_for(page.media_url)
        download = f'<a rel="enclosure" type="{mime}" href="{media_href}">Download</a>'
        structured = ""
    else:
        download = f'<a href="{media_href}" download>Download</a>'
        structured = f'<script type="application/ld+json">\n{_json_ld(page)}\n</script>\n'
    credits = ", ".join(page.all_people)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="{page.encoding}">
<title>{escape(page.title)} · Cinescope Sample Catalog</title>
<meta property="og:title" content="{escape(page.title)}">
<meta name="description" content="{escape(page.description)}">
<meta name="keywords" content="{escape(", ".join(page.tags))}">
{structured}</head>
<body>
<nav><a href="{_relative("/index.html", page.path)}">Catalog</a></nav>
<main>
<h1>{escape(page.title)}</h1>
{player}
<p class="description">{escape(page.description)}</p>
<dl>
<dt>Year</dt><dd>{page.year}</dd>
<dt>Credits</dt><dd>{escape(credits)}</dd>
<dt>Tags</dt><dd>{escape(", ".join(page.tags))}</dd>
<dt>Licence</dt><dd>{escape(page.licence)}</dd>
</dl>
<p>{download}</p>
</main>
</body>
</html>
"""


def _index_html(page_number: int, page_count: int, entries: list[tuple[str, str]]) -> str:
    here = "/index.html" if page_number == 1 else f"/page/{page_number}.html"
    links = "\n".join(
        f'<li><a href="{html.escape(_relative(path, here))}">{html.escape(title)}</a></li>'
        for path, title in entries
    )
    nav = []
    for number, label in ((page_number - 1, "Previous"), (page_number + 1, "Next")):
        if 1 <= number <= page_count:
            target = "/index.html" if number == 1 else f"/page/{number}.html"
            nav.append(f'<a href="{_relative(target, here)}#top">{label}</a>')
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Cinescope Sample Catalog, page {page_number}</title>
<link rel="alternate" type="application/feed+json" href="/feed.json"></head>
<body id="top">
<h1>Cinescope Sample Catalog</h1>
<ul>
{links}
</ul>
<nav>{" ".join(nav)}</nav>
</body>
</html>
"""


def _urlset(paths: dict[str, str]) -> str:
    """A sitemap of pages (URL path -> lastmod)."""
    urls = "\n".join(
        f"  <url><loc>{html.escape(path)}</loc><lastmod>{lastmod}</lastmod></url>"
        for path, lastmod in paths.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        f"{urls}\n</urlset>\n"
    )


def _sitemap_index(children: dict[str, str]) -> str:
    """A sitemap index of child sitemaps (URL path -> lastmod)."""
    entries = "\n".join(
        f"  <sitemap><loc>{path}</loc><lastmod>{lastmod}</lastmod></sitemap>"
        for path, lastmod in children.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        f"{entries}\n</sitemapindex>\n"
    )


def _feed_json(feed: dict[str, Any]) -> str:
    return json.dumps(feed, ensure_ascii=False, indent=1)


def _feed(pages: list[_Page]) -> str:
    items = [
        {
            "id": KEY_PREFIX + page.slug,
            "url": page.path,
            "title": page.title,
            "content_text": page.description,
            "date_published": f"{page.year}-06-01T12:00:00Z",
            "date_modified": PUBLISHED,
            "tags": page.tags,
            "authors": [{"name": name} for name in page.all_people[:1]],
            "attachments": [{"url": page.media_url, "mime_type": _mime_for(page.media_url)}],
            "_cinescope": {
                "year": page.year,
                "people": page.all_people,
                "licence": page.licence,
                **({"has_audio": page.has_audio} if page.has_audio is not None else {}),
            },
        }
        for page in pages
    ]
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Cinescope Sample Catalog",
        "home_page_url": "/index.html",
        "feed_url": "/feed.json",
        "items": items,
    }
    return _feed_json(feed)


class _SiteWriter:
    """Writes the site's files, each at its URL path under the staging folder."""

    def __init__(self, public: Path) -> None:
        self.public = public

    def write(self, url_path: str, data: bytes | str, encoding: str = "utf-8") -> None:
        target = self.public / url_path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data.encode(encoding) if isinstance(data, str) else data)

    def page(self, page: _Page) -> None:
        self.write(page.path, _page_html(page), encoding=page.encoding)


def _names(rng: np.random.Generator, count: int) -> list[str]:
    firsts = rng.choice(len(FIRST_NAMES), size=count, replace=False)
    lasts = rng.choice(len(LAST_NAMES), size=count, replace=False)
    return [f"{FIRST_NAMES[f]} {LAST_NAMES[last]}" for f, last in zip(firsts, lasts, strict=True)]


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(0, len(options)))]


def _describe(rng: np.random.Generator, kind: Kind, length: str) -> str:
    return _pick(rng, DESCRIPTIONS).format(
        length=length,
        word=KIND_WORDS[kind],
        noun=_pick(rng, NOUNS).lower(),
        adjective=_pick(rng, ADJECTIVES).lower(),
    )


def _item(index: int, seed: int, writer: _SiteWriter) -> tuple[_Page, SiteItem]:
    """Make one ordinary item: its media file, its page (written later) and its manifest row."""
    rng = np.random.default_rng([seed, index, 7])
    kind = KIND_CYCLE[index % len(KIND_CYCLE)]
    via = VIA_CYCLE[index % len(VIA_CYCLE)]
    cycles, offset = divmod(index, len(KIND_CYCLE))
    ordinal = cycles * KIND_CYCLE.count(kind) + KIND_CYCLE[:offset].count(kind)  # same kind before
    adjective, noun = _pick(rng, ADJECTIVES), _pick(rng, NOUNS)
    label: str | None = None
    has_audio: bool | None = None
    scenes: list[tuple[int, int]] = []
    if kind == "video":
        has_audio = ordinal % 5 != 1
        if has_audio and ordinal % 2 == 0:  # a scene video: what the scene model finds
            seconds = float(rng.choice(SCENE_VIDEO_SECONDS))
            clip = render_scene_clip(rng, int(seconds))
            data, scenes = clip.data, clip.scenes
        else:
            seconds = float(rng.choice([2.0, 2.5, 3.0]))
            data = media.make_video(
                index,
                seed=seed,
                seconds=seconds,
                fps=int(rng.choice([10, 12, 15])),
                size=((160, 120), (192, 144), (240, 180))[int(rng.integers(0, 3))],
                with_audio=has_audio,
            )
        title = f"The {adjective} {noun}" if rng.random() < 0.5 else f"{noun} at {adjective} Hour"
        people = {"director": _names(rng, 1), "actor": _names(rng, int(rng.integers(1, 3)))}
        extension, length = "mp4", f"{seconds:g}-second"
    elif kind == "audio":
        label = media.GENRES[ordinal % len(media.GENRES)]
        container: Literal["m4a", "wav"] = "wav" if ordinal % 3 == 2 else "m4a"
        data = media.make_music(index, seed=seed, genre=label, container=container)
        form = _pick(rng, MUSIC_FORMS[label])
        title = f"{form} in {_pick(rng, KEYS)}" if rng.random() < 0.5 else f"{noun} {form}"
        people = {"byArtist": _names(rng, 1)}
        extension, length = container, "3-second"
    else:
        label = MOODS[int(rng.integers(0, len(MOODS)))]
        extension = "png" if ordinal % 3 == 2 else "jpg"
        image_format: Literal["jpeg", "png"] = "png" if extension == "png" else "jpeg"
        data = media.make_image(index, seed=seed, mood=label, image_format=image_format)
        title = f"{adjective} {noun}, Study {ordinal + 1}"
        people = {"creator": _names(rng, 1)}
        length = "single-frame"
    topics = [TOPICS[t] for t in rng.choice(len(TOPICS), size=2, replace=False)]
    tags = [KIND_WORDS[kind], *([label] if label else []), *topics]
    slug = f"{slugify(title)}-{index}"
    media_path = f"/media/{slug}.{extension}"
    writer.write(media_path, data)
    page = _Page(
        slug=slug,
        kind=kind,
        media_url=media_path,
        title=title,
        description=_describe(rng, kind, length),
        year=int(rng.integers(1925, 2025)),
        tags=tags,
        people=people,
        licence=_pick(rng, LICENCES),
        has_audio=has_audio,
        markup="enclosure" if via == "index" and index % 5 == 3 else JSON_LD_SHAPES[index % 3],
    )
    row = SiteItem(
        path=media_path,
        page=page.path,
        kind=kind,
        title=title,
        sha256=hashlib.sha256(data).hexdigest(),
        bytes=len(data),
        discovered_via=via,
        description=page.description,
        year=page.year,
        tags=tags,
        people=page.all_people,
        licence=page.licence,
        label=label,
        has_audio=has_audio,
        scenes=scenes,
    )
    return page, row


@dataclass(frozen=True)
class _TrapSpec:
    name: str
    title: str
    kind: Kind
    description: str


def _trap_page(spec: _TrapSpec, media_url: str, **overrides: Any) -> _Page:
    """A plain, well-described page: only its media link is the trap."""
    defaults: dict[str, Any] = {
        "slug": slugify(spec.title),
        "kind": spec.kind,
        "media_url": media_url,
        "title": spec.title,
        "description": spec.description,
        "year": 2001,
        "tags": [KIND_WORDS[spec.kind], "test"],
        "people": {"creator": ["Trap Maker"]},
        "licence": "CC0-1.0",
        "has_audio": True if spec.kind == "video" else None,
    }
    return _Page(**{**defaults, **overrides})


def _traps(
    seed: int, size_cap_bytes: int, writer: _SiteWriter
) -> tuple[list[_Page], list[SiteTrap]]:
    """Write every trap's files and pages; return the pages to link from the index and the traps."""
    counter = iter(range(TRAP_INDEX_BASE, TRAP_INDEX_BASE + 100))

    def video() -> bytes:
        return media.make_video(next(counter), seed=seed)

    def image() -> bytes:
        return media.make_image(next(counter), seed=seed, mood="calm")

    pages: list[_Page] = []
    traps: list[SiteTrap] = []

    def place(
        spec: _TrapSpec,
        media_url: str,
        *,
        content: Callable[[], bytes] | None = None,
        stored_at: str | None = None,
        **page_overrides: Any,
    ) -> _Page:
        page = _trap_page(spec, media_url, **page_overrides)
        if content is not None:
            writer.write(stored_at or media_url, content())
        writer.page(page)
        pages.append(page)
        return page

    def add(
        spec: _TrapSpec,
        media_url: str,
        expect: Literal["quarantined", "ingested"],
        reason: str | None = None,
        *,
        check: dict[str, str] | None = None,
        url_path: str | None = None,
        also_url_paths: tuple[str, ...] = (),
        **placement: Any,
    ) -> None:
        page = place(spec, media_url, **placement)
        traps.append(
            SiteTrap(
                name=spec.name,
                description=spec.description,
                url_path=url_path or media_url,
                page=page.path,
                expect=expect,
                reason=reason,
                check=check or {},
                also_url_paths=list(also_url_paths),
            )
        )

    spec = _TrapSpec
    add(
        spec("not_found", "The Missing Reel", "video", "An item whose media link answers 404."),
        "/media/the-missing-reel.mp4",
        "quarantined",
        "HTTP 404",
    )
    flaky = spec(
        "flaky_500",
        "Second Chance Dance",
        "video",
        "Media answering 500 on the first request and 200 after: retried, then ingested.",
    )
    add(
        flaky,
        "/flaky/media/second-chance-dance.mp4",
        "ingested",
        content=video,
        stored_at="/media/second-chance-dance.mp4",
        check={"title": flaky.title},
    )
    add(
        spec(
            "slow",
            "Waiting for the Tide",
            "image",
            "Media answering only after the server's slow delay, longer than any crawl timeout.",
        ),
        "/slow/media/waiting-for-the-tide.jpg",
        "quarantined",
        "timeout",
        content=image,
        stored_at="/media/waiting-for-the-tide.jpg",
    )
    add(
        spec(
            "truncated_video",
            "Half a Story",
            "video",
            "An MP4 cut after 40% of its bytes: served fine, but it does not decode.",
        ),
        "/media/half-a-story.mp4",
        "quarantined",
        "not decodable",
        content=lambda: media.truncated_copy(video()),
    )
    add(
        spec(
            "oversized",
            "The Endless Take",
            "video",
            f"A valid MP4 padded past the size cap of {size_cap_bytes} bytes.",
        ),
        "/media/the-endless-take.mp4",
        "quarantined",
        "size cap",
        content=lambda: media.padded_mp4(video(), size_cap_bytes + 65_536),
    )
    twin = video()
    original = place(
        spec("duplicate", "Twice Told Tale", "video", "The original upload."),
        "/media/twice-told-tale.mp4",
        content=lambda: twin,
    )
    add(
        spec(
            "duplicate",
            "Twice Told Tale (Mirror)",
            "video",
            "The same file under two URLs, each with its own page: whichever copy is seen "
            "second is quarantined as a duplicate, the other is ingested.",
        ),
        "/media/twice-told-tale-mirror.mp4",
        "quarantined",
        "duplicate",
        content=lambda: twin,
        also_url_paths=(original.media_url,),
    )
    add(
        spec(
            "other_host",
            "Postcard from Elsewhere",
            "video",
            "Media on a host the source does not allow; the crawler must never contact it.",
        ),
        f"{OTHER_HOST}/media/postcard-from-elsewhere.mp4",
        "quarantined",
        "host not allowed",
    )
    add(
        spec(
            "non_utf8",
            NON_UTF8_TITLE,
            "image",
            "A page in windows-1252, declared only by its <meta charset>.",
        ),
        "/media/cafe-noir-ete.jpg",
        "ingested",
        content=image,
        encoding="windows-1252",
        slug="cafe-noir-ete",
        check={"title": NON_UTF8_TITLE},
    )
    add(
        spec(
            "robots_disallowed",
            "Behind Closed Doors",
            "image",
            "An item page under /private/, which robots.txt disallows.",
        ),
        "/private/media/behind-closed-doors.jpg",
        "quarantined",
        "robots.txt",
        content=image,
        directory="private",
        url_path="/private/behind-closed-doors.html",
    )
    token = hashlib.sha256(f"escape-{seed}".encode()).hexdigest()[:16]
    add(
        spec(
            "path_traversal",
            "The Escape Artist",
            "video",
            "A download whose Content-Disposition file name climbs out of any folder.",
        ),
        f"/download?id={token}",
        "ingested",
        content=video,
        stored_at=f"/{DOWNLOADS_DIR}/{token}.mp4",
        check={"file_name": EVIL_FILE_NAME},
    )
    add(
        spec(
            "private_redirect",
            "Wrong Turn",
            "video",
            "A media URL redirecting to the cloud metadata address 169.254.169.254.",
        ),
        PRIVATE_REDIRECT_PATH,
        "quarantined",
        "private address",
    )
    add(
        spec(
            "decompression_bomb",
            "The Infinite Canvas",
            "image",
            "A tiny PNG whose header declares 40000 x 40000 pixels.",
        ),
        "/media/the-infinite-canvas.png",
        "quarantined",
        "pixel",
        content=media.png_bomb,
    )
    return pages, traps


def _cast_page(name: str, pictures: list[str]) -> str:
    path = f"/people/{slugify(name)}.html"
    images = "\n".join(
        f'<img src="{_relative(p, path)}" alt="{html.escape(name)}">' for p in pictures
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{html.escape(name)} · Cinescope Sample Catalog</title>
<meta property="og:image" content="{pictures[0]}"></head>
<body>
<nav><a href="{_relative("/index.html", path)}">Catalog</a></nav>
<h1>{html.escape(name)}</h1>
{images}
<p>Photographs: {html.escape(portraits.LICENCE)}.</p>
</body>
</html>
"""


def _cast_feed(name: str, pictures: list[str]) -> str:
    items = [
        {"id": path, "url": path, "attachments": [{"url": path, "mime_type": "image/jpeg"}]}
        for path in pictures
    ]
    feed = {"version": "https://jsonfeed.org/version/1.1", "title": name, "items": items}
    return json.dumps(feed, indent=1)


def _cast(seed: int, writer: _SiteWriter) -> tuple[list[CastMember], _Page, SiteItem]:
    """The cast's pictures, with a page for the first person and a feed for the second
    (the two ways sources.yaml declares them), and the portrait film showing both."""
    members = []
    for number, name in enumerate(portraits.PORTRAITS):
        slug = slugify(name)
        pictures = []
        for count, picture in enumerate(portraits.variations(name, seed=seed), start=1):
            path = f"/people/pictures/{slug}-{count}.jpg"
            buffer = io.BytesIO()
            picture.save(buffer, format="JPEG", quality=90)
            writer.write(path, buffer.getvalue())
            pictures.append(path)
        page = feed = None
        if number % 2 == 0:
            page = f"/people/{slug}.html"
            writer.write(page, _cast_page(name, pictures))
        else:
            feed = f"/people/{slug}.json"
            writer.write(feed, _cast_feed(name, pictures[:-1]))  # the last: declared by URL
        members.append(CastMember(name=name, page=page, feed=feed, pictures=pictures))
    data = portraits.portrait_film()
    people = list(portraits.PORTRAITS)
    film = _Page(
        slug="two-pioneers",
        kind="video",
        media_url="/media/two-pioneers.mp4",
        title="Two Pioneers",
        description="Portraits of an astronaut and a computer scientist, one after the other.",
        year=2026,
        tags=["video", "portrait", "documentary"],
        people={"actor": people},
        licence=portraits.LICENCE,
        has_audio=True,
    )
    writer.write(film.media_url, data)
    row = SiteItem(
        path=film.media_url,
        page=film.path,
        kind="video",
        title=film.title,
        sha256=hashlib.sha256(data).hexdigest(),
        bytes=len(data),
        discovered_via="index",
        description=film.description,
        year=film.year,
        tags=film.tags,
        people=people,
        licence=film.licence,
        label=None,
        has_audio=True,
    )
    return members, film, row


def _clip_item(
    slug: str, title: str, description: str, tags: list[str], data: bytes
) -> tuple[_Page, SiteItem]:
    """A page and manifest row for one of the site's own clips (not a generated item)."""
    page = _Page(
        slug=slug,
        kind="video",
        media_url=f"/media/{slug}.mp4",
        title=title,
        description=description,
        year=2026,
        tags=tags,
        people={},
        licence="CC0-1.0",
        has_audio=True,
    )
    row = SiteItem(
        path=page.media_url,
        page=page.path,
        kind="video",
        title=title,
        sha256=hashlib.sha256(data).hexdigest(),
        bytes=len(data),
        discovered_via="index",
        description=description,
        year=2026,
        tags=tags,
        people=[],
        licence="CC0-1.0",
        label=None,
        has_audio=True,
    )
    return page, row


def _word_clips(writer: _SiteWriter) -> list[tuple[_Page, SiteItem]]:
    """A clip that says a sentence and one that shows a caption (ops.sample_site.words);
    their titles and descriptions hold none of those words, so only speech recognition
    and OCR can find them. Without espeak-ng there is no spoken clip."""
    clips = [
        (
            "storefront-sign",
            "Storefront Sign",
            "A sign appears over a slow gradient.",
            ["video", "caption"],
            words.captioned_clip(),
        )
    ]
    try:
        spoken = words.spoken_clip()
    except words.NoSpeechSynthesiser as error:
        log.warning("sample site without its spoken clip: %s", error)
    else:
        clips.append(
            (
                "harbour-monologue",
                "Harbour Monologue",
                "A voice over a quiet picture at dusk.",
                ["video", "speech"],
                spoken,
            )
        )
    made = []
    for slug, title, description, tags, data in clips:
        page, row = _clip_item(slug, title, description, tags, data)
        writer.write(page.media_url, data)
        made.append((page, row))
    return made


def _write_site(
    public: Path, items: int, seed: int, traps: bool, size_cap_bytes: int, fixed_clips: bool
) -> SiteManifest:
    writer = _SiteWriter(public)
    pages: list[_Page] = []
    rows: list[SiteItem] = []
    for index in range(items):
        page, row = _item(index, seed, writer)
        pages.append(page)
        rows.append(row)
    members: list[CastMember] = []
    if fixed_clips:  # the same whatever the seed
        members, film, film_row = _cast(seed, writer)
        pages.append(film)
        rows.append(film_row)
        for page, row in _word_clips(writer):
            pages.append(page)
            rows.append(row)
    for page in pages:
        writer.page(page)
    trap_pages, trap_rows = _traps(seed, size_cap_bytes, writer) if traps else ([], [])

    via = {row.page: row.discovered_via for row in rows}
    indexed = [(p.path, p.title) for p in pages if via[p.path] == "index"]
    indexed += [(page.path, page.title) for page in trap_pages]
    page_count = max(1, -(-len(indexed) // ITEMS_PER_INDEX_PAGE))
    for number in range(1, page_count + 1):
        entries = indexed[(number - 1) * ITEMS_PER_INDEX_PAGE : number * ITEMS_PER_INDEX_PAGE]
        path = "/index.html" if number == 1 else f"/page/{number}.html"
        writer.write(path, _index_html(number, page_count, entries))

    in_sitemap = [p.path for p in pages if via[p.path] == "sitemap"]
    children = {}
    for start in range(0, max(1, len(in_sitemap)), URLS_PER_SITEMAP):
        child = f"/sitemaps/items-{start // URLS_PER_SITEMAP + 1}.xml"
        writer.write(
            child, _urlset(dict.fromkeys(in_sitemap[start : start + URLS_PER_SITEMAP], PUBLISHED))
        )
        children[child] = PUBLISHED
    writer.write("/sitemap.xml", _sitemap_index(children))
    writer.write("/feed.json", _feed([p for p in pages if via[p.path] == "feed"]))
    writer.write("/robots.txt", "User-agent: *\nDisallow: /private/\n")
    return SiteManifest(
        seed=seed, size_cap_bytes=size_cap_bytes, items=rows, traps=trap_rows, cast=members
    )


def publish_changes(root: Path, pages: Collection[str], at: datetime) -> None:
    """Say that the items of these pages (URL paths) changed ``at``: their sitemap lastmod
    (and their child sitemap's), or their feed date_modified. The media are the caller's."""
    public, stamp = root / PUBLIC_DIR, at.astimezone(UTC).isoformat()
    children = _sitemap_entries(public / "sitemap.xml")
    for child in children:
        entries = _sitemap_entries(public / child.lstrip("/"))
        entries |= {path: stamp for path in entries.keys() & set(pages)}
        _write_text(public / child.lstrip("/"), _urlset(entries))
        children[child] = max(entries.values(), default=PUBLISHED)
    _write_text(public / "sitemap.xml", _sitemap_index(children))
    feed_path = public / "feed.json"
    feed = json.loads(feed_path.read_text(encoding="utf-8"))
    for item in feed["items"]:
        if item["url"] in pages:
            item["date_modified"] = stamp
    _write_text(feed_path, _feed_json(feed))


def _sitemap_entries(path: Path) -> dict[str, str]:
    """URL path -> lastmod of a sitemap or sitemap index this module wrote."""
    listed = _SITEMAP_URL.findall(path.read_text(encoding="utf-8"))
    return {html.unescape(loc): lastmod for _, loc, lastmod in listed}


def _write_text(path: Path, text: str) -> None:
    """Replace a file the server may be serving: it sees the old one or the new one."""
    with atomic_open(path) as handle:
        handle.write(text)


def generate_site(
    root: Path,
    *,
    items: int = 12,
    seed: int = 0,
    traps: bool = True,
    size_cap_bytes: int = 4_000_000,
    fixed_clips: bool = True,
) -> SiteManifest:
    """Write the site under ``root/public`` and its manifest to ``root/manifest.json``.

    The tree is built in a sibling folder and swapped in, so a server never
    serves a half-written site and regenerating leaves no stale files.
    """
    if items < 0:
        raise ValueError(f"items must be >= 0, got {items}")
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".public-new-", dir=root))
    try:
        manifest = _write_site(staging, items, seed, traps, size_cap_bytes, fixed_clips)
        public = root / PUBLIC_DIR
        retired = root / f".public-old-{staging.name.rsplit('-', 1)[-1]}"
        if public.exists():
            public.rename(retired)
        staging.rename(public)
        shutil.rmtree(retired, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    manifest.save(root)
    return manifest
