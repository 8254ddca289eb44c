"""Face sets: the people a source declares are collected by its crawler, guards and all."""

from __future__ import annotations

from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.io import wavfile

from ops.ingest.faceset import read_face_set
from ops.ingest.pipeline import ingest_source
from ops.ingest.sources import SourceConfigError, load_sources
from ops.sample_site.server import SampleSiteServer
from ops.settings import Settings


def _jpeg(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    out = BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture
def cast_site(tmp_path: Path) -> Iterator[SampleSiteServer]:
    """Ada's page shows two pictures (and links elsewhere); Bob is declared by picture URLs,
    one of them Ada's, one corrupt, one text, one a sound, one over the size cap."""
    public = tmp_path / "site" / "public"
    (public / "pics").mkdir(parents=True)
    for n in range(3):
        (public / "pics" / f"p{n}.jpg").write_bytes(_jpeg(n))
    (public / "pics" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (public / "pics" / "notes.txt").write_text("no picture here")
    wavfile.write(public / "pics" / "tone.wav", 8000, np.zeros(800, dtype=np.int16))
    (public / "pics" / "huge.jpg").write_bytes(_jpeg(9) + b"\0" * 200_000)
    (public / "ada.html").write_text(
        '<html><head><meta property="og:image" content="/pics/p0.jpg"></head><body>'
        '<img src="pics/p0.jpg"><img src="/pics/p1.jpg"><a href="/elsewhere.html">more</a>'
        "</body></html>"
    )
    (public / "elsewhere.html").write_text('<html><body><img src="/pics/p2.jpg"></body></html>')
    with SampleSiteServer(tmp_path / "site") as server:
        yield server


def _settings(tmp_path: Path, sources: str) -> Settings:
    path = tmp_path / "sources.yaml"
    path.write_text(sources)
    return Settings(home=tmp_path / "home", sources_file=path)


def _web_sources(server: SampleSiteServer) -> str:
    base, port = server.base_url, server.base_url.rsplit(":", 1)[-1]
    return (
        "sources:\n"
        "  - name: cast\n"
        "    kind: http\n"
        f"    allow_private: ['127.0.0.1:{port}']\n"
        "    respect_robots: false\n"
        "    max_bytes: 100000\n"
        "    people:\n"
        f"      - {{name: Ada, pages: ['{base}/ada.html']}}\n"
        "      - name: Bob\n"
        f"        images: ['{base}/pics/p2.jpg', '{base}/pics/p1.jpg',\n"
        f"                 '{base}/pics/broken.jpg', '{base}/pics/notes.txt',\n"
        f"                 '{base}/pics/huge.jpg', '{base}/pics/tone.wav']\n"
    )


def test_declared_people_become_a_face_set_and_what_does_not_fit_is_refused_with_reasons(
    tmp_path: Path, cast_site: SampleSiteServer
) -> None:
    settings = _settings(tmp_path, _web_sources(cast_site))

    staged = ingest_source("cast", settings=settings)

    face_set = read_face_set(settings, "cast")
    by_person = face_set.groupby("person")["url"].apply(lambda urls: sorted(u[-6:] for u in urls))
    # Ada: the pictures her page shows, not those of the page it links to
    assert by_person.to_dict() == {"Ada": ["p0.jpg", "p1.jpg"], "Bob": ["p2.jpg"]}
    assert set(face_set["source"]) == {"cast"}
    assert face_set["sha256"].str.fullmatch("[0-9a-f]{64}").all()
    assert staged.stats.face_set_pictures == 3
    refusals = pd.read_parquet(staged.refusals_path)
    names = refusals["url"].str.rsplit("/", n=1).str[-1]
    reasons = dict(zip(names, refusals["reason"], strict=True))
    assert "already in the face set for Ada" in reasons["p1.jpg"]
    assert "Bob: not a readable picture" in reasons["broken.jpg"]
    assert "Bob: not a readable picture" in reasons["notes.txt"]
    assert "Bob: not a picture but audio" in reasons["tone.wav"]
    assert "face set of Bob" in reasons["huge.jpg"] and "100000" in reasons["huge.jpg"]
    # the face set is not catalog media
    assert Path(staged.items_path).read_text() == "[]"


def test_an_unchanged_recrawl_keeps_the_face_set_with_conditional_gets(
    tmp_path: Path, cast_site: SampleSiteServer
) -> None:
    settings = _settings(tmp_path, _web_sources(cast_site))
    crawled = ingest_source("cast", settings=settings)
    first = read_face_set(settings, "cast")

    again = ingest_source("cast", settings=settings)

    # what was refused is fetched again; the face set's pictures are not
    kept_bytes = int(first["bytes"].sum())
    assert again.stats.downloaded_bytes <= crawled.stats.downloaded_bytes - kept_bytes
    second = read_face_set(settings, "cast")
    columns = ["person", "url", "sha256"]
    assert second[columns].sort_values("url").values.tolist() == (
        first[columns].sort_values("url").values.tolist()
    )


def test_a_person_whose_pages_are_gone_keeps_their_previous_pictures(
    tmp_path: Path, cast_site: SampleSiteServer
) -> None:
    settings = _settings(tmp_path, _web_sources(cast_site))
    ingest_source("cast", settings=settings)
    (tmp_path / "site" / "public" / "ada.html").unlink()

    staged = ingest_source("cast", settings=settings)

    assert sorted(read_face_set(settings, "cast")["person"]) == ["Ada", "Ada", "Bob"]
    refusals = pd.read_parquet(staged.refusals_path)
    assert any("face set of Ada" in r and "404" in r for r in refusals["reason"])


def test_a_folder_source_declares_a_folder_per_person(tmp_path: Path) -> None:
    library = tmp_path / "library"
    for folder, seeds in {"ada": (1, 2), "bob": (3,)}.items():
        (library / folder).mkdir(parents=True)
        for seed in seeds:
            (library / folder / f"{seed}.jpg").write_bytes(_jpeg(seed))
    (library / "bob" / "clip.txt").write_text("not media")
    settings = _settings(
        tmp_path,
        "sources:\n"
        f"  - name: library\n    kind: local\n    path: {tmp_path / 'empty'}\n"
        f"    people:\n      - {{name: Ada, folder: {library / 'ada'}}}\n"
        "      - {name: Bob, folder: ../library/bob}\n",
    )
    (tmp_path / "empty").mkdir()

    ingest_source("library", settings=settings)

    face_set = read_face_set(settings, "library")
    assert face_set.groupby("person").size().to_dict() == {"Ada": 2, "Bob": 1}


@pytest.mark.parametrize(
    ("person", "error"),
    [
        ("{name: Ada, folder: ada}", "a website's people have pages, feeds or images"),
        ("{name: Ada}", "declare pages, feeds or images"),
    ],
)
def test_a_person_declaration_that_does_not_fit_the_source_is_refused(
    tmp_path: Path, person: str, error: str
) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(
        "sources:\n  - name: cast\n    kind: http\n    start_urls: ['https://a.example/']\n"
        f"    people:\n      - {person}\n"
    )
    with pytest.raises(SourceConfigError, match=error):
        load_sources(path)


def test_a_person_declared_twice_or_without_a_folder_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(
        f"sources:\n  - name: lib\n    kind: local\n    path: {tmp_path}\n"
        "    people: [{name: Ada, folder: a}, {name: Ada, folder: b}]\n"
        f"  - name: lib2\n    kind: local\n    path: {tmp_path}\n"
        "    people: [{name: Bob, images: ['https://a.example/b.jpg']}]\n"
    )
    with pytest.raises(SourceConfigError) as refused:
        load_sources(path)
    assert "a person is declared twice" in str(refused.value)
    assert "a folder source's people each have a folder" in str(refused.value)
