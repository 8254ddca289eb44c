"""Shared fixtures: an isolated data root per test, and the shared media folder."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from ops.airflow_env import airflow_environment
from ops.settings import REPO_ROOT, Settings

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

pytest_plugins = ("tests.support.refresh",)

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

# Airflow reads its configuration once, when first imported. Point it at one Airflow home
# for the whole session before any test imports it (building a Param does), so every
# in-process DAG run, in whatever order the tests run, uses a database that gets migrated.
_SESSION_AIRFLOW = Settings(home=Path(tempfile.mkdtemp(prefix="cinescope-airflow-")))
atexit.register(shutil.rmtree, _SESSION_AIRFLOW.home, ignore_errors=True)
_SESSION_AIRFLOW.airflow_home.mkdir(parents=True)
os.environ.update(
    {k: v for k, v in airflow_environment(_SESSION_AIRFLOW).items() if k.startswith("AIRFLOW")}
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings whose data root is a fresh temporary folder."""
    monkeypatch.setenv("CINESCOPE_HOME", str(tmp_path / "home"))
    return Settings()


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"shared media not found at {SHARED_DATA} (only present on the team's machines)"
        )
    return SHARED_DATA


@pytest.fixture(autouse=True)
def outside_airflow_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts outside any Airflow task: ``dag.test()`` in this process leaves the
    ``AIRFLOW_CTX_*`` variables of the last task it ran in the environment, which would key
    a later test's training runs to that task (ops.tracking_store.airflow_task)."""
    for name in [name for name in os.environ if name.startswith("AIRFLOW_CTX_")]:
        monkeypatch.delenv(name)
