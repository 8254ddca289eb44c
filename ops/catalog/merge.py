"""Merge staged source outputs into the catalog: new, changed, unchanged, vanished, duplicate.

The single writer of the catalog table. ``item_id`` is stable; a change of
content bumps ``version``; an item missing from a complete crawl of its source
is marked ``vanished`` (kept, never deleted); content already held by another
item is refused as a duplicate with a pointer to the original.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ops.catalog.schema import ITEM_COLUMNS, PROBE_COLUMNS, QUARANTINE_SCHEMA
from ops.catalog.store import (
    read_catalog,
    read_frame,
    read_quarantine,
    write_catalog,
    write_quarantine,
)
from ops.ingest.pipeline import StagedSource
from ops.settings import Settings, get_settings

DUPLICATE_PREFIX = "duplicate of item"
CONTENT_COLUMNS = ("sha256", "bytes", "file_name", *PROBE_COLUMNS)
METADATA_COLUMNS = (
    "url",
    "title",
    "description",
    "year",
    "tags",
    "people",
    "licence",
    "expects_audio",
    "etag",
    "last_modified",
)


@dataclass
class MergeStats:
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0
    metadata_updated: int = 0
    vanished: list[str] = field(default_factory=list)
    reappeared: list[str] = field(default_factory=list)
    duplicates: int = 0
    crawl_refusals: int = 0

    def summary(self) -> dict[str, int]:
        return {
            "new": len(self.new),
            "changed": len(self.changed),
            "unchanged": self.unchanged,
            "metadata_updated": self.metadata_updated,
            "vanished": len(self.vanished),
            "reappeared": len(self.reappeared),
            "duplicates": self.duplicates,
            "crawl_refusals": self.crawl_refusals,
        }


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return list(a if a is not None else []) == list(b if b is not None else [])
    if a is None or (isinstance(a, float) and pd.isna(a)):
        return b is None or (isinstance(b, float) and pd.isna(b))
    return bool(a == b)


def _normalise(row: dict[str, Any]) -> dict[str, Any]:
    """Arrow lists come back as numpy arrays; compare and store them as lists."""
    return {
        k: (list(v) if hasattr(v, "tolist") and not isinstance(v, str) else v)
        for k, v in row.items()
    }


def merge_rows(
    catalog: pd.DataFrame,
    staged: Iterable[tuple[StagedSource, list[dict[str, Any]]]],
    now: datetime,
) -> tuple[pd.DataFrame, list[dict[str, Any]], MergeStats]:
    """Pure merge: returns the new catalog, duplicate refusals and what changed."""
    stats = MergeStats()
    items = {row["item_id"]: _normalise(row) for row in catalog.to_dict(orient="records")}
    owner_of = {
        row["sha256"]: item_id
        for item_id, row in items.items()
        if row.get("sha256")
        and row["status"] != "vanished"
        and not str(row.get("status_reason") or "").startswith(DUPLICATE_PREFIX)
    }
    duplicates: list[dict[str, Any]] = []
    for source, rows in staged:
        for row in rows:
            item_id = row["item_id"]
            before = items.get(item_id)
            sha = row.get("sha256") or (before or {}).get("sha256")
            owner = owner_of.get(sha) if sha else None
            merged = _merge_item(before, row, now, stats)
            if owner is not None and owner != item_id:
                # Kept (with its validators, so it is not fetched again) but quarantined.
                reason = f"{DUPLICATE_PREFIX} {owner} ({items[owner]['url']}): same sha256"
                merged["status"], merged["status_reason"] = "quarantined", reason
                stats.duplicates += 1
                duplicates.append(
                    {
                        "source": source.source,
                        "url": row["url"],
                        "item_id": item_id,
                        "stage": "crawl",
                        "check": "duplicate",
                        "reason": reason,
                        "at": now,
                    }
                )
            elif sha:
                owner_of[sha] = item_id
            items[item_id] = merged
        if source.complete:
            seen = set(source.seen_item_ids)
            for item_id, row in items.items():
                if (
                    row["source"] == source.source
                    and item_id not in seen
                    and row["status"] != "vanished"
                ):
                    row["status"] = "vanished"
                    row["status_reason"] = f"not found in the crawl of {now:%Y-%m-%d %H:%M} UTC"
                    stats.vanished.append(item_id)
    frame = pd.DataFrame(list(items.values()), columns=list(ITEM_COLUMNS))
    return frame, duplicates, stats


def _merge_item(
    before: dict[str, Any] | None, row: dict[str, Any], now: datetime, stats: MergeStats
) -> dict[str, Any]:
    fresh = {name: row.get(name) for name in (*METADATA_COLUMNS, *CONTENT_COLUMNS)}
    if before is None:
        stats.new.append(row["item_id"])
        return {
            **{c: None for c in ITEM_COLUMNS},
            **fresh,
            "item_id": row["item_id"],
            "source": row["source"],
            "version": 1,
            "first_seen": now,
            "last_seen": now,
            "status": "ok",
            "status_reason": None,
        }
    merged = dict(before)
    merged["last_seen"] = now
    if before["status"] == "vanished":
        merged["status"], merged["status_reason"] = "ok", None
        stats.reappeared.append(row["item_id"])
    if row["fetch_status"] == "new" and not _same(before.get("sha256"), row.get("sha256")):
        merged.update({c: fresh[c] for c in CONTENT_COLUMNS})
        merged["version"] = int(before.get("version") or 0) + 1
        merged["status"], merged["status_reason"] = "ok", None
        stats.changed.append(row["item_id"])
    else:
        stats.unchanged += 1
    changed_meta = [c for c in METADATA_COLUMNS if not _same(before.get(c), fresh[c])]
    if changed_meta:
        merged.update({c: fresh[c] for c in changed_meta})
        stats.metadata_updated += 1
    return merged


def merge_staged(
    staged_refs: Iterable[StagedSource | dict[str, Any]], settings: Settings | None = None
) -> dict[str, Any]:
    """The ``merge`` task: fold every staged source into the catalog and quarantine tables."""
    settings = settings or get_settings()
    now = datetime.now(UTC)
    refs = [r if isinstance(r, StagedSource) else StagedSource.from_dict(r) for r in staged_refs]
    staged = [(ref, json.loads(Path(ref.items_path).read_text(encoding="utf-8"))) for ref in refs]
    catalog, duplicates, stats = merge_rows(read_catalog(settings.catalog_path), staged, now)

    crawled = {ref.source for ref in refs}
    quarantine = read_quarantine(settings.quarantine_path)
    kept = quarantine[~((quarantine["stage"] == "crawl") & quarantine["source"].isin(crawled))]
    refusals = [read_frame(Path(ref.refusals_path), QUARANTINE_SCHEMA) for ref in refs]
    stats.crawl_refusals = sum(len(r) for r in refusals)
    parts = [kept, *refusals, pd.DataFrame(duplicates, columns=QUARANTINE_SCHEMA.names)]
    quarantine = (
        pd.concat([p for p in parts if len(p)], ignore_index=True)
        if any(len(p) for p in parts)
        else kept
    )

    write_catalog(catalog, settings.catalog_path)
    write_quarantine(quarantine, settings.quarantine_path)
    return {
        "stats": stats.summary(),
        "sources": {ref.source: asdict(ref.stats) for ref in refs},
        "items": len(catalog),
        "run_ids": sorted({r.run_id for r in refs}),
    }
