"""`make up` / `make down`: airflow standalone + MLflow UI, and a trigger through the REST API."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from ops.settings import Settings
from ops.stack import AIRFLOW_PORT, MLFLOW_PORT, AirflowApi, down, up

pytestmark = pytest.mark.slow


def _port_busy(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_up_trigger_through_rest_api_and_down(home: Settings) -> None:
    busy = [p for p in (AIRFLOW_PORT, MLFLOW_PORT) if _port_busy(p)]
    if busy:
        pytest.skip(f"ports {busy} are in use (is `make up` already running?)")
    try:
        urls = up(home)
        assert httpx.get(urls["mlflow"] + "/health", timeout=5).status_code == 200
        api = AirflowApi(home)
        dag = api.wait_for_dag("catalog_ingest")
        assert dag["dag_id"] == "catalog_ingest"
        run = api.trigger("catalog_ingest")
        assert run["dag_id"] == "catalog_ingest" and run["state"] in ("queued", "running")
        deadline = time.monotonic() + 120
        while api.run_state("catalog_ingest", run["dag_run_id"]) == "queued":
            assert time.monotonic() < deadline, "the scheduler never started the run"
            time.sleep(3)
    finally:
        stopped = down(home)
    assert sorted(stopped) == ["airflow", "mlflow"]
    time.sleep(2)
    assert not _port_busy(AIRFLOW_PORT) and not _port_busy(MLFLOW_PORT)
