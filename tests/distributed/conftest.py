"""One cluster for the whole distributed suite, and the pipeline every test builds on:
the sample catalog ingested, the scene model trained and the catalog refreshed, each a DAG
run that the scheduler hands to the Celery workers.

``make test-distributed`` runs this folder alone (``-m distributed``); it skips with the
reason where PostgreSQL, Redis or the distributed extras are missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ops.sample_site.generate import generate_site
from ops.sample_site.server import SampleSiteServer
from ops.scene.pipeline import generate_demo_labels
from tests.distributed.cluster import Cluster, running_cluster, unavailable_reason

HERE = Path(__file__).parent

# Small enough to train in seconds on a CPU worker (the train_scene DAG's params).
TINY_TRAINING = {
    "labels": ["kiss"],
    "frames_per_segment": 1,
    "image_size": 32,
    "width_multiplier": 0.125,
    "epochs": 2,
    "batch_size": 16,
    "ablation": False,
}


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The services, running on fresh databases; the sample site served on a free port."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"distributed suite skipped: {reason}")
    root = tmp_path_factory.mktemp("cluster")
    generate_site(root / "site")
    with (
        SampleSiteServer(root / "site") as site,
        running_cluster(root, {"CINESCOPE_SAMPLE_SITE_PORT": str(site.port)}) as running,
    ):
        yield running


@dataclass(frozen=True)
class Pipeline:
    """The run id of each DAG run of the pipeline, all of them successful."""

    catalog_ingest: str
    scene_labels: str
    train_scene: str
    catalog_refresh: str


@pytest.fixture(scope="session")
def pipeline(cluster: Cluster) -> Pipeline:
    """Ingest the sample catalog, version generated scene labels, train on them, refresh."""
    generate_demo_labels(cluster.settings, titles=6)
    runs: dict[str, str] = {}
    steps: list[tuple[str, dict[str, Any]]] = [
        ("catalog_ingest", {}),
        ("scene_labels", {}),
        ("train_scene", TINY_TRAINING),
        ("catalog_refresh", {}),
    ]
    for dag_id, conf in steps:
        runs[dag_id] = cluster.trigger(dag_id, conf)
        state = cluster.wait_for_run(dag_id, runs[dag_id])
        assert state == "success", f"{dag_id} {runs[dag_id]}: {state}\n{cluster.report()}"
    return Pipeline(**runs)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """This folder's pipeline checks before its fault tests, which change what the pipeline
    left (a new champion, new index versions)."""
    items.sort(key=lambda item: item.path.parent == HERE and item.path.name != "test_pipeline.py")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test's report ends with the services' output and the failed tasks' logs."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    running = getattr(item, "funcargs", {}).get("cluster")
    if report.when == "call" and report.failed and running is not None:
        report.sections.append(("cluster", running.report()))
