"""Refresh fixtures: a tiny catalog of real generated videos and a real MLflow champion.

A pytest plugin (tests/conftest.py loads it), shared by the refresh and DAG tests.

The MLflow SQLite store takes seconds to create, so one is made per session with an
untrained ``scene`` model registered as version 1 and aliased ``champion``, and each
test gets its own copy of the database file in its isolated home.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from models.contracts import AudioContract, FrameContract
from models.scene import SceneClassifier
from ops.catalog.store import read_catalog, write_catalog
from ops.ingest.probe import probe_file
from ops.ingest.rawstore import RawStore
from ops.refresh.infer import infer_shard
from ops.refresh.merge import merge_shards
from ops.refresh.plan import RefreshPlan, plan_refresh
from ops.sample_site.media import make_video
from ops.scene.labels import TrainingData
from ops.scene.tracking import register_scene_model
from ops.settings import Settings
from ops.versioned import Version

LABELS = ("kiss", "hug")
FRAMES = FrameContract(frames_per_segment=1, height=32, width=32)
VIDEO_SECONDS = {"clip-a": 2.0, "clip-b": 3.0, "clip-c": 2.0, "clip-d": 4.0}
FIRST_DATASET_REV = "labels/scene/v1"

RegisterVersion = Callable[..., str]
RunRefresh = Callable[[Settings, str], tuple[RefreshPlan, Version]]


def register_scene_version(
    tracking_uri: str,
    dataset_rev: str,
    *,
    champion: bool = True,
    seed: int = 0,
    training_data: TrainingData = "real",
) -> str:
    """Register an untrained scene model in a run tagged ``dataset_rev``, as training does.

    It stands for a model trained on real labelled data (``training_data``) unless a test
    asks for a generated stand-in, whose labels the index withholds.
    """
    torch.manual_seed(seed)
    model = SceneClassifier(list(LABELS), FRAMES, AudioContract(), width_multiplier=0.125).eval()
    return register_scene_model(
        model,
        dataset_rev=dataset_rev,
        training_data=training_data,
        tracking_uri=tracking_uri,
        champion=champion,
    )


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tracking store folder holding ``scene`` version 1 as champion."""
    folder = tmp_path_factory.mktemp("mlflow-template")
    register_scene_version(f"sqlite:///{folder / 'mlflow.db'}", FIRST_DATASET_REV)
    return folder


@dataclass(frozen=True)
class CatalogEditor:
    """Edits the test's catalog the way ingest would leave it: files in the raw store, probed."""

    settings: Settings

    def media_row(self, item_id: str, data: bytes) -> dict[str, Any]:
        sha256, size = RawStore(self.settings.raw_dir, self.settings.tmp_dir).put_stream(
            io.BytesIO(data), max_bytes=self.settings.max_download_bytes
        )
        path = self.settings.raw_dir / sha256[:2] / sha256
        now = datetime(2026, 1, 1, tzinfo=UTC)
        return {
            **probe_file(path, max_pixels=self.settings.image_max_pixels).columns(),
            "item_id": item_id,
            "source": "test",
            "url": f"http://test/{item_id}",
            "sha256": sha256,
            "bytes": size,
            "version": 1,
            "title": f"Title of {item_id}",
            "description": "a generated clip",
            "year": 2020,
            "tags": ["generated"],
            "people": [],
            "first_seen": now,
            "last_seen": now,
            "status": "ok",
        }

    def video_row(self, item_id: str, seconds: float, index: int) -> dict[str, Any]:
        return self.media_row(item_id, make_video(index, seconds=seconds, size=(64, 48), fps=8))

    def write(self, rows: list[dict[str, Any]]) -> None:
        write_catalog(pd.DataFrame(rows), self.settings.catalog_path)

    def rows(self) -> list[dict[str, Any]]:
        return list(read_catalog(self.settings.catalog_path).to_dict("records"))

    def add(self, row: dict[str, Any]) -> None:
        self.write([*self.rows(), row])

    def update(self, item_id: str, **changes: Any) -> None:
        """Change one row's columns (content, status, metadata)."""
        self.write(
            [{**row, **changes} if row["item_id"] == item_id else row for row in self.rows()]
        )

    def replace_media(self, item_id: str, data: bytes) -> str:
        """New content for an item (as a re-crawl finding a changed file); returns its sha256."""
        row = self.media_row(item_id, data)
        self.update(item_id, **{key: row[key] for key in ("sha256", "bytes", "duration_s")})
        return str(row["sha256"])


@pytest.fixture
def catalog(home: Settings) -> CatalogEditor:
    return CatalogEditor(home)


@pytest.fixture
def refresh_home(home: Settings, mlflow_template: Path, catalog: CatalogEditor) -> Settings:
    """An isolated home: four short videos and one image in the catalog, scene v1 champion."""
    shutil.copytree(mlflow_template, home.mlflow_dir)
    rows = [
        catalog.video_row(item_id, seconds, index)
        for index, (item_id, seconds) in enumerate(VIDEO_SECONDS.items())
    ]
    catalog.write([*rows, {**catalog.video_row("still", 1.0, 99), "kind": "image"}])
    return home


@pytest.fixture
def register_version() -> RegisterVersion:
    return register_scene_version


def run_refresh(settings: Settings, run_id: str) -> tuple[RefreshPlan, Version]:
    """plan -> every shard -> merge -> publish, as the DAG does (checks aside)."""
    from ops.predictions.store import PredictionsStore

    plan = plan_refresh(settings, run_id)
    for shard in plan.shards:
        infer_shard(settings, run_id, shard["task"], shard["index"])
    version = merge_shards(settings, run_id)
    PredictionsStore(settings).store.publish(version.name)
    return plan, version


@pytest.fixture
def refresh() -> RunRefresh:
    return run_refresh


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """One intra-op thread: on this shared 2-core machine OpenMP spinning costs tenfold."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
