"""The embedded MLflow store (a SQLite file) is checked before use, so damage is not erased.

SQLite treats an empty file as an empty database, so MLflow would silently create fresh
tables in a truncated ``mlflow.db`` and every run and registered model would be gone
without a word. A missing file is a new store and is fine; an empty or non-SQLite one is
refused.
"""

from __future__ import annotations

from pathlib import Path

from ops.errors import BrokenStateError

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
