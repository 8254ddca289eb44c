"""Text on pictures and in videos: found, placed, and a caption on screen counted once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ops.ocr.params import OcrSettings
from ops.ocr.read import FrameText, UnreadableMedia, merge_captions, read_file
from ops.ocr.readers import Box, RapidOcrReader, TextLine
from tests.ops.ocr.synth import backdrop, caption, captioned_video

CAPTION = "Welcome to the harbour"


def assert_around(found: Box, drawn: Box, scale: float = 1.0) -> None:
    """``found`` holds the drawn text (to 3 pixels of the picture read, times ``scale`` back
    to the file's pixels) with at most the detector's margin around it (about half the
    text's height)."""
    slack = 3 * scale
    margin = 0.6 * (drawn[3] - drawn[1]) + slack
    assert found[0] <= drawn[0] + slack and found[1] <= drawn[1] + slack, (found, drawn)
    assert found[2] >= drawn[2] - slack and found[3] >= drawn[3] - slack, (found, drawn)
    assert all(abs(f - d) <= margin for f, d in zip(found, drawn, strict=True)), (found, drawn)


@pytest.fixture(scope="module")
def reader() -> RapidOcrReader:
    return RapidOcrReader()


def test_a_caption_on_a_picture_is_read_with_its_box(
    tmp_path: Path, reader: RapidOcrReader
) -> None:
    picture, drawn = caption(backdrop(), CAPTION)
    path = tmp_path / "still.png"
    Image.fromarray(picture).save(path)
    boxes = read_file(path, reader=reader).boxes
    assert [box.text for box in boxes] == [CAPTION]
    found = boxes[0]
    assert found.time_s is None and found.end_s is None
    assert found.confidence > 0.9
    assert_around(found.box, drawn)


def test_a_caption_shown_for_two_seconds_is_one_box(tmp_path: Path, reader: RapidOcrReader) -> None:
    path = tmp_path / "captioned.mp4"
    drawn = captioned_video(path, CAPTION, shown=(1.0, 3.0))
    boxes = read_file(path, reader=reader).boxes
    captions = [box for box in boxes if box.text == CAPTION]
    assert len(captions) == 1, boxes
    shown = captions[0]
    assert shown.time_s == pytest.approx(1.0, abs=0.1)
    assert shown.end_s == pytest.approx(3.0, abs=0.1)
    assert_around(shown.box, drawn)
    assert all(CAPTION.lower() not in box.text.lower() for box in boxes if box is not shown)


def test_boxes_are_in_displayed_pixels_when_frames_are_scaled(
    tmp_path: Path, reader: RapidOcrReader
) -> None:
    path = tmp_path / "large.mp4"
    drawn = captioned_video(path, CAPTION, shown=(0.0, 1.0), seconds=1.0, size=(1280, 720))
    settings = OcrSettings(max_side=640)
    boxes = read_file(path, settings, reader=RapidOcrReader(settings)).boxes
    assert [box.text for box in boxes] == [CAPTION]
    assert_around(boxes[0].box, drawn, scale=2.0)


def _line(text: str, box: tuple[int, int, int, int], confidence: float = 0.9) -> TextLine:
    return TextLine(text=text, confidence=confidence, box=box)


def test_merging_follows_place_and_text() -> None:
    title = (100, 300, 500, 330)
    frames = [
        FrameText(0.0, 1.0, [_line("Breaking news", title), _line("LIVE", (10, 10, 60, 30))]),
        FrameText(1.0, 2.0, [_line("Breaking newz", (102, 301, 501, 331), 0.7)]),
        FrameText(2.0, 3.0, [_line("Breaking news", title)]),
        FrameText(3.0, 4.0, [_line("Weather next", title)]),
        FrameText(4.0, 5.0, []),
        FrameText(5.0, 6.0, []),
        FrameText(6.0, 7.0, [_line("LIVE", (10, 10, 60, 30))]),
    ]
    merged = merge_captions(frames)
    spans = [(box.text, box.time_s, box.end_s) for box in merged]
    assert spans == [  # by time, then top to bottom
        ("LIVE", 0.0, 1.0),
        ("Breaking news", 0.0, 3.0),  # a misread frame does not split it, nor name it
        ("Weather next", 3.0, 4.0),  # same place, new text: a new caption
        ("LIVE", 6.0, 7.0),  # gone for more than one sampled frame: seen again
    ]
    assert merged[1].confidence == pytest.approx((0.9 + 0.7 + 0.9) / 3, abs=1e-4)
    longer_gap = merge_captions(frames, OcrSettings(max_gap=5))
    assert [(b.text, b.time_s, b.end_s) for b in longer_gap if b.text == "LIVE"] == [
        ("LIVE", 0.0, 7.0)
    ]
    scaled = merge_captions(frames[:1], scale=2.0)
    assert [box.box for box in scaled] == [(20, 20, 120, 60), (200, 600, 1000, 660)]


def test_files_that_are_neither_pictures_nor_videos_are_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not a jpeg")
    with pytest.raises(UnreadableMedia, match=r"broken\.jpg"):
        read_file(broken)
    noise = tmp_path / "noise.bin"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(UnreadableMedia, match="neither a picture nor a video"):
        read_file(noise)
    with pytest.raises(UnreadableMedia, match="no such file"):
        read_file(tmp_path / "missing.mp4")
