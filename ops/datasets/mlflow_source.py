"""A revision of the DVC data registry as an MLflow dataset source.

A training run logs its data with ``mlflow.log_input``; MLflow's own sources (a local
path, a URL, a table) cannot say "tag ``labels/scene/v3`` of the data registry", which
is what a reviewer needs to fetch the exact data again. This source says it, and shows
as source type ``dvc`` on the run page.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from mlflow.data.dataset_source import DatasetSource


class DvcRevisionSource(DatasetSource):
    """A dataset version of the data registry: its tag and the registry it lives in."""

    def __init__(self, rev: str, registry: str) -> None:
        self.rev = rev
        self.registry = registry

    @staticmethod
    def _get_source_type() -> str:
        return "dvc"

    def load(self, dst_path: str | None = None) -> str:
        """Restore the revision (git checkout + dvc pull) into ``dst_path`` (default: a new
        temporary folder) from this data root's registry; returns the folder."""
        from ops.datasets.registry import DataRegistry
        from ops.settings import get_settings

        target = Path(dst_path or tempfile.mkdtemp(prefix="dvc-revision-"))
        return str(DataRegistry.from_settings(get_settings()).restore(self.rev, target))

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        return False  # built explicitly, never guessed from a string

    @classmethod
    def _resolve(cls, raw_source: Any) -> DvcRevisionSource:
        raise NotImplementedError("build a DvcRevisionSource from its tag and registry")

    def to_dict(self) -> dict[str, Any]:
        return {"rev": self.rev, "registry": self.registry}

    @classmethod
    def from_dict(cls, source_dict: dict[Any, Any]) -> DvcRevisionSource:
        return cls(rev=str(source_dict["rev"]), registry=str(source_dict["registry"]))
