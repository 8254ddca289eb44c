"""``make up`` / ``make down``: the Airflow UI and the MLflow UI on localhost.

Each service runs in its own process group, recorded in a pid file under the
data root, so ``down`` stops exactly what ``up`` started and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from ops.airflow_env import ADMIN_USER, airflow_environment, ensure_airflow_db
from ops.settings import Settings
from ops.tracking_store import require_intact_store

AIRFLOW_PORT = 8080
MLFLOW_PORT = 5000


@dataclass(frozen=True)
class Service:
    name: str
    command: list[str]
    health_url: str


def _run_dir(settings: Settings) -> Path:
    path = settings.home / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path


def admin_password(settings: Settings) -> str:
    """The Airflow UI password (simple auth manager), created once per data root."""
    path = Path(airflow_environment(settings)["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({ADMIN_USER: secrets.token_urlsafe(12)}), encoding="utf-8")
    return str(json.loads(path.read_text(encoding="utf-8"))[ADMIN_USER])


def services(settings: Settings) -> list[Service]:
    bin_dir = Path(sys.executable).parent
    require_intact_store(settings.tracking_uri)  # `mlflow ui` would re-create it empty
    settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    return [
        Service(
            "airflow",
            [str(bin_dir / "airflow"), "standalone"],
            f"http://127.0.0.1:{AIRFLOW_PORT}/api/v2/monitor/health",
        ),
        Service(
            "mlflow",
            [
                str(bin_dir / "mlflow"),
                "ui",
                "--host",
                "127.0.0.1",
                "--port",
                str(MLFLOW_PORT),
                "--backend-store-uri",
                settings.tracking_uri,
                "--default-artifact-root",
                str(settings.mlflow_dir / "artifacts"),
            ],
            f"http://127.0.0.1:{MLFLOW_PORT}/health",
        ),
    ]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _pid(settings: Settings, name: str) -> int | None:
    path = _run_dir(settings) / f"{name}.pid"
    if not path.is_file():
        return None
    pid = int(path.read_text())
    return pid if _group_alive(pid) else None


def up(settings: Settings, timeout_s: float = 180.0) -> dict[str, str]:
    """Start the services that are not running yet; wait until they answer."""
    ensure_airflow_db(settings)
    password = admin_password(settings)
    env = os.environ | airflow_environment(settings)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for service in services(settings):
        if _pid(settings, service.name):
            continue
        log = open(_run_dir(settings) / f"{service.name}.log", "ab")  # noqa: SIM115 - owned by the child
        process = subprocess.Popen(
            service.command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        (_run_dir(settings) / f"{service.name}.pid").write_text(str(process.pid))
    deadline = time.monotonic() + timeout_s
    for service in services(settings):
        while not _healthy(service.health_url):
            if time.monotonic() > deadline or not _pid(settings, service.name):
                raise RuntimeError(
                    f"{service.name} did not start; see {_run_dir(settings)}/{service.name}.log"
                )
            time.sleep(2)
    return {
        "airflow": f"http://127.0.0.1:{AIRFLOW_PORT}",
        "mlflow": f"http://127.0.0.1:{MLFLOW_PORT}",
        "login": f"{ADMIN_USER} / {password}",
    }


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def down(settings: Settings) -> list[str]:
    """Stop the process groups ``up`` started; return the names stopped."""
    stopped = []
    for service in services(settings):
        pid = _pid(settings, service.name)
        (_run_dir(settings) / f"{service.name}.pid").unlink(missing_ok=True)
        if pid is None:
            continue
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _group_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        _signal_group(pid, signal.SIGKILL)
        stopped.append(service.name)
    return stopped


class AirflowApi:
    """A small client of Airflow's REST API (v2) on the local stack, for triggering DAGs."""

    def __init__(
        self, settings: Settings, base_url: str = f"http://127.0.0.1:{AIRFLOW_PORT}"
    ) -> None:
        self.base_url = base_url
        self._client = httpx.Client(base_url=base_url, timeout=30)
        token = self._client.post(
            "/auth/token", json={"username": ADMIN_USER, "password": admin_password(settings)}
        )
        token.raise_for_status()
        self._client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def wait_for_dag(self, dag_id: str, timeout_s: float = 180.0) -> dict:
        """Wait until the DAG processor has parsed ``dag_id``."""
        deadline = time.monotonic() + timeout_s
        while True:
            response = self._client.get(f"/api/v2/dags/{dag_id}")
            if response.status_code == 200:
                return dict(response.json())
            if time.monotonic() > deadline:
                raise TimeoutError(f"DAG {dag_id} not visible in Airflow after {timeout_s:.0f}s")
            time.sleep(3)

    def trigger(self, dag_id: str, conf: dict | None = None) -> dict:
        """Unpause the DAG and create a run; return the run as Airflow describes it."""
        self._client.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": False}).raise_for_status()
        response = self._client.post(
            f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}}
        )
        response.raise_for_status()
        return dict(response.json())

    def run_state(self, dag_id: str, run_id: str) -> str:
        response = self._client.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
        response.raise_for_status()
        return str(response.json()["state"])
