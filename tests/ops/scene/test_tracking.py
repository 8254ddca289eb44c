"""MLflow logging, registry and the champion gate, against a real SQLite tracking store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pytorch
import numpy as np
import pandas as pd
import pytest
import torch
from mlflow import MlflowClient
from mlflow.entities import RunData
from mlflow.models import Model

from models.contracts import AudioContract, FrameContract, SceneInput
from models.scene import SceneClassifier
from ops.atomic import atomic_path
from ops.scene.evaluate import build_report
from ops.scene.params import TrainParams
from ops.scene.prepare import PreparedDataset
from ops.scene.segmentor import Segmentor
from ops.scene.tracking import (
    CHAMPION_ALIAS,
    LoggedRun,
    ModelProvenance,
    git_commit,
    load_champion,
    load_scene_model,
    model_provenance,
    promote_if_better,
    register_scene_model,
    scene_run,
    training_dataset,
)
from ops.scene.train import MODALITIES, SceneTrainingResult, TrainOutcome, VariantResult
from ops.tracking_store import default_artifact_location

FRAMES = FrameContract(frames_per_segment=1, height=32, width=32)
AUDIO = AudioContract()
LABELS = ("kiss",)
PARAMS = TrainParams(labels=LABELS, frames_per_segment=1, image_size=32, width_multiplier=0.125)


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite store for the module: creating its tables takes seconds."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(scope="module")
def client(tracking_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri)


def prepared_dataset(root: Path, dataset_rev: str | None = None) -> PreparedDataset:
    """A prepared dataset's table: 6 val segments of one item (the features are not read)."""
    segments = pd.DataFrame(
        {
            "item_id": ["clip"] * 6,
            "title": ["Clip"] * 6,
            "start_s": np.arange(6, dtype=float),
            "end_s": np.arange(1, 7, dtype=float),
            "split": ["val"] * 6,
            "feature_dir": ["features/clip"] * 6,
            "segment_index": np.arange(6),
            "kiss": [0, 1, 1, 1, 0, 0],
        }
    )
    return PreparedDataset(root, segments, LABELS, FRAMES, AUDIO, dataset_rev=dataset_rev)


def training_result(root: Path, prepared: PreparedDataset, seed: int = 0) -> SceneTrainingResult:
    """What ``train_scene`` returns, for a fresh untrained model and a made-up val score."""
    torch.manual_seed(seed)
    model = SceneClassifier(list(LABELS), FRAMES, AUDIO, width_multiplier=0.125).eval()
    model_path = root / f"model-{seed}.pt"
    with atomic_path(model_path) as tmp:
        model.save(tmp)
    segments = prepared.segments
    targets = segments[list(LABELS)].to_numpy(dtype=float)
    scores = np.clip(targets * 0.8 + 0.1 + 0.05 * seed, 0, 1)
    report = build_report(scores, targets, segments, LABELS, split="val", segmentor=Segmentor())
    history = [
        {"epoch": 1.0, "train_loss": 0.9, "val_loss": 0.8, "val_f1": 0.5, "epoch_s": 0.1},
        {"epoch": 2.0, "train_loss": 0.7, "val_loss": 0.6, "val_f1": 0.75, "epoch_s": 0.1},
    ]
    variants = tuple(
        VariantResult(
            name=name,
            use_frames=frames,
            use_audio=audio,
            outcome=TrainOutcome(model_path, history, 2, 0.75, "cpu", 0.2, False),
            report=report,
        )
        for name, (frames, audio) in MODALITIES.items()
    )
    return SceneTrainingResult(main=variants[0], variants=variants)


def log_scene_run(
    result: SceneTrainingResult,
    prepared: PreparedDataset,
    *,
    tracking_uri: str,
    registered_model_name: str,
    dataset_rev: str | None = None,
) -> LoggedRun:
    """What ``train_step`` does around ``train_scene``: the run opens first, each variant
    trains in its child run and reports its epochs as they end, then the model is logged."""
    with scene_run(
        PARAMS,
        prepared,
        tracking_uri=tracking_uri,
        registry="/data/registry",
        dataset_rev=dataset_rev,
        registered_model_name=registered_model_name,
    ) as run:
        for variant in result.variants:
            with run.variant(variant.name):
                for record in variant.outcome.history:
                    run.epoch(variant.name, int(record["epoch"]), record)
        return run.finish(result)


@pytest.fixture(scope="module")
def logged(
    tmp_path_factory: pytest.TempPathFactory, tracking_uri: str
) -> tuple[Any, SceneTrainingResult]:
    root = tmp_path_factory.mktemp("logged")
    prepared = prepared_dataset(root)
    result = training_result(root, prepared)
    run = log_scene_run(
        result,
        prepared,
        dataset_rev="labels/scene/v3",
        tracking_uri=tracking_uri,
        registered_model_name="scene-logged",
    )
    assert mlflow.get_tracking_uri() != tracking_uri, "the global tracking URI must be restored"
    return run, result


def test_run_records_tags_params_metrics_and_artifacts(
    logged: tuple[Any, SceneTrainingResult], client: MlflowClient, tracking_uri: str
) -> None:
    run, result = logged
    data = client.get_run(run.run_id).data
    assert data.tags["dataset_rev"] == "labels/scene/v3"
    assert data.tags["git_commit"] == git_commit()
    assert data.params["labels"] == "kiss"
    assert data.params["data.val_segments"] == "6"
    assert data.metrics["val_f1"] == pytest.approx(result.report.micro.f1)
    assert data.metrics["val_scene_f1"] == pytest.approx(result.report.micro.scene_f1)
    for name in ("frames", "audio", "both"):
        assert f"ablation_{name}_f1" in data.metrics
    curve = client.get_metric_history(run.run_id, "epoch/val_f1")
    assert [(point.step, point.value) for point in curve] == [(1, 0.5), (2, 0.75)]

    artifacts = {item.path for item in client.list_artifacts(run.run_id)}
    assert {"ablation.json", "ablation.md", "plots", "eval"} <= artifacts
    plots = {item.path for item in client.list_artifacts(run.run_id, "plots")}
    assert plots == {"plots/confusion.png", "plots/pr_curve.png"}
    ablation = json.loads(
        Path(
            mlflow.artifacts.download_artifacts(
                run_id=run.run_id, artifact_path="ablation.json", tracking_uri=tracking_uri
            )
        ).read_text()
    )
    assert [row["variant"] for row in ablation["variants"]] == ["both", "frames", "audio"]


def test_run_and_version_record_the_training_data_and_the_chosen_threshold(
    logged: tuple[Any, SceneTrainingResult],
    client: MlflowClient,
    tracking_uri: str,
    tmp_path: Path,
) -> None:
    run, result = logged
    # made-up val scores: 0.9 on the scene's seconds, 0.1 elsewhere
    assert result.decision_thresholds == {"kiss": pytest.approx(0.9)}
    data = client.get_run(run.run_id).data
    assert data.tags["training_data"] == "generated"
    assert data.metrics["decision_threshold_kiss"] == pytest.approx(0.9)
    provenance = model_provenance(client, "scene-logged", run.version)
    assert provenance == ModelProvenance("generated", result.decision_thresholds)
    assert provenance.standin
    local = mlflow.artifacts.download_artifacts(
        client.get_model_version_download_uri("scene-logged", run.version), dst_path=str(tmp_path)
    )
    assert Model.load(local).metadata["decision_thresholds"] == result.decision_thresholds


def test_the_version_and_its_run_describe_their_data_and_scores(
    logged: tuple[Any, SceneTrainingResult], client: MlflowClient
) -> None:
    run, result = logged
    described = client.get_model_version("scene-logged", run.version).description
    assert "`labels/scene/v3` (generated data — a generated stand-in" in described
    assert f"F1 {result.report.micro.f1:.3f}" in described and "kiss 0.900" in described
    assert client.get_run(run.run_id).data.tags["mlflow.note.content"] == described
    assert "champion" in client.get_registered_model("scene-logged").description


def test_artifacts_land_beside_the_sqlite_database(
    logged: tuple[Any, SceneTrainingResult], client: MlflowClient, tracking_uri: str
) -> None:
    run, _ = logged
    artifact_uri = client.get_run(run.run_id).info.artifact_uri
    assert artifact_uri.startswith(str(default_artifact_location(tracking_uri)))
    assert default_artifact_location("http://mlflow:5000") is None


def test_model_is_registered_with_signature_and_reloads_identically(
    logged: tuple[Any, SceneTrainingResult],
    client: MlflowClient,
    tracking_uri: str,
    tmp_path: Path,
) -> None:
    run, result = logged
    version = client.get_model_version("scene-logged", run.version)
    assert version.run_id == run.run_id
    assert version.tags["dataset_rev"] == "labels/scene/v3"
    original = SceneClassifier.load(result.model_path)
    frames, audio = SceneInput(FRAMES, AUDIO).example(batch=3, seed=7)
    expected = original(frames, audio)

    local = mlflow.artifacts.download_artifacts(
        client.get_model_version_download_uri("scene-logged", run.version), dst_path=str(tmp_path)
    )
    flavour = mlflow.pytorch.load_model(local)
    assert torch.equal(flavour(frames, audio), expected)
    rebuilt = load_scene_model(run.model_uri, tracking_uri)
    assert isinstance(rebuilt, SceneClassifier) and not rebuilt.training
    assert rebuilt.config() == original.config()
    assert torch.equal(rebuilt(frames, audio), expected)

    signature = Model.load(local).signature
    assert signature is not None
    assert signature.inputs.input_names() == ["frames", "audio"]
    assert signature.inputs.inputs[0].shape == (-1, 1, 3, 32, 32)


def test_the_training_data_is_the_runs_dataset_input_sourced_by_its_dvc_revision(
    logged: tuple[Any, SceneTrainingResult], client: MlflowClient, tmp_path: Path
) -> None:
    run, _ = logged
    inputs = client.get_run(run.run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    dataset = inputs[0].dataset
    assert dataset.name == "labels/scene/v3"
    assert dataset.source_type == "dvc"
    assert json.loads(dataset.source) == {"rev": "labels/scene/v3", "registry": "/data/registry"}
    assert {tag.key: tag.value for tag in inputs[0].tags}["mlflow.data.context"] == "training"
    # a content digest: the same segments prepared under another data root digest the same
    elsewhere = training_dataset(prepared_dataset(tmp_path), "labels/scene/v3", "/data/registry")
    assert dataset.digest == elsewhere.digest


def test_each_model_of_the_ablation_is_a_child_run_with_its_own_numbers(
    logged: tuple[Any, SceneTrainingResult], client: MlflowClient
) -> None:
    run, result = logged
    parent = client.get_run(run.run_id)
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{run.run_id}'"
    )
    by_name = {child.info.run_name: child for child in children}
    assert sorted(by_name) == ["audio", "both", "frames"]
    for variant in result.variants:
        child = by_name[variant.name]
        assert child.data.tags["variant"] == variant.name
        assert child.data.params["use_frames"] == str(variant.use_frames)
        assert child.data.params["use_audio"] == str(variant.use_audio)
        assert child.data.metrics["val_f1"] == pytest.approx(variant.report.micro.f1)
        curve = client.get_metric_history(child.info.run_id, "epoch/val_f1")
        assert [(point.step, point.value) for point in curve] == [(1, 0.5), (2, 0.75)]
        assert child.inputs.dataset_inputs[0].dataset.name == "labels/scene/v3"
        assert child.info.status == "FINISHED"


def test_the_run_is_open_while_training_and_a_failed_training_registers_nothing(
    tmp_path: Path,
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    prepared = prepared_dataset(tmp_path, dataset_rev="labels/scene/v1")
    with (
        pytest.raises(RuntimeError, match="out of memory"),
        scene_run(PARAMS, prepared, tracking_uri=uri, registry="/r") as run,
        run.variant("both"),
    ):
        assert client.get_run(run.run_id).info.status == "RUNNING"
        run.epoch("both", 1, {"train_loss": 0.9, "val_loss": 0.8, "val_f1": 0.5})
        raise RuntimeError("CUDA out of memory")
    failed = client.get_run(run.run_id)
    assert failed.info.status == "FAILED"
    assert failed.data.metrics["epoch/val_f1"] == 0.5  # logged as training went
    assert client.search_registered_models() == []


def test_epochs_trained_before_a_resumption_still_reach_the_new_run(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    prepared = prepared_dataset(tmp_path, dataset_rev="labels/scene/v1")
    result = training_result(tmp_path, prepared)
    with scene_run(PARAMS, prepared, tracking_uri=uri, registry="/r") as run:
        for variant in result.variants:
            with run.variant(variant.name):  # resumed after epoch 1: only epoch 2 trains here
                run.epoch(variant.name, 2, variant.outcome.history[1])
        run.finish(result)
    curve = client.get_metric_history(run.run_id, "epoch/val_f1")
    assert sorted((point.step, point.value) for point in curve) == [(1, 0.5), (2, 0.75)]


def register_version(client: MlflowClient, name: str, f1: float, dataset_rev: str) -> str:
    """A registered version whose run has ``val_f1`` and ``dataset_rev``, as logging leaves it."""
    experiment = client.get_experiment_by_name("gate") or None
    experiment_id = experiment.experiment_id if experiment else client.create_experiment("gate")
    run = client.create_run(experiment_id, tags={"dataset_rev": dataset_rev})
    client.log_metric(run.info.run_id, "val_f1", f1)
    client.set_terminated(run.info.run_id)
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        client.create_registered_model(name)
    return str(
        client.create_model_version(name, f"{run.info.artifact_uri}/model", run.info.run_id).version
    )


def champion_of(client: MlflowClient, name: str) -> str | None:
    version = client.get_registered_model(name).aliases.get(CHAMPION_ALIAS)
    return None if version is None else str(version)


def run_data(client: MlflowClient, name: str, version: str) -> RunData:
    run_id = client.get_model_version(name, version).run_id
    assert run_id is not None
    return client.get_run(run_id).data


def test_gate_crowns_first_refuses_worse_promotes_better(client: MlflowClient) -> None:
    name, rev = "gate-order", "labels/scene/v3"
    first = register_version(client, name, 0.80, rev)
    decision = promote_if_better(client, name=name, version=first, dataset_rev=rev)
    assert decision.promoted and decision.champion is None
    assert champion_of(client, name) == first

    worse = register_version(client, name, 0.70, rev)
    decision = promote_if_better(client, name=name, version=worse, dataset_rev=rev)
    assert not decision.promoted
    assert (decision.challenger, decision.champion) == (pytest.approx(0.70), pytest.approx(0.80))
    assert champion_of(client, name) == first
    worse_run = run_data(client, name, worse)
    assert worse_run.tags["gate.decision"] == "refused"
    assert "does not beat" in worse_run.tags["gate.reason"]
    assert worse_run.metrics["gate.champion_val_f1"] == pytest.approx(0.80)
    assert client.get_model_version(name, worse).tags["gate.decision"] == "refused"

    better = register_version(client, name, 0.90, rev)
    decision = promote_if_better(client, name=name, version=better, dataset_rev=rev)
    assert decision.promoted
    assert champion_of(client, name) == better
    better_run = run_data(client, name, better)
    assert better_run.tags["gate.decision"] == "promoted"


def test_gate_keeps_champion_on_a_tie(client: MlflowClient) -> None:
    name, rev = "gate-tie", "labels/scene/v1"
    first = register_version(client, name, 0.8, rev)
    promote_if_better(client, name=name, version=first, dataset_rev=rev)
    tie = register_version(client, name, 0.8, rev)
    assert not promote_if_better(client, name=name, version=tie, dataset_rev=rev).promoted
    assert champion_of(client, name) == first


def test_gate_rescores_a_champion_from_another_dataset_revision(client: MlflowClient) -> None:
    name = "gate-revisions"
    old = register_version(client, name, 0.95, "labels/scene/v2")
    promote_if_better(client, name=name, version=old, dataset_rev="labels/scene/v2")
    challenger = register_version(client, name, 0.85, "labels/scene/v3")

    unfair = promote_if_better(client, name=name, version=challenger, dataset_rev="labels/scene/v3")
    assert not unfair.promoted and unfair.champion is None
    assert "no fair comparison" in unfair.reason
    assert champion_of(client, name) == old

    asked: list[str] = []

    def champion_on_v3(model_uri: str) -> float:
        asked.append(model_uri)
        return 0.60  # the old champion does worse on the new labels

    decision = promote_if_better(
        client,
        name=name,
        version=challenger,
        dataset_rev="labels/scene/v3",
        evaluate_champion=champion_on_v3,
    )
    assert asked == [f"models:/{name}/{old}"]
    assert decision.promoted and decision.champion == pytest.approx(0.60)
    assert champion_of(client, name) == challenger
    assert "re-evaluated on labels/scene/v3" in decision.reason


def test_gate_rejects_a_challenger_from_another_revision(client: MlflowClient) -> None:
    name = "gate-mismatch"
    version = register_version(client, name, 0.9, "labels/scene/v1")
    with pytest.raises(ValueError, match="evaluated on dataset 'labels/scene/v1'"):
        promote_if_better(client, name=name, version=version, dataset_rev="labels/scene/v2")
    assert champion_of(client, name) is None


def test_load_champion_returns_the_promoted_model(
    tmp_path: Path, tracking_uri: str, client: MlflowClient
) -> None:
    prepared = prepared_dataset(tmp_path, dataset_rev="labels/scene/v1")
    result = training_result(tmp_path, prepared, seed=3)
    run = log_scene_run(
        result,
        prepared,
        dataset_rev=None,  # the prepared dataset's own revision is used
        tracking_uri=tracking_uri,
        registered_model_name="scene-champion",
    )
    assert client.get_run(run.run_id).data.tags["dataset_rev"] == "labels/scene/v1"
    promote_if_better(
        client, name="scene-champion", version=run.version, dataset_rev="labels/scene/v1"
    )
    champion = load_champion("scene-champion", tracking_uri=tracking_uri)
    frames, audio = SceneInput(FRAMES, AUDIO).example(batch=2)
    expected = SceneClassifier.load(result.model_path)(frames, audio)
    assert torch.equal(champion(frames, audio), expected)


def test_git_commit_is_unknown_outside_a_checkout(tmp_path: Path) -> None:
    assert git_commit(tmp_path) == "unknown"
    assert len(git_commit()) in (40, len("unknown"))


def test_register_scene_model_tags_the_data_and_can_crown_it(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    frames = FrameContract(frames_per_segment=1, height=32, width=32)
    model = SceneClassifier(["kiss"], frames, AudioContract(), width_multiplier=0.125).eval()
    first = register_scene_model(
        model, dataset_rev="labels/scene/v7", training_data="generated", tracking_uri=uri
    )
    second = register_scene_model(
        model, dataset_rev="labels/scene/v8", training_data="real", tracking_uri=uri, champion=True
    )
    client = MlflowClient(uri)
    assert (first, second) == ("1", "2")
    champion = client.get_model_version_by_alias("scene", "champion")
    assert str(champion.version) == "2"
    assert client.get_run(champion.run_id).data.tags["dataset_rev"] == "labels/scene/v8"
    assert client.get_run(champion.run_id).data.tags["training_data"] == "real"
    assert model_provenance(client, "scene", "1") == ModelProvenance("generated", {})
    assert not model_provenance(client, "scene", "2").standin
    reloaded = load_scene_model("models:/scene/1", uri)
    inputs = SceneInput(frames, AudioContract()).example(batch=2)
    assert torch.equal(reloaded.predict_proba(*inputs), model.predict_proba(*inputs))
