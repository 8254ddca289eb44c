"""A language's recogniser as the MLflow model ``speech-<lang>``, in a real store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from mlflow import MlflowClient
from typer.testing import CliRunner

from ops.settings import Settings
from ops.speech.cli import speech_app
from ops.speech.params import SpeechSettings, VadSettings
from ops.speech.tracking import (
    OUTPUT_COLUMNS,
    PRETRAINED,
    ensure_speech_model,
    load_speech_model,
)
from tests.ops.speech.conftest import ENGLISH
from tests.ops.speech.synth import Spoken


def test_it_is_registered_once_and_transcribes(
    home: Settings, english: Spoken, tmp_path: Path
) -> None:
    name, version = ensure_speech_model(home.tracking_uri, "en")
    assert (name, version) == ("speech-en", "1")
    assert ensure_speech_model(home.tracking_uri, "en") == (name, version)
    client = MlflowClient(home.tracking_uri)
    assert client.get_model_version(name, version).tags["training_data"] == PRETRAINED
    model = load_speech_model(f"models:/{name}/{version}", home.tracking_uri)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio")
    rows = model.predict(pd.DataFrame({"path": [str(english.path), str(broken)]}))
    assert list(rows.columns) == list(OUTPUT_COLUMNS)
    heard = rows[rows["path"] == str(english.path)]
    assert set(heard["word"]) & set(ENGLISH.split())
    assert (heard["segment"] == 0).all() and heard["error"].isna().all()
    assert (heard["start_s"] >= heard["segment_start_s"]).all()
    failed = rows[rows["path"] == str(broken)]
    assert failed["segment"].tolist() == [-1]
    assert "broken.wav" in failed["error"].iloc[0]
    # a changed voice detector changes what the model hears: a new version
    stricter = SpeechSettings(vad=VadSettings(threshold=0.7))
    assert ensure_speech_model(home.tracking_uri, "en", stricter) == (name, "2")


def test_the_cli_registers_it(home: Settings) -> None:
    result = CliRunner().invoke(speech_app, ["register", "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert "speech-en version 1" in result.output
