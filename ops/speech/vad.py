"""Where speech is: Silero VAD spans, the 1-s segments they cover, and each item's
speech/music/other share.

Silero VAD (weights inside its wheel) is the same model the music gate uses, loaded by the
gate's one loader. Spans are snapped to the segment grid the scene, face and audio outputs
share: segment ``[n, n + 1)`` is speech when speech covers at least half of it. A segment
that is not speech is music when the genre package's music gate judges the window around
it music (its rules, not a trained genre model), and other otherwise (silence, noise,
nature sounds), so the three shares add up to one.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import islice
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from ops.genre.audio import NoAudioStream, load_audio, stream_windows
from ops.genre.features import BATCH_WINDOWS, window_features
from ops.genre.gate import VAD_SAMPLE_RATE, VoiceDetector, WindowKind, window_kinds
from ops.genre.params import GateSettings, GenreSettings
from ops.scene.features import MIN_LAST_SEGMENT, SEGMENT_S
from ops.speech.params import VadSettings

SAMPLE_RATE = VAD_SAMPLE_RATE  # both recognisers and the voice detector listen at 16 kHz


class Span(BaseModel):
    """Seconds ``[start_s, end_s)`` from the start of the file."""

    model_config = ConfigDict(frozen=True)

    start_s: float
    end_s: float


class AudioShares(BaseModel):
    """Shares of an item's 1-s segments heard as speech, music and anything else."""

    model_config = ConfigDict(frozen=True)

    speech: float
    music: float
    other: float


class SpeechActivity(BaseModel):
    """One item's speech: the VAD spans, the 1-s segments they make speech, and the shares."""

    model_config = ConfigDict(frozen=True)

    duration_s: float
    spans: list[Span]
    segments: list[Span]
    shares: AudioShares


def speech_spans(audio: np.ndarray, settings: VadSettings | None = None) -> list[Span]:
    """Silero VAD's speech spans of 16-kHz mono ``audio``."""
    import torch
    from silero_vad import get_speech_timestamps

    chosen = settings or VadSettings()
    if audio.size == 0:
        return []
    model = VoiceDetector._loaded()
    with torch.inference_mode():
        found = get_speech_timestamps(
            torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)),
            model,
            threshold=chosen.threshold,
            sampling_rate=SAMPLE_RATE,
            min_speech_duration_ms=round(chosen.min_speech_s * 1000),
            max_speech_duration_s=chosen.max_speech_s,
            min_silence_duration_ms=round(chosen.min_silence_s * 1000),
            speech_pad_ms=round(chosen.speech_pad_s * 1000),
        )
    return [
        Span(start_s=round(s["start"] / SAMPLE_RATE, 3), end_s=round(s["end"] / SAMPLE_RATE, 3))
        for s in found
    ]


def segment_count(duration_s: float) -> int:
    """1-s segments of a file, as the scene features cut them (a short tail is dropped)."""
    whole, tail = divmod(max(duration_s, 0.0), SEGMENT_S)
    return int(whole) + (tail >= MIN_LAST_SEGMENT * SEGMENT_S)


def speech_segments(spans: Sequence[Span], duration_s: float) -> list[int]:
    """Indexes ``n`` of the segments ``[n, n + 1)`` that speech covers at least half of."""
    covered = np.zeros(segment_count(duration_s))
    for span in spans:
        first = int(span.start_s // SEGMENT_S)
        for n in range(first, min(int(np.ceil(span.end_s / SEGMENT_S)), covered.size)):
            start, end = n * SEGMENT_S, (n + 1) * SEGMENT_S
            covered[n] += max(0.0, min(end, span.end_s) - max(start, span.start_s))
    return [int(n) for n in np.flatnonzero(covered >= 0.5 * SEGMENT_S)]


def music_segments(
    path: Path, segments: int, genre: GenreSettings | None = None, gate: GateSettings | None = None
) -> list[int]:
    """Indexes of the segments whose nearest gate window (by centre) is judged music."""
    genre = genre or GenreSettings()
    gate = gate or GateSettings()
    voice = VoiceDetector()
    kinds: list[WindowKind] = []
    windows = stream_windows(path, genre.sample_rate, genre.window_samples, genre.hop_samples)
    while batch := list(islice(windows, BATCH_WINDOWS)):
        stacked = np.stack(batch)
        features = window_features(stacked, genre.sample_rate)
        kinds += window_kinds(features, voice.speech_share(stacked, genre.sample_rate), gate)
    if not kinds:
        return []
    centres = (np.arange(segments) + 0.5) * SEGMENT_S
    nearest = np.clip(np.rint((centres - genre.window_s / 2) / genre.hop_s), 0, len(kinds) - 1)
    return [n for n, window in enumerate(nearest.astype(int)) if kinds[window] == "music"]


def audio_shares(speech: Sequence[int], music: Sequence[int], segments: int) -> AudioShares:
    """Speech wins a segment that is both (speech over a score is speech)."""
    if segments == 0:
        return AudioShares(speech=0.0, music=0.0, other=0.0)
    spoken = set(speech)
    music_only = set(music) - spoken
    speech_share = round(len(spoken) / segments, 4)
    music_share = round(len(music_only) / segments, 4)
    return AudioShares(
        speech=speech_share, music=music_share, other=round(1 - speech_share - music_share, 4)
    )


def detect_speech(path: Path, settings: VadSettings | None = None) -> SpeechActivity:
    """Speech spans, speech segments and speech/music/other shares of a file; a readable
    file without sound has none. Raises :class:`~ops.genre.audio.UnreadableAudio`."""
    try:
        audio = load_audio(path, SAMPLE_RATE)
    except NoAudioStream:
        return SpeechActivity(duration_s=0.0, spans=[], segments=[], shares=audio_shares([], [], 0))
    duration_s = audio.size / SAMPLE_RATE
    spans = speech_spans(audio, settings)
    spoken = speech_segments(spans, duration_s)
    count = segment_count(duration_s)
    return SpeechActivity(
        duration_s=round(duration_s, 3),
        spans=spans,
        segments=[Span(start_s=n * SEGMENT_S, end_s=(n + 1) * SEGMENT_S) for n in spoken],
        shares=audio_shares(spoken, music_segments(path, count), count),
    )
