"""Speech spans, the 1-s segments they cover, and speech/music/other shares."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from ops.genre.audio import UnreadableAudio, load_audio
from ops.sample_site.media import mux
from ops.speech.vad import (
    SAMPLE_RATE,
    Span,
    audio_shares,
    detect_speech,
    segment_count,
    speech_segments,
    speech_spans,
)
from tests.ops.genre.synth import RATE, track, write
from tests.ops.speech.synth import Spoken


def _span(start: float, end: float) -> Span:
    return Span(start_s=start, end_s=end)


def test_a_segment_is_speech_when_at_least_half_of_it_is() -> None:
    spans = [_span(0.2, 1.6), _span(2.7, 3.2), _span(4.5, 4.9), _span(4.95, 5.2)]
    # [0,1): 0.8 s; [1,2): 0.6 s; [2,3): 0.3 s; [3,4): 0.2 s; [4,5): 0.45 s; [5,6): 0.2 s
    assert speech_segments(spans, 6.0) == [0, 1]
    assert speech_segments([_span(0.0, 10.0)], 3.2) == [0, 1, 2]  # none past the file
    assert speech_segments([_span(2.5, 3.0)], 3.0) == [2]  # exactly half counts


def test_segments_are_cut_as_the_scene_features_cut_them() -> None:
    assert segment_count(3.0) == 3
    assert segment_count(3.49) == 3  # a tail shorter than half a segment is dropped
    assert segment_count(3.5) == 4
    assert segment_count(0.0) == 0


def test_shares_add_up_and_speech_wins_over_music() -> None:
    shares = audio_shares(speech=[0, 1], music=[1, 2, 3], segments=5)
    assert (shares.speech, shares.music, shares.other) == (0.4, 0.4, 0.2)
    empty = audio_shares([], [], 0)
    assert (empty.speech, empty.music, empty.other) == (0.0, 0.0, 0.0)


def test_silence_and_a_steady_tone_are_not_speech() -> None:
    seconds = np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE
    tone = 0.3 * np.sin(2 * np.pi * 440 * seconds)
    noise = 0.05 * np.random.default_rng(0).standard_normal(SAMPLE_RATE)
    audio = np.concatenate([np.zeros(SAMPLE_RATE), tone, noise]).astype(np.float32)
    assert speech_spans(audio) == []
    assert speech_spans(np.zeros(0, np.float32)) == []


def test_speech_is_found_where_the_voice_is(english: Spoken) -> None:
    spans = speech_spans(load_audio(english.path, SAMPLE_RATE))
    assert len(spans) == 1
    assert abs(spans[0].start_s - english.start_s) < 0.3
    assert abs(spans[0].end_s - english.end_s) < 0.4


def test_an_item_with_speech_then_music(english: Spoken, tmp_path: Path) -> None:
    voice, _ = soundfile.read(english.path, dtype="float32")
    music = track("chorale", seed=3, seconds=6.0)
    path = write(tmp_path / "talk_then_music.wav", np.concatenate([voice, music]))
    activity = detect_speech(path)
    assert activity.duration_s == pytest.approx((voice.size + music.size) / RATE, abs=0.01)
    assert len(activity.spans) == 1
    assert activity.spans[0].start_s == pytest.approx(english.start_s, abs=0.3)
    spoken = [int(segment.start_s) for segment in activity.segments]
    assert english.end_s < 3.4  # the voice: 1.0 s to 3.1 s, so [3, 4) is not half speech
    assert spoken == [1, 2]
    assert all(segment.end_s - segment.start_s == 1.0 for segment in activity.segments)
    shares = activity.shares
    assert shares.speech == pytest.approx(2 / 10)
    assert shares.music >= 0.4  # most of the last six seconds
    assert shares.speech + shares.music + shares.other == pytest.approx(1.0)


def test_a_silent_video_and_a_broken_file(tmp_path: Path) -> None:
    silent = tmp_path / "silent.mp4"
    silent.write_bytes(mux("mp4", [np.zeros((32, 32, 3), np.uint8)] * 6, size=(32, 32)))
    activity = detect_speech(silent)
    assert activity.spans == [] and activity.segments == []
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....WAVEfmt nonsense")
    with pytest.raises(UnreadableAudio, match=r"broken\.wav"):
        detect_speech(broken)
