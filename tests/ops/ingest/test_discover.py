"""Parsing what catalog sites serve: JSON-LD, enclosures, charsets, sitemaps, JSON Feeds."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from ops.ingest.discover import (
    MediaLink,
    SitemapEntry,
    decode_html,
    parse_html,
    parse_json_feed,
    parse_modified,
    parse_sitemap,
    parse_sitemap_entries,
)

PAGE_URL = "https://films.example/catalog/items/page.html"


def _page(head: str = "", body: str = "", charset: str = "utf-8") -> bytes:
    return f"<!DOCTYPE html><html><head>{head}</head><body>{body}</body></html>".encode(charset)


def _json_ld(document: object) -> str:
    return f'<script type="application/ld+json">{json.dumps(document)}</script>'


# --- JSON-LD ------------------------------------------------------------------------------------


def test_video_object_gives_every_field() -> None:
    document = {
        "@context": "https://schema.org",
        "@type": "VideoObject",
        "identifier": "film-42",
        "name": "  Tom &amp; Jerry\n   at   Sea ",
        "description": "A cat,\ta mouse and a boat.",
        "contentUrl": "../media/tom.mp4",
        "dateCreated": "1958-03-01",
        "keywords": "comedy, animation , ,sea",
        "director": "William Hanna",
        "actor": [{"@type": "Person", "name": "Tom"}, "Jerry", {"@type": "Person"}],
        "creator": {"@type": "Organization", "name": "MGM"},
        "license": "https://creativecommons.org/licenses/by/4.0/",
    }
    parsed = parse_html(_page(head=_json_ld(document)), PAGE_URL)
    assert parsed.media == (
        MediaLink(
            url="https://films.example/catalog/media/tom.mp4",
            page_url=PAGE_URL,
            item_key="film-42",
            title="Tom & Jerry at Sea",
            description="A cat, a mouse and a boat.",
            year=1958,
            tags=("comedy", "animation", "sea"),
            people=("Tom", "Jerry", "William Hanna", "MGM"),
            licence="https://creativecommons.org/licenses/by/4.0/",
            kind_hint="video",
            expects_audio=True,
        ),
    )


def test_silent_video_and_other_media_types_in_a_graph() -> None:
    document = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "WebPage", "name": "not media"},
            {"@type": "schema:VideoObject", "contentUrl": "/v.mp4", "hasAudio": False},
            {
                "@type": "MusicRecording",
                "contentUrl": "/song.m4a",
                "byArtist": {"@type": "MusicGroup", "name": "The Quartet"},
                "datePublished": "2003",
                "keywords": ["jazz", "live", "jazz"],
                "@id": "https://films.example/#song",
            },
            {"@type": ["ImageObject", "Photograph"], "contentUrl": "/p.png", "copyrightYear": 1999},
            {"@type": "AudioObject", "name": "no content URL"},
        ],
    }
    media = parse_html(_page(head=_json_ld(document)), PAGE_URL).media
    assert [(m.url.rsplit("/", 1)[-1], m.kind_hint, m.expects_audio) for m in media] == [
        ("v.mp4", "video", False),
        ("song.m4a", "audio", None),
        ("p.png", "image", None),
    ]
    song = media[1]
    assert (song.people, song.year, song.tags) == (("The Quartet",), 2003, ("jazz", "live"))
    assert song.item_key == "https://films.example/#song"
    assert media[2].year == 1999


def test_json_ld_list_and_broken_block_do_not_hide_other_blocks() -> None:
    listed = [
        {"@type": "AudioObject", "contentUrl": "a.wav", "identifier": {"value": 7}},
        {"@type": "ImageObject", "contentUrl": "b.jpg", "license": {"name": "CC0-1.0"}},
    ]
    head = '<script type="application/ld+json">{"@type": "VideoObject",</script>' + _json_ld(listed)
    media = parse_html(_page(head=head), PAGE_URL).media
    assert [m.url for m in media] == [
        "https://films.example/catalog/items/a.wav",
        "https://films.example/catalog/items/b.jpg",
    ]
    assert media[0].item_key == "7"
    assert media[1].licence == "CC0-1.0"


# --- enclosure fallback and links ---------------------------------------------------------------


def test_enclosure_link_takes_metadata_from_the_page() -> None:
    head = (
        "<title>Ignored · Site</title>"
        '<meta property="og:title" content="Harbour &amp; Lights">'
        '<meta name="description" content="  Boats\n at night. ">'
        '<meta name="keywords" content="sea, night">'
    )
    body = '<a rel="enclosure nofollow" type="audio/mpeg" href="/files/harbour">Get it</a>'
    parsed = parse_html(_page(head=head, body=body), PAGE_URL)
    assert parsed.page_links == ()
    (link,) = parsed.media
    assert link.url == "https://films.example/files/harbour"
    assert (link.title, link.description, link.tags) == (
        "Harbour & Lights",
        "Boats at night.",
        ("sea", "night"),
    )
    assert (link.kind_hint, link.item_key, link.expects_audio) == ("audio", None, None)


def test_enclosure_without_og_title_uses_title_and_extension() -> None:
    body = '<a rel="enclosure" href="clip.mp4">x</a>'
    (link,) = parse_html(_page(head="<title> Plain\n Title </title>", body=body), PAGE_URL).media
    assert (link.title, link.kind_hint) == ("Plain Title", "video")


def test_json_ld_wins_over_an_enclosure_for_the_same_url() -> None:
    head = _json_ld({"@type": "VideoObject", "contentUrl": "/m.mp4", "name": "From JSON-LD"})
    body = '<a rel="enclosure" href="/m.mp4">x</a><a href="/m.mp4" download>download</a>'
    parsed = parse_html(_page(head="<title>From title</title>" + head, body=body), PAGE_URL)
    assert [m.title for m in parsed.media] == ["From JSON-LD"]
    assert parsed.page_links == ()  # the media link is not a page to crawl


def test_page_links_resolved_deduplicated_and_filtered() -> None:
    body = (
        '<a href="next.html#top">next</a><a href="next.html">again</a>'
        '<a href="/about">about</a><a href="mailto:x@y.z">mail</a>'
        '<a href="javascript:void(0)">js</a><a href="https://other.example/x">other</a>'
        '<a href="#only-fragment">here</a><a>no href</a>'
    )
    parsed = parse_html(_page(body=body), PAGE_URL)
    assert parsed.page_links == (
        "https://films.example/catalog/items/next.html",
        "https://films.example/about",
        "https://other.example/x",
        PAGE_URL,
    )


def test_base_href_changes_resolution_but_not_page_url() -> None:
    head = '<base href="https://cdn.films.example/v2/">' + _json_ld(
        {"@type": "ImageObject", "contentUrl": "img/a.jpg"}
    )
    parsed = parse_html(_page(head=head, body='<a href="list.html">l</a>'), PAGE_URL)
    assert parsed.page_links == ("https://cdn.films.example/v2/list.html",)
    assert parsed.media[0].url == "https://cdn.films.example/v2/img/a.jpg"
    assert parsed.media[0].page_url == PAGE_URL


# --- charsets -----------------------------------------------------------------------------------

TITLE = "Café “Noir” – Été"


def test_meta_charset_decodes_a_windows_1252_page() -> None:
    body = _page(
        head='<meta charset="windows-1252">'
        + _json_ld({"@type": "ImageObject", "contentUrl": "a.jpg", "name": TITLE}).replace(
            json.dumps(TITLE), f'"{TITLE}"'
        ),
        charset="cp1252",
    )
    assert parse_html(body, PAGE_URL, "text/html").media[0].title == TITLE


def test_header_charset_wins_over_meta() -> None:
    body = f'<meta charset="windows-1252"><p>{TITLE}</p>'.encode()
    assert TITLE in decode_html(body, "text/html; charset=UTF-8")
    assert TITLE not in decode_html(body, "text/html")


def test_http_equiv_and_latin1_label_mean_windows_1252() -> None:
    body = f'<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">{TITLE}'
    assert TITLE in decode_html(body.encode("cp1252"), None)


def test_fallbacks_utf8_then_cp1252_and_bom() -> None:
    assert decode_html(TITLE.encode(), None) == TITLE
    assert decode_html(TITLE.encode("cp1252"), None) == TITLE
    assert decode_html(b"\xef\xbb\xbf" + TITLE.encode(), "text/html; charset=cp1252") == TITLE
    assert decode_html(TITLE.encode(), "text/html; charset=no-such-codec") == TITLE


# --- sitemaps -----------------------------------------------------------------------------------

SITE = "https://films.example/sitemap.xml"


def test_urlset_with_namespace_and_relative_locs() -> None:
    body = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
  <url><loc>
    https://films.example/a.html
  </loc><lastmod>2024-01-01</lastmod>
    <image:image><image:loc>https://films.example/a.jpg</image:loc></image:image></url>
  <url><loc>/b.html</loc></url>
  <url><loc>/b.html</loc></url>
</urlset>"""
    assert parse_sitemap(body, SITE) == [
        "https://films.example/a.html",
        "https://films.example/b.html",
    ]


def test_sitemap_index_returns_child_sitemaps() -> None:
    body = b"""<sitemapindex><sitemap><loc>/maps/1.xml</loc></sitemap>
<sitemap><loc>https://films.example/maps/2.xml</loc></sitemap></sitemapindex>"""
    assert parse_sitemap(body, SITE) == [
        "https://films.example/maps/1.xml",
        "https://films.example/maps/2.xml",
    ]


def test_sitemap_entries_carry_their_lastmod() -> None:
    body = b"""<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><lastmod>2024-03-01T10:30:00+01:00</lastmod><loc>/a.html</loc></url>
  <url><loc>/b.html</loc><lastmod>2024-03</lastmod></url>
  <url><loc>/c.html</loc><lastmod>last tuesday</lastmod></url>
  <url><loc>/d.html</loc></url>
</urlset>"""
    assert parse_sitemap_entries(body, SITE) == [
        SitemapEntry("https://films.example/a.html", datetime(2024, 3, 1, 9, 30, tzinfo=UTC)),
        SitemapEntry("https://films.example/b.html", datetime(2024, 3, 1, tzinfo=UTC)),
        SitemapEntry("https://films.example/c.html", None),
        SitemapEntry("https://films.example/d.html", None),
    ]
    index = b"""<sitemapindex><sitemap><loc>/maps/1.xml</loc><lastmod>2024-01-02</lastmod>
</sitemap><sitemap><loc>/maps/2.xml</loc></sitemap></sitemapindex>"""
    assert parse_sitemap_entries(index, SITE) == [
        SitemapEntry("https://films.example/maps/1.xml", datetime(2024, 1, 2, tzinfo=UTC)),
        SitemapEntry("https://films.example/maps/2.xml", None),
    ]


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2024", datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-05-06", datetime(2024, 5, 6, tzinfo=UTC)),
        ("2024-05-06T07:08Z", datetime(2024, 5, 6, 7, 8, tzinfo=UTC)),
        ("2024-05-06T07:08:09.5-02:00", datetime(2024, 5, 6, 9, 8, 9, 500_000, tzinfo=UTC)),
        ("2024-05-06T07:08:09", datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),  # no zone: UTC
        ("06/05/2024", None),
        ("", None),
        (20240506, None),
    ],
)
def test_modification_dates_read_as_utc(text: object, moment: datetime | None) -> None:
    assert parse_modified(text) == moment


def test_sitemap_refuses_doctype_and_entities() -> None:
    laughs = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>
<urlset><url><loc>&lol2;</loc></url></urlset>"""
    with pytest.raises(ValueError, match="DTD and entity declarations are not allowed"):
        parse_sitemap(laughs, SITE)
    external = b'<!DOCTYPE urlset SYSTEM "http://evil.example/x.dtd"><urlset/>'
    with pytest.raises(ValueError, match="not allowed"):
        parse_sitemap(external, SITE)


def test_sitemap_errors_say_why() -> None:
    with pytest.raises(ValueError, match=r"malformed sitemap XML: .* line 1"):
        parse_sitemap(b"<urlset><url><loc>x</url></urlset>", SITE)
    with pytest.raises(ValueError, match="root element is <html>"):
        parse_sitemap(b"<html><body/></html>", SITE)


# --- JSON Feed ----------------------------------------------------------------------------------

FEED = "https://films.example/feed.json"


def test_json_feed_item_with_extension() -> None:
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "items": [
            {
                "id": "track-1",
                "url": "/tracks/1.html",
                "title": "Maple Leaf &amp; Rag",
                "summary": "A  rag.",
                "tags": ["ragtime"],
                "authors": [{"name": "Scott Joplin"}],
                "date_published": "1899-09-18T00:00:00Z",
                "attachments": [{"url": "/m/1.m4a", "mime_type": "audio/mp4"}],
                "_cinescope": {
                    "year": 1916,
                    "people": ["Scott Joplin", "Ada Berg"],
                    "licence": "PD",
                },
            },
            {
                "id": 2,
                "date_published": "2020-01-01T00:00:00Z",
                "attachments": [{"url": "/m/2.mp4"}, {"url": "/m/2.jpg"}],
                "_cinescope": {"has_audio": False},
            },
            {"id": "no-media", "content_text": "just words"},
            "not an object",
        ],
    }
    links = parse_json_feed(json.dumps(feed).encode(), FEED)
    first = links[0]
    assert first == MediaLink(
        url="https://films.example/m/1.m4a",
        page_url="https://films.example/tracks/1.html",
        item_key="track-1",
        title="Maple Leaf & Rag",
        description="A rag.",
        year=1916,
        tags=("ragtime",),
        people=("Scott Joplin", "Ada Berg"),
        licence="PD",
        kind_hint="audio",
        expects_audio=None,
    )
    assert first.modified is None  # date_published is when it came out, not a change
    assert [(m.item_key, m.kind_hint, m.year, m.page_url, m.expects_audio) for m in links[1:]] == [
        ("2#1", "video", 2020, FEED, False),
        ("2#2", "image", 2020, FEED, False),
    ]


def test_json_feed_items_carry_their_date_modified() -> None:
    feed = {
        "items": [
            {
                "id": "a",
                "date_modified": "2026-02-03T04:05:06Z",
                "attachments": [{"url": "/a.mp4"}],
            },
            {"id": "b", "date_modified": "soon", "attachments": [{"url": "/b.mp4"}]},
        ]
    }
    links = parse_json_feed(json.dumps(feed).encode(), FEED)
    assert [link.modified for link in links] == [datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC), None]


def test_malformed_feed_errors_say_why() -> None:
    with pytest.raises(ValueError, match=r"not valid JSON: .* line 1 column"):
        parse_json_feed(b'{"items": [', FEED)
    with pytest.raises(ValueError, match="no 'items' list"):
        parse_json_feed(b'{"version": "https://jsonfeed.org/version/1.1"}', FEED)
    with pytest.raises(ValueError, match="must be a JSON object"):
        parse_json_feed(b"[1, 2]", FEED)
    with pytest.raises(ValueError, match="not UTF-8"):
        parse_json_feed(b'{"items": ["\xff"]}', FEED)


# --- deep nesting -------------------------------------------------------------------------------

DEEP = 100_000


def test_feed_nested_too_deep_is_malformed_not_a_crash() -> None:
    body = b'{"items": ' + b"[" * DEEP + b"]" * DEEP + b"}"
    with pytest.raises(ValueError, match=r"^JSON nested deeper than 64 levels$"):
        parse_json_feed(body, "https://films.example/feed.json")


def test_json_ld_nested_too_deep_is_skipped_and_named() -> None:
    deep = '<script type="application/ld+json">' + "{" * DEEP + "}" * DEEP + "</script>"
    good = _json_ld({"@type": "VideoObject", "contentUrl": "/v.mp4"})
    parsed = parse_html(_page(head=deep + good, body='<a href="/next.html">next</a>'), PAGE_URL)
    assert [link.url for link in parsed.media] == ["https://films.example/v.mp4"]
    assert parsed.page_links == ("https://films.example/next.html",)
    assert parsed.problems == ("JSON-LD block skipped: JSON nested deeper than 64 levels",)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    title = '[[[{{{ "quoted" ' * 100
    feed = {"items": [{"id": "a", "title": title, "attachments": [{"url": "/a.mp4"}]}]}
    links = parse_json_feed(json.dumps(feed).encode("utf-16"), "https://films.example/feed.json")
    assert [(link.url, link.title) for link in links] == [
        ("https://films.example/a.mp4", " ".join(title.split()))
    ]
