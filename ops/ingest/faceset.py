"""A source's face set: the pictures of the people it declares, labelled by source and person.

sources.yaml may list people on a source (``people:``). On a website each person has
pages (the pictures a page shows are taken; its links are not followed), feeds and picture
URLs; on a folder source each has a folder. The source's own crawler collects them
(:meth:`ops.ingest.pipeline.SourceIngester.collect_face_set`), so every guard of a crawl
applies: network policy, robots.txt, rate, timeouts, the size cap, the probe. Here are the
rules that make crawled files a face set: only readable pictures are kept, and a picture
declared for two people is kept for the first and refused for the second, each with the
reason. A person whose crawl did not complete keeps the pictures of the previous crawl.

The table ``<home>/faces/sets/<source>.parquet`` has one row per (person, picture), written
atomically; the faces pipeline (:meth:`ops.faces.store.FaceStore.add_face_sets`) finds the
faces in those pictures and labels them with the person's name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from ops.atomic import write_table
from ops.ingest.crawl import Refusal
from ops.settings import Settings

FACE_SET_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("person", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("bytes", pa.int64()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("etag", pa.string()),
        pa.field("last_modified", pa.string()),
        pa.field("collected_at", pa.string()),
    ]
)
FACE_SET_CHECK = "face-set"


def face_sets_dir(settings: Settings) -> Path:
    return settings.home / "faces" / "sets"


def face_set_path(settings: Settings, source: str) -> Path:
    return face_sets_dir(settings) / f"{source}.parquet"


def read_face_set(settings: Settings, source: str) -> pd.DataFrame:
    """The face set a source collected last (empty before its first crawl)."""
    path = face_set_path(settings, source)
    if not path.is_file():
        return FACE_SET_SCHEMA.empty_table().to_pandas()
    return pd.read_parquet(path)


def face_set_sources(settings: Settings) -> list[str]:
    """Sources that have collected a face set."""
    return sorted(path.stem for path in face_sets_dir(settings).glob("*.parquet"))


def previous_rows(face_set: pd.DataFrame, person: str) -> dict[str, dict[str, Any]]:
    """A person's rows of the last crawl by item id: their validators make GETs conditional."""
    rows = face_set[face_set["person"] == person].to_dict(orient="records")
    return {row["item_id"]: row for row in rows}


def about(person: str, refusals: Iterable[Refusal]) -> list[Refusal]:
    """Refusals of a person's crawl, saying whose face set they concern."""
    return [Refusal(r.url, r.check, f"face set of {person}: {r.reason}") for r in refusals]


class FaceSetBuilder:
    """Turns each person's crawled rows into face set rows, refusing what does not fit."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.rows: list[dict[str, Any]] = []
        self.refusals: list[Refusal] = []
        self._owner: dict[str, str] = {}  # picture digest -> the person it was kept for
        self._at = datetime.now(UTC).isoformat(timespec="seconds")

    def add(
        self,
        person: str,
        crawled: list[dict[str, Any]],
        previous: Mapping[str, dict[str, Any]],
        complete: bool,
    ) -> None:
        """Add a person's crawled rows (an unchanged picture's row comes from ``previous``);
        after an incomplete crawl, their previous pictures not seen again are kept."""
        seen: set[str] = set()
        for row in crawled:
            seen.add(row["item_id"])
            if row["fetch_status"] == "not_modified":
                before = previous.get(row["item_id"])
                if before is not None:
                    self._keep(person, before | {"etag": row["etag"]})
                continue
            why = _not_a_picture(row)
            if why:
                self.refusals.append(Refusal(row["url"], FACE_SET_CHECK, f"{person}: {why}"))
                continue
            self._keep(person, row)
        if not complete:
            for item_id, before in previous.items():
                if item_id not in seen:
                    self._keep(person, before)

    def _keep(self, person: str, row: Mapping[str, Any]) -> None:
        owner = self._owner.get(row["sha256"])
        if owner is not None:
            reason = f"{person}: the same picture is already in the face set for {owner}"
            self.refusals.append(Refusal(row["url"], FACE_SET_CHECK, reason))
            return
        self._owner[row["sha256"]] = person
        self.rows.append(
            {name: row.get(name) for name in FACE_SET_SCHEMA.names}
            | {"source": self.source, "person": person}
            | {"collected_at": row.get("collected_at") or self._at}
        )

    def write(self, settings: Settings) -> int:
        """Replace the source's face set table; returns its number of pictures."""
        table = pa.Table.from_pylist(self.rows, schema=FACE_SET_SCHEMA)
        path = face_set_path(settings, self.source)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_table(table, path)
        return table.num_rows


def _not_a_picture(row: Mapping[str, Any]) -> str | None:
    if row.get("probe_error"):
        return f"not a readable picture: {row['probe_error']}"
    if row.get("kind") != "image":
        return f"not a picture but {row.get('kind') or 'of unknown kind'}"
    return None
