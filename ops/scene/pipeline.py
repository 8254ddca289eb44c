"""The scene-type detector's pipeline steps, written once for the DAGs, ``dvc repro`` and the CLI.

labels (GX check + DVC version) -> features (segments, cached) -> train (+ MLflow run and
registered version) -> evaluate (champion/challenger gate). Every step reads and writes
under ``<CINESCOPE_HOME>/scene`` so a step can run in another process (an Airflow worker,
a DVC stage) than the one before it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from models.contracts import AudioContract, FrameContract
from ops.atomic import atomic_open
from ops.scene.params import TrainParams
from ops.scene.results import (
    AblationRow,
    AnnotationReport,
    EvaluatedModel,
    LabelledDataset,
    PreparedFeatures,
    RefusedAnnotation,
    StepResult,
    TrainedModel,
)
from ops.settings import Settings, get_settings


def scene_dir(settings: Settings) -> Path:
    return settings.home / "scene"


def labels_dir(settings: Settings) -> Path:
    """The labelled dataset folder: ``annotations.csv``, ``media.csv`` and the media it lists."""
    return settings.scene_labels_dir or settings.home / "datasets" / "scene"


def load_params(settings: Settings) -> TrainParams:
    path = settings.scene_params_file
    return TrainParams.from_yaml(path) if path.is_file() else TrainParams()


def run_params(settings: Settings, given: Mapping[str, Any]) -> TrainParams:
    """A triggered run's params: the params file's values with what the trigger gave on top.

    Validated by :class:`TrainParams` as a whole; a refusal names each field and why.
    """
    from ops.dag_params import model_from_params

    return model_from_params(TrainParams, load_params(settings).model_dump() | dict(given))


def _write_result(path: Path, result: StepResult) -> None:
    with atomic_open(path) as handle:
        handle.write(result.model_dump_json(indent=2))


def generate_demo_labels(settings: Settings | None = None, *, titles: int = 24) -> Path:
    """Generated clips + annotations standing in for annotated films (once per data root)."""
    from ops.scene.synthetic import generate_scene_dataset

    settings = settings or get_settings()
    folder = labels_dir(settings)
    if not (folder / "annotations.csv").is_file():
        generate_scene_dataset(folder, titles=titles)
    return folder


def labels_step(settings: Settings | None = None) -> LabelledDataset:
    """Check the annotation file with GX and version the labelled dataset (``labels/scene/vN``)."""
    from ops.scene.labels import matching_version, read_annotations, version_labels

    settings = settings or get_settings()
    folder = labels_dir(settings)
    params = load_params(settings)
    check = read_annotations(folder / "annotations.csv", known_labels=params.labels, durations=None)
    created = version_labels(folder, settings)
    version = created or matching_version(folder, settings)
    result = LabelledDataset(
        dataset_rev=version.tag if version else None,
        new_version=created is not None,
        valid_rows=len(check.valid),
        refused_rows=tuple(
            RefusedAnnotation.model_validate(row)
            for row in check.refused.astype(object)
            .where(check.refused.notna(), None)
            .to_dict("records")
        ),
        report=AnnotationReport.model_validate(check.report),
    )
    _write_result(scene_dir(settings) / "labels.json", result)
    return result


def features_step(
    settings: Settings | None = None, params: TrainParams | None = None
) -> PreparedFeatures:
    """Extract (cached) segment features and build the split-by-title segment table.

    ``params``: a triggered run's (default: the params file's).
    """
    from ops.scene.prepare import prepare_dataset

    settings = settings or get_settings()
    params = params or load_params(settings)
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
    counts = prepared.segments.groupby("split").size()
    return PreparedFeatures(
        root=prepared.root,
        dataset_rev=prepared.dataset_rev,
        segments={str(split): int(count) for split, count in counts.items()},
        params=params,
    )


def train_step(
    settings: Settings | None = None, features: PreparedFeatures | None = None
) -> TrainedModel:
    """Train (fused + ablation) inside one MLflow run, and register a new ``scene`` version.

    ``features``: what ``features_step`` returned (default: the prepared folder of the data
    root, with the params file's params). The run starts before training, so its duration
    covers it; each model of the ablation is a child run.
    """
    from ops.scene.prepare import PreparedDataset
    from ops.scene.tracking import scene_run
    from ops.scene.train import train_scene

    settings = settings or get_settings()
    params = features.params if features else load_params(settings)
    prepared = PreparedDataset.load(features.root if features else scene_dir(settings) / "prepared")
    with scene_run(
        params,
        prepared,
        tracking_uri=settings.tracking_uri,
        registry=str(settings.registry_dir),
    ) as run:
        result = train_scene(
            prepared,
            params,
            scene_dir(settings) / "train",
            on_epoch=run.epoch,
            variant_scope=run.variant,
        )
        logged = run.finish(result)
    trained = TrainedModel(
        run_id=logged.run_id,
        model_uri=logged.model_uri,
        version=logged.version,
        dataset_rev=prepared.dataset_rev,
        training_data=prepared.training_data,
        decision_thresholds=result.decision_thresholds,
        metrics=result.report.metrics(prefix="val_"),
        ablation=tuple(AblationRow.model_validate(row) for row in result.ablation_table()),
        device=str(result.main.outcome.device),
        seconds=result.main.outcome.seconds,
        params=params,
    )
    _write_result(scene_dir(settings) / "train" / "run.json", trained)
    return trained


def evaluate_step(
    settings: Settings | None = None, trained: TrainedModel | None = None
) -> EvaluatedModel:
    """The champion/challenger gate on the same dataset revision; writes DVC metrics.

    ``trained``: what ``train_step`` returned (default: its ``run.json``).
    """
    from mlflow import MlflowClient

    from ops.scene.prepare import PreparedDataset
    from ops.scene.tracking import champion_evaluator, promote_if_better

    settings = settings or get_settings()
    trained = trained or _read_trained(scene_dir(settings) / "train" / "run.json")
    prepared = PreparedDataset.load(scene_dir(settings) / "prepared")
    decision = promote_if_better(
        MlflowClient(settings.tracking_uri),
        version=trained.version,
        dataset_rev=trained.dataset_rev or "unversioned",
        evaluate_champion=champion_evaluator(prepared, trained.params, settings.tracking_uri),
    )
    evaluated = EvaluatedModel.model_validate(
        {
            **trained.metrics,
            "gate": decision,
            "version": trained.version,
            "training_data": trained.training_data,
            "decision_thresholds": trained.decision_thresholds,
            "ablation": trained.ablation,
        }
    )
    _write_result(scene_dir(settings) / "metrics.json", evaluated)
    return evaluated


def _read_trained(path: Path) -> TrainedModel:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run the `train` step first")
    return TrainedModel.model_validate_json(path.read_text(encoding="utf-8"))
