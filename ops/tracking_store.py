"""The MLflow store: where it is, its experiments, and a check before use.

The embedded store (a SQLite file) is checked before use, so damage is not erased.

SQLite treats an empty file as an empty database, so MLflow would silently create fresh
tables in a truncated ``mlflow.db`` and every run and registered model would be gone
without a word. A missing file is a new store and is fine; an empty or non-SQLite one is
refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ops.errors import BrokenStateError

if TYPE_CHECKING:
    from mlflow import MlflowClient

SQLITE_PREFIX = "sqlite:///"
SQLITE_HEADER = b"SQLite format 3\x00"


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
