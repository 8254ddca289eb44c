"""Run Airflow against the data root: its home, SQLite metadata DB, the repo's DAGs.

The environment is computed from :class:`Settings` and applied only when asked
(never at import), so the CLI, the demo, ``make up`` and the tests all start
the same embedded Airflow.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ops.settings import REPO_ROOT, Settings

DAGS_FOLDER = REPO_ROOT / "dags"
ADMIN_USER = "admin"


def airflow_environment(settings: Settings) -> dict[str, str]:
    """Variables that point Airflow at the data root (embedded defaults only where unset)."""
    home = settings.airflow_home
    defaults = {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        # a progress bar redrawn into a task log is noise: one line per model download
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }
    fixed = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": os.environ.get("AIRFLOW__CORE__UNIT_TEST_MODE", "False"),
        "CINESCOPE_HOME": str(settings.home),
        "DVC_NO_ANALYTICS": "1",
        "GX_ANALYTICS_ENABLED": "false",
        "MLFLOW_TRACKING_URI": settings.tracking_uri,
    }
    env = {k: os.environ.get(k, v) for k, v in defaults.items()}
    return env | fixed


def apply_airflow_environment(settings: Settings) -> None:
    """Set the Airflow variables in this process (before airflow is imported)."""
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    os.environ.update(airflow_environment(settings))


def _airflow_cli(
    settings: Settings, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = os.environ | airflow_environment(settings)
    command = [sys.executable, "-m", "airflow", *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"`airflow {' '.join(args)}` failed:\n{result.stderr[-3000:]}")
    return result


def ensure_airflow_db(settings: Settings) -> None:
    """Create or upgrade the metadata DB and the ``gpu`` pool (idempotent, once per home)."""
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    stamp = settings.airflow_home / ".migrated"
    if not stamp.exists():
        _airflow_cli(settings, "db", "migrate")
        stamp.touch()
    _airflow_cli(
        settings, "pools", "set", "gpu", str(settings.gpu_pool_slots), "training on GPU workers"
    )


def load_dag(dag_id: str) -> Any:
    """Import ``dags/<dag_id>.py`` and return the DAG it defines (files are named after DAGs)."""
    path = DAGS_FOLDER / f"{dag_id}.py"
    spec = importlib.util.spec_from_file_location(f"cinescope_dags.{dag_id}", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"no DAG file {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for value in vars(module).values():
        if getattr(value, "dag_id", None) == dag_id and hasattr(value, "test"):
            return value
    raise LookupError(f"{path} defines no DAG {dag_id!r}")


def run_dag(dag_id: str, settings: Settings, conf: dict[str, Any] | None = None) -> Any:
    """Run a DAG in-process with ``dag.test()``; raise if any task failed.

    Bad params are refused (:class:`ops.dag_params.ParamsRefused`, naming each field)
    before Airflow starts.
    """
    from ops.dag_params import checked_conf

    checked_conf(dag_id, conf or {})
    apply_airflow_environment(settings)
    ensure_airflow_db(settings)
    dag = load_dag(dag_id)
    run = dag.test(run_conf=conf or {})
    state = str(getattr(run, "state", ""))
    if not state.endswith("success"):
        raise RuntimeError(f"DAG {dag_id} finished in state {state!r}; see the task logs above")
    return run


def dag_file(dag_id: str) -> Path:
    return DAGS_FOLDER / f"{dag_id}.py"
