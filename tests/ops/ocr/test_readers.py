"""The text readers: PP-OCR on onnxruntime, and the optional system tesseract."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from ops.ocr.params import OcrSettings
from ops.ocr.readers import (
    RapidOcrReader,
    ReaderUnavailable,
    TesseractReader,
    build_reader,
    require_tesseract,
    split_words,
)
from tests.ops.ocr.synth import KOREAN_FONT, backdrop, caption


def test_english_words_get_their_spaces_back() -> None:
    assert split_words("Welcometotheharbour") == "Welcome to the harbour"
    assert split_words("BREAKINGNEWS 24/7") == "BREAKING NEWS 24/7"
    assert split_words("Don'tlookback!") == "Don't look back!"
    assert split_words("서울 2024") == "서울 2024"  # other scripts stay as read
    assert split_words("www.bcastell.com me@filmsite.org") == "www.bcastell.com me@filmsite.org"


def test_several_lines_are_read_top_to_bottom_with_boxes() -> None:
    picture, first = caption(backdrop(), "Opening night", at=(0.5, 0.2), size=32)
    picture, second = caption(picture, "Tickets at the door", at=(0.5, 0.7), size=24)
    lines = sorted(RapidOcrReader().read(picture), key=lambda line: line.box[1])
    assert [line.text for line in lines] == ["Opening night", "Tickets at the door"]
    for line, drawn in zip(lines, (first, second), strict=True):
        assert line.box[0] <= drawn[0] + 3 and line.box[2] >= drawn[2] - 3
        assert line.box[1] <= drawn[1] + 3 and line.box[3] >= drawn[3] - 3


def test_a_blank_picture_has_no_text() -> None:
    assert RapidOcrReader().read(np.full((120, 200, 3), 128, np.uint8)) == []


def test_the_settings_choose_the_reader() -> None:
    assert isinstance(build_reader(OcrSettings()), RapidOcrReader)


def _tesseract_with(languages: str) -> None:
    try:
        require_tesseract(languages)
    except ReaderUnavailable as error:
        pytest.skip(f"optional Korean OCR not testable here: {error}")


def test_tesseract_reads_korean_captions() -> None:
    _tesseract_with("kor+eng")
    if not KOREAN_FONT.is_file():
        pytest.skip(f"no Korean font to render with ({KOREAN_FONT}; apt-get install fonts-nanum)")
    picture, drawn = caption(backdrop(), "안녕하세요 서울", font=KOREAN_FONT, size=36)
    reader = build_reader(OcrSettings(engine="tesseract"))
    assert isinstance(reader, TesseractReader)
    lines = reader.read(picture)
    assert [line.text for line in lines] == ["안녕하세요 서울"]
    x0, y0, x1, y1 = lines[0].box
    assert abs(x0 - drawn[0]) < 10 and abs(x1 - drawn[2]) < 10
    assert abs(y0 - drawn[1]) < 10 and abs(y1 - drawn[3]) < 10


def test_a_missing_tesseract_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ReaderUnavailable, match="apt-get install tesseract-ocr tesseract-ocr-kor"):
        TesseractReader(OcrSettings(engine="tesseract"))


def test_missing_language_data_is_named() -> None:
    _tesseract_with("eng")
    with pytest.raises(ReaderUnavailable, match="no data for \\['zzz'\\]"):
        require_tesseract("eng+zzz")
