"""Text readers behind one interface: an RGB picture in, text lines with boxes out.

``rapidocr``: PaddleOCR's PP-OCRv4 detector and recogniser (Chinese and Latin script)
run by onnxruntime, the models inside the ``rapidocr_onnxruntime`` wheel; loaded on first
use behind a lock. ``tesseract``: the system's ``tesseract`` program, for scripts the
PP-OCR models do not read (Korean with ``tesseract-ocr-kor``); it is optional, and asking
for it where it is missing says how to install it.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import threading
from typing import Any, Protocol

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict

from ops.ocr.params import OcrSettings

Box = tuple[int, int, int, int]
TESSERACT_TIMEOUT_S = 120
_LATIN_RUN = re.compile(r"(?<![A-Za-z'.@/])[A-Za-z']+(?![A-Za-z'.@/])")  # not in addresses


class ReaderUnavailable(RuntimeError):
    """The chosen OCR engine (or its language data) is not installed."""


class TextLine(BaseModel):
    """One line of text read from a picture; ``box`` is x0, y0, x1, y1 in its pixels."""

    model_config = ConfigDict(frozen=True)

    text: str
    confidence: float
    box: Box


class TextReader(Protocol):
    def read(self, image: np.ndarray) -> list[TextLine]: ...


class RapidOcrReader:
    """PP-OCRv4 detection, angle classification and recognition on onnxruntime."""

    def __init__(self, settings: OcrSettings | None = None) -> None:
        self.settings = settings or OcrSettings()
        self._lock = threading.Lock()
        self._engine: Any = None

    def _loaded(self) -> Any:
        with self._lock:
            if self._engine is None:
                try:
                    from rapidocr_onnxruntime import RapidOCR
                except ImportError as error:
                    raise ReaderUnavailable(
                        "OCR needs the rapidocr_onnxruntime package (pip install "
                        f"rapidocr_onnxruntime): {error}"
                    ) from error
                self._engine = RapidOCR(
                    intra_op_num_threads=self.settings.threads, inter_op_num_threads=1
                )
            return self._engine

    def read(self, image: np.ndarray) -> list[TextLine]:
        """Lines of a uint8 RGB picture, the most confident readings only."""
        engine = self._loaded()
        # RapidOCR takes an array as OpenCV's BGR
        found, _elapsed = engine(np.ascontiguousarray(image[..., ::-1]))
        lines = []
        for corners, text, confidence in found or []:
            if float(confidence) < self.settings.min_confidence or not text.strip():
                continue
            box = _box(np.asarray(corners, dtype=float), image.shape[1], image.shape[0])
            words = split_words(text.strip()) if self.settings.split_words else text.strip()
            lines.append(TextLine(text=words, confidence=round(float(confidence), 4), box=box))
        return lines


class TesseractReader:
    """Tesseract 4+ (LSTM) through its command line, lines rebuilt from its word table."""

    def __init__(self, settings: OcrSettings | None = None) -> None:
        self.settings = settings or OcrSettings()
        require_tesseract(self.settings.tesseract_languages)

    def read(self, image: np.ndarray) -> list[TextLine]:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        done = subprocess.run(
            [
                "tesseract",
                "stdin",
                "stdout",
                "-l",
                self.settings.tesseract_languages,
                "--psm",
                str(self.settings.tesseract_psm),
                "tsv",
            ],
            input=buffer.getvalue(),
            capture_output=True,
            timeout=TESSERACT_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"tesseract failed: {done.stderr.decode(errors='replace')}")
        return self._lines(done.stdout.decode("utf-8", errors="replace"))

    def _lines(self, table: str) -> list[TextLine]:
        """Group tesseract's words (level 5 rows) by block, paragraph and line."""
        grouped: dict[tuple[str, str, str], list[list[str]]] = {}
        rows = [row.split("\t") for row in table.splitlines()[1:]]
        for row in rows:
            if len(row) == 12 and row[0] == "5" and row[11].strip() and float(row[10]) >= 0:
                grouped.setdefault((row[2], row[3], row[4]), []).append(row)
        lines = []
        for words in grouped.values():
            confidence = float(np.mean([float(word[10]) for word in words])) / 100
            if confidence < self.settings.min_confidence:
                continue
            left = [int(word[6]) for word in words]
            top = [int(word[7]) for word in words]
            right = [int(word[6]) + int(word[8]) for word in words]
            bottom = [int(word[7]) + int(word[9]) for word in words]
            lines.append(
                TextLine(
                    text=" ".join(word[11].strip() for word in words),
                    confidence=round(confidence, 4),
                    box=(min(left), min(top), max(right), max(bottom)),
                )
            )
        return lines


def split_words(text: str) -> str:
    """Spaces put back between English words: the PP-OCR recogniser reads a Latin line as
    one run of letters ("Welcometotheharbour"), which text search could not match.

    Each run of Latin letters is split where English Wikipedia's word frequencies make it
    most likely (``wordninja``); digits, punctuation, other scripts and runs inside web or
    mail addresses stay as read.
    """
    import wordninja

    return _LATIN_RUN.sub(lambda run: " ".join(wordninja.split(run[0])) or run[0], text)


def require_tesseract(languages: str) -> None:
    """Raise :class:`ReaderUnavailable`, saying what to install, unless ``tesseract`` and
    every language of ``languages`` (``kor+eng``) are there."""
    install = "apt-get install tesseract-ocr tesseract-ocr-kor"
    if shutil.which("tesseract") is None:
        raise ReaderUnavailable(f"the tesseract program is not installed ({install})")
    listed = subprocess.run(
        ["tesseract", "--list-langs"], capture_output=True, text=True, check=False, timeout=30
    )
    installed = set(listed.stdout.split())
    missing = [lang for lang in languages.split("+") if lang not in installed]
    if missing:
        raise ReaderUnavailable(f"tesseract has no data for {missing} ({install})")


def build_reader(settings: OcrSettings | None = None) -> TextReader:
    """The reader ``settings.engine`` names."""
    chosen = settings or OcrSettings()
    if chosen.engine == "tesseract":
        return TesseractReader(chosen)
    return RapidOcrReader(chosen)


def _box(points: np.ndarray, width: int, height: int) -> Box:
    """The axis-aligned box around a (4, 2) quadrilateral, in whole pixels of the picture
    (the detector's boxes may reach a little past its edges)."""
    x0, y0 = np.floor(points.min(axis=0)).astype(int)
    x1, y1 = np.ceil(points.max(axis=0)).astype(int)
    return max(int(x0), 0), max(int(y0), 0), min(int(x1), width), min(int(y1), height)
