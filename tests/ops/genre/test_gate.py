"""The music gate on generated sound: silence, noise, speech-like sound are not music."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ops.genre.features import WindowFeatures
from ops.genre.gate import music_share, window_kinds
from ops.genre.model import GenreModel
from ops.genre.params import GateSettings
from ops.genre.predict import GenreClassifier
from tests.ops.genre.synth import RATE, babble, track, write

pytest.importorskip("silero_vad", reason="the music gate needs silero-vad (pip install silero-vad)")


@pytest.fixture(scope="module")
def classifier(model_path: Path) -> GenreClassifier:
    return GenreClassifier(GenreModel.load(model_path))


def test_music_is_music_with_a_genre(classifier: GenreClassifier, tmp_path: Path) -> None:
    answer = classifier.classify_file(write(tmp_path / "m.wav", track("flute", 61, 9.0)))
    assert answer.music and answer.genre == "flute"
    assert answer.window_kinds == {"music": 5} and answer.music_share == 1.0
    assert set(answer.probabilities) == {"chorale", "flute", "march"}
    assert sum(answer.probabilities.values()) == pytest.approx(1, abs=1e-3)


def test_silence_is_not_music(classifier: GenreClassifier, tmp_path: Path) -> None:
    quiet = np.random.default_rng(0).normal(0, 1e-4, 6 * RATE).astype(np.float32)  # -80 dBFS
    answer = classifier.classify_file(write(tmp_path / "quiet.wav", quiet))
    assert not answer.music and answer.genre is None and answer.probabilities == {}
    assert answer.window_kinds == {"silence": 3}


def test_noise_is_not_music(classifier: GenreClassifier, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    white = rng.normal(0, 0.1, 6 * RATE)
    brown = np.cumsum(rng.normal(0, 0.01, 6 * RATE))
    for name, noise in (("white", white), ("brown", brown - brown.mean())):
        audio = (0.3 * noise / np.abs(noise).max()).astype(np.float32)
        answer = classifier.classify_file(write(tmp_path / f"{name}.wav", audio))
        assert not answer.music, name
        assert answer.window_kinds == {"noise": 3}, name


def test_speech_like_babble_is_not_music(classifier: GenreClassifier, tmp_path: Path) -> None:
    """Generated babble (a gliding voiced buzz through changing formants, in syllables and
    pauses) is rejected in every window: as speech where the voice detector hears it, else
    for its pauses or its lack of a steady pitch."""
    for seed in (0, 1):
        answer = classifier.classify_file(write(tmp_path / f"b{seed}.wav", babble(seed)))
        assert not answer.music
        assert "music" not in answer.window_kinds


def test_synthesised_speech_is_heard_as_speech(classifier: GenreClassifier, tmp_path: Path) -> None:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng)")
    path = tmp_path / "speech.wav"
    sentence = (
        "Please remember to bring your passport and two copies of the form when you "
        "come to the office next week, and ask for the desk on the second floor."
    )
    subprocess.run([espeak, "-v", "en-us", "-w", str(path), sentence], check=True)
    answer = classifier.classify_file(path)
    assert not answer.music
    assert answer.window_kinds.get("speech", 0) >= 0.8 * answer.windows


def test_rules_apply_in_order_with_their_thresholds() -> None:
    """Loud enough, tonal enough, then speech (voice and pauses both), then sparse."""
    features = WindowFeatures(
        matrix=np.zeros((6, 1)),
        rms_db=np.array([-60.0, -20, -20, -20, -20, -20]),
        chroma_peak=np.array([0.5, 0.1, 0.3, 0.3, 0.3, 0.3]),
        low_energy=np.array([0.9, 0.9, 0.3, 0.1, 0.5, 0.1]),
    )
    speech = np.array([1.0, 1.0, 0.9, 0.9, 0.1, 0.1])
    kinds = window_kinds(features, speech, GateSettings())
    assert kinds == ["silence", "noise", "speech", "music", "sparse", "music"]
    assert music_share(kinds) == pytest.approx(2 / 6)
    assert music_share([]) == 0.0
