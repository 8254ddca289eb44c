"""``cinescope genre evaluate|train|predict`` and ``cinescope listen`` (the exact interfaces),
mounted as the ``cinescope`` CLI mounts them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ops.genre.cli import genre_app, listen
from ops.settings import Settings
from tests.ops.genre.synth import track, write

pytest.importorskip("silero_vad", reason="the music gate needs silero-vad (pip install silero-vad)")

app = typer.Typer()
app.add_typer(genre_app, name="genre")
app.command()(listen)
runner = CliRunner()


def test_evaluate_prints_one_json_object_with_the_agreed_keys(
    genre_dirs: tuple[Path, Path],
) -> None:
    train, test = genre_dirs
    result = runner.invoke(
        app, ["genre", "evaluate", "--train", str(train), "--test", str(test), "--json"]
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert {"accuracy", "per_genre", "baseline_accuracy"} <= set(answer)
    assert answer["accuracy"] == 1.0
    assert set(answer["per_genre"]) == {"chorale", "flute", "march"}


def test_evaluate_without_json_prints_a_table(genre_dirs: tuple[Path, Path]) -> None:
    train, test = genre_dirs
    result = runner.invoke(app, ["genre", "evaluate", "--train", str(train), "--test", str(test)])
    assert result.exit_code == 0, result.output
    assert "baseline accuracy (MFCC + SVM)" in result.stdout and "chorale" in result.stdout


def test_evaluate_refuses_a_missing_folder(tmp_path: Path, genre_dirs: tuple[Path, Path]) -> None:
    result = runner.invoke(
        app, ["genre", "evaluate", "--train", str(tmp_path / "no"), "--test", str(genre_dirs[1])]
    )
    assert result.exit_code == 2 and "is not a folder of genre sub-folders" in result.stderr


def test_train_registers_then_predict_at_the_default_location(
    home: Settings, genre_dirs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("genre:\n  folds: 4\n")  # four tracks per genre
    monkeypatch.setenv("CINESCOPE_SCENE_PARAMS_FILE", str(params))
    song = write(tmp_path / "song.wav", track("march", 71, 7.5))
    missing = runner.invoke(app, ["genre", "predict", str(song), "--json"])
    assert missing.exit_code == 1
    assert (
        "no genre model at" in missing.stderr and "cinescope genre train --data" in missing.stderr
    )
    trained = runner.invoke(app, ["genre", "train", "--data", str(genre_dirs[0]), "--json"])
    assert trained.exit_code == 0, trained.output
    answer = json.loads(trained.stdout)
    assert answer["path"] == str(home.home / "genre" / "model.joblib")
    assert (answer["dataset_rev"], answer["training_data"]) == ("labels/genre/v1", "real")
    assert answer["registered"]["version"] == "1" and answer["registered"]["promoted"]
    result = runner.invoke(app, ["genre", "predict", str(song), "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["music"] is True and answer["genre"] == "march"
    assert set(answer["probabilities"]) == {"chorale", "flute", "march"}


def test_predict_json_for_sound_that_is_not_music(model_path: Path, tmp_path: Path) -> None:
    silence = write(tmp_path / "silence.wav", track("flute", 1) * 0)
    result = runner.invoke(
        app, ["genre", "predict", str(silence), "--model", str(model_path), "--json"]
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert (answer["music"], answer["genre"], answer["probabilities"]) == (False, None, {})


def test_predict_refuses_corrupt_audio_with_the_reason(model_path: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.flac"
    corrupt.write_bytes(b"fLaC" + bytes(300))
    result = runner.invoke(app, ["genre", "predict", str(corrupt), "--model", str(model_path)])
    assert result.exit_code == 2 and "corrupt.flac" in result.stderr
    gone = runner.invoke(
        app, ["genre", "predict", str(tmp_path / "x.wav"), "--model", str(model_path)]
    )
    assert gone.exit_code == 2 and "is not a file" in gone.stderr


def test_predict_prints_a_readable_answer(model_path: Path, tmp_path: Path) -> None:
    song = write(tmp_path / "song.wav", track("chorale", 72, 6.0))
    result = runner.invoke(app, ["genre", "predict", str(song), "--model", str(model_path)])
    assert result.exit_code == 0, result.output
    assert "music: chorale" in result.stdout and "probabilities" in result.stdout


def test_listen_gives_one_answer_per_window(model_path: Path, tmp_path: Path) -> None:
    song = write(tmp_path / "song.wav", track("flute", 73, 7.5))
    result = runner.invoke(
        app, ["listen", str(song), "--model", str(model_path), "--fast", "--json"]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["start_s"] for line in lines] == [0.0, 1.5, 3.0, 4.5]
    assert all(line["running_genre"] == "flute" and line["latency_s"] >= 0 for line in lines)
    readable = runner.invoke(app, ["listen", str(song), "--model", str(model_path), "--fast"])
    assert readable.exit_code == 0, readable.output
    assert "running: flute" in readable.stdout and "4 windows; latency median" in readable.stdout


def test_listen_refuses_what_it_cannot_play(model_path: Path, tmp_path: Path) -> None:
    absent = runner.invoke(app, ["listen", "hw:0", "--model", str(model_path)])
    assert absent.exit_code == 2 and "is not a file" in absent.stderr
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x10\x00\x00\x00WAVE" + bytes(64))
    broken = runner.invoke(app, ["listen", str(corrupt), "--model", str(model_path), "--fast"])
    assert broken.exit_code == 2 and "corrupt.wav" in broken.stderr
