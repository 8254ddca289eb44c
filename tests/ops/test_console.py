"""The catalog as printed: integers as integers, and the size and rate a player shows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
from rich.console import Console
from rich.table import Table

from ops.catalog.schema import ITEM_SCHEMA
from ops.catalog.store import read_catalog, write_catalog
from ops.console import catalog_table, media_table

BASE = {"source": "archive", "status": "ok", "kind": "video", "duration_s": 10.0}


def rendered(table: Table) -> str:
    console = Console(record=True, width=250)
    console.print(table)
    return console.export_text()


def catalog_read_back(tmp_path: Path, *rows: dict[str, object]) -> pd.DataFrame:
    """The frame ``cinescope catalog`` prints: written and read back as Parquet."""
    path = tmp_path / "catalog.parquet"
    items = [BASE | {"url": f"file:///{row['item_id']}"} | row for row in rows]
    write_catalog(pa.Table.from_pylist(items, schema=ITEM_SCHEMA).to_pandas(), path)
    return read_catalog(path)


def test_catalog_prints_integers_without_decimals(tmp_path: Path) -> None:
    catalog = catalog_read_back(
        tmp_path,
        {"item_id": "photo", "kind": "image", "year": 2016, "width": 910, "height": 1137},
        {"item_id": "song", "kind": "audio", "year": None},
    )
    text = rendered(catalog_table(catalog))
    assert "2016" in text and "910x1137" in text
    assert "2016.0" not in text and "910.0" not in text and "<NA>" not in text


def test_catalog_shows_rotation_aspect_and_variable_rate(tmp_path: Path) -> None:
    clip = {"fps": 23.976, "vfr": False, "sample_aspect_ratio": 1.0}
    catalog = catalog_read_back(
        tmp_path,
        clip
        | {"item_id": "rotated", "width": 1280, "height": 544, "rotation": 270}
        | {"display_width": 544, "display_height": 1280},
        clip
        | {"item_id": "anamorphic", "width": 704, "height": 576}
        | {"sample_aspect_ratio": 1.4545, "display_width": 1024, "display_height": 576},
        {"item_id": "dropped", "width": 1280, "height": 544, "fps": 16.05, "vfr": True}
        | {"min_fps": 11.988, "max_fps": 23.976, "display_width": 1280, "display_height": 544},
    )
    text = rendered(catalog_table(catalog))
    assert "544x1280 (rotated 270°)" in text
    assert "1024x576 (704x576 pixels of aspect 1.4545)" in text
    assert "16.05 (variable 11.99-23.98)" in text
    media = rendered(media_table(catalog.set_index("item_id").loc["rotated"]))
    assert "rotation" in media and "270" in media and "display_height" in media
    assert "1280.0" not in media


def test_a_text_search_shows_where_each_hit_matched_in_bold() -> None:
    from rich.console import Console

    from ops.console import search_table
    from ops.index.query import SearchHit, SearchPage

    hit = SearchHit(
        doc_id="a/speech/0.5-2.9/0",
        level="segment",
        item_id="a",
        kind="video",
        title="[red]Harbour[/red]",
        start_s=0.5,
        end_s=2.9,
        labels=["speech"],
        score=1.5,
        snippet="the <b>lighthouse</b> keeper [waves]",
    )
    table = search_table(SearchPage(total=1, page=1, page_size=10, hits=[hit]))
    assert [column.header for column in table.columns][-2:] == ["labels", "matched"]
    out = Console(width=200, record=True, force_terminal=True)
    out.print(table)
    shown = out.export_text(clear=False)
    assert "0.5-2.9s" in shown and "the lighthouse keeper [waves]" in shown
    assert "\x1b[1mlighthouse\x1b[0m" in out.export_text(styles=True)
    listing = search_table(
        SearchPage(total=1, page=1, page_size=10, hits=[hit.model_copy(update={"snippet": None})])
    )
    assert "matched" not in [column.header for column in listing.columns]
