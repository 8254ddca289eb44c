"""One refresh shard: run a task's planned model over the shard's items, write it atomically.

The shard is written into a scratch folder beside its final place and renamed into
``shards/<task>-<NNNN>`` only once every file is complete and synced, so a killed
task leaves no shard at all, and a retry (after a kill, or after a success) replaces
the folder whole: merge can never see partial or duplicate rows. Rows are streamed to
Parquet item by item, so memory stays flat however long the shard.

An item whose media cannot be processed (missing, corrupt, undecodable) becomes a
``failed`` ledger row with its reason and the shard carries on; any other error fails
the shard, so Airflow retries it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ops.console import progress_bar
from ops.ingest.rawstore import RawStore
from ops.predictions.schema import EMBEDDING_SCHEMA, LEDGER_SCHEMA, PREDICTION_SCHEMA
from ops.predictions.store import embeddings_file, ledger_file, predictions_file
from ops.refresh.plan import SHARDS_DIR, RefreshPlan, load_plan, run_folder, shard_name
from ops.refresh.registry import get_task
from ops.refresh.tasks import InferenceTask, ItemFailed, WorkItem
from ops.settings import Settings

logger = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".partial"


@dataclass(frozen=True)
class ShardResult:
    """What one shard produced (``job.infer_step`` passes it on as an ``InferredShard``)."""

    run_id: str
    task: str
    index: int
    path: Path
    items: int
    ok: int
    failed: int
    rows: int
    seconds: float

    @property
    def summary(self) -> str:
        return (
            f"{self.path.name}: {self.items} items, {self.ok} ok, {self.failed} failed, "
            f"{self.rows} rows in {self.seconds:.1f} s"
        )


@dataclass
class _Counts:
    ok: int = 0
    failed: int = 0
    rows: int = 0


class _ShardWriter:
    """The shard's three Parquet files, appended to item by item."""

    def __init__(self, folder: Path, task: str) -> None:
        self._stack = contextlib.ExitStack()
        self.predictions = self._open(predictions_file(folder, task), PREDICTION_SCHEMA)
        self.embeddings = self._open(embeddings_file(folder, task), EMBEDDING_SCHEMA)
        self.ledger = self._open(ledger_file(folder), LEDGER_SCHEMA)

    def _open(self, path: Path, schema: pa.Schema) -> pq.ParquetWriter:
        return self._stack.enter_context(pq.ParquetWriter(path, schema))

    def close(self) -> None:
        self._stack.close()


def infer_shard(settings: Settings, run_id: str, task: str, index: int) -> ShardResult:
    """Run shard ``index`` of ``task`` in run ``run_id`` and write its folder atomically.

    Scratch folders of earlier tries of this shard are swept first: Airflow runs one try
    of a task instance at a time, so anything left is from a try that is over.
    """
    plan = load_plan(settings, run_id)
    shard = plan.shard(task, index)
    shards_dir = run_folder(settings, run_id) / SHARDS_DIR
    name = shard_name(task, index)
    shards_dir.mkdir(parents=True, exist_ok=True)
    _sweep_leftovers(shards_dir, name)
    scratch = shards_dir / f".{name}.{os.getpid()}-{uuid.uuid4().hex}{PARTIAL_SUFFIX}"
    scratch.mkdir()
    started = time.perf_counter()
    try:
        writer = _ShardWriter(scratch, task)
        try:
            counts = _run_items(settings, plan, get_task(task), shard["items"], writer, name)
        finally:
            writer.close()
        _sync_files(scratch)
        target = _replace_folder(scratch, shards_dir / name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result = ShardResult(
        run_id=run_id,
        task=task,
        index=index,
        path=target,
        items=len(shard["items"]),
        ok=counts.ok,
        failed=counts.failed,
        rows=counts.rows,
        seconds=round(time.perf_counter() - started, 3),
    )
    logger.info("%s", result.summary)
    return result


def _run_items(
    settings: Settings,
    plan: RefreshPlan,
    runner: InferenceTask,
    items: list[str],
    writer: _ShardWriter,
    name: str,
) -> _Counts:
    """Every item through the model, its rows and its ledger row appended as it finishes."""
    raw = RawStore(settings.raw_dir, settings.tmp_dir)
    model = plan.model(runner.name)
    counts = _Counts()
    with progress_bar() as progress:
        bar = progress.add_task(name, total=len(items))
        for number, item_id in enumerate(items, start=1):
            media = plan.media[item_id]
            sha256 = media["sha256"]
            work = WorkItem(
                item_id,
                raw.path_for(sha256),
                model,
                datetime.now(UTC),
                media["kind"],
                media["source"],
                media["duration_s"],
            )
            started = time.perf_counter()
            status, reason, segments = "ok", None, None
            try:
                if not work.path.is_file():
                    raise ItemFailed(f"raw file missing: {work.path} (sha256 {sha256})")
                output = runner.run(work, settings)
            except ItemFailed as exc:
                status, reason = "failed", str(exc)
                counts.failed += 1
            else:
                writer.predictions.write_table(output.predictions)
                writer.embeddings.write_table(output.embeddings)
                segments = output.segments
                counts.ok += 1
                counts.rows += output.predictions.num_rows
            writer.ledger.write_table(
                pa.Table.from_pylist(
                    [
                        {
                            "item_id": item_id,
                            "task": runner.name,
                            "sha256": sha256,
                            **asdict(model),
                            "status": status,
                            "reason": reason,
                            "segments": segments,
                            "processed_at": work.created_at,
                        }
                    ],
                    schema=LEDGER_SCHEMA,
                )
            )
            logger.info(
                "%s [%d/%d] %s: %s in %.2f s",
                name,
                number,
                len(items),
                item_id,
                f"{segments} segments" if reason is None else f"failed: {reason}",
                time.perf_counter() - started,
            )
            progress.advance(bar)
    return counts


def _sweep_leftovers(shards_dir: Path, name: str) -> None:
    """Scratch and replaced folders of earlier tries of this shard (``.<name>.*``)."""
    for leftover in shards_dir.glob(f".{name}.*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _sync_files(folder: Path) -> None:
    for path in folder.iterdir():
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())


def _replace_folder(scratch: Path, target: Path) -> Path:
    """Rename ``scratch`` to ``target``; an existing ``target`` (an earlier try) goes."""
    if target.exists():
        old = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
        target.rename(old)
        scratch.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        scratch.rename(target)
    return target
