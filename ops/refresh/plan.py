"""Incremental refresh planning: which (item, task) pairs need inference, in which shards.

An ok catalog item is planned for a task when the published ledger has no row for the
pair, when its content (``sha256``) changed, or when the task's current model is not
the one that processed it. A ``failed`` row is therefore retried only when the file or
the model changed: the same file through the same model would fail the same way.
Items that left the catalog (or are no longer ok) are listed so merge drops their rows.

Shards are packed per task by media duration (best-fit decreasing), so each mapped
inference task gets about ``refresh_shard_seconds`` of media however long the items
are; an item longer than that is a shard of its own. The plan is written to
``refresh/<run_id>/plan.json``; inference and merge read it, so every step of a run
works from the same snapshot of the catalog and the same model versions.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import json
import logging
import math
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ops.atomic import atomic_open
from ops.catalog.store import read_catalog
from ops.predictions.store import PredictionsStore
from ops.refresh.registry import TASKS
from ops.refresh.results import RefreshParams
from ops.refresh.tasks import ModelRef
from ops.settings import Settings

logger = logging.getLogger(__name__)

PLAN_FILE = "plan.json"
_MEDIA_COLUMNS = ("item_id", "sha256", "duration_s", "kind", "source")
"""What inference needs to know of a planned item (the source: its language, say)."""
SHARDS_DIR = "shards"
NOT_CHOSEN = "not chosen for this run (its predictions stay as they are)"
INDEXABLE_COLUMNS = (
    "item_id",
    "sha256",
    "title",
    "description",
    "year",
    "tags",
    "people",
    "kind",
    "duration_s",
    "source",
    "url",
)
_BAD_RUN_ID = re.compile(r"[/\\\x00]")


def run_folder(settings: Settings, run_id: str) -> Path:
    """``refresh/<run_id>``; a run id that is not a plain folder name is refused."""
    if not run_id or run_id in {".", ".."} or _BAD_RUN_ID.search(run_id):
        raise ValueError(f"run id {run_id!r} cannot name a folder (no '/', '\\' or '..')")
    return settings.refresh_dir / run_id


def shard_name(task: str, index: int) -> str:
    """The shard's folder name under ``shards/``: ``scene-0003``."""
    return f"{task}-{index:04d}"


@dataclass(frozen=True)
class RefreshPlan:
    """What one refresh run will do; ``shards`` is JSON-able (for XCom and the UI)."""

    run_id: str
    created_at: str
    catalog_digest: str
    base_version: str | None  # the predictions version published when planning
    models: dict[str, dict[str, str]]  # task -> ModelRef fields, for tasks that have a model
    skipped: dict[str, str]  # task -> why it has no model
    up_to_date: dict[str, int]  # task -> items that need nothing
    removed: list[str]  # items whose predictions go at merge
    without_media: list[str]  # ok items with no sha256: nothing to run a model on
    media: dict[str, dict[str, Any]]  # planned item -> {sha256, duration_s, kind, source}
    shards: list[dict[str, Any]]  # {task, index, items, seconds}
    summary: str
    path: Path

    @property
    def items_planned(self) -> int:
        """(item, task) pairs to infer."""
        return sum(len(shard["items"]) for shard in self.shards)

    @property
    def nothing_to_do(self) -> bool:
        """No inference and nothing to remove: merging would copy the live version."""
        return not self.shards and not self.removed

    def model(self, task: str) -> ModelRef:
        if task not in self.models:
            raise KeyError(f"run {self.run_id} planned no model for task {task!r}")
        return ModelRef(**self.models[task])

    def shard(self, task: str, index: int) -> dict[str, Any]:
        for shard in self.shards:
            if shard["task"] == task and shard["index"] == index:
                return shard
        planned = ", ".join(shard_name(s["task"], s["index"]) for s in self.shards) or "none"
        raise KeyError(f"run {self.run_id} has no shard {shard_name(task, index)} ({planned})")

    def to_json(self) -> dict[str, Any]:
        fields = dataclasses.asdict(self)
        fields.pop("path")
        return fields

    def save(self) -> None:
        """Write the plan to its path, whole or not at all (what load_plan reads)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(self.path) as handle:
            json.dump(self.to_json(), handle, indent=2)


def load_plan(settings: Settings, run_id: str) -> RefreshPlan:
    """The plan ``plan_refresh`` wrote for ``run_id``."""
    path = run_folder(settings, run_id) / PLAN_FILE
    if not path.is_file():
        raise FileNotFoundError(f"run {run_id} has no plan at {path}: run plan_refresh first")
    return RefreshPlan(**json.loads(path.read_text(encoding="utf-8")), path=path)


def _canonical(value: Any) -> Any:
    """One JSON form per value whatever pandas made of it (NaN, NA, arrays, numpy scalars)."""
    if isinstance(value, np.ndarray | list | tuple):
        return [_canonical(element) for element in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return int(value) if value.is_integer() else value
    return value


def catalog_digest(catalog: pd.DataFrame) -> str:
    """A digest of what the index shows of the ok items; equal digests, same documents."""
    ok = catalog.loc[catalog["status"] == "ok", list(INDEXABLE_COLUMNS)].sort_values("item_id")
    digest = hashlib.sha256()
    for row in ok.itertuples(index=False, name=None):
        line = json.dumps([_canonical(value) for value in row], separators=(",", ":"))
        digest.update(line.encode() + b"\n")
    return digest.hexdigest()


def pack_by_duration(durations: Mapping[str, float], limit: float) -> list[list[str]]:
    """Best-fit decreasing: each item goes to the shard it fills most tightly.

    Ties are broken by item id, so the same catalog always gives the same shards.
    """
    order = sorted(durations, key=lambda item: (-durations[item], item))
    shards: list[list[str]] = []
    rooms: list[tuple[float, int]] = []  # (seconds left, shard number), ascending
    for item in order:
        seconds = durations[item]
        at = bisect.bisect_left(rooms, (seconds, -1))
        if seconds > limit or at == len(rooms):
            shards.append([item])
            number, room = len(shards) - 1, limit - seconds
        else:
            room, number = rooms.pop(at)
            shards[number].append(item)
            room -= seconds
        if room > 0:
            bisect.insort(rooms, (room, number))
    return shards


def _stale_items(candidates: pd.DataFrame, ledger: pd.DataFrame, model: ModelRef) -> pd.DataFrame:
    """Candidates with no ledger row, new content, or another model than ``model``."""
    done = ledger[["item_id", "sha256", "model_name", "model_version"]].rename(
        columns={"sha256": "done_sha256"}
    )
    joined = candidates.merge(done, on="item_id", how="left")
    stale = (
        joined["done_sha256"].isna()
        | (joined["done_sha256"] != joined["sha256"])
        | (joined["model_name"] != model.model_name)
        | (joined["model_version"] != model.model_version)
    )
    return joined.loc[stale, list(_MEDIA_COLUMNS)]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _summary(
    shards: list[dict[str, Any]],
    models: Mapping[str, ModelRef],
    skipped: Mapping[str, str],
    eligible: int,
    removed: int,
) -> str:
    notes = [f"{task}: {reason}" for task, reason in skipped.items()]
    if removed:
        notes.append(f"{_plural(removed, 'item')} left the catalog (their predictions go)")
    if not models:
        head = "nothing to do: no task has a model"
    elif not shards:
        described = ", ".join(f"{task} ({ref.label})" for task, ref in models.items())
        verb = "nothing to do" if not removed else "nothing to infer"
        head = f"{verb}: {_plural(eligible, 'item')} up to date for {described}"
    else:
        parts = []
        for task, ref in models.items():
            mine = [shard for shard in shards if shard["task"] == task]
            if not mine:
                parts.append(f"{task} ({ref.label}): up to date")
                continue
            items = sum(len(shard["items"]) for shard in mine)
            seconds = sum(shard["seconds"] for shard in mine)
            parts.append(
                f"{task}: {_plural(items, 'item')} ({seconds:.0f} s of media) "
                f"in {_plural(len(mine), 'shard')}"
            )
        head = "; ".join(parts)
    return "; ".join([head, *notes])


def plan_refresh(
    settings: Settings, run_id: str, params: RefreshParams | None = None
) -> RefreshPlan:
    """Plan one refresh run against the published ledger and the current models.

    Only ``params.tasks`` are planned (the others keep their predictions); every item of
    a task in ``params.force`` is planned again, up to date or not. Planning a run id
    again starts that run over: its old shard outputs are removed, since they may belong
    to another snapshot of the catalog.
    """
    params = params or RefreshParams()
    folder = run_folder(settings, run_id)
    catalog = read_catalog(settings.catalog_path)
    ok = catalog[catalog["status"] == "ok"]
    store = PredictionsStore(settings)
    base = store.store.current()
    ledger = store.read_ledger()

    without_media = sorted(ok.loc[ok["sha256"].isna(), "item_id"])
    if without_media:
        logger.warning("%d ok items have no sha256 and cannot be inferred", len(without_media))
    media_rows = ok[ok["sha256"].notna()]

    models: dict[str, ModelRef] = {}
    skipped: dict[str, str] = {}
    up_to_date: dict[str, int] = {}
    shards: list[dict[str, Any]] = []
    media: dict[str, dict[str, Any]] = {}
    eligible: set[str] = set()
    for name, task in TASKS.items():
        if name not in params.tasks:
            skipped[name] = NOT_CHOSEN
            continue
        model = task.current_model(settings)
        if model is None:
            skipped[name] = task.no_model_message
            logger.info("%s: %s, skipped", name, task.no_model_message)
            continue
        models[name] = model
        candidates = media_rows.loc[media_rows["kind"].isin(task.kinds), list(_MEDIA_COLUMNS)]
        eligible.update(candidates["item_id"])
        todo = (
            candidates
            if name in params.force
            else _stale_items(candidates, ledger[ledger["task"] == name], model)
        )
        up_to_date[name] = len(candidates) - len(todo)
        unknown = todo["duration_s"].isna() & (todo["kind"] != "image")  # stills have none
        if unknown.any():
            logger.warning("%s: %d items have no duration; packed as 0 s", name, unknown.sum())
        durations = dict(zip(todo["item_id"], todo["duration_s"].fillna(0.0), strict=True))
        for index, items in enumerate(pack_by_duration(durations, settings.refresh_shard_seconds)):
            seconds = round(sum(float(durations[item]) for item in items), 3)
            shards.append({"task": name, "index": index, "items": items, "seconds": seconds})
        for row in todo.itertuples(index=False):
            duration = None if pd.isna(row.duration_s) else float(row.duration_s)
            media[str(row.item_id)] = {
                "sha256": str(row.sha256),
                "duration_s": duration,
                "kind": str(row.kind),
                "source": str(row.source),
            }

    removed = sorted(set(ledger["item_id"]) - set(ok["item_id"]))
    plan = RefreshPlan(
        run_id=run_id,
        created_at=datetime.now(UTC).isoformat(),
        catalog_digest=catalog_digest(catalog),
        base_version=base.name if base is not None else None,
        models={task: dataclasses.asdict(model) for task, model in models.items()},
        skipped=skipped,
        up_to_date=up_to_date,
        removed=removed,
        without_media=without_media,
        media=media,
        shards=shards,
        summary=_summary(shards, models, skipped, len(eligible), len(removed)),
        path=folder / PLAN_FILE,
    )
    shutil.rmtree(folder / SHARDS_DIR, ignore_errors=True)
    plan.save()
    logger.info("refresh %s: %s", run_id, plan.summary)
    return plan
