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

from ops.genre.audio import NoAudioStream, audio_blocks
from ops.speech.params import SpeechSettings
from ops.speech.recognizers import Recognizer, Word, build_recognizer
from ops.speech.vad import SAMPLE_RATE, Span, speech_spans

CHUNK_S = 120.0
"""Seconds of audio decoded and searched for speech at once."""
CARRY_MARGIN_S = 0.5
"""A speech span ending this close to a chunk's end may go on: it waits for the next chunk,
with this much of the audio before it (and each next chunk starts this much early)."""


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
        """The file's transcript; a readable file without sound has an empty one. Decoded
        and recognised ``CHUNK_S`` at a time, so memory stays flat however long the file
        (a speech span running into the next chunk is carried over whole).
        Raises :class:`~ops.genre.audio.UnreadableAudio`."""
        # a recogniser adapts to what it hears (pocketsphinx's live cepstral normalisation
        # persists across utterances): each file starts with a fresh one, so a file's
        # transcript never depends on which files came before it in a shard (~1 s for en)
        self._recognizer = None
        segments: list[TranscriptSegment] = []
        words: list[Word] = []
        carried = np.zeros(0, dtype=np.float32)
        offset_s = 0.0  # the file time of carried[0]
        blocks = audio_blocks(path, SAMPLE_RATE, CHUNK_S)
        try:
            block = next(blocks, None)
        except NoAudioStream:
            return Transcript(language=self.language, segments=[], words=[])
        while block is not None:
            following = next(blocks, None)
            audio = np.concatenate([carried, block])
            spans = speech_spans(audio, self.settings.vad)
            ends_s = audio.size / SAMPLE_RATE
            carry = bool(
                following is not None and spans and spans[-1].end_s >= ends_s - CARRY_MARGIN_S
            )
            done = spans[:-1] if carry else spans
            found = self.transcribe(audio, done, offset_s=offset_s)
            segments += found.segments
            words += found.words
            # the next chunk starts with the last CARRY_MARGIN_S (more for a span carried
            # whole), so the detector hears speech begin, but never a recognised span again
            recognised_s = done[-1].end_s if done else 0.0
            resume_s = spans[-1].start_s if carry else ends_s
            keep_from = round(max(recognised_s, resume_s - CARRY_MARGIN_S, 0.0) * SAMPLE_RATE)
            carried = audio[keep_from:]
            offset_s += keep_from / SAMPLE_RATE
            block = following
        return Transcript(language=self.language, segments=segments, words=words)

    def transcribe(
        self, audio: np.ndarray, spans: Sequence[Span] | None = None, *, offset_s: float = 0.0
    ) -> Transcript:
        """Recognise ``spans`` of 16-kHz mono ``audio`` (default: the voice detector's);
        times are given from ``offset_s``, the file time of ``audio[0]``."""
        found = speech_spans(audio, self.settings.vad) if spans is None else spans
        segments: list[TranscriptSegment] = []
        words: list[Word] = []
        for span in tqdm(found, desc=f"speech-{self.language}", unit="span", disable=None):
            first, last = round(span.start_s * SAMPLE_RATE), round(span.end_s * SAMPLE_RATE)
            piece = audio[first:last]
            seed = first + round(offset_s * SAMPLE_RATE)  # the same samples, the same noise
            heard = self.recognizer.words(
                piece + _dither(piece.size, self.settings.dither_dbfs, seed)
            )
            if not heard:
                continue
            start_s, end_s = offset_s + span.start_s, offset_s + span.end_s
            timed = [
                Word(
                    word=word.word,
                    start_s=round(start_s + word.start_s, 3),
                    end_s=round(min(start_s + word.end_s, end_s), 3),
                )
                for word in heard
            ]
            words += timed
            text = " ".join(word.word for word in timed)
            segments.append(
                TranscriptSegment(start_s=round(start_s, 3), end_s=round(end_s, 3), text=text)
            )
        return Transcript(language=self.language, segments=segments, words=words)


def _dither(samples: int, dbfs: float, seed: int) -> np.ndarray:
    """Seeded white noise at ``dbfs`` RMS: the same file always gives the same transcript."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(samples) * 10 ** (dbfs / 20)).astype(np.float32)
