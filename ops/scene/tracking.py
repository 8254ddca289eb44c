"""The scene model's MLflow life: one run per training, the registry, the champion gate.

A run records what a reviewer needs to trust or reproduce a model: the params, the
DVC revision of the labelled data (``dataset_rev``), the git commit of the code,
per-epoch curves, the final validation numbers with the modality ablation, the
evaluation plots, and the model itself with its input signature, registered as
``scene``. Promotion only moves the alias ``champion`` (stages are not used), and only
when the challenger beats the champion on the same dataset revision.

The run opens before training (its duration is the training's) and shows its data in
the runs table's Dataset column: the segment table logged as a dataset input, named and
sourced by its DVC revision, with a content digest. The ablation's models (``both``,
``frames``, ``audio``) are child runs of it, comparable in the UI's chart view.

The model is logged with the pytorch flavor in pickle format, so ``mlflow.pytorch``
gives back a ``SceneClassifier``. Its pyfunc form cannot serve it: that wrapper feeds a
model one tensor, and this one takes two (frames and audio). Load it with
``load_scene_model`` / ``load_champion``, which rebuild the classifier from the config
stored in the model's metadata and the logged weights.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from models.scene import SceneClassifier
from ops import tracking_store
from ops.scene.evaluate import evaluate, plot_confusion, plot_pr_curve
from ops.scene.labels import GENERATED, REAL, TrainingData
from ops.scene.params import TrainParams
from ops.scene.results import GateDecision
from ops.scene.train import (
    MODALITIES,
    SceneTrainingResult,
    VariantResult,
    modality_name,
    select_device,
)
from ops.settings import get_settings
from ops.tracking_store import (
    CHAMPION_ALIAS,
    MODEL_ARTIFACT,
    TRAINING_DATA_TAG,
    UNRECORDED,
    UNVERSIONED,
    dataset_input,
    default_artifact_location,
    discard_interrupted_tries,
    ensure_experiment,
    git_commit,
    require_intact_store,
    tracking_uri_context,
    training_tags,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.data.pandas_dataset import PandasDataset
    from mlflow.entities import Run
    from mlflow.models import ModelSignature

    from ops.scene.prepare import PreparedDataset

logger = logging.getLogger(__name__)

REGISTERED_MODEL = "scene"
CONFIG_METADATA_KEY = "scene_config"
THRESHOLDS_KEY = "decision_thresholds"  # MLmodel metadata and version tag: label -> threshold


@dataclass(frozen=True)
class LoggedRun:
    """Where a training run went: its MLflow run and the registered model version."""

    run_id: str
    model_uri: str
    version: str


@dataclass(frozen=True)
class ModelProvenance:
    """What a registered version was trained on and the thresholds it decides labels at."""

    training_data: str  # generated, real or unrecorded
    decision_thresholds: dict[str, float]  # empty when none was chosen on validation data

    @property
    def standin(self) -> bool:
        """Not known to come from real labelled data: its labels are no findings."""
        return self.training_data != REAL


class _DropServingInputCheck(logging.Filter):
    """Drop MLflow's serving-example check warning, which a two-input model always fails.

    ``log_model`` tries the example through the pytorch pyfunc wrapper, which passes one
    tensor; the module docstring says why that form is not how this model is used.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Failed to validate serving input example")


def model_signature(model: SceneClassifier) -> ModelSignature:
    """Two named float32 tensors in (batch first, any batch size), logits ``(B, L)`` out."""
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    float32 = np.dtype(np.float32)
    frames, audio = model.contract.frames, model.contract.audio
    return ModelSignature(
        inputs=Schema(
            [
                TensorSpec(float32, (-1, *frames.shape(1)[1:]), "frames"),
                TensorSpec(float32, (-1, *audio.shape(1)[1:]), "audio"),
            ]
        ),
        outputs=Schema([TensorSpec(float32, (-1, len(model.labels)), "logits")]),
    )


def _pip_requirements() -> list[str]:
    """Pinned here so MLflow does not spend seconds inferring them by importing the model."""
    import mlflow
    import torch

    return [f"torch=={torch.__version__.split('+')[0]}", f"mlflow=={mlflow.__version__}", "numpy"]


def _run_params(params: TrainParams, prepared: PreparedDataset) -> dict[str, Any]:
    values: dict[str, Any] = params.model_dump()
    values["labels"] = ",".join(params.labels)
    splits = prepared.segments["split"].value_counts()
    values |= {
        "data.train_segments": int(splits.get("train", 0)),
        "data.val_segments": int(splits.get("val", 0)),
        "data.items": int(prepared.segments["item_id"].nunique()),
    }
    return values


_ABLATION_COLUMNS = ("val_f1", "val_pr_auc", "val_scene_f1")


def ablation_markdown(rows: list[dict[str, Any]]) -> str:
    """The ablation as a Markdown table, for the run page and the report."""
    lines = [
        "| variant | frames | audio | val F1 | val PR-AUC | val scene F1 | best epoch |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [
            row["variant"],
            "yes" if row["frames"] else "no",
            "yes" if row["audio"] else "no",
            *(f"{row[key]:.4f}" if key in row else "-" for key in _ABLATION_COLUMNS),
            str(row["best_epoch"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


EPOCH_METRICS = ("train_loss", "val_loss", "val_f1")


def training_dataset(prepared: PreparedDataset, rev: str, registry: str) -> PandasDataset:
    """The segment table as an MLflow dataset: named and sourced by its DVC revision,
    without the feature folders (which depend on where the data root is)."""
    table = prepared.segments.drop(columns=["feature_dir"], errors="ignore")
    return dataset_input(table, rev, registry)


class SceneRun:
    """One training's open MLflow run; each model of the ablation trains in a child run.

    The parent holds the params, the training data (a dataset input), the registered
    model's curves and numbers, the artifacts and the model; each child (``both``,
    ``frames``, ``audio``) holds its own params, curves and validation numbers, so the
    chart view compares them side by side.
    """

    def __init__(
        self,
        client: MlflowClient,
        run: Run,
        params: TrainParams,
        prepared: PreparedDataset,
        dataset: PandasDataset,
        tags: dict[str, str],
        registered_model_name: str,
    ) -> None:
        self.run_id = str(run.info.run_id)
        self._experiment_id = str(run.info.experiment_id)
        self._client = client
        self._params = params
        self._prepared = prepared
        self._dataset = dataset
        self._tags = tags
        self._registered_model_name = registered_model_name
        self._main = modality_name(params.use_frames, params.use_audio)
        self._children: dict[str, str] = {}
        self._logged_epochs: set[tuple[str, int]] = set()

    @contextmanager
    def variant(self, name: str) -> Iterator[None]:
        """The child run that one variant trains in (ended, failed, when training fails)."""
        import mlflow

        use_frames, use_audio = MODALITIES[name]
        variant_params = self._params.model_copy(
            update={"use_frames": use_frames, "use_audio": use_audio}
        )
        with mlflow.start_run(
            experiment_id=self._experiment_id,
            run_name=name,
            nested=True,
            tags=self._tags | {"variant": name},
        ) as child:
            self._children[name] = child.info.run_id
            mlflow.log_params(_run_params(variant_params, self._prepared))
            mlflow.log_input(self._dataset, context="training")
            yield

    def epoch(self, variant: str, epoch: int, record: dict[str, float]) -> None:
        """One epoch's curves, on the variant's child run (and the parent for the main one)."""
        import mlflow

        metrics = {f"epoch/{key}": record[key] for key in EPOCH_METRICS}
        runs = [self._children[variant]] if variant in self._children else []
        if variant == self._main:
            runs.append(self.run_id)
        for run_id in runs:
            mlflow.log_metrics(metrics, step=epoch, run_id=run_id)
        self._logged_epochs.add((variant, epoch))

    def finish(self, result: SceneTrainingResult) -> LoggedRun:
        """Log the numbers, the artifacts and the model; register it as a new version."""
        import mlflow

        for variant in result.variants:
            for record in variant.outcome.history:  # epochs trained before a resumption
                if (variant.name, int(record["epoch"])) not in self._logged_epochs:
                    self.epoch(variant.name, int(record["epoch"]), record)
            if variant.name in self._children:
                mlflow.log_metrics(_variant_metrics(variant), run_id=self._children[variant.name])
        thresholds = result.decision_thresholds
        _log_training(result)
        mlflow.log_metrics({f"decision_threshold_{label}": t for label, t in thresholds.items()})
        name = self._registered_model_name
        version = _log_model(SceneClassifier.load(result.model_path), name, thresholds)
        for key, value in (
            ("dataset_rev", self._tags["dataset_rev"]),
            ("git_commit", self._tags["git_commit"]),
            (TRAINING_DATA_TAG, self._prepared.training_data),
            (THRESHOLDS_KEY, json.dumps(thresholds, sort_keys=True)),
        ):
            self._client.set_model_version_tag(name, version, key, value)
        described = version_description(
            self._tags["dataset_rev"], self._prepared.training_data, result
        )
        self._client.update_model_version(name, version, description=described)
        self._client.set_tag(self.run_id, "mlflow.note.content", described)
        if not self._client.get_registered_model(name).description:
            self._client.update_registered_model(name, description=REGISTERED_DESCRIPTION)
        logger.info("logged run %s, registered %s version %s", self.run_id, name, version)
        return LoggedRun(run_id=self.run_id, model_uri=f"models:/{name}/{version}", version=version)


@contextmanager
def scene_run(
    params: TrainParams,
    prepared: PreparedDataset,
    *,
    tracking_uri: str,
    registry: str,
    dataset_rev: str | None = None,
    experiment: str = "scene",
    registered_model_name: str = REGISTERED_MODEL,
    artifact_location: str | None = None,
) -> Iterator[SceneRun]:
    """Open the training's MLflow run before training, so its duration covers it.

    ``dataset_rev`` is the DVC tag of the labelled data (default: the one the prepared
    dataset recorded, else ``unversioned``), logged as the run's dataset input with
    ``registry`` (the data registry) as its source; ``artifact_location`` only matters
    when the experiment is created here. A failure inside leaves the run FAILED. Run from
    an Airflow task, the run is tagged with the task, and a retry first discards what an
    interrupted try registered (:func:`ops.tracking_store.discard_interrupted_tries`).
    """
    import mlflow
    from mlflow import MlflowClient

    require_intact_store(tracking_uri)
    client = MlflowClient(tracking_uri)
    experiment_id = ensure_experiment(
        client, experiment, artifact_location or default_artifact_location(tracking_uri)
    )
    discard_interrupted_tries(client, experiment_id, registered_model_name)
    rev = dataset_rev or prepared.dataset_rev or UNVERSIONED
    tags = {
        "dataset_rev": rev,
        "git_commit": git_commit(),
        TRAINING_DATA_TAG: prepared.training_data,
        **training_tags(),
    }
    main = modality_name(params.use_frames, params.use_audio)
    dataset = training_dataset(prepared, rev, registry)
    with (
        tracking_uri_context(tracking_uri),
        mlflow.start_run(
            experiment_id=experiment_id, run_name=f"{main}-{rev}", tags=tags | {"variant": main}
        ) as run,
    ):
        mlflow.log_params(_run_params(params, prepared))
        mlflow.log_input(dataset, context="training")
        yield SceneRun(client, run, params, prepared, dataset, tags, registered_model_name)


def register_scene_model(
    model: SceneClassifier,
    *,
    dataset_rev: str,
    training_data: TrainingData,
    tracking_uri: str,
    experiment: str = "scene",
    registered_model_name: str = REGISTERED_MODEL,
    champion: bool = False,
) -> str:
    """Register an already-built model in a bare run tagged ``dataset_rev`` and
    ``training_data``; returns its version. For models that come from elsewhere than
    ``train_scene`` (an imported checkpoint, a benchmark's or a test's model): no metrics,
    so the gate cannot judge it, and ``champion=True`` moves the alias directly."""
    import mlflow
    from mlflow import MlflowClient

    require_intact_store(tracking_uri)
    client = MlflowClient(tracking_uri)
    experiment_id = ensure_experiment(client, experiment, default_artifact_location(tracking_uri))
    tags = {"dataset_rev": dataset_rev, TRAINING_DATA_TAG: training_data}
    with (
        tracking_uri_context(tracking_uri),
        mlflow.start_run(experiment_id=experiment_id, tags=tags),
    ):
        version = _log_model(model, registered_model_name)
    client.set_model_version_tag(registered_model_name, version, TRAINING_DATA_TAG, training_data)
    if champion:
        client.set_registered_model_alias(registered_model_name, CHAMPION_ALIAS, version)
    return version


REGISTERED_DESCRIPTION = (
    "Scene types per 1-s segment from still frames and audio (after Ziai, 'Detecting "
    "Kissing Scenes in a Database of Hollywood Films'). Refresh uses the version under "
    "alias `champion`; each version's description says what it was trained on and how "
    "it scored."
)


def version_description(dataset_rev: str, training_data: str, result: SceneTrainingResult) -> str:
    """What the MLflow UI shows on a version's and its run's page, so two versions compare
    at a glance: the data (and whether it is a stand-in), the scores, the thresholds."""
    micro = result.report.micro
    standin = (
        " — a generated stand-in: its labels are withheld outside the demo"
        if training_data == GENERATED
        else ""
    )
    thresholds = ", ".join(f"{k} {v:.3f}" for k, v in sorted(result.decision_thresholds.items()))
    return (
        f"Trained on `{dataset_rev}` ({training_data} data{standin}), model "
        f"`{result.main.name}`. Validation: F1 {micro.f1:.3f}, precision {micro.precision:.3f}, "
        f"recall {micro.recall:.3f}, scene F1 {micro.scene_f1:.3f}. "
        f"Decision thresholds: {thresholds or 'none'}."
    )


def _variant_metrics(variant: VariantResult) -> dict[str, float]:
    """One model's final numbers: validation metrics, best epoch and training time."""
    epoch_seconds = [record["epoch_s"] for record in variant.outcome.history]
    return variant.report.metrics(prefix="val_") | {
        "best_epoch": float(variant.outcome.best_epoch),
        "train_seconds": variant.outcome.seconds,
        "epoch_seconds": float(np.mean(epoch_seconds)) if epoch_seconds else 0.0,
    }


def _log_training(result: SceneTrainingResult) -> None:
    """The registered model's final metrics, the ablation, the report and its plots."""
    import mlflow

    ablation = result.ablation_table()
    mlflow.log_metrics(
        _variant_metrics(result.main)
        | {f"ablation_{row['variant']}_f1": row["val_f1"] for row in ablation}
    )
    mlflow.log_dict({"variants": ablation}, "ablation.json")
    mlflow.log_text(ablation_markdown(ablation), "ablation.md")
    mlflow.log_dict(result.report.to_dict(), "eval/val_report.json")
    with tempfile.TemporaryDirectory(prefix="scene-plots-") as scratch:
        plots = Path(scratch)
        mlflow.log_artifact(str(plot_confusion(result.report, plots / "confusion.png")), "plots")
        mlflow.log_artifact(str(plot_pr_curve(result.report, plots / "pr_curve.png")), "plots")


def _log_model(
    model: SceneClassifier,
    registered_model_name: str,
    decision_thresholds: dict[str, float] | None = None,
) -> str:
    """Log the model (with its decision thresholds, when chosen) in the active run and
    register it; returns the new version."""
    import mlflow.pytorch

    from models.contracts import SceneInput

    frames, audio = SceneInput(model.contract.frames, model.contract.audio).example(batch=1)
    serving_check = _DropServingInputCheck()
    model_logger = logging.getLogger("mlflow.models.model")
    model_logger.addFilter(serving_check)
    try:
        info = mlflow.pytorch.log_model(
            model,
            name=MODEL_ARTIFACT,
            signature=model_signature(model),
            input_example={"frames": frames.numpy(), "audio": audio.numpy()},
            pip_requirements=_pip_requirements(),
            metadata={
                CONFIG_METADATA_KEY: model.config(),
                THRESHOLDS_KEY: decision_thresholds or {},
            },
            registered_model_name=registered_model_name,
            serialization_format="pickle",
        )
    finally:
        model_logger.removeFilter(serving_check)
    return str(info.registered_model_version)


def load_scene_model(model_uri: str, tracking_uri: str) -> SceneClassifier:
    """Fetch a logged scene model (``models:/scene/3``, ``models:/scene@champion``), in eval mode.

    The classifier is rebuilt from the config in the model's metadata and given the
    logged weights, so it comes back with its labels and input contracts.
    """
    import mlflow.artifacts
    import mlflow.pytorch
    from mlflow.models import Model

    require_intact_store(tracking_uri)
    # ``download_artifacts(tracking_uri=...)`` does not reach the registry look-up of a
    # ``models:/`` URI, which reads the global URI: point that at the store for the call.
    with (
        tracking_uri_context(tracking_uri),
        tempfile.TemporaryDirectory(prefix="scene-model-") as scratch,
    ):
        local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=scratch)
        metadata = Model.load(local).metadata or {}
        if CONFIG_METADATA_KEY not in metadata:
            raise ValueError(
                f"{model_uri} is not a scene model: its MLmodel metadata has no "
                f"{CONFIG_METADATA_KEY!r} (keys: {sorted(metadata)})"
            )
        logged = mlflow.pytorch.load_model(local, map_location="cpu")
    model = SceneClassifier.from_config(metadata[CONFIG_METADATA_KEY])
    model.load_state_dict(logged.state_dict())
    return model.eval()


def model_provenance(client: MlflowClient, name: str, version: str) -> ModelProvenance:
    """A registered version's training data and decision thresholds, from its tags."""
    tags = client.get_model_version(name, version).tags
    thresholds = json.loads(tags.get(THRESHOLDS_KEY) or "{}")
    return ModelProvenance(
        training_data=tags.get(TRAINING_DATA_TAG) or UNRECORDED,
        decision_thresholds={str(label): float(value) for label, value in thresholds.items()},
    )


def load_champion(name: str = REGISTERED_MODEL, tracking_uri: str | None = None) -> SceneClassifier:
    """The current champion, ``models:/<name>@champion`` (settings' tracking URI by default)."""
    return load_scene_model(
        f"models:/{name}@{CHAMPION_ALIAS}", tracking_uri or get_settings().tracking_uri
    )


def champion_evaluator(
    prepared: PreparedDataset, params: TrainParams, tracking_uri: str
) -> Callable[[str], float]:
    """``evaluate_champion`` for the gate: a model URI's segment F1 on this dataset's val split."""

    def val_f1(model_uri: str) -> float:
        model = load_scene_model(model_uri, tracking_uri).to(select_device(params.device))
        return evaluate(model, prepared, "val", params).micro.f1

    return val_f1


def promote_if_better(
    client: MlflowClient,
    *,
    version: str | int,
    dataset_rev: str,
    name: str = REGISTERED_MODEL,
    metric: str = "val_f1",
    evaluate_champion: Callable[[str], float] | None = None,
) -> GateDecision:
    """The champion gate (:func:`ops.tracking_store.promote_if_better`) on the scene
    model's validation F1."""
    return tracking_store.promote_if_better(
        client,
        version=version,
        dataset_rev=dataset_rev,
        name=name,
        metric=metric,
        evaluate_champion=evaluate_champion,
    )
