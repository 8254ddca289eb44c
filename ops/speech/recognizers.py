"""The speech recognisers behind one interface: 16-kHz mono samples in, timed words out.

Each engine is a small class registered in :data:`ENGINES` by the name a
:class:`~ops.speech.params.RecognizerSpec` gives, so a language is configured, not coded.
Models load lazily: a Vosk model (hundreds of MB) once per process behind a lock and shared
by every recogniser on it; a pocketsphinx decoder (fast to build, not thread-safe) per
recogniser. ``phrases`` restricts recognition to a list of words or phrases (a grammar),
for when the vocabulary is known.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict

from ops.speech.params import RecognizerSpec, RecognizerUnavailable
from ops.speech.vad import SAMPLE_RATE

_PCM_SCALE = 32_767


class Word(BaseModel):
    """One recognised word and its time in seconds."""

    model_config = ConfigDict(frozen=True)

    word: str
    start_s: float
    end_s: float


class Recognizer(Protocol):
    """Recognises one stretch of speech; times are from the first sample given."""

    def words(self, audio: np.ndarray) -> list[Word]: ...


def pcm16(audio: np.ndarray) -> bytes:
    """Float samples in [-1, 1] as the 16-bit little-endian PCM both engines read."""
    return (np.clip(audio, -1.0, 1.0) * _PCM_SCALE).astype("<i2").tobytes()


class PocketsphinxRecognizer:
    """CMU pocketsphinx: an acoustic model, a dictionary and an n-gram language model."""

    _FILLER = re.compile(r"^(<.*>|\[.*\]|\+\+.*\+\+)$")
    _VARIANT = re.compile(r"\(\d+\)$")  # "the(2)": the dictionary's second pronunciation

    def __init__(self, folder: Path, spec: RecognizerSpec, phrases: Sequence[str] = ()) -> None:
        from pocketsphinx import Decoder

        missing = {key for key in ("hmm", "dict") if key not in spec.files}
        if missing:
            raise RecognizerUnavailable(f"a pocketsphinx model needs files {sorted(missing)}")
        paths = {key: str(folder / name) for key, name in spec.files.items()}
        if phrases:
            paths.pop("lm", None)  # the grammar takes the language model's place
        self._decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL", **paths)
        if phrases:
            self._decoder.add_jsgf_string("phrases", _jsgf(phrases))
            self._decoder.activate_search("phrases")
        self._frame_s = 1 / float(self._decoder.config["frate"])

    def words(self, audio: np.ndarray) -> list[Word]:
        decoder = self._decoder
        decoder.start_utt()
        decoder.process_raw(pcm16(audio), full_utt=True)
        decoder.end_utt()
        if decoder.hyp() is None:
            return []
        return [
            Word(
                word=self._VARIANT.sub("", segment.word),
                start_s=round(segment.start_frame * self._frame_s, 3),
                end_s=round((segment.end_frame + 1) * self._frame_s, 3),
            )
            for segment in decoder.seg()
            if not self._FILLER.match(segment.word)
        ]


class VoskRecognizer:
    """Vosk (Kaldi): one model per process, one recogniser per stretch of speech."""

    _lock = threading.Lock()
    _models: ClassVar[dict[Path, Any]] = {}
    _NOISE = re.compile(r"^\[.*\]$")  # "[unk]" and the noise classes some models emit
    _CHUNK = 8_000  # samples per call: half a second, so long spans finalise as they go

    def __init__(self, folder: Path, spec: RecognizerSpec, phrases: Sequence[str] = ()) -> None:
        self._model = self._loaded(folder)
        self._grammar = json.dumps(list(phrases), ensure_ascii=False) if phrases else None

    @classmethod
    def _loaded(cls, folder: Path) -> Any:
        import vosk

        with cls._lock:
            if folder not in cls._models:
                vosk.SetLogLevel(-1)
                cls._models[folder] = vosk.Model(str(folder))
            return cls._models[folder]

    def words(self, audio: np.ndarray) -> list[Word]:
        import vosk

        if self._grammar is None:
            recognizer = vosk.KaldiRecognizer(self._model, SAMPLE_RATE)
        else:
            recognizer = vosk.KaldiRecognizer(self._model, SAMPLE_RATE, self._grammar)
        recognizer.SetWords(True)
        results: list[str] = []
        pcm = pcm16(audio)
        step = 2 * self._CHUNK
        for start in range(0, len(pcm), step):
            if recognizer.AcceptWaveform(pcm[start : start + step]):
                results.append(recognizer.Result())
        results.append(recognizer.FinalResult())
        return [
            Word(word=entry["word"], start_s=round(entry["start"], 3), end_s=round(entry["end"], 3))
            for result in results
            for entry in json.loads(result).get("result", [])
            if not self._NOISE.match(entry["word"])
        ]


def _jsgf(phrases: Sequence[str]) -> str:
    """A JSGF grammar accepting any sequence of ``phrases``."""
    choices = " | ".join(f"( {phrase.lower()} )" for phrase in phrases)
    return f"#JSGF V1.0;\ngrammar phrases;\npublic <phrases> = ( {choices} )+ ;\n"


RecognizerFactory = Callable[[Path, RecognizerSpec, Sequence[str]], Recognizer]
ENGINES: dict[str, RecognizerFactory] = {
    "pocketsphinx": PocketsphinxRecognizer,
    "vosk": VoskRecognizer,
}


def build_recognizer(
    spec: RecognizerSpec, phrases: Sequence[str] = (), folder: Path | None = None
) -> Recognizer:
    """The recogniser ``spec`` names, on its model folder (or ``folder``: a copy of it)."""
    try:
        factory = ENGINES[spec.engine]
    except KeyError:
        raise RecognizerUnavailable(f"unknown speech engine {spec.engine!r}") from None
    try:
        return factory(folder or spec.model_dir(), spec, phrases)
    except ImportError as error:
        raise RecognizerUnavailable(
            f"the {spec.engine} engine is not installed (pip install {spec.engine}): {error}"
        ) from error
