"""Where an item's predictions came from: per task, the model, its data, and the outcome.

Read from one predictions store version (the published one by default), so what the
API and ``cinescope lineage`` show is exactly what the live index was built from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ops.predictions.schema import LEDGER_SCHEMA
from ops.predictions.store import (
    PredictionsStore,
    embeddings_file,
    ledger_file,
    predictions_file,
)
from ops.settings import Settings


def _rows_of(path: Path, item_id: str) -> int:
    """How many rows of a Parquet file belong to ``item_id`` (row-group statistics help)."""
    if not path.is_file():
        return 0
    return pq.read_table(path, columns=["item_id"], filters=[("item_id", "==", item_id)]).num_rows


def item_lineage(
    settings: Settings, item_id: str, predictions_version: str | None = None
) -> list[dict[str, Any]]:
    """One dict per task that processed the item, ordered by task; [] when none did.

    Keys: task, model_name, model_version, dataset_rev, status, reason, sha256, segments,
    rows (prediction rows), embeddings (vector rows), processed_at (ISO 8601) and
    predictions_version. A version that does not exist raises ``VersionError``.
    """
    version = PredictionsStore(settings).version(predictions_version)
    if version is None:
        return []
    path = ledger_file(version.path)
    if not path.is_file():
        return []
    ledger = pq.read_table(path, schema=LEDGER_SCHEMA, filters=[("item_id", "==", item_id)])
    lineage = []
    for row in sorted(ledger.to_pylist(), key=lambda r: r["task"]):
        task = row["task"]
        lineage.append(
            {
                "task": task,
                "model_name": row["model_name"],
                "model_version": row["model_version"],
                "dataset_rev": row["dataset_rev"],
                "status": row["status"],
                "reason": row["reason"],
                "sha256": row["sha256"],
                "segments": row["segments"],
                "rows": _rows_of(predictions_file(version.path, task), item_id),
                "embeddings": _rows_of(embeddings_file(version.path, task), item_id),
                "processed_at": row["processed_at"].isoformat(),
                "predictions_version": version.name,
            }
        )
    return lineage


def indexed_lineage(settings: Settings, item_id: str) -> dict[str, Any]:
    """What the live index holds for ``item_id`` and where it came from: the index version,
    the catalog revision and predictions version it was built from, and per task the
    model version and training-data revision (``LookupError`` when nothing is live or the
    live index does not hold the item)."""
    from ops.index.build import index_store
    from ops.index.reader import PublishedIndex

    live = index_store(settings).current()
    if live is None:
        raise LookupError("no index is published yet: run `cinescope refresh` first")
    reader = PublishedIndex.open(settings, live.name)
    try:
        if reader.item(item_id) is None:
            raise LookupError(
                f"item {item_id!r} is not in index {live.name}: "
                "`cinescope search` lists what it holds"
            )
    finally:
        reader.close()
    manifest = live.manifest()
    return {
        "item_id": item_id,
        "index_version": live.name,
        "built_at": manifest.get("built_at"),
        "catalog_revision": manifest.get("catalog_revision"),
        "predictions_version": manifest.get("predictions_version"),
        "tasks": item_lineage(settings, item_id, manifest.get("predictions_version")),
    }
