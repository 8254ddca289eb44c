"""Reading and writing the catalog and quarantine tables (Parquet, atomic), and their lock.

Merge, validate and version run under one lock (:func:`catalog_lock`), and merge leaves a
mark that validation removes, so a dataset revision never records rows that were not
validated, even when two ingests run at once. The mark names the rows merge changed, so
validation checks just those; a second mark says the tables changed since the last
revision, so an ingest that changed nothing does not touch the data registry.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ops.atomic import atomic_open, write_table
from ops.catalog.schema import ITEM_SCHEMA, QUARANTINE_SCHEMA
from ops.errors import BrokenStateError
from ops.locks import LockHeld, exclusive
from ops.settings import Settings

CATALOG_LOCK = "locks/catalog.lock"
UNVALIDATED_MARK = "catalog.unvalidated"
UNVERSIONED_MARK = "catalog.unversioned"


class TableUnreadable(BrokenStateError):
    """A stored table exists but cannot be read (truncated or not Parquet); says the repair."""


# Integer columns read as pandas' nullable integers: NumPy's have no missing value, so
# pandas would turn a column with one missing value into floats (a year of 2016.0).
_NULLABLE_INTEGERS = {
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
}


def empty_frame(schema: pa.Schema) -> pd.DataFrame:
    return schema.empty_table().to_pandas(types_mapper=_NULLABLE_INTEGERS.get)


def read_frame(path: Path, schema: pa.Schema) -> pd.DataFrame:
    """Read a table, or an empty one with the right columns when it does not exist yet."""
    if not path.is_file():
        return empty_frame(schema)
    try:
        return pq.read_table(path, schema=schema).to_pandas(types_mapper=_NULLABLE_INTEGERS.get)
    except (pa.ArrowException, OSError) as error:
        raise TableUnreadable(
            f"cannot read {path}: {str(error).rstrip('.')}. The file is damaged (truncated?);"
            " nothing was changed. Repair: find the latest revision with `cinescope datasets"
            " list --dataset catalog`, run `cinescope datasets restore catalog/vN <new folder>`"
            f" and copy {path.name} from that folder over this file; or delete this file and"
            " run `cinescope ingest` to rebuild it from the sources."
        ) from None


def write_frame(frame: pd.DataFrame, path: Path, schema: pa.Schema) -> None:
    """Write a frame coerced to ``schema`` (unknown columns are an error, not dropped)."""
    extra = set(frame.columns) - set(schema.names)
    if extra:
        raise ValueError(f"columns not in the schema: {sorted(extra)}")
    for name in schema.names:
        if name not in frame.columns:
            frame = frame.assign(**{name: None})
    table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
    write_table(table, path)


def read_catalog(path: Path) -> pd.DataFrame:
    return read_frame(path, ITEM_SCHEMA)


def write_catalog(frame: pd.DataFrame, path: Path) -> None:
    write_frame(frame.sort_values(["source", "item_id"], kind="stable"), path, ITEM_SCHEMA)


def read_quarantine(path: Path) -> pd.DataFrame:
    return read_frame(path, QUARANTINE_SCHEMA)


def write_quarantine(frame: pd.DataFrame, path: Path) -> None:
    write_frame(
        frame.sort_values(["source", "stage", "url"], kind="stable"), path, QUARANTINE_SCHEMA
    )


@contextlib.contextmanager
def catalog_lock(
    settings: Settings, on_wait: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Serialise the catalog's writers (merge, validate, version) across runs and processes.

    A run that finds the lock held calls ``on_wait`` with the holder's description, then
    waits; the lock dies with its holder, so a killed run never blocks the next one.
    """
    path = settings.home / CATALOG_LOCK
    purpose = "catalog merge, validate and version"
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(exclusive(path, purpose))
        except LockHeld as held:
            if on_wait is not None:
                on_wait(f"waiting for the catalog lock {path}, held by {held.holder}")
            stack.enter_context(exclusive(path, purpose, wait=True))
        yield


def mark_unvalidated(settings: Settings, item_ids: Iterable[str] | None) -> None:
    """Record that these rows (None: every row) await validation, besides any recorded
    before (merge calls this first, with the rows it changed, none perhaps)."""
    path = settings.tables_dir / UNVALIDATED_MARK
    pending = None if item_ids is None else set(item_ids)
    if pending is not None and path.is_file():
        earlier = _recorded_rows(path)
        pending = None if earlier is None else pending | earlier
    with atomic_open(path) as handle:
        handle.write(json.dumps({"rows": None if pending is None else sorted(pending)}))


def rows_to_validate(settings: Settings) -> frozenset[str] | None:
    """The rows merged since the last validation; None when every row is to be validated
    (no merge recorded any: a validation on demand)."""
    path = settings.tables_dir / UNVALIDATED_MARK
    return _recorded_rows(path) if path.is_file() else None


def _recorded_rows(path: Path) -> frozenset[str] | None:
    """The item ids a mark names; None for every row (or a mark this version cannot read)."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return None if rows is None else frozenset(rows)


def mark_validated(settings: Settings) -> None:
    settings.tables_dir.joinpath(UNVALIDATED_MARK).unlink(missing_ok=True)


def needs_validation(settings: Settings) -> bool:
    return settings.tables_dir.joinpath(UNVALIDATED_MARK).is_file()


def mark_unversioned(settings: Settings) -> None:
    """Record that the tables changed since the last revision (before they are written)."""
    with atomic_open(settings.tables_dir / UNVERSIONED_MARK) as handle:
        handle.write("changed since the last catalog revision\n")


def mark_versioned(settings: Settings) -> None:
    settings.tables_dir.joinpath(UNVERSIONED_MARK).unlink(missing_ok=True)


def needs_version(settings: Settings) -> bool:
    return settings.tables_dir.joinpath(UNVERSIONED_MARK).is_file()


def item_media(settings: Settings, item_id: str) -> Path:
    """The stored media file of a catalog item."""
    catalog = read_catalog(settings.catalog_path)
    rows = catalog[(catalog["item_id"] == item_id) & catalog["sha256"].notna()]
    if rows.empty:
        raise LookupError(f"item {item_id!r} is not in the catalog with its media")
    from ops.ingest.rawstore import RawStore

    return RawStore(settings.raw_dir, settings.tmp_dir).path_for(str(rows.iloc[0]["sha256"]))
