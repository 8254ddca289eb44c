"""The scene steps' contracts: a triggered run's params, and the typed results they hand on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from ops.dag_params import ParamsRefused
from ops.scene.params import TrainParams
from ops.scene.pipeline import generate_demo_labels, labels_step, run_params, scene_dir
from ops.scene.results import (
    AblationRow,
    EvaluatedModel,
    GateDecision,
    LabelledDataset,
    TrainedModel,
)
from ops.settings import Settings

PARAMS_FILE = """scene:
  labels: [kiss]
  frames_per_segment: 1
  image_size: 32
  epochs: 2
"""


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    params = tmp_path / "params.yaml"
    params.write_text(PARAMS_FILE)
    monkeypatch.setenv("CINESCOPE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CINESCOPE_SCENE_PARAMS_FILE", str(params))
    return Settings()


def test_a_triggers_params_replace_the_params_files_values_and_keep_the_rest(
    settings: Settings,
) -> None:
    assert run_params(settings, {}) == TrainParams.from_yaml(settings.scene_params_file)
    params = run_params(settings, {"epochs": 1, "lr": 0.002, "labels": ["kiss"]})
    assert (params.epochs, params.lr, params.labels) == (1, 0.002, ("kiss",))
    assert (params.image_size, params.frames_per_segment) == (32, 1)  # from the file


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"epochs": 0}, "epochs: Input should be greater than or equal to 1"),
        ({"epoch": 3}, "epoch: Extra inputs are not permitted"),
        ({"labels": ["kiss", "kiss"]}, "labels: Value error, labels must be unique"),
        ({"use_frames": False, "use_audio": False}, "at least one of use_frames and use_audio"),
        ({"device": "tpu"}, "device: Value error, device must be auto, cpu, cuda or cuda:N"),
    ],
)
def test_bad_params_are_refused_naming_the_field_and_the_reason(
    settings: Settings, given: dict[str, object], message: str
) -> None:
    with pytest.raises(ParamsRefused, match="params refused by TrainParams") as refused:
        run_params(settings, given)
    assert message in str(refused.value)


def trained_model() -> TrainedModel:
    row = {"variant": "both", "frames": True, "audio": True, "best_epoch": 2, "val_f1": 0.8}
    return TrainedModel(
        run_id="abc",
        model_uri="models:/scene/3",
        version="3",
        dataset_rev="labels/scene/v1",
        training_data="generated",
        decision_thresholds={"kiss": 0.4},
        metrics={"val_f1": 0.8, "val_f1_kiss": 0.8},
        ablation=(AblationRow.model_validate(row),),
        device="cpu",
        seconds=1.5,
        params=TrainParams(epochs=3),
    )


def test_the_training_result_survives_its_json_file_whole() -> None:
    trained = trained_model()
    document = json.loads(trained.model_dump_json())
    assert document["ablation"] == [
        {"variant": "both", "frames": True, "audio": True, "best_epoch": 2, "val_f1": 0.8}
    ]
    assert document["params"]["epochs"] == 3
    assert TrainedModel.model_validate_json(trained.model_dump_json()) == trained


def test_the_metrics_file_keeps_the_validation_numbers_at_the_top_for_dvc() -> None:
    trained = trained_model()
    evaluated = EvaluatedModel.model_validate(
        {
            **trained.metrics,
            "gate": GateDecision(promoted=True, reason="first", challenger=0.8, champion=None),
            "version": trained.version,
            "training_data": trained.training_data,
            "decision_thresholds": trained.decision_thresholds,
            "ablation": trained.ablation,
        }
    )
    document = json.loads(evaluated.model_dump_json())
    assert (document["val_f1"], document["val_f1_kiss"]) == (0.8, 0.8)
    assert document["gate"]["promoted"] is True
    assert evaluated.gate.reason == "first"


def test_a_metric_that_is_no_number_is_refused() -> None:
    with pytest.raises(ValidationError, match="val_f1"):
        AblationRow.model_validate(
            {"variant": "both", "frames": True, "audio": True, "best_epoch": 1, "val_f1": "high"}
        )


def test_the_labels_step_names_each_refused_row_and_versions_the_rest(settings: Settings) -> None:
    folder = generate_demo_labels(settings, titles=2)
    annotations = folder / "annotations.csv"
    item = annotations.read_text().splitlines()[1].split(",")[0]
    with annotations.open("a") as rows:
        rows.write(f"{item},9,3,kiss\n{item},,,\n")

    labelled = labels_step(settings)

    assert labelled.dataset_rev == "labels/scene/v1" and labelled.new_version
    assert [row.line for row in labelled.refused_rows] == [
        labelled.report.rows,
        labelled.report.rows + 1,
    ]
    assert all(row.reason for row in labelled.refused_rows)
    assert labelled.refused_rows[1].start_s is None
    written = (scene_dir(settings) / "labels.json").read_text()
    assert LabelledDataset.model_validate_json(written) == labelled
