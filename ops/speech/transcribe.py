"""Time-coded transcripts: the voice detector finds the speech, the language's recogniser
reads each span, and every word keeps its time in the file.

The one transcription path: ``cinescope speech transcribe``, the registered ``speech-<lang>``
models and the benchmark all go through :class:`Transcriber`, so what is measured is what
ships. Only speech spans are recognised, so music and silence cost nothing and produce no
invented words.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict
from tqdm import tqdm

from ops.genre.audio import NoAudioStream, load_audio
from ops.speech.params import SpeechSettings
from ops.speech.recognizers import Recognizer, Word, build_recognizer
from ops.speech.vad import SAMPLE_RATE, Span, speech_spans


class TranscriptSegment(BaseModel):
    """One speech span and what was said in it."""

    model_config = ConfigDict(frozen=True)

    start_s: float
    end_s: float
    text: str


class Transcript(BaseModel):
    """What a file says: segments (speech spans with text) and every word with its time."""

    model_config = ConfigDict(frozen=True)

    language: str
    segments: list[TranscriptSegment]
    words: list[Word]


class Transcriber:
    """One language's recogniser behind the voice detector; the model loads on first use."""

    def __init__(
        self,
        language: str | None = None,
        settings: SpeechSettings | None = None,
        *,
        phrases: Sequence[str] = (),
        model_dir: Path | None = None,
    ) -> None:
        self.settings = settings or SpeechSettings()
        self.language, self.spec = self.settings.recognizer(language)
        self._phrases = tuple(phrases)
        self._model_dir = model_dir
        self._recognizer: Recognizer | None = None

    @property
    def recognizer(self) -> Recognizer:
        if self._recognizer is None:
            self._recognizer = build_recognizer(self.spec, self._phrases, self._model_dir)
        return self._recognizer

    def transcribe_file(self, path: Path) -> Transcript:
        """The file's transcript; a readable file without sound has an empty one.
        Raises :class:`~ops.genre.audio.UnreadableAudio`."""
        try:
            audio = load_audio(path, SAMPLE_RATE)
        except NoAudioStream:
            return Transcript(language=self.language, segments=[], words=[])
        return self.transcribe(audio)

    def transcribe(self, audio: np.ndarray, spans: Sequence[Span] | None = None) -> Transcript:
        """Recognise ``spans`` of 16-kHz mono ``audio`` (default: the voice detector's)."""
        found = speech_spans(audio, self.settings.vad) if spans is None else spans
        segments: list[TranscriptSegment] = []
        words: list[Word] = []
        for span in tqdm(found, desc=f"speech-{self.language}", unit="span", disable=None):
            first, last = round(span.start_s * SAMPLE_RATE), round(span.end_s * SAMPLE_RATE)
            piece = audio[first:last]
            dither = _dither(piece.size, self.settings.dither_dbfs, seed=first)
            heard = self.recognizer.words(piece + dither)
            if not heard:
                continue
            timed = [
                Word(
                    word=word.word,
                    start_s=round(span.start_s + word.start_s, 3),
                    end_s=round(min(span.start_s + word.end_s, span.end_s), 3),
                )
                for word in heard
            ]
            words += timed
            text = " ".join(word.word for word in timed)
            segments.append(TranscriptSegment(start_s=span.start_s, end_s=span.end_s, text=text))
        return Transcript(language=self.language, segments=segments, words=words)


def _dither(samples: int, dbfs: float, seed: int) -> np.ndarray:
    """Seeded white noise at ``dbfs`` RMS: the same file always gives the same transcript."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(samples) * 10 ** (dbfs / 20)).astype(np.float32)
