"""``make up`` / ``make down``: the Airflow UI and the MLflow UI on localhost.

Each service runs in its own process group, recorded in a pid file under the
data root, so ``down`` stops exactly what ``up`` started and nothing else.
"""

from __future__ import annotations

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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _pid(settings: Settings, name: str) -> int | None:
    path = _run_dir(settings) / f"{name}.pid"
    if not path.is_file():
        return None
    pid = int(path.read_text())
    return pid if _alive(pid) else None


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
        os.killpg(pid, signal.SIGTERM)
        for _ in range(50):
            if not _alive(pid):
                break
            time.sleep(0.2)
        else:
            os.killpg(pid, signal.SIGKILL)
        stopped.append(service.name)
    return stopped
