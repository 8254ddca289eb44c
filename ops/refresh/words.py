"""The refresh tasks of words in the media: what is said (``speech``) and what is shown (``ocr``).

``speech`` runs the registered ``speech-<lang>`` recogniser of the item's language (the
``language`` its source declares in sources.yaml, else the speech settings' default) on
audio items and soundtracks. Its words become phrase rows (a pause or ``PHRASE_MAX_S``
ends a phrase), each with its span and its text as the label, so a search finds the
second a word is said; and three whole-item rows give the speech, music and other shares
of the item's 1-s segments. Its model is every catalog language's registered version
(``en.2+ko.1``), so registering a language's new version re-transcribes the catalog.

``ocr`` reads pictures and sampled video frames with PP-OCR (ops.ocr): one row per caption,
merged across the frames that show it, with its span (none on a picture), its text as the
label and the reader's confidence. It is versioned like ``shots``: by a digest of the
reader, its settings and this code, since its models ship inside the ``rapidocr`` wheel.

Both tasks' labels are open text: the prediction checks ask only that none is blank.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import replace
from functools import lru_cache
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from ops.predictions.schema import EMBEDDING_SCHEMA
from ops.refresh.tasks import (
    NOT_VERSIONED,
    ItemFailed,
    ItemOutput,
    ModelRef,
    WorkItem,
    embedded_store_missing,
)
from ops.refresh.tasks import prediction_table as rows_of
from ops.settings import Settings

if TYPE_CHECKING:
    from ops.ocr.readers import TextReader

logger = logging.getLogger(__name__)

SPEECH_TASK = "speech"
OCR_TASK = "ocr"
SPEECH_MODEL = "speech"
"""The speech task's model in the ledger: one registered version per catalog language."""
SHARE_LABELS = ("speech", "music", "other")
"""Whole-item speech rows: the share of the item's 1-s segments that are each."""
PHRASE_MAX_S = 4.0
"""A phrase row spans at most this long, so a search lands within a few seconds of a word."""
PHRASE_GAP_S = 0.6
"""A pause this long between two words starts a new phrase."""
OCR_CODE_VERSION = "ocr-1"  # bump when the rows the ocr task gives change
PRETRAINED = "pretrained"


# -- speech -----------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _declared_languages(sources_file: Path, modified_ns: int) -> dict[str, str]:
    from ops.ingest.sources import SourceConfigError, load_sources

    try:
        sources = load_sources(sources_file)
    except SourceConfigError as error:
        logger.warning("speech: no source languages (%s)", error)
        return {}
    return {name: source.language for name, source in sources.items() if source.language}


def source_languages(settings: Settings) -> dict[str, str]:
    """source name -> the language its items speak, as sources.yaml declares it."""
    path = settings.sources_file
    if not path.is_file():
        return {}
    return _declared_languages(path, path.stat().st_mtime_ns)


def item_language(settings: Settings, source: str) -> str:
    """The language an item of ``source`` is transcribed in."""
    from ops.speech.params import SpeechSettings

    declared = source_languages(settings).get(source)
    return (declared or SpeechSettings().default_language).strip().lower()


def _language_versions(model: ModelRef) -> dict[str, str]:
    """``en.2+ko.1`` -> {"en": "2", "ko": "1"}."""
    return dict(part.split(".", 1) for part in model.model_version.split("+"))


def phrases(words: pd.DataFrame) -> list[tuple[float, float, str]]:
    """Timed words (``word``, ``start_s``, ``end_s``, ``segment``, by time) as phrases:
    a new one at each speech span, each pause of ``PHRASE_GAP_S`` and every ``PHRASE_MAX_S``."""
    found: list[tuple[float, float, str]] = []
    current: list[str] = []
    start = end = 0.0
    segment = None
    for word in words.itertuples(index=False):
        begins = (
            not current
            or word.segment != segment
            or word.start_s - end >= PHRASE_GAP_S
            or word.end_s - start > PHRASE_MAX_S
        )
        if begins and current:
            found.append((start, end, " ".join(current)))
            current = []
        if not current:
            start, segment = float(word.start_s), word.segment
        current.append(str(word.word))
        end = float(word.end_s)
    if current:
        found.append((start, end, " ".join(current)))
    return found


def _load_speech(tracking_uri: str, name: str, version: str) -> Any:
    from ops.speech.tracking import load_speech_model

    logger.info("loading %s version %s", name, version)
    return load_speech_model(f"models:/{name}/{version}", tracking_uri)


class SpeechTask:
    """Time-coded phrases and speech/music/other shares of audio items and soundtracks."""

    name = SPEECH_TASK
    kinds = frozenset({"audio", "video"})
    no_model_message = (
        "no speech model registered for a language the catalog speaks "
        "(cinescope speech register [--lang CODE])"
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[tuple[str, str, str], Any] = {}  # one recogniser per language

    def current_model(self, settings: Settings) -> ModelRef | None:
        """Every catalog language's registered recogniser (the default language's, and each
        one a source declares); None while one of them has no registered version."""
        from ops.speech.params import SpeechSettings, UnknownLanguage
        from ops.speech.tracking import find_speech_model

        if embedded_store_missing(settings.tracking_uri):
            return None
        speech = SpeechSettings()
        languages = {speech.default_language, *source_languages(settings).values()}
        versions = []
        for language in sorted(languages):
            try:
                name, version = find_speech_model(settings.tracking_uri, language, speech)
            except UnknownLanguage as error:
                logger.warning("speech: %s; its sources' items will fail", error)
                continue
            if version is None:
                logger.info("speech: %s is not registered", name)
                return None
            versions.append(f"{language}.{version}")
        return ModelRef(SPEECH_MODEL, "+".join(versions), PRETRAINED) if versions else None

    def vocabulary(self, model: ModelRef, settings: Settings) -> list[str] | None:
        return None

    def _recogniser(self, settings: Settings, name: str, version: str) -> Any:
        key = (settings.tracking_uri, name, version)
        with self._lock:
            if key not in self._loaded:
                self._loaded[key] = _load_speech(*key)
            return self._loaded[key]

    def run(self, work: WorkItem, settings: Settings) -> ItemOutput:
        from ops.speech.tracking import model_name
        from ops.speech.vad import Span, audio_shares, segment_count
        from ops.speech.vad import speech_segments as on_grid

        language = item_language(settings, work.source)
        version = _language_versions(work.model).get(language)
        if version is None:
            raise ItemFailed(
                f"source {work.source!r} speaks {language!r}, which has no recogniser "
                "(add one with CINESCOPE_SPEECH_LANGUAGES, then cinescope speech register)"
            )
        model = ModelRef(model_name(language), version, work.model.dataset_rev)
        found = self._recogniser(settings, model.model_name, version).predict(
            pd.DataFrame({"path": [str(work.path)]})
        )
        errors = found["error"].dropna()
        if len(errors):
            raise ItemFailed(str(errors.iloc[0]))
        words = found.sort_values("start_s", kind="stable")
        said = phrases(words)
        mine = replace(work, model=model)
        spoken = rows_of(
            mine,
            self.name,
            [start for start, _, _ in said],
            [end for _, end, _ in said],
            [text for _, _, text in said],
            [1.0] * len(said),  # the recognisers give no calibrated confidence
        )
        duration_s = work.duration_s or float(words["end_s"].max() if len(words) else 0.0)
        spans = {
            (float(row.segment_start_s), float(row.segment_end_s))
            for row in words.itertuples(index=False)
        }
        count = segment_count(duration_s)
        shares = audio_shares(
            on_grid([Span(start_s=a, end_s=b) for a, b in sorted(spans)], duration_s),
            self._music(work, count),
            count,
        )
        whole = rows_of(
            mine,
            self.name,
            [None] * len(SHARE_LABELS),
            [None] * len(SHARE_LABELS),
            SHARE_LABELS,
            [getattr(shares, label) for label in SHARE_LABELS],
        )
        return ItemOutput(pa.concat_tables([spoken, whole]), EMBEDDING_SCHEMA.empty_table(), count)

    @staticmethod
    def _music(work: WorkItem, count: int) -> list[int]:
        from ops.genre.audio import NoAudioStream, UnreadableAudio
        from ops.media.decode import MediaDecodeError
        from ops.speech.vad import music_segments

        try:
            return music_segments(work.path, count)
        except NoAudioStream:
            return []
        except (UnreadableAudio, MediaDecodeError) as error:
            raise ItemFailed(str(error)) from error


# -- on-screen text ---------------------------------------------------------------------------


class OcrTask:
    """Captions and text in pictures and video frames, with when and how sure."""

    name = OCR_TASK
    kinds = frozenset({"image", "video"})
    no_model_message = "no OCR reader available"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reader: TextReader | None = None

    def current_model(self, settings: Settings) -> ModelRef | None:
        """Versioned by a digest of the reader's package version, its settings and this code."""
        from ops.ocr.params import OcrSettings

        chosen = OcrSettings()
        package = "rapidocr_onnxruntime" if chosen.engine == "rapidocr" else "pytesseract"
        described = json.dumps(
            {
                "code": OCR_CODE_VERSION,
                "reader": _package_version(package),
                "settings": chosen.model_dump(mode="json"),
            },
            sort_keys=True,
        )
        digest = hashlib.sha256(described.encode()).hexdigest()[:12]
        return ModelRef(f"ocr-{chosen.engine}", digest, NOT_VERSIONED)

    def vocabulary(self, model: ModelRef, settings: Settings) -> list[str] | None:
        return None

    def _text_reader(self) -> TextReader:
        from ops.ocr.readers import build_reader

        with self._lock:
            if self._reader is None:
                self._reader = build_reader()
            return self._reader

    def run(self, work: WorkItem, settings: Settings) -> ItemOutput:
        from ops.ocr.read import UnreadableMedia, read_file, read_still

        reader = self._text_reader()
        try:
            if work.kind == "image":
                found = read_still(work.path, reader)
            else:
                found = read_file(work.path, reader=reader)
        except UnreadableMedia as error:
            raise ItemFailed(str(error)) from error
        boxes = found.boxes
        rows = rows_of(
            work,
            self.name,
            [box.time_s for box in boxes],
            [box.end_s for box in boxes],
            [box.text for box in boxes],
            [box.confidence for box in boxes],
        )
        return ItemOutput(rows, EMBEDDING_SCHEMA.empty_table(), len(boxes))


def _package_version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError

    try:
        return installed_version(package)
    except PackageNotFoundError:
        return "not installed"
