"""Catalog tables read back with the types they were written with."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from ops.catalog.schema import ITEM_SCHEMA
from ops.catalog.store import read_catalog, write_catalog


def test_integer_columns_stay_integers_when_some_are_missing(tmp_path: Path) -> None:
    rows = [
        {"item_id": "photo", "source": "s", "url": "file:///p.jpg", "status": "ok"}
        | {"year": 2016, "width": 910, "height": 1137, "bytes": 5},
        {"item_id": "song", "source": "s", "url": "file:///s.ogg", "status": "ok"},
    ]
    path = tmp_path / "catalog.parquet"
    write_catalog(pa.Table.from_pylist(rows, schema=ITEM_SCHEMA).to_pandas(), path)
    frame = read_catalog(path)
    for column in ("year", "width", "height", "bytes", "rotation", "display_width"):
        assert pd.api.types.is_integer_dtype(frame[column]), column
    photo, song = frame.iloc[0], frame.iloc[1]
    assert f"{photo['year']} {photo['width']}x{photo['height']}" == "2016 910x1137"
    assert pd.isna(song["year"]) and pd.isna(song["width"])
    write_catalog(frame, path)  # and they write back unchanged
    assert read_catalog(path).equals(frame)
