"""The language registry: built-in languages, languages added by settings alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ops.speech.params import (
    BUILTIN_LANGUAGES,
    RecognizerSpec,
    RecognizerUnavailable,
    SpeechSettings,
    UnknownLanguage,
)


def test_english_and_korean_are_built_in_and_installed() -> None:
    settings = SpeechSettings()
    assert settings.recognizer(None)[0] == "en"
    code, spec = settings.recognizer("KO")
    assert (code, spec.engine) == ("ko", "vosk")
    assert (spec.model_dir() / "am" / "final.mdl").is_file()
    english = BUILTIN_LANGUAGES["en"]
    assert all((english.model_dir() / name).exists() for name in english.files.values())


def test_a_language_is_added_by_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "fr-model"
    folder.mkdir()
    added = {"FR": {"engine": "vosk", "model": str(folder)}}
    monkeypatch.setenv("CINESCOPE_SPEECH_LANGUAGES", json.dumps(added))
    monkeypatch.setenv("CINESCOPE_SPEECH_DEFAULT_LANGUAGE", "fr")
    settings = SpeechSettings()
    assert sorted(settings.registry) == ["en", "fr", "ko"]
    code, spec = settings.recognizer(None)
    assert (code, spec.engine, spec.model_dir()) == ("fr", "vosk", folder)


def test_unknown_languages_and_missing_models_say_what_to_do() -> None:
    with pytest.raises(UnknownLanguage, match="configured are \\['en', 'ko'\\]"):
        SpeechSettings().recognizer("xx")
    with pytest.raises(ValueError, match="default_language"):
        SpeechSettings(default_language="xx")
    absent = RecognizerSpec(engine="vosk", model="vosk_model_xx_absent:model")
    with pytest.raises(RecognizerUnavailable, match="pip install vosk-model-xx-absent"):
        absent.model_dir()
    with pytest.raises(RecognizerUnavailable, match="does not exist"):
        RecognizerSpec(engine="vosk", model="/no/such/model").model_dir()
