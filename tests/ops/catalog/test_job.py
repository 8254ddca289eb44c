"""Two ingests at once: merge, validate and version never interleave across runs."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

import ops.catalog.job as job
from ops.catalog.results import CatalogValidation, CatalogVersion, MergeSummary
from ops.datasets.registry import DataRegistry
from ops.sample_site.media import make_image
from ops.settings import Settings

SAFETY_WAIT_S = 120  # only so that a broken lock fails the test instead of hanging it


def revision_catalog(settings: Settings, tag: str) -> pd.DataFrame:
    data = DataRegistry.from_settings(settings).read_file(tag, "catalog.parquet")
    return pq.read_table(io.BytesIO(data)).to_pandas()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    (good / "sunset.png").write_bytes(make_image(0, mood="calm", image_format="png"))
    (bad / "broken clip.mp4").write_bytes(b"not a video at all" * 64)
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "sources:\n"
        f"  - {{name: good, kind: local, path: '{good}'}}\n"
        f"  - {{name: bad, kind: local, path: '{bad}'}}\n"
    )
    return Settings(home=tmp_path / "home", sources_file=sources)


def test_second_ingest_waits_so_no_revision_holds_unvalidated_rows(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_merge, real_version = job.merge_staged, job.version_catalog
    other_arrived = threading.Event()  # the second run waits for the lock, or merged anyway
    first_versioned = threading.Event()
    pool = ThreadPoolExecutor(max_workers=1)
    second: list[Any] = []

    def merge(staged: list[Any], settings: Settings) -> MergeSummary:
        merged = real_merge(staged, settings)
        if [s.source for s in staged] == ["bad"]:
            other_arrived.set()
            first_versioned.wait(SAFETY_WAIT_S)  # without a lock, the first run versions now
        return merged

    def waiting(phase: str, done: int, total: int) -> None:
        if phase.startswith("waiting for the catalog lock") and not done:
            other_arrived.set()

    def version(
        settings: Settings, merged: MergeSummary, validated: CatalogValidation
    ) -> CatalogVersion:
        if not second:  # the first run: start the second ingest right before versioning
            second.append(pool.submit(job.run_ingest_job, ["bad"], settings, waiting))
            assert other_arrived.wait(SAFETY_WAIT_S)
        result = real_version(settings, merged=merged, validated=validated)
        first_versioned.set()
        return result

    monkeypatch.setattr(job, "merge_staged", merge)
    monkeypatch.setattr(job, "version_catalog", version)

    first = job.run_ingest_job(["good"], settings)
    later = second[0].result(timeout=SAFETY_WAIT_S)
    pool.shutdown()

    first_catalog = revision_catalog(settings, first.revision)
    assert first_catalog["source"].tolist() == ["good"]
    assert first_catalog["status"].tolist() == ["ok"]
    later_catalog = revision_catalog(settings, later.revision).set_index("source")
    assert later_catalog.loc["bad", "status"] == "quarantined"
    assert "not decodable" in later_catalog.loc["bad", "status_reason"]
    assert later.counts.quarantined == 1 and later.counts.ok == 1
