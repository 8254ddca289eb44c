"""catalog_ingest through Airflow (dag.test) against the generated sample site."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.airflow_env import run_dag
from ops.catalog.lifecycle import last_run_summary
from ops.catalog.store import read_catalog, read_quarantine
from ops.datasets.registry import DataRegistry
from ops.sample_site.check import check_traps
from ops.sample_site.generate import SiteManifest, generate_site
from ops.sample_site.server import SampleSiteServer
from ops.settings import Settings
from tests.support.airflow import asset_event_extras

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


def test_first_run_catalogues_items_and_quarantines_every_trap(site: tuple) -> None:
    manifest, server, settings = site
    run_dag("catalog_ingest", settings)

    catalog = read_catalog(settings.catalog_path)
    quarantine = read_quarantine(settings.quarantine_path)
    results = check_traps(manifest, catalog, quarantine, server.base_url)
    assert [r for r in results if not r.ok] == []
    assert (catalog["status"] == "ok").sum() == manifest.expected_ok_count()
    assert set(catalog.loc[catalog["status"] == "ok", "kind"]) == {"video", "audio", "image"}
    assert quarantine["reason"].str.len().min() > 0

    summary = last_run_summary(settings)
    assert summary["revision"] == "catalog/v1" and summary["changed"]
    versions = DataRegistry.from_settings(settings).versions("catalog")
    assert [v.tag for v in versions] == ["catalog/v1"]
    report = Path(summary["summary"]["report"])
    assert report.is_file() and "not decodable" in report.read_text(encoding="utf-8")
    for item in manifest.items:
        row = catalog[catalog["sha256"] == item.sha256]
        assert len(row) == 1 and row.iloc[0]["title"] == item.title


def test_catalog_asset_event_carries_the_revision(site: tuple) -> None:
    extras = asset_event_extras("catalog")
    assert {"revision": "catalog/v1"}.items() <= extras[-1].items()


def test_second_run_downloads_nothing(site: tuple) -> None:
    _, server, settings = site
    server.reset_counters()
    run_dag("catalog_ingest", settings)
    summary = last_run_summary(settings)
    stats = summary["summary"]["merge"]["sources"]["sample-site"]
    assert stats["new"] == 0 and stats["downloaded_bytes"] == 0
    assert stats["not_modified"] > 0 and stats["pages_not_modified"] == stats["pages_fetched"]
    assert not summary["changed"] and summary["revision"] == "catalog/v1"
    catalog = read_catalog(settings.catalog_path)
    assert (catalog["status"] != "vanished").all()
