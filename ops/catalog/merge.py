"""Merge staged source outputs into the catalog: new, changed, unchanged, vanished, duplicate.

The single writer of the catalog table. ``item_id`` is stable; a change of
content bumps ``version``; an item missing from a complete crawl of its source
is marked ``vanished`` (kept, never deleted). Items holding the same content
(sha256) keep one copy ``ok`` and quarantine the others as duplicates of it: the kept
copy is the one with the most metadata (:data:`METADATA_RICHNESS` fields filled), then
the earliest ``first_seen``, then the smallest URL. The choice is made again on every
merge, so a duplicate whose kept copy vanished, or a richer copy that arrives later,
takes over.

Merge records which rows it changed (beyond ``last_seen``), so that validation checks only
those, and whether anything changed at all, so that an unchanged catalog is not versioned.
A crawl that revalidated its whole source sends all of that source's rows to validation.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ops.catalog.results import MergeSummary
from ops.catalog.schema import ITEM_COLUMNS, PROBE_COLUMNS, QUARANTINE_SCHEMA
from ops.catalog.store import (
    catalog_lock,
    mark_unvalidated,
    mark_unversioned,
    read_catalog,
    read_frame,
    read_quarantine,
    write_catalog,
    write_quarantine,
)
from ops.ingest.staged import StagedSource
from ops.settings import Settings, get_settings

DUPLICATE_PREFIX = "duplicate of item"
DUPLICATE_CHECK = "duplicate"
REASON_SEPARATOR = "; "
METADATA_RICHNESS = ("title", "description", "year", "tags", "people")
"""The fields counted to choose which copy of duplicated content to keep."""
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
    duplicates_released: list[str] = field(default_factory=list)
    crawl_refusals: int = 0
    touched: set[str] = field(default_factory=set)
    """Rows that changed beyond ``last_seen``: what validation must look at again."""

    def summary(self) -> dict[str, int]:
        return {
            "new": len(self.new),
            "changed": len(self.changed),
            "unchanged": self.unchanged,
            "metadata_updated": self.metadata_updated,
            "vanished": len(self.vanished),
            "reappeared": len(self.reappeared),
            "duplicates": self.duplicates,
            "duplicates_released": len(self.duplicates_released),
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
    for source, rows in staged:
        for row in rows:
            items[row["item_id"]] = _merge_item(items.get(row["item_id"]), row, now, stats)
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
                    stats.touched.add(item_id)
    duplicates = _settle_duplicates(items, now, stats)
    frame = pd.DataFrame(list(items.values()), columns=list(ITEM_COLUMNS))
    return frame, duplicates, stats


def _richness(row: dict[str, Any]) -> int:
    """How many of the :data:`METADATA_RICHNESS` fields hold something."""
    filled = 0
    for name in METADATA_RICHNESS:
        value = row.get(name)
        if isinstance(value, (list, tuple)):
            filled += bool(value)
        elif isinstance(value, str):
            filled += bool(value.strip())
        else:
            filled += not _same(value, None)
    return filled


def _keep_order(row: dict[str, Any]) -> tuple[int, pd.Timestamp, str]:
    """Sort key: the copy to keep sorts first (most metadata, first seen, smallest URL)."""
    first_seen = row.get("first_seen")
    seen = (
        pd.Timestamp(first_seen)
        if not _same(first_seen, None)
        else pd.Timestamp.max.tz_localize("UTC")
    )
    return (-_richness(row), seen, str(row.get("url") or ""))


def _without_duplicate_reason(reason: Any) -> str | None:
    """The status_reason minus its leading duplicate part (other stages' parts follow it)."""
    if not isinstance(reason, str) or not reason.startswith(DUPLICATE_PREFIX):
        return reason if isinstance(reason, str) and reason else None
    rest = reason.split(REASON_SEPARATOR, 1)
    return rest[1] if len(rest) > 1 else None


def _settle_duplicates(
    items: dict[str, dict[str, Any]], now: datetime, stats: MergeStats
) -> list[dict[str, Any]]:
    """Keep one copy of each content ``ok`` by the documented rule; quarantine the others.

    A copy quarantined only as a duplicate whose content no other present item holds any
    more (its kept copy vanished or changed) is released; validation then re-checks it.
    Returns one quarantine record per duplicate now held.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in items.values():
        if row.get("sha256") and row["status"] != "vanished":
            groups.setdefault(row["sha256"], []).append(row)
    records: list[dict[str, Any]] = []
    for rows in groups.values():
        keeper, *copies = sorted(rows, key=_keep_order)
        if str(keeper.get("status_reason") or "").startswith(DUPLICATE_PREFIX):
            other = _without_duplicate_reason(keeper["status_reason"])
            keeper["status"] = "quarantined" if other else "ok"
            keeper["status_reason"] = other
            stats.duplicates_released.append(keeper["item_id"])
            stats.touched.add(keeper["item_id"])
        for row in copies:
            reason = f"{DUPLICATE_PREFIX} {keeper['item_id']} ({keeper['url']}): same sha256"
            other = _without_duplicate_reason(row.get("status_reason"))
            status_reason = REASON_SEPARATOR.join(p for p in (reason, other) if p)
            if (row["status"], row.get("status_reason")) != ("quarantined", status_reason):
                stats.touched.add(row["item_id"])
            row["status"] = "quarantined"
            row["status_reason"] = status_reason
            stats.duplicates += 1
            records.append(
                {
                    "source": row["source"],
                    "url": row["url"],
                    "item_id": row["item_id"],
                    "stage": "crawl",
                    "check": DUPLICATE_CHECK,
                    "reason": reason,
                    "at": now,
                }
            )
    return records


def _merge_item(
    before: dict[str, Any] | None, row: dict[str, Any], now: datetime, stats: MergeStats
) -> dict[str, Any]:
    fresh = {name: row.get(name) for name in (*METADATA_COLUMNS, *CONTENT_COLUMNS)}
    if before is None:
        stats.new.append(row["item_id"])
        stats.touched.add(row["item_id"])
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
        stats.touched.add(row["item_id"])
    if row["fetch_status"] == "new" and not _same(before.get("sha256"), row.get("sha256")):
        merged.update({c: fresh[c] for c in CONTENT_COLUMNS})
        merged["version"] = int(before.get("version") or 0) + 1
        merged["status"], merged["status_reason"] = "ok", None
        stats.changed.append(row["item_id"])
        stats.touched.add(row["item_id"])
    else:
        stats.unchanged += 1
    changed_meta = [c for c in METADATA_COLUMNS if not _same(before.get(c), fresh[c])]
    if changed_meta:
        merged.update({c: fresh[c] for c in changed_meta})
        stats.metadata_updated += 1
        stats.touched.add(row["item_id"])
    return merged


def _records(*frames: pd.DataFrame) -> list[tuple[Any, ...]]:
    """Quarantine records as sorted tuples without the volatile ``at``, to compare."""
    columns = [name for name in QUARANTINE_SCHEMA.names if name != "at"]
    records = [
        tuple(None if pd.isna(value) else value for value in record)
        for frame in frames
        for record in frame[columns].itertuples(index=False)
    ]
    return sorted(records, key=repr)


def merge_staged(
    staged_refs: Iterable[StagedSource], settings: Settings | None = None
) -> MergeSummary:
    """The ``merge`` task: fold every staged source into the catalog and quarantine tables."""
    settings = settings or get_settings()
    now = datetime.now(UTC)
    refs = list(staged_refs)
    staged = [(ref, json.loads(Path(ref.items_path).read_text(encoding="utf-8"))) for ref in refs]
    with catalog_lock(settings):
        catalog, duplicates, stats = merge_rows(read_catalog(settings.catalog_path), staged, now)

        crawled = {ref.source for ref in refs}
        quarantine = read_quarantine(settings.quarantine_path)
        # Crawl refusals are replaced per crawled source; duplicates are decided afresh.
        replaced = (quarantine["stage"] == "crawl") & quarantine["source"].isin(crawled)
        replaced |= quarantine["check"] == DUPLICATE_CHECK
        kept = quarantine[~replaced]
        refusals = [read_frame(Path(ref.refusals_path), QUARANTINE_SCHEMA) for ref in refs]
        stats.crawl_refusals = sum(len(r) for r in refusals)
        added = [*refusals, pd.DataFrame(duplicates, columns=QUARANTINE_SCHEMA.names)]
        parts = [kept, *added]
        new_quarantine = (
            pd.concat([p for p in parts if len(p)], ignore_index=True)
            if any(len(p) for p in parts)
            else kept
        )

        revalidated = {i for ref in refs if ref.stats.full_revalidation for i in ref.seen_item_ids}
        mark_unvalidated(settings, stats.touched | revalidated)
        if stats.touched or _records(quarantine[replaced]) != _records(*added):
            mark_unversioned(settings)
        write_catalog(catalog, settings.catalog_path)
        write_quarantine(new_quarantine, settings.quarantine_path)
    return MergeSummary(
        stats=stats.summary(),
        sources={ref.source: ref.stats for ref in refs},
        items=len(catalog),
        run_ids=sorted({r.run_id for r in refs}),
    )
