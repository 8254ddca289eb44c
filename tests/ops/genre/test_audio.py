"""Decoding, windowing and labelled folders of the genre model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ops.genre.audio import (
    UnreadableAudio,
    frame_windows,
    labelled_tracks,
    load_audio,
    stream_windows,
)
from tests.ops.genre.synth import RATE, track, write


def test_streamed_windows_are_the_windows_of_the_whole_file(tmp_path: Path) -> None:
    path = write(tmp_path / "a.wav", track("flute", 1, seconds=7.3))
    audio = load_audio(path, RATE)
    assert audio.shape == (round(7.3 * RATE),)
    whole = frame_windows(audio, 3 * RATE, RATE)
    streamed = np.stack(list(stream_windows(path, RATE, 3 * RATE, RATE)))
    assert whole.shape == (5, 3 * RATE)  # starts 0..4 s; the 0.3 s tail is left out
    np.testing.assert_allclose(streamed, whole, atol=1e-6)


def test_a_file_shorter_than_a_window_gives_one_padded_window(tmp_path: Path) -> None:
    path = write(tmp_path / "short.wav", track("chorale", 2, seconds=1.0))
    (window,) = stream_windows(path, RATE, 3 * RATE, RATE)
    assert window.shape == (3 * RATE,)
    assert np.abs(window[: RATE - 100]).max() > 0.1 and not window[RATE + 100 :].any()


def test_decoding_resamples_and_downmixes(tmp_path: Path) -> None:
    stereo = np.stack([track("flute", 3, seconds=2.0)] * 2, axis=1)
    path = write(tmp_path / "stereo.wav", stereo, rate=44_100)
    audio = load_audio(path, RATE)
    assert audio.ndim == 1 and abs(audio.size - RATE) <= 64  # 2 s at 44.1 kHz = 1 s here


def test_unreadable_files_raise_a_clear_error(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(range(256)) * 8)
    with pytest.raises(UnreadableAudio, match=r"corrupt\.wav"):
        load_audio(corrupt, RATE)
    text = tmp_path / "notes.mp3"
    text.write_text("not audio at all")
    with pytest.raises(UnreadableAudio, match=r"notes\.mp3: cannot open"):
        list(stream_windows(text, RATE, 3 * RATE, RATE))
    with pytest.raises(UnreadableAudio, match="no such file"):
        load_audio(tmp_path / "missing.wav", RATE)


def test_labelled_tracks_are_the_audio_files_of_genre_folders(tmp_path: Path) -> None:
    for name in ("jazz/b.ogg", "jazz/a.wav", "ragtime/c.flac", "_non_music/d.wav"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "jazz" / "cover.jpg").write_bytes(b"")
    found = [(t.genre, t.path.name) for t in labelled_tracks(tmp_path)]
    assert found == [("jazz", "a.wav"), ("jazz", "b.ogg"), ("ragtime", "c.flac")]
    with pytest.raises(NotADirectoryError, match="not a folder"):
        list(labelled_tracks(tmp_path / "nope"))
