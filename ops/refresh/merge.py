"""Merge a refresh run's shards into a new predictions store version (sealed, not published).

New version = the published rows, minus the (item, task) pairs this run re-processed
and minus items that are no longer ok in the catalog (read now, so nothing orphaned
reaches the checks), plus the shards' rows. Every planned shard must be there and hold
exactly one ledger row per planned item, so a shard that never ran, or one left by an
earlier plan of the same run, is an error rather than a silent gap. Publishing is the
caller's, after the prediction checks.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ops.atomic import write_table
from ops.catalog.store import read_catalog
from ops.predictions.schema import EMBEDDING_SCHEMA, LEDGER_SCHEMA, PREDICTION_SCHEMA
from ops.predictions.store import (
    PredictionsStore,
    embeddings_file,
    folder_tasks,
    ledger_file,
    predictions_file,
    read_arrow,
)
from ops.refresh.plan import SHARDS_DIR, RefreshPlan, load_plan, run_folder, shard_name
from ops.settings import Settings
from ops.versioned import Version

logger = logging.getLogger(__name__)

_TASK_FILES: tuple[tuple[Callable[[Path, str], Path], pa.Schema], ...] = (
    (predictions_file, PREDICTION_SCHEMA),
    (embeddings_file, EMBEDDING_SCHEMA),
)
_ROW_ORDER = [("item_id", "ascending"), ("start_s", "ascending")]
_LEDGER_ORDER = [("task", "ascending"), ("item_id", "ascending")]
_MODEL_FIELDS = ("model_name", "model_version", "dataset_rev")


class MissingShardError(RuntimeError):
    """A planned shard has no folder: its inference task never ran or never finished."""


def _shard_folders(settings: Settings, plan: RefreshPlan) -> dict[str, list[Path]]:
    """Each task's shard folders, after checking every one is there and matches the plan."""
    shards_dir = run_folder(settings, plan.run_id) / SHARDS_DIR
    folders: dict[str, list[Path]] = defaultdict(list)
    missing = []
    for shard in plan.shards:
        folder = shards_dir / shard_name(shard["task"], shard["index"])
        if not folder.is_dir():
            missing.append(folder.name)
            continue
        items = read_arrow(ledger_file(folder), LEDGER_SCHEMA).column("item_id").to_pylist()
        if sorted(items) != sorted(shard["items"]):
            raise ValueError(
                f"{folder}: its ledger rows ({len(items)}) are not the {len(shard['items'])} "
                f"items planned for it; run infer_shard for {folder.name} again"
            )
        folders[shard["task"]].append(folder)
    if missing:
        raise MissingShardError(
            f"run {plan.run_id}: no output for shard(s) {', '.join(missing)} under {shards_dir}; "
            "their inference never ran or did not finish: run infer_shard for them"
        )
    return folders


def _keep(table: pa.Table, ok_items: pa.Array, replaced: pa.Array | None = None) -> pa.Table:
    """Rows of items still ok in the catalog and (when given) not among ``replaced``."""
    ids = table.column("item_id")
    keep = pc.is_in(ids, value_set=ok_items)
    if replaced is not None:
        keep = pc.and_(keep, pc.invert(pc.is_in(ids, value_set=replaced)))
    return table.filter(keep)


def _combined(schema: pa.Schema, parts: list[pa.Table], order: list[tuple[str, str]]) -> pa.Table:
    return pa.concat_tables([schema.empty_table(), *parts]).sort_by(order)


def _planned_items(plan: RefreshPlan, task: str) -> pa.Array:
    items = {item for shard in plan.shards if shard["task"] == task for item in shard["items"]}
    return pa.array(sorted(items), pa.string())


def _manifest(
    plan: RefreshPlan, base: Version | None, tasks: list[str], removed: int
) -> dict[str, Any]:
    """Run, base, and per task the model its new rows came from and how many items it ran."""
    base_tasks = base.manifest().get("tasks", {}) if base is not None else {}
    described = {}
    for task in tasks:
        source = plan.models.get(task) or base_tasks.get(task, {})
        processed = sum(len(s["items"]) for s in plan.shards if s["task"] == task)
        described[task] = {
            **{key: source[key] for key in _MODEL_FIELDS if key in source},
            "items_processed": processed,
        }
    return {
        "run_id": plan.run_id,
        "base_version": base.name if base is not None else None,
        "catalog_digest": plan.catalog_digest,
        "tasks": described,
        "items_removed": removed,
    }


def merge_shards(settings: Settings, run_id: str) -> Version:
    """Build and seal the predictions version of run ``run_id``; return it (not published)."""
    plan = load_plan(settings, run_id)
    shards = _shard_folders(settings, plan)
    catalog = read_catalog(settings.catalog_path)
    ok_items = pa.array(catalog.loc[catalog["status"] == "ok", "item_id"], pa.string())
    store = PredictionsStore(settings)
    base = store.store.current()
    base_ledger = (
        read_arrow(ledger_file(base.path), LEDGER_SCHEMA)
        if base is not None
        else LEDGER_SCHEMA.empty_table()
    )
    tasks = sorted(set(folder_tasks(base.path) if base else []) | set(plan.models))

    version = store.store.create()
    ledgers = []
    for task in tasks:
        replaced = _planned_items(plan, task)
        for locate, schema in _TASK_FILES:
            parts = (
                [_keep(read_arrow(locate(base.path, task), schema), ok_items, replaced)]
                if base
                else []
            )
            parts += [
                _keep(read_arrow(locate(folder, task), schema), ok_items) for folder in shards[task]
            ]
            write_table(_combined(schema, parts, _ROW_ORDER), locate(version.path, task))
        ledgers.append(
            _keep(base_ledger.filter(pc.equal(base_ledger["task"], task)), ok_items, replaced)
        )
        ledgers += [
            _keep(read_arrow(ledger_file(folder), LEDGER_SCHEMA), ok_items)
            for folder in shards[task]
        ]
    write_table(_combined(LEDGER_SCHEMA, ledgers, _LEDGER_ORDER), ledger_file(version.path))

    gone = pc.invert(pc.is_in(base_ledger.column("item_id"), value_set=ok_items))
    removed = len(set(base_ledger.filter(gone).column("item_id").to_pylist()))
    store.store.seal(version, _manifest(plan, base, tasks, removed))
    logger.info(
        "refresh %s merged into %s (on %s)", run_id, version.name, base.name if base else "nothing"
    )
    return version
