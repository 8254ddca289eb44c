"""Reading and writing the catalog and quarantine tables (Parquet, atomic)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ops.atomic import write_table
from ops.catalog.schema import ITEM_SCHEMA, QUARANTINE_SCHEMA


def empty_frame(schema: pa.Schema) -> pd.DataFrame:
    return schema.empty_table().to_pandas()


def read_frame(path: Path, schema: pa.Schema) -> pd.DataFrame:
    """Read a table, or an empty one with the right columns when it does not exist yet."""
    if not path.is_file():
        return empty_frame(schema)
    return pq.read_table(path, schema=schema).to_pandas()


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
