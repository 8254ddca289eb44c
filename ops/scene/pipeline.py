"""The scene-type detector's pipeline steps, written once for the DAGs, ``dvc repro`` and the CLI.

labels (GX check + DVC version) -> features (segments, cached) -> train (+ MLflow run and
registered version) -> evaluate (champion/challenger gate). Every step reads and writes
under ``<CINESCOPE_HOME>/scene`` so a step can run in another process (an Airflow worker,
a DVC stage) than the one before it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from models.contracts import AudioContract, FrameContract
from ops.atomic import atomic_open
from ops.scene.params import TrainParams
from ops.settings import Settings, get_settings


def scene_dir(settings: Settings) -> Path:
    return settings.home / "scene"


def labels_dir(settings: Settings) -> Path:
    """The labelled dataset folder: ``annotations.csv``, ``media.csv`` and the media it lists."""
    return settings.scene_labels_dir or settings.home / "datasets" / "scene"


def load_params(settings: Settings) -> TrainParams:
    path = settings.scene_params_file
    return TrainParams.from_yaml(path) if path.is_file() else TrainParams()


def _write_json(path: Path, value: dict[str, Any]) -> None:
    with atomic_open(path) as handle:
        json.dump(value, handle, indent=2, default=str)


def _read_json(path: Path, step: str) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run the `{step}` step first")
    return dict(json.loads(path.read_text(encoding="utf-8")))


def generate_demo_labels(settings: Settings | None = None, *, titles: int = 24) -> Path:
    """Generated clips + annotations standing in for annotated films (once per data root)."""
    from ops.scene.synthetic import generate_scene_dataset

    settings = settings or get_settings()
    folder = labels_dir(settings)
    if not (folder / "annotations.csv").is_file():
        generate_scene_dataset(folder, titles=titles)
    return folder


def labels_step(settings: Settings | None = None) -> dict[str, Any]:
    """Check the annotation file with GX and version the labelled dataset (``labels/scene/vN``)."""
    from ops.scene.labels import matching_version, read_annotations, version_labels

    settings = settings or get_settings()
    folder = labels_dir(settings)
    params = load_params(settings)
    check = read_annotations(folder / "annotations.csv", known_labels=params.labels, durations=None)
    created = version_labels(folder, settings)
    version = created or matching_version(folder, settings)
    result = {
        "dataset_rev": version.tag if version else None,
        "new_version": created is not None,
        "valid_rows": len(check.valid),
        "refused_rows": check.refused.to_dict("records"),
        "report": check.report,
    }
    _write_json(scene_dir(settings) / "labels.json", result)
    return result


def features_step(settings: Settings | None = None) -> dict[str, Any]:
    """Extract (cached) segment features and build the split-by-title segment table."""
    from ops.scene.prepare import prepare_dataset

    settings = settings or get_settings()
    params = load_params(settings)
    frames = FrameContract(
        frames_per_segment=params.frames_per_segment,
        height=params.image_size,
        width=params.image_size,
    )
    prepared = prepare_dataset(
        labels_dir(settings),
        scene_dir(settings) / "prepared",
        settings,
        labels=params.labels,
        frames=frames,
        audio=AudioContract(),
        seed=params.seed,
    )
    counts = prepared.segments.groupby("split").size().to_dict()
    return {"segments": counts, "dataset_rev": prepared.dataset_rev, "root": str(prepared.root)}


def train_step(settings: Settings | None = None) -> dict[str, Any]:
    """Train (fused + ablation), log the MLflow run and register a new ``scene`` version."""
    from ops.scene.prepare import PreparedDataset
    from ops.scene.tracking import log_scene_run
    from ops.scene.train import train_scene

    settings = settings or get_settings()
    params = load_params(settings)
    prepared = PreparedDataset.load(scene_dir(settings) / "prepared")
    result = train_scene(prepared, params, scene_dir(settings) / "train")
    logged = log_scene_run(
        result,
        params,
        prepared,
        dataset_rev=prepared.dataset_rev,
        tracking_uri=settings.tracking_uri,
    )
    record = {
        **dataclasses.asdict(logged),
        "dataset_rev": prepared.dataset_rev,
        "training_data": prepared.training_data,
        "decision_thresholds": result.decision_thresholds,
        "metrics": result.report.metrics(prefix="val_"),
        "ablation": result.ablation_table(),
        "device": str(result.main.outcome.device),
        "seconds": result.main.outcome.seconds,
    }
    _write_json(scene_dir(settings) / "train" / "run.json", record)
    return record


def evaluate_step(settings: Settings | None = None) -> dict[str, Any]:
    """The champion/challenger gate on the same dataset revision; writes DVC metrics."""
    from mlflow import MlflowClient

    from ops.scene.prepare import PreparedDataset
    from ops.scene.tracking import champion_evaluator, promote_if_better

    settings = settings or get_settings()
    params = load_params(settings)
    run = _read_json(scene_dir(settings) / "train" / "run.json", "train")
    prepared = PreparedDataset.load(scene_dir(settings) / "prepared")
    decision = promote_if_better(
        MlflowClient(settings.tracking_uri),
        version=run["version"],
        dataset_rev=run["dataset_rev"] or "unversioned",
        evaluate_champion=champion_evaluator(prepared, params, settings.tracking_uri),
    )
    metrics = {
        **run["metrics"],
        "gate": dataclasses.asdict(decision),
        "version": run["version"],
        "training_data": run.get("training_data"),
        "decision_thresholds": run.get("decision_thresholds"),
        "ablation": run["ablation"],
    }
    _write_json(scene_dir(settings) / "metrics.json", metrics)
    return metrics
