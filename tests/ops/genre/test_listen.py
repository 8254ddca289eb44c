"""Live genre from a file played back in real time: one answer per window, in order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ops.genre.audio import UnreadableAudio
from ops.genre.listen import ListenSettings, listen_file, summarise
from ops.genre.model import GenreModel
from ops.genre.predict import GenreClassifier
from tests.ops.genre.synth import RATE, track, write

pytest.importorskip("silero_vad", reason="the music gate needs silero-vad (pip install silero-vad)")


class FakeClock:
    """A playback clock that only moves when slept on (or by ``work_s`` per reading)."""

    def __init__(self, work_s: float = 0.0) -> None:
        self.now = 100.0
        self.work_s = work_s
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        self.now += self.work_s
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def classifier(model_path: Path) -> GenreClassifier:
    return GenreClassifier(GenreModel.load(model_path))


def test_one_answer_per_window_each_after_its_end(
    classifier: GenreClassifier, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "song.wav", np.concatenate([track("chorale", 5, 6.0), track("flute", 6, 6.0)])
    )
    clock = FakeClock(work_s=0.01)
    updates = list(listen_file(path, classifier, clock=clock, sleep=clock.sleep))
    assert [u.index for u in updates] == list(range(7))  # 12 s: windows at 0, 1.5 ... 9 s
    assert [(u.start_s, u.end_s) for u in updates[:2]] == [(0.0, 3.0), (1.5, 4.5)]
    assert all(u.kind == "music" and u.confidence is not None for u in updates)
    assert updates[0].genre == "chorale" and updates[-1].genre == "flute"
    assert updates[-1].running_genre == "flute"  # the last 4 windows are all flute
    # the first window waits out its 3 s; later ones wait for the next 1.5 s of sound
    assert clock.sleeps[0] == pytest.approx(3.0, abs=0.05)
    assert all(s == pytest.approx(1.5, abs=0.1) for s in clock.sleeps[1:])
    assert all(0 < u.latency_s < 0.1 for u in updates)  # fake-clock ticks, not real time
    summary = summarise(updates)
    assert summary.windows == 7 and summary.within_one_second == 7


def test_non_music_windows_have_no_genre_and_keep_the_running_answer(
    classifier: GenreClassifier, tmp_path: Path
) -> None:
    audio = np.concatenate([track("march", 8, 6.0), np.zeros(3 * RATE, np.float32)])
    path = write(tmp_path / "fade.wav", audio)
    updates = list(listen_file(path, classifier, ListenSettings(realtime=False)))
    last = updates[-1]
    assert last.kind == "silence" and last.genre is None and last.confidence is None
    assert last.running_genre == "march"  # earlier music windows still in the memory


def test_a_corrupt_stream_raises_a_clear_error(classifier: GenreClassifier, tmp_path: Path) -> None:
    path = tmp_path / "broken.ogg"
    path.write_bytes(b"OggS" + bytes(500))
    with pytest.raises(UnreadableAudio, match=r"broken\.ogg"):
        list(listen_file(path, classifier, ListenSettings(realtime=False)))
