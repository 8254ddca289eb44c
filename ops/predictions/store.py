"""Reading the predictions store: one sealed version folder per refresh, one live.

A version folder holds, per task, ``<task>.parquet`` (predictions) and
``<task>.embeddings.parquet`` (vectors), plus one ``ledger.parquet`` for all tasks. A
refresh shard folder has the same layout, so the file names are decided here once.
Readers resolve the live version (or a named one) and return empty frames with the
right columns when nothing is published yet, so callers need no special first-run case.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ops.predictions.schema import EMBEDDING_SCHEMA, LEDGER_SCHEMA, PREDICTION_SCHEMA
from ops.settings import Settings
from ops.versioned import POINTER, Version, VersionedStore

LEDGER_FILE = "ledger.parquet"
_PREDICTIONS_SUFFIX = ".parquet"
_EMBEDDINGS_SUFFIX = ".embeddings.parquet"


def predictions_file(folder: Path, task: str) -> Path:
    return folder / f"{task}{_PREDICTIONS_SUFFIX}"


def embeddings_file(folder: Path, task: str) -> Path:
    return folder / f"{task}{_EMBEDDINGS_SUFFIX}"


def ledger_file(folder: Path) -> Path:
    return folder / LEDGER_FILE


def folder_tasks(folder: Path) -> list[str]:
    """The tasks that have a predictions file in a version or shard folder."""
    return sorted(
        path.name.removesuffix(_PREDICTIONS_SUFFIX)
        for path in folder.glob(f"*{_PREDICTIONS_SUFFIX}")
        if path.name != LEDGER_FILE and not path.name.endswith(_EMBEDDINGS_SUFFIX)
    )


def read_arrow(path: Path, schema: pa.Schema, items: Collection[str] | None = None) -> pa.Table:
    """A table read with ``schema`` (only ``items``' rows when given, filtered while
    reading), or an empty one when the file does not exist."""
    if not path.is_file():
        return schema.empty_table()
    filters = [("item_id", "in", list(items))] if items is not None else None
    return pq.read_table(path, schema=schema, filters=filters)


class PredictionsStore:
    """The versioned predictions store under ``settings.predictions_dir``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        pointer = settings.predictions_dir / POINTER
        self.store = VersionedStore(
            settings.predictions_dir,
            repair=f"delete {pointer}, and the next `cinescope refresh` infers the whole "
            "catalog again",
        )

    def version(self, version: str | None = None) -> Version | None:
        """A named sealed version, or the published one (None before the first publish)."""
        return self.store.get(version) if version is not None else self.store.current()

    def tasks(self, version: str | None = None) -> list[str]:
        """Tasks with outputs in that version (none when nothing is published)."""
        resolved = self.version(version)
        return folder_tasks(resolved.path) if resolved is not None else []

    def read_predictions(
        self, task: str, version: str | None = None, items: Collection[str] | None = None
    ) -> pd.DataFrame:
        """A task's rows (only ``items``' when given)."""
        return self._read(
            lambda folder: predictions_file(folder, task), PREDICTION_SCHEMA, version, items
        )

    def read_embeddings(self, task: str, version: str | None = None) -> pd.DataFrame:
        return self._read(lambda folder: embeddings_file(folder, task), EMBEDDING_SCHEMA, version)

    def read_ledger(self, version: str | None = None) -> pd.DataFrame:
        return self._read(ledger_file, LEDGER_SCHEMA, version)

    def _read(
        self,
        locate: Callable[[Path], Path],
        schema: pa.Schema,
        version: str | None,
        items: Collection[str] | None = None,
    ) -> pd.DataFrame:
        resolved = self.version(version)
        if resolved is None:
            return schema.empty_table().to_pandas()
        return read_arrow(locate(resolved.path), schema, items).to_pandas()
