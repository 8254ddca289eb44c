"""The infra files, parsed once per session for the structural and the schema tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.settings import REPO_ROOT

INFRA = REPO_ROOT / "infra"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    return load_yaml(INFRA / "compose.yaml")


@pytest.fixture(scope="session")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="session")
def airflow_values() -> dict[str, Any]:
    """The values for the official Airflow Helm chart."""
    return load_yaml(INFRA / "k8s" / "values-airflow.yaml")


@pytest.fixture(scope="session")
def manifests() -> list[tuple[str, dict[str, Any]]]:
    """Every Kubernetes object of the plain manifests (infra/k8s/<group>/*.yaml), with the file
    it comes from (relative to infra/k8s)."""
    found = []
    for path in sorted((INFRA / "k8s").glob("*/*.yaml")):
        for resource in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if resource:
                found.append((str(path.relative_to(INFRA / "k8s")), resource))
    return found
