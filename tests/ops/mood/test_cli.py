"""``cinescope mood evaluate|train`` (the exact interfaces), mounted as the ``cinescope``
CLI mounts them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ops.mood.circle import MOODS
from ops.mood.cli import mood_app
from ops.mood.standins import write_standin_folder
from ops.settings import Settings

app = typer.Typer()
app.add_typer(mood_app, name="mood")
runner = CliRunner()


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A labelled folder: 6 pictures of each mood."""
    return write_standin_folder(tmp_path_factory.mktemp("mood") / "pictures", 6)


def test_evaluate_without_a_folder_scores_generated_stand_ins_and_says_so() -> None:
    result = runner.invoke(app, ["mood", "evaluate", "--folds", "3", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert {"accuracy", "adjacent_accuracy", "per_mood", "folds"} <= set(answer)
    assert answer["training_data"] == "generated" and answer["folds"] == 3
    assert set(answer["per_mood"]) == set(MOODS)
    assert answer["adjacent_accuracy"] >= answer["accuracy"] > answer["chance_accuracy"]
    readable = runner.invoke(app, ["mood", "evaluate", "--folds", "3"])
    assert readable.exit_code == 0, readable.output
    assert "not real pictures" in readable.stdout and "adjacent accuracy" in readable.stdout


def test_evaluate_a_labelled_folder(pictures: Path) -> None:
    result = runner.invoke(app, ["mood", "evaluate", "--data", str(pictures), "--json"])
    assert result.exit_code == 2 and "10-fold" in result.stderr  # 6 pictures per mood
    result = runner.invoke(
        app, ["mood", "evaluate", "--data", str(pictures), "--folds", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert (answer["images"], answer["training_data"]) == (48, "real")


def test_evaluate_refuses_a_missing_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, ["mood", "evaluate", "--data", str(tmp_path / "none")])
    assert result.exit_code == 2 and "is not a folder of mood sub-folders" in result.stderr


def test_train_versions_registers_and_promotes(
    home: Settings, pictures: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("mood:\n  folds: 3\n  trees: 40\n")
    monkeypatch.setenv("CINESCOPE_SCENE_PARAMS_FILE", str(params))
    result = runner.invoke(app, ["mood", "train", "--data", str(pictures), "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["path"] == str(home.home / "mood" / "model.joblib")
    assert (answer["dataset_rev"], answer["training_data"]) == ("labels/mood/v1", "real")
    assert answer["registered"]["version"] == "1" and answer["registered"]["promoted"]
    again = runner.invoke(app, ["mood", "train", "--data", str(pictures)])
    assert again.exit_code == 0, again.output
    assert "registered mood version 2: champion kept" in again.stdout
