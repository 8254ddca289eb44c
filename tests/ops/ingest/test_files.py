"""Listing a folder source: media found by content, everything else reported with its reason."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

from ops.ingest.crawl import Refusal
from ops.ingest.files import FileEntry, list_files
from ops.ingest.sources import LocalSource
from ops.sample_site.media import make_video


def listed(folder: Path) -> tuple[dict[str, FileEntry], dict[str, Refusal]]:
    entries: dict[str, FileEntry] = {}
    refusals: dict[str, Refusal] = {}
    for found in list_files(LocalSource(name="inbox", path=folder)):
        if isinstance(found, Refusal):
            refusals[Path(found.url).name] = found
        else:
            entries[Path(found.path).name] = found
    return entries, refusals


def test_media_is_recognised_by_content_and_the_rest_is_reported(tmp_path: Path) -> None:
    picture = io.BytesIO()
    Image.new("L", (40, 30), 128).save(picture, format="PPM")
    (tmp_path / "portrait.pgm").write_bytes(picture.getvalue())
    (tmp_path / "portrait.json").write_text(json.dumps({"title": "A portrait", "year": 1950}))
    (tmp_path / "clip.mp4").write_bytes(make_video(0, seconds=0.5, size=(64, 48)))
    (tmp_path / "clip.mp4.json").write_text(json.dumps({"tags": ["street"]}))
    (tmp_path / "recording.dat").write_bytes(make_video(1, seconds=0.5, size=(64, 48)))
    (tmp_path / "notes.txt").write_text("shot list: opening, chase, finale\n" * 20)

    entries, refusals = listed(tmp_path)

    assert sorted(entries) == ["clip.mp4", "portrait.pgm", "recording.dat"]
    assert entries["portrait.pgm"].link.title == "A portrait"
    assert entries["portrait.pgm"].link.year == 1950
    assert entries["clip.mp4"].link.tags == ("street",)
    assert sorted(refusals) == ["notes.txt"]
    assert refusals["notes.txt"].check == "format"
    assert refusals["notes.txt"].reason == (
        "not a media file: neither Pillow nor PyAV recognises the content of notes.txt"
    )
