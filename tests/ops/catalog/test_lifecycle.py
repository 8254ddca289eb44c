"""Validate and version: counts that agree, revisions only of validated, changed content,
and only the rows a merge changed validated again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ops.catalog.counts import quarantine_view
from ops.catalog.lifecycle import validate_catalog_step, version_catalog
from ops.catalog.merge import merge_staged
from ops.catalog.schema import QUARANTINE_SCHEMA
from ops.catalog.store import (
    empty_frame,
    read_catalog,
    read_quarantine,
    write_frame,
    write_quarantine,
)
from ops.datasets.registry import DataRegistry
from ops.ingest.pipeline import StagedSource
from ops.ingest.staged import IngestStats
from ops.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


def image(name: str, sha_digit: str, **extra: Any) -> dict[str, Any]:
    return {
        "item_id": name,
        "source": "inbox",
        "url": f"file:///inbox/{name}.png",
        "title": name,
        "tags": [],
        "people": [],
        "sha256": sha_digit * 64,
        "bytes": 100,
        "file_name": f"{name}.png",
        "kind": "image",
        "width": 64,
        "height": 48,
        "fetch_status": "new",
        **extra,
    }


def undecodable_video(name: str, sha_digit: str) -> dict[str, Any]:
    return image(name, sha_digit, kind="video", width=None, height=None, probe_error="bad")


def stage(
    settings: Settings,
    rows: list[dict[str, Any]],
    refused_urls: tuple[str, ...] = (),
    *,
    full_revalidation: bool = False,
) -> StagedSource:
    """What ``ingest_source`` hands to merge, without crawling anything."""
    folder = settings.staging_dir / "run"
    folder.mkdir(parents=True, exist_ok=True)
    items, refusals = folder / "inbox.items.json", folder / "inbox.refusals.parquet"
    items.write_text(json.dumps(rows))
    refused = empty_frame(QUARANTINE_SCHEMA)
    if refused_urls:
        now = pd.Timestamp.now(tz="UTC")
        refused = pd.DataFrame(
            [
                {"source": "inbox", "url": url, "item_id": None, "stage": "crawl"}
                | {"check": "fetch", "reason": "unreadable", "at": now}
                for url in refused_urls
            ]
        )
    write_frame(refused, refusals, QUARANTINE_SCHEMA)
    ids = [r["item_id"] for r in rows]
    return StagedSource(
        source="inbox",
        run_id="run",
        items_path=str(items),
        refusals_path=str(refusals),
        complete=False,
        seen_item_ids=ids,
        stats=IngestStats(full_revalidation=full_revalidation),
    )


def test_version_validates_rows_merged_after_the_last_validation(settings: Settings) -> None:
    merge_staged([stage(settings, [image("sunset", "a")])], settings)
    validate_catalog_step(settings)
    # Another run merges between this run's validate and version (two DAG runs, two CLIs).
    merge_staged([stage(settings, [undecodable_video("broken", "b")])], settings)

    result = version_catalog(settings)

    assert result.counts.quarantined == 1
    versioned = DataRegistry.from_settings(settings).latest("catalog")
    assert versioned is not None and versioned.metadata["counts"]["quarantined"] == 1
    status = read_catalog(settings.catalog_path).set_index("item_id")["status"]
    assert status.to_dict() == {"broken": "quarantined", "sunset": "ok"}


def test_no_revision_when_nothing_changed(settings: Settings) -> None:
    two_failures = image("dusk", "c", year=1, title=" ")
    rows = [image("sunset", "a"), undecodable_video("broken", "b"), two_failures]
    merge_staged([stage(settings, rows)], settings)
    validate_catalog_step(settings)
    first = version_catalog(settings)
    # The same content, stored in another row order (as another run's concat leaves it).
    quarantine = read_quarantine(settings.quarantine_path)
    write_quarantine(quarantine.iloc[::-1], settings.quarantine_path)

    again = version_catalog(settings)

    assert first.changed and not again.changed
    assert again.revision == first.revision == "catalog/v1"


def test_every_count_comes_from_the_same_tables(settings: Settings) -> None:
    rows = [
        image("sunset", "a"),
        image("sunset copy", "a", title=None),  # a duplicate: quarantined by merge
        undecodable_video("broken", "b"),  # quarantined by validation (two checks fail)
        image("dusk", "c", year=1, title=" "),
    ]
    merge_staged([stage(settings, rows, refused_urls=("file:///inbox/x.bin",))], settings)
    validated = validate_catalog_step(settings)
    versioned = version_catalog(settings)

    counts = validated.counts
    assert counts == versioned.counts
    assert counts.model_dump() == {
        "items": 4,
        "ok": 1,
        "quarantined": 3,
        "vanished": 0,
        "refused_urls": 1,
    }
    revision = DataRegistry.from_settings(settings).latest("catalog")
    assert revision is not None
    assert "4 items (1 ok, 3 quarantined, 0 vanished); 1 URLs refused" in revision.message
    view = quarantine_view(
        read_catalog(settings.catalog_path), read_quarantine(settings.quarantine_path)
    )
    assert view["status"].value_counts().to_dict() == {"quarantined": 3, "refused": 1}
    assert view["reason"].str.len().min() > 0


def unchanged(name: str) -> dict[str, Any]:
    """What a re-crawl stages for an item it did not need to ask about."""
    return image(name, "0", sha256=None, fetch_status="unchanged")


def test_validation_checks_the_rows_merged_since_and_keeps_the_others_outcome(
    settings: Settings,
) -> None:
    merge_staged(
        [stage(settings, [image("sunset", "a"), undecodable_video("broken", "b")])], settings
    )
    assert validate_catalog_step(settings).statistics["rows_checked"] == 2
    rows = [unchanged("sunset"), unchanged("broken"), image("dusk", "c")]
    merge_staged([stage(settings, rows)], settings)

    validated = validate_catalog_step(settings)

    assert validated.statistics["rows_checked"] == 1  # dusk
    status = read_catalog(settings.catalog_path).set_index("item_id")["status"].to_dict()
    assert status == {"broken": "quarantined", "dusk": "ok", "sunset": "ok"}
    kept = read_quarantine(settings.quarantine_path)
    assert set(kept.loc[kept["stage"] == "validate", "item_id"]) == {"broken"}
    on_demand = validate_catalog_step(settings)  # no merge since: every row, as asked
    assert on_demand.statistics["rows_checked"] == 3


def test_an_ingest_that_changed_nothing_runs_no_suite_and_leaves_the_registry_alone(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    merge_staged([stage(settings, [image("sunset", "a")])], settings)
    validate_catalog_step(settings)
    first = version_catalog(settings)
    merge_staged([stage(settings, [unchanged("sunset")])], settings)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the registry was asked to commit an unchanged catalog")

    monkeypatch.setattr(DataRegistry, "ensure", refuse)
    monkeypatch.setattr(DataRegistry, "commit", refuse)
    validated = validate_catalog_step(settings)
    again = version_catalog(settings, validated=validated)

    assert validated.statistics["rows_checked"] == 0 and validated.report == ""
    assert validated.counts == first.counts
    assert not again.changed and again.revision == first.revision == "catalog/v1"


def test_a_new_crawl_refusal_alone_is_a_change_worth_a_revision(settings: Settings) -> None:
    merge_staged([stage(settings, [image("sunset", "a")])], settings)
    validate_catalog_step(settings)
    version_catalog(settings)
    merge_staged(
        [stage(settings, [unchanged("sunset")], refused_urls=("file:///x.bin",))], settings
    )

    again = version_catalog(settings)

    assert again.changed and again.revision == "catalog/v2"
    assert again.counts.refused_urls == 1


def test_a_full_revalidation_crawl_sends_all_its_rows_to_validation(settings: Settings) -> None:
    merge_staged([stage(settings, [image("sunset", "a"), image("dusk", "c")])], settings)
    validate_catalog_step(settings)
    rows = [unchanged("sunset"), unchanged("dusk")]
    merge_staged([stage(settings, rows, full_revalidation=True)], settings)

    assert validate_catalog_step(settings).statistics["rows_checked"] == 2
