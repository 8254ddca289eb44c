"""Every DAG file imports cleanly and imports nothing heavy at its top level."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ops.airflow_env import DAGS_FOLDER, airflow_environment
from ops.settings import Settings

HEAVY = ("torch", "cv2", "librosa", "mlflow", "great_expectations", "av", "dvc", "pandas")
DAG_FILES = sorted(p for p in DAGS_FOLDER.glob("*.py") if not p.name.startswith("_"))


def _python(code: str, settings: Settings) -> str:
    env = {**airflow_environment(settings), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def test_dagbag_has_no_import_errors(home: Settings) -> None:
    code = (
        "import json; from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(DAGS_FOLDER)!r})\n"
        "print(json.dumps({'errors': {k: str(v) for k, v in bag.import_errors.items()},"
        " 'dags': sorted(bag.dag_ids)}))"
    )
    found = json.loads(_python(code, home))
    assert found["errors"] == {}
    assert "catalog_ingest" in found["dags"]


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_imports_nothing_heavy(dag_file: Path, home: Settings) -> None:
    code = (
        "import json, runpy, sys\n"
        f"runpy.run_path({str(dag_file)!r})\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    assert json.loads(_python(code, home)) == []
