"""The MLflow store: where it is, its experiments, a check before use, and what every
registered model shares: its champion, its training data as a dataset input, the
registration of a pyfunc model behind the champion gate, and one version per training
task however often Airflow retries it.

The embedded store (a SQLite file) is checked before use, so damage is not erased.

SQLite treats an empty file as an empty database, so MLflow would silently create fresh
tables in a truncated ``mlflow.db`` and every run and registered model would be gone
without a word. A missing file is a new store and is fine; an empty or non-SQLite one is
refused.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import subprocess
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from ops.errors import BrokenStateError
from ops.scene.results import GateDecision
from ops.settings import REPO_ROOT

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.data.pandas_dataset import PandasDataset
    from mlflow.entities import Run
    from mlflow.models import ModelSignature
    from mlflow.pyfunc import PythonModel

SQLITE_PREFIX = "sqlite:///"
SQLITE_HEADER = b"SQLite format 3\x00"
CHAMPION_ALIAS = "champion"
DATASET_REV_TAG = "dataset_rev"  # run and version tag: the data registry tag trained on
TRAINING_DATA_TAG = "training_data"  # run and version tag: generated or real
UNVERSIONED = "unversioned"  # trained on data the registry does not hold
UNRECORDED = "unrecorded"  # a version registered before its training data was recorded
MODEL_ARTIFACT = "model"
UNKNOWN_COMMIT = "unknown"
AIRFLOW_TASK_TAG = "airflow_task"  # run tag: <dag>/<run>/<task> of the Airflow task that trained

logger = logging.getLogger(__name__)


class TrackingStoreBroken(BrokenStateError):
    """The MLflow SQLite store exists but is empty or not a SQLite database."""


def embedded_store_path(tracking_uri: str) -> Path | None:
    """The SQLite file of an embedded store; None for a tracking server."""
    if not tracking_uri.startswith(SQLITE_PREFIX):
        return None
    return Path(tracking_uri.removeprefix(SQLITE_PREFIX))


def require_intact_store(tracking_uri: str) -> None:
    """Refuse an embedded store that exists but holds no SQLite database."""
    path = embedded_store_path(tracking_uri)
    if path is None or not path.exists():
        return
    with open(path, "rb") as handle:
        header = handle.read(len(SQLITE_HEADER))
    if header == SQLITE_HEADER:
        return
    what = "is empty (0 bytes)" if not header else "is not a SQLite database"
    raise TrackingStoreBroken(
        f"the MLflow tracking store {path} {what}: its runs and registered models are lost,"
        " and MLflow would silently start a new, empty store. Nothing was changed. Repair:"
        f" restore {path} from a backup; or, to start over on purpose, delete it and train"
        " again (`cinescope scene train`)."
    )


def default_artifact_location(tracking_uri: str) -> str | None:
    """For a SQLite store, an ``artifacts`` folder beside the database; servers choose their own.

    Without it MLflow would put artifacts in ``./mlartifacts`` under whatever the
    current directory happens to be.
    """
    store = embedded_store_path(tracking_uri)
    return None if store is None else (store.parent / "artifacts").resolve().as_uri()


@contextmanager
def tracking_uri_context(uri: str) -> Iterator[None]:
    """Point MLflow's fluent API (which ``log_model`` needs) at ``uri``, then back.

    MLflow's own helper restores the previous state exactly, "unset" included; the public
    ``get_tracking_uri`` would return a resolved default and pin it (and create its store).
    """
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    with _use_tracking_uri(uri):
        yield


def ensure_experiment(client: MlflowClient, name: str, artifact_location: str | None) -> str:
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    try:
        return client.create_experiment(name, artifact_location=artifact_location)
    except MlflowException:
        # Another task created it between our look-up and our create.
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return str(experiment.experiment_id)


def airflow_task() -> str | None:
    """``<dag>/<run>/<task>`` of the Airflow task this process runs, the same for each of its
    tries (from the variables Airflow sets for a task's code); None outside Airflow."""
    env = os.environ
    parts = [env.get(f"AIRFLOW_CTX_{key}", "") for key in ("DAG_ID", "DAG_RUN_ID", "TASK_ID")]
    return "/".join(parts) if all(parts) else None


def training_tags() -> dict[str, str]:
    """The run tag that keys a registration on its Airflow task (none outside Airflow)."""
    task = airflow_task()
    return {AIRFLOW_TASK_TAG: task} if task else {}


def discard_interrupted_tries(client: MlflowClient, experiment_id: str, name: str) -> list[str]:
    """Before a retried Airflow task registers ``name`` again, delete the versions its
    earlier tries registered without seeing them through (their runs never finished: say
    MLflow became unreachable between registering a version and tagging it) and mark those
    runs failed, so a retry leaves one version, not two. A version with an alias (a
    champion) is kept. Returns the versions deleted."""
    task = airflow_task()
    if task is None:
        return []
    deleted: list[str] = []
    aliased: set[str] | None = None
    for run in client.search_runs([experiment_id], f"tags.{AIRFLOW_TASK_TAG} = '{task}'"):
        if run.info.status == "FINISHED":
            continue
        run_id = run.info.run_id
        for version in client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'"):
            if aliased is None:  # search results do not carry aliases
                aliased = {str(v) for v in client.get_registered_model(name).aliases.values()}
            if str(version.version) not in aliased:
                client.delete_model_version(name, version.version)
                deleted.append(str(version.version))
        if run.info.status == "RUNNING":
            client.set_terminated(run_id, "FAILED")
    if deleted:
        logger.warning("%s: deleted %s version(s) %s of an interrupted try", task, name, deleted)
    return deleted


def champion_ref(tracking_uri: str, name: str) -> tuple[str, str, str] | None:
    """``(version, dataset_rev, training_data)`` of ``models:/<name>@champion``, or None
    when there is none yet (no store, no such model, or no alias).

    The dataset revision is read from the version's run (where training wrote it) and
    else from the version's tags; a SQLite store that was never created is not made here.
    """
    require_intact_store(tracking_uri)
    store = embedded_store_path(tracking_uri)
    if store is not None and not store.exists():
        return None
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri)
    try:
        version = client.get_model_version_by_alias(name, CHAMPION_ALIAS)
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise
    run_tags = client.get_run(version.run_id).data.tags if version.run_id else {}
    dataset_rev = run_tags.get(DATASET_REV_TAG) or version.tags.get(DATASET_REV_TAG)
    training_data = version.tags.get(TRAINING_DATA_TAG) or run_tags.get(TRAINING_DATA_TAG)
    return str(version.version), dataset_rev or UNVERSIONED, training_data or UNRECORDED


def dataset_input(table: pd.DataFrame, rev: str, registry: str) -> PandasDataset:
    """A training table as an MLflow dataset: named and sourced by its DVC revision.

    The digest is MLflow's content digest of the table, so the same data gives the same
    digest anywhere: leave out columns that depend on where the data root is.
    """
    from mlflow.data.pandas_dataset import from_pandas

    from ops.datasets.mlflow_source import DvcRevisionSource

    with warnings.catch_warnings():
        # the schema shown on the run page is not a serving contract: no hint about integers
        warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer", UserWarning)
        dataset = from_pandas(table, source=DvcRevisionSource(rev=rev, registry=registry), name=rev)
        _ = dataset.schema  # inferred lazily: here, inside the filter
    return dataset


def pinned_requirements(*distributions: str) -> list[str]:
    """``name==version`` of installed distributions (local tags such as ``+cpu`` left
    out), so MLflow does not spend seconds inferring a model's requirements."""
    return [f"{name}=={importlib.metadata.version(name).split('+')[0]}" for name in distributions]


@dataclass(frozen=True)
class PyfuncModel:
    """A pyfunc model ready to log: the wrapper, its files and its serving contract."""

    python_model: PythonModel
    artifacts: dict[str, Path]
    signature: ModelSignature
    input_example: pd.DataFrame
    pip_requirements: list[str]
    description: str  # of the registered model, shown when it has none yet


@dataclass(frozen=True)
class TrainingRecord:
    """What a run records about one training: its data, params, numbers and documents."""

    dataset_rev: str
    training_data: str
    table: pd.DataFrame  # one row per training file: the run's dataset input
    params: dict[str, Any]
    metrics: dict[str, float]
    documents: dict[str, Any]  # JSON artifacts by file name (an evaluation's details)
    description: str  # of the version and its run: the data and the scores at a glance


class RegisteredVersion(BaseModel):
    """A registered version and the champion gate's verdict on it."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    run_id: str
    model_uri: str
    dataset_rev: str
    training_data: str
    metrics: dict[str, float]
    metric: str  # the gate's metric
    promoted: bool
    reason: str
    champion_score: float | None  # the champion's score it was compared with, if any


def register_pyfunc_version(
    name: str,
    model: PyfuncModel,
    record: TrainingRecord,
    *,
    metric: str,
    tracking_uri: str,
    registry: str,
    evaluate_champion: Callable[[str], float] | None = None,
) -> RegisteredVersion:
    """Log ``model`` in a run of experiment ``name``, register it as a new version of
    ``name``, and move ``champion`` to it when it beats the champion on ``metric``.

    The run is tagged ``dataset_rev``, ``training_data`` and ``git_commit`` (so is the
    version), holds the params, the metrics, the training table as a dataset input and
    the documents. The gate is :func:`promote_if_better`: both scores on the same dataset
    revision (``evaluate_champion(model_uri)`` re-scores a champion trained on another
    one), and a tie keeps the champion. Run from an Airflow task, the run is also tagged
    with the task, and a retry first discards what an interrupted try registered.
    """
    import mlflow
    from mlflow import MlflowClient

    require_intact_store(tracking_uri)
    client = MlflowClient(tracking_uri)
    experiment_id = ensure_experiment(client, name, default_artifact_location(tracking_uri))
    discard_interrupted_tries(client, experiment_id, name)
    tags = {
        DATASET_REV_TAG: record.dataset_rev,
        TRAINING_DATA_TAG: record.training_data,
        "git_commit": git_commit(),
    }
    with (
        tracking_uri_context(tracking_uri),
        mlflow.start_run(
            experiment_id=experiment_id,
            run_name=f"{name}-{record.dataset_rev}",
            tags=tags | training_tags(),
        ) as run,
    ):
        mlflow.log_params(record.params)
        mlflow.log_metrics(record.metrics)
        mlflow.log_input(
            dataset_input(record.table, record.dataset_rev, registry), context="training"
        )
        for file_name, document in record.documents.items():
            mlflow.log_dict(document, file_name)
        mlflow.set_tag("mlflow.note.content", record.description)
        info = mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT,
            python_model=model.python_model,
            artifacts={key: str(path) for key, path in model.artifacts.items()},
            signature=model.signature,
            input_example=model.input_example,
            pip_requirements=model.pip_requirements,
            registered_model_name=name,
        )
    version = str(info.registered_model_version)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    client.update_model_version(name, version, description=record.description)
    if not client.get_registered_model(name).description:
        client.update_registered_model(name, description=model.description)
    decision = promote_if_better(
        client,
        version=version,
        dataset_rev=record.dataset_rev,
        name=name,
        metric=metric,
        evaluate_champion=evaluate_champion,
    )
    return RegisteredVersion(
        name=name,
        version=version,
        run_id=str(run.info.run_id),
        model_uri=f"models:/{name}/{version}",
        dataset_rev=record.dataset_rev,
        training_data=record.training_data,
        metrics=dict(record.metrics),
        metric=metric,
        promoted=decision.promoted,
        reason=decision.reason,
        champion_score=decision.champion,
    )


def git_commit(repo: Path = REPO_ROOT) -> str:
    """The code's commit (``git rev-parse HEAD``), or ``unknown`` outside a git checkout."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return UNKNOWN_COMMIT
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else UNKNOWN_COMMIT


def promote_if_better(
    client: MlflowClient,
    *,
    version: str | int,
    dataset_rev: str,
    name: str,
    metric: str,
    evaluate_champion: Callable[[str], float] | None = None,
) -> GateDecision:
    """Move ``champion`` to ``version`` if there is none yet or the challenger scores higher.

    Both scores must come from ``dataset_rev``: the challenger's run must have been
    evaluated on it, and a champion evaluated on another revision is re-scored with
    ``evaluate_champion(model_uri)`` (without it the gate refuses, as the comparison would
    not be fair). A tie keeps the champion. The decision is written to the challenger's
    run (tags ``gate.decision``, ``gate.reason``, metric ``gate.champion_<metric>``) and
    to its model version (tags), promoted or not.
    """
    version = str(version)
    challenger_run = _version_run(client, name, version)
    challenger_rev = challenger_run.data.tags.get(DATASET_REV_TAG)
    if challenger_rev != dataset_rev:
        raise ValueError(
            f"{name} version {version} was evaluated on dataset {challenger_rev!r}, "
            f"not {dataset_rev!r}: gate it on its own revision"
        )
    if metric not in challenger_run.data.metrics:
        raise ValueError(
            f"run {challenger_run.info.run_id} of {name} version {version} has no metric "
            f"{metric!r} (has {sorted(challenger_run.data.metrics)})"
        )
    challenger = challenger_run.data.metrics[metric]
    aliases = client.get_registered_model(name).aliases
    champion_version = str(aliases[CHAMPION_ALIAS]) if CHAMPION_ALIAS in aliases else None

    champion: float | None = None
    if champion_version is None:
        promoted, reason = True, f"no {CHAMPION_ALIAS} yet: {metric} {challenger:.4f}"
    elif champion_version == version:
        promoted, reason, champion = False, f"version {version} is already the champion", challenger
    else:
        champion, source = _champion_score(
            client, name, champion_version, metric, dataset_rev, evaluate_champion
        )
        if champion is None:
            promoted, reason = False, source
        elif challenger > champion:
            promoted = True
            reason = (
                f"{metric} {challenger:.4f} beats champion version {champion_version}'s "
                f"{champion:.4f} ({source})"
            )
        else:
            promoted = False
            reason = (
                f"{metric} {challenger:.4f} does not beat champion version {champion_version}'s "
                f"{champion:.4f} ({source})"
            )

    if promoted:
        client.set_registered_model_alias(name, CHAMPION_ALIAS, version)
    decision = "promoted" if promoted else "refused"
    run_id = challenger_run.info.run_id
    client.set_tag(run_id, "gate.decision", decision)
    client.set_tag(run_id, "gate.reason", reason)
    if champion is not None:
        client.log_metric(run_id, f"gate.champion_{metric}", champion)
    client.set_model_version_tag(name, version, "gate.decision", decision)
    client.set_model_version_tag(name, version, "gate.reason", reason)
    logger.info("gate for %s version %s: %s (%s)", name, version, decision, reason)
    return GateDecision(promoted=promoted, reason=reason, challenger=challenger, champion=champion)


def _version_run(client: MlflowClient, name: str, version: str) -> Run:
    """The run that logged a model version: where its metrics and dataset tag live."""
    run_id = client.get_model_version(name, version).run_id
    if not run_id:
        raise ValueError(f"{name} version {version} was not logged by a run: nothing to compare")
    return client.get_run(run_id)


def _champion_score(
    client: MlflowClient,
    name: str,
    version: str,
    metric: str,
    dataset_rev: str,
    evaluate_champion: Callable[[str], float] | None,
) -> tuple[float | None, str]:
    """The champion's ``metric`` on ``dataset_rev`` and its source, or why there is none."""
    run = _version_run(client, name, version)
    champion_rev = run.data.tags.get(DATASET_REV_TAG)
    if champion_rev == dataset_rev and metric in run.data.metrics:
        return run.data.metrics[metric], f"both on {dataset_rev}"
    if evaluate_champion is None:
        return None, (
            f"champion version {version} was evaluated on {champion_rev!r}, not {dataset_rev!r}, "
            "and no evaluate_champion was given: no fair comparison, champion kept"
        )
    score = float(evaluate_champion(f"models:/{name}/{version}"))
    return score, f"champion re-evaluated on {dataset_rev}, it was logged on {champion_rev!r}"
