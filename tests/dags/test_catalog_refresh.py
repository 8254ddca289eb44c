"""catalog_refresh through Airflow (dag.test): a first run publishes, a second does nothing."""

from __future__ import annotations

from typing import Any

import pytest

from ops.airflow_env import run_dag
from ops.index.build import index_store
from ops.predictions.store import PredictionsStore
from ops.settings import Settings
from tests.support.airflow import asset_event_extras

pytestmark = pytest.mark.slow


def _task_states(run: Any) -> dict[str, str]:
    states: dict[str, str] = {}
    for instance in run.get_task_instances():
        states[instance.task_id] = str(instance.state).rsplit(".", 1)[-1]
    return states


def test_refresh_publishes_once_then_has_nothing_to_do(refresh_home: Settings) -> None:
    first = run_dag("catalog_refresh", refresh_home)
    assert _task_states(first)["publish"] == "success"
    assert index_store(refresh_home).current() is not None
    live = index_store(refresh_home).current()
    assert live is not None and live.name == "v000001"
    ledger = PredictionsStore(refresh_home).read_ledger()
    assert len(ledger) == 9 and set(ledger["status"]) == {"ok"}  # 4 videos x 2 + the image
    assert asset_event_extras("index/search")[-1] == {
        "version": "v000001",
        "predictions_version": "v000001",
    }

    second = run_dag("catalog_refresh", refresh_home)
    states = _task_states(second)
    assert states["plan"] == "success"
    assert states["build"] == states["check"] == states["publish"] == "skipped"
    assert "infer" not in states or states["infer"] == "skipped"  # zero shards mapped
    again = index_store(refresh_home).current()
    assert again is not None and again.name == "v000001"
    assert len(asset_event_extras("index/search")) == 1
