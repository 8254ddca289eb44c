"""A damaged embedded MLflow store is refused, never silently re-created empty."""

from __future__ import annotations

import sqlite3

import pytest

from ops.refresh.tasks import SceneTask
from ops.settings import Settings
from ops.tracking_store import TrackingStoreBroken, require_intact_store


@pytest.mark.parametrize(("content", "what"), [(b"", "is empty (0 bytes)"), (b"junk", "not a")])
def test_empty_or_foreign_store_is_refused_and_left_as_it_is(
    home: Settings, content: bytes, what: str
) -> None:
    store = home.mlflow_dir / "mlflow.db"
    store.parent.mkdir(parents=True)
    store.write_bytes(content)

    with pytest.raises(TrackingStoreBroken) as raised:
        SceneTask().current_model(home)  # what refresh asks first

    assert str(store) in str(raised.value) and what in str(raised.value)
    assert "restore" in str(raised.value)
    assert store.read_bytes() == content


def test_missing_or_sqlite_store_is_accepted(home: Settings) -> None:
    require_intact_store(home.tracking_uri)  # not created yet: a new store
    home.mlflow_dir.mkdir(parents=True)
    sqlite3.connect(home.mlflow_dir / "mlflow.db").execute("create table t (x)").connection.close()
    require_intact_store(home.tracking_uri)
    require_intact_store("http://mlflow.internal:5000")
