"""The generated sample site: manifest, traps, real media, and every discovery path needed."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import struct
from pathlib import Path

import av
import pytest
from PIL import Image

from ops.ingest.discover import parse_html, parse_json_feed, parse_sitemap
from ops.sample_site import media, words
from ops.sample_site.generate import (
    NON_UTF8_TITLE,
    SCENE_VIDEO_SECONDS,
    SiteManifest,
    generate_site,
)
from ops.scene.synthetic import SCENE_LABEL

BASE = "http://site.test"
ITEMS = 45  # enough for two index pages
FIXED_CLIPS = 3 if shutil.which("espeak-ng") else 2  # the portrait film and the word clips
EXPECTED_TRAPS = {
    "not_found": ("quarantined", "HTTP 404"),
    "flaky_500": ("ingested", None),
    "slow": ("quarantined", "timeout"),
    "truncated_video": ("quarantined", "not decodable"),
    "oversized": ("quarantined", "size cap"),
    "duplicate": ("quarantined", "duplicate"),
    "other_host": ("quarantined", "host not allowed"),
    "non_utf8": ("ingested", None),
    "robots_disallowed": ("quarantined", "robots.txt"),
    "path_traversal": ("ingested", None),
    "private_redirect": ("quarantined", "private address"),
    "decompression_bomb": ("quarantined", "pixel"),
}
SIZE_CAP = 300_000


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SiteManifest]:
    root = tmp_path_factory.mktemp("site")
    return root, generate_site(root, items=ITEMS, seed=3, size_cap_bytes=SIZE_CAP)


def _file(root: Path, url_path: str) -> Path:
    return root / "public" / url_path.lstrip("/")


def test_manifest_round_trips(site: tuple[Path, SiteManifest]) -> None:
    root, manifest = site
    assert SiteManifest.load(root) == manifest
    raw = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    assert set(raw["items"][0]) >= {"path", "page", "kind", "title", "sha256", "bytes"}
    assert set(raw["traps"][0]) >= {"name", "description", "url_path", "expect", "reason", "check"}
    assert not list(root.glob(".public-*")), "staging folders must not be left behind"


def test_all_traps_present_with_their_contract(site: tuple[Path, SiteManifest]) -> None:
    _, manifest = site
    found = {trap.name: (trap.expect, trap.reason) for trap in manifest.traps}
    assert found == EXPECTED_TRAPS
    checks = {trap.name: trap.check for trap in manifest.traps if trap.expect == "ingested"}
    assert checks["non_utf8"] == {"title": NON_UTF8_TITLE}
    assert checks["path_traversal"] == {"file_name": "cinescope-evil.mp4"}
    assert checks["flaky_500"] == {"title": "Second Chance Dance"}
    assert manifest.expected_ok_count() == ITEMS + FIXED_CLIPS + 3 + 1


def test_the_cast_is_shown_on_a_page_and_in_a_feed_and_filmed(
    site: tuple[Path, SiteManifest],
) -> None:
    root, manifest = site
    collins, hopper = manifest.cast
    assert (collins.name, hopper.name) == ("Eileen Collins", "Grace Hopper")
    page = _file(root, collins.page or "").read_text()
    assert all(Path(picture).name in page for picture in collins.pictures)
    feed = json.loads(_file(root, hopper.feed or "").read_text())
    attached = [item["attachments"][0]["url"] for item in feed["items"]]
    assert attached == hopper.pictures[:-1]  # the last one is declared by its URL
    for picture in collins.pictures + hopper.pictures:
        assert Image.open(_file(root, picture)).format == "JPEG"
    film = next(item for item in manifest.items if item.title == "Two Pioneers")
    assert film.people == ["Eileen Collins", "Grace Hopper"] and film.kind == "video"


def test_the_word_clips_hide_their_words_from_their_metadata(
    site: tuple[Path, SiteManifest],
) -> None:
    _, manifest = site
    clips = [item for item in manifest.items if {"speech", "caption"} & set(item.tags)]
    assert len(clips) == FIXED_CLIPS - 1
    for clip in clips:
        text = f"{clip.title} {clip.description} {' '.join(clip.tags)}".lower()
        assert words.SPOKEN_WORD not in text and words.CAPTION_WORD not in text


def test_items_have_unique_hashes_matching_the_files(site: tuple[Path, SiteManifest]) -> None:
    root, manifest = site
    assert len(manifest.items) == ITEMS + FIXED_CLIPS
    assert len({item.sha256 for item in manifest.items}) == ITEMS + FIXED_CLIPS
    for item in manifest.items:
        data = _file(root, item.path).read_bytes()
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (item.sha256, item.bytes)
        assert _file(root, item.page).is_file()
    assert {item.kind for item in manifest.items} == {"video", "audio", "image"}
    assert {item.discovered_via for item in manifest.items} == {"index", "sitemap", "feed"}
    assert any(item.has_audio is False for item in manifest.items)


def test_file_count(site: tuple[Path, SiteManifest]) -> None:
    root, _ = site
    files = [p for p in (root / "public").rglob("*") if p.is_file()]
    index_pages, child_sitemaps, fixed = 2, 1, 3  # index.html + page/2; sitemap, feed, robots
    trap_pages, trap_files = 13, 10  # the duplicate has two pages; not_found etc. have no file
    cast = 2 + 2 * 6 + 2  # the film and its page; six pictures each; a page and a feed
    cast += 2 * (FIXED_CLIPS - 1)  # each word clip and its page
    expected = 2 * ITEMS + index_pages + child_sitemaps + fixed + trap_pages + trap_files + cast
    assert len(files) == expected


def test_each_item_is_found_only_by_its_own_path(site: tuple[Path, SiteManifest]) -> None:
    root, manifest = site

    def read(url_path: str) -> bytes:
        return _file(root, url_path).read_bytes()

    index_media: set[str] = set()
    index_pages: set[str] = set()
    queue = ["/index.html"]
    while queue:
        url_path = queue.pop()
        if url_path in index_pages or not url_path.startswith(("/index", "/page/")):
            continue
        index_pages.add(url_path)
        links = parse_html(read(url_path), BASE + url_path).page_links
        for link in links:
            target = link.removeprefix(BASE)
            queue.append(target)
            if target.startswith("/items/") and _file(root, target).exists():
                index_media.update(m.url for m in parse_html(read(target), link).media)
    sitemap_pages: list[str] = []
    for child in parse_sitemap(read("/sitemap.xml"), BASE + "/sitemap.xml"):
        sitemap_pages += parse_sitemap(read(child.removeprefix(BASE)), child)
    sitemap_media = {
        m.url
        for page in sitemap_pages
        for m in parse_html(read(page.removeprefix(BASE)), page).media
    }
    feed_media = {m.url for m in parse_json_feed(read("/feed.json"), BASE + "/feed.json")}

    assert len(index_pages) == 2
    for via, found in (("index", index_media), ("sitemap", sitemap_media), ("feed", feed_media)):
        own = {BASE + item.path for item in manifest.items if item.discovered_via == via}
        others = {BASE + item.path for item in manifest.items} - own
        assert own <= found, via
        assert not found & others, via


def test_pages_describe_items_like_the_manifest(site: tuple[Path, SiteManifest]) -> None:
    root, manifest = site
    for item in manifest.items:
        page = _file(root, item.page).read_bytes()
        (link,) = parse_html(page, BASE + item.page, "text/html").media
        assert link.url == BASE + item.path
        assert link.title == item.title
        assert link.kind_hint == item.kind
        if link.item_key is not None:  # JSON-LD pages; enclosure-only pages carry less
            assert (link.year, sorted(link.people), link.licence) == (
                item.year,
                sorted(item.people),
                item.licence,
            )
            assert link.expects_audio == item.has_audio


def test_media_files_decode(site: tuple[Path, SiteManifest]) -> None:
    root, manifest = site
    for item in manifest.items:
        path = _file(root, item.path)
        if item.kind == "image":
            with Image.open(path) as image:
                image.load()
                assert min(image.size) >= 240
            continue
        with av.open(str(path)) as container:
            kinds = sorted(stream.type for stream in container.streams)
            if item.kind == "audio":
                assert kinds == ["audio"]
            else:
                assert kinds == (["audio", "video"] if item.has_audio else ["video"])
                frames = sum(1 for _ in container.decode(video=0))
                assert frames >= 20


def test_trap_files_are_broken_the_intended_way(site: tuple[Path, SiteManifest]) -> None:
    root, manifest = site
    traps = {trap.name: trap for trap in manifest.traps}
    with pytest.raises(av.error.InvalidDataError):
        av.open(str(_file(root, traps["truncated_video"].url_path)))
    oversized = _file(root, traps["oversized"].url_path)
    assert oversized.stat().st_size > SIZE_CAP
    with av.open(str(oversized)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
    bomb = _file(root, traps["decompression_bomb"].url_path).read_bytes()
    assert struct.unpack(">II", bomb[16:24]) == (40_000, 40_000)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(bomb))
    duplicate = traps["duplicate"]
    copies = [_file(root, p).read_bytes() for p in [duplicate.url_path, *duplicate.also_url_paths]]
    assert len(copies) == 2 and copies[0] == copies[1]
    assert copies[0] not in {_file(root, item.path).read_bytes() for item in manifest.items}
    non_utf8 = _file(root, traps["non_utf8"].page or "").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        non_utf8.decode("utf-8")
    assert parse_html(non_utf8, BASE + "/x.html", "text/html").media[0].title == NON_UTF8_TITLE
    assert traps["other_host"].url_path.startswith("https://cdn.elsewhere.example/")
    robots = _file(root, "/robots.txt").read_text(encoding="utf-8")
    assert "Disallow: /private/" in robots
    assert traps["robots_disallowed"].url_path.startswith("/private/")


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    first = generate_site(tmp_path / "a", items=5, seed=1, traps=False, fixed_clips=False)
    again = generate_site(tmp_path / "b", items=5, seed=1, traps=False, fixed_clips=False)
    other = generate_site(tmp_path / "c", items=5, seed=2, traps=False, fixed_clips=False)
    # libx264's output varies slightly from run to run here (seen even single-threaded),
    # so byte-identity is asserted for the images and tracks only; videos still must not
    # collide across seeds (below).
    stable = [i.sha256 for i in first.items if i.kind != "video"]
    assert stable and stable == [i.sha256 for i in again.items if i.kind != "video"]
    assert not {i.sha256 for i in first.items} & {i.sha256 for i in other.items}
    assert first.traps == [] and first.expected_ok_count() == 5


def test_regenerating_replaces_the_tree(tmp_path: Path) -> None:
    generate_site(tmp_path, items=8, traps=True)
    manifest = generate_site(tmp_path, items=2, traps=False)
    media_files = sorted(p.name for p in (tmp_path / "public" / "media").iterdir())
    assert media_files == sorted(item.path.rsplit("/", 1)[-1] for item in manifest.items)
    assert not (tmp_path / "public" / "private").exists()
    assert [p.name for p in tmp_path.iterdir()] != [] and not list(tmp_path.glob(".public-*"))


def test_media_makers_differ_by_index_and_refuse_unknown_styles() -> None:
    videos = {media.make_video(i, seconds=0.5) for i in range(3)}
    images = {media.make_image(i, mood="calm") for i in range(3)}
    tracks = {media.make_music(i, genre="jazz", seconds=0.5) for i in range(3)}
    assert len(videos) == len(images) == len(tracks) == 3
    with pytest.raises(ValueError, match="unknown genre 'polka'"):
        media.make_music(0, genre="polka")
    with pytest.raises(ValueError, match="unknown mood"):
        media.make_image(0, mood="bored")
    with pytest.raises(ValueError, match="cannot pad"):
        media.padded_mp4(b"x" * 100, 104)


def test_scene_videos_hold_the_scene_motif_that_only_a_model_can_find(
    site: tuple[Path, SiteManifest],
) -> None:
    root, manifest = site
    scene_videos = [item for item in manifest.items if item.scenes]
    assert len(scene_videos) >= 2
    assert all(item.kind == "video" and item.has_audio for item in scene_videos)
    for item in scene_videos:
        with av.open(str(_file(root, item.path))) as container:
            seconds = float(container.duration or 0) / av.time_base
        assert seconds >= min(SCENE_VIDEO_SECONDS) - 0.5  # longer videos, other material around
        assert all(0 <= start < end <= seconds + 0.5 for start, end in item.scenes)
        assert sum(end - start for start, end in item.scenes) < seconds / 2
        # Nothing on the page names the scene: search finds it through the model's labels.
        assert SCENE_LABEL not in _file(root, item.page).read_text(encoding="utf-8").lower()
