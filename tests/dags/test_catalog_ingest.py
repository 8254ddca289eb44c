"""catalog_ingest through Airflow (dag.test) against the generated sample site."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from ops.airflow_env import run_dag
from ops.catalog.lifecycle import last_catalog_version
from ops.catalog.results import CatalogVersion
from ops.catalog.store import read_catalog, read_quarantine
from ops.datasets.registry import DataRegistry
from ops.sample_site.check import check_traps
from ops.sample_site.generate import SiteManifest, generate_site
from ops.sample_site.server import SampleSiteServer
from ops.settings import Settings
from tests.support.airflow import asset_event_extras
from tests.support.capture import captured_output

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SiteManifest, SampleSiteServer, Settings]]:
    root = tmp_path_factory.mktemp("ingest")
    manifest = generate_site(root / "site")
    with pytest.MonkeyPatch.context() as env, SampleSiteServer(root / "site") as server:
        env.setenv("CINESCOPE_HOME", str(root / "home"))
        env.setenv("CINESCOPE_SAMPLE_SITE_PORT", str(server.port))
        (root / "home" / "inbox").mkdir(parents=True)
        yield manifest, server, Settings()


@dataclass(frozen=True)
class FirstRun:
    """What the first ``catalog_ingest`` run left, read before any other run."""

    logged: str
    catalog: pd.DataFrame
    quarantine: pd.DataFrame
    summary: CatalogVersion | None


@pytest.fixture(scope="module")
def first_run(site: tuple) -> FirstRun:
    """The first run, once per module: every test below depends on it, in any order."""
    _, _, settings = site
    with captured_output() as output:
        run_dag("catalog_ingest", settings)
    return FirstRun(
        logged=output.text,
        catalog=read_catalog(settings.catalog_path),
        quarantine=read_quarantine(settings.quarantine_path),
        summary=last_catalog_version(settings),
    )


def test_first_run_catalogues_items_and_quarantines_every_trap(
    site: tuple, first_run: FirstRun
) -> None:
    manifest, server, settings = site
    logged = first_run.logged
    assert "[DAG TEST] running task" in logged  # the task logs are captured here
    assert "XCom not found" not in logged  # merge reads the mapped results in one call

    catalog, quarantine = first_run.catalog, first_run.quarantine
    results = check_traps(manifest, catalog, quarantine, server.base_url)
    assert [r for r in results if not r.ok] == []
    assert (catalog["status"] == "ok").sum() == manifest.expected_ok_count()
    assert set(catalog.loc[catalog["status"] == "ok", "kind"]) == {"video", "audio", "image"}
    assert quarantine["reason"].str.len().min() > 0

    summary = first_run.summary
    assert summary is not None
    assert summary.revision == "catalog/v1" and summary.changed
    versions = DataRegistry.from_settings(settings).versions("catalog")
    assert [v.tag for v in versions] == ["catalog/v1"]
    assert summary.summary.validation is not None
    report = Path(summary.summary.validation.report)
    assert report.is_file() and "not decodable" in report.read_text(encoding="utf-8")
    for item in manifest.items:
        row = catalog[catalog["sha256"] == item.sha256]
        assert len(row) == 1 and row.iloc[0]["title"] == item.title


def test_the_demo_prints_the_run_with_its_validation_report_and_revision(
    site: tuple, first_run: FirstRun
) -> None:
    from ops.console import console
    from ops.demo import print_ingest

    manifest, server, settings = site
    with console.capture() as captured:
        print_ingest(settings, manifest, server.base_url)
    printed = captured.get()
    assert "validation report:" in printed
    assert "catalog/v1" in printed and "trap(s) not handled" not in printed


def test_catalog_asset_event_carries_the_revision(first_run: FirstRun) -> None:
    extras = asset_event_extras("catalog")
    assert {"revision": "catalog/v1"}.items() <= extras[-1].items()


def test_second_run_downloads_nothing(site: tuple, first_run: FirstRun) -> None:
    _, server, settings = site
    server.reset_counters()
    run_dag("catalog_ingest", settings)
    summary = last_catalog_version(settings)
    assert summary is not None and summary.summary.merge is not None
    stats = summary.summary.merge.sources["sample-site"]
    assert stats.new == 0 and stats.downloaded_bytes == 0
    assert stats.not_modified > 0 and stats.pages_not_modified == stats.pages_fetched
    assert not summary.changed and summary.revision == "catalog/v1"
    catalog = read_catalog(settings.catalog_path)
    assert (catalog["status"] != "vanished").all()


def test_a_manual_run_crawls_only_the_sources_its_params_name(
    site: tuple, first_run: FirstRun
) -> None:
    _, server, settings = site
    server.reset_counters()
    run_dag("catalog_ingest", settings, conf={"sources": ["inbox"]})
    assert server.requests_for("/index.html") == server.requests_for("/sitemap.xml") == 0
    summary = last_catalog_version(settings)
    assert summary is not None and summary.summary.merge is not None
    assert set(summary.summary.merge.sources) == {"inbox"}


def test_an_unknown_source_is_refused_by_name_before_anything_is_crawled(
    site: tuple, first_run: FirstRun
) -> None:
    _, _, settings = site
    before = read_catalog(settings.catalog_path)
    with captured_output() as output, pytest.raises(RuntimeError, match="state 'failed'"):
        run_dag("catalog_ingest", settings, conf={"sources": ["nowhere"]})
    assert "unknown source 'nowhere':" in output.text
    assert "names inbox, sample-site; choose among these" in output.text
    pd.testing.assert_frame_equal(read_catalog(settings.catalog_path), before)
