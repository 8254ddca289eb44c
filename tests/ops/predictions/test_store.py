"""The predictions store readers: live or named version, empty frames before any publish."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from ops.atomic import write_table
from ops.predictions.schema import EMBEDDING_SCHEMA, LEDGER_SCHEMA, PREDICTION_SCHEMA
from ops.predictions.store import (
    PredictionsStore,
    embeddings_file,
    folder_tasks,
    ledger_file,
    predictions_file,
)
from ops.settings import Settings
from ops.versioned import Version, VersionError

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def build_version(store: PredictionsStore, score: float) -> Version:
    """A sealed version with one scene prediction, one vector and one ledger row."""
    version = store.store.create()
    model = {"model_name": "scene", "model_version": "1"}
    write_table(
        pa.Table.from_pylist(
            [
                {
                    "item_id": "a",
                    "start_s": 0.0,
                    "end_s": 1.0,
                    "task": "scene",
                    "label": "kiss",
                    "score": score,
                    "dataset_rev": "v1",
                    "created_at": NOW,
                    **model,
                }
            ],
            schema=PREDICTION_SCHEMA,
        ),
        predictions_file(version.path, "scene"),
    )
    write_table(
        pa.Table.from_pylist(
            [{"item_id": "a", "task": "scene", "vector": [0.5, 0.5], **model}],
            schema=EMBEDDING_SCHEMA,
        ),
        embeddings_file(version.path, "scene"),
    )
    write_table(
        pa.Table.from_pylist(
            [
                {
                    "item_id": "a",
                    "task": "scene",
                    "sha256": "0" * 64,
                    "dataset_rev": "v1",
                    "status": "ok",
                    "segments": 1,
                    "processed_at": NOW,
                    **model,
                }
            ],
            schema=LEDGER_SCHEMA,
        ),
        ledger_file(version.path),
    )
    return store.store.seal(version, {"run_id": "test"})


def test_nothing_published_reads_as_empty_frames_with_the_schema(home: Settings) -> None:
    store = PredictionsStore(home)
    assert store.store.root == home.predictions_dir
    assert store.version() is None and store.tasks() == []
    for frame, schema in (
        (store.read_predictions("scene"), PREDICTION_SCHEMA),
        (store.read_embeddings("scene"), EMBEDDING_SCHEMA),
        (store.read_ledger(), LEDGER_SCHEMA),
    ):
        assert frame.empty and list(frame.columns) == schema.names


def test_readers_follow_the_published_version_or_a_named_one(home: Settings) -> None:
    store = PredictionsStore(home)
    first = build_version(store, 0.25)
    second = build_version(store, 0.75)
    store.store.publish(first.name)
    assert store.read_predictions("scene")["score"].tolist() == [0.25]
    assert store.read_predictions("scene", second.name)["score"].tolist() == [0.75]
    assert store.tasks() == ["scene"] and folder_tasks(second.path) == ["scene"]
    assert list(store.read_embeddings("scene")["vector"][0]) == [0.5, 0.5]
    ledger = store.read_ledger()
    assert ledger["status"].tolist() == ["ok"] and str(ledger["processed_at"].dt.tz) == "UTC"
    assert store.read_predictions("shots").empty  # a task this version does not have
    with pytest.raises(VersionError, match="v000003 does not exist"):
        store.read_ledger("v000003")
