"""Sentences synthesised once per test session (espeak-ng; skipped where it is missing)."""

from __future__ import annotations

import pytest

from tests.ops.speech.synth import Spoken, require_espeak, speak

ENGLISH = "please open the door and turn on the light"
KOREAN = "안녕하세요 감사합니다"


@pytest.fixture(scope="session")
def english(tmp_path_factory: pytest.TempPathFactory) -> Spoken:
    require_espeak()
    return speak(ENGLISH, tmp_path_factory.mktemp("speech") / "english.wav")


@pytest.fixture(scope="session")
def korean(tmp_path_factory: pytest.TempPathFactory) -> Spoken:
    require_espeak()
    return speak(KOREAN, tmp_path_factory.mktemp("speech") / "korean.wav", name="ko", speed=150)
