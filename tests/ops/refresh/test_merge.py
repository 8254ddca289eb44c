"""Merging shards into a sealed, unpublished predictions version."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ops.predictions.store import PredictionsStore
from ops.refresh.infer import infer_shard
from ops.refresh.merge import MissingShardError, merge_shards
from ops.refresh.plan import RefreshPlan, plan_refresh, run_folder
from ops.sample_site.media import make_video
from ops.settings import Settings
from ops.versioned import Version

RunRefresh = Callable[[Settings, str], tuple[RefreshPlan, Version]]  # the refresh fixture


def test_a_missing_shard_is_an_error_that_names_it(refresh_home: Settings) -> None:
    plan_refresh(refresh_home, "run-1")
    infer_shard(refresh_home, "run-1", "shots", 0)
    with pytest.raises(MissingShardError, match=r"run run-1: no output for shard\(s\) scene-0000"):
        merge_shards(refresh_home, "run-1")
    assert PredictionsStore(refresh_home).store.versions() == []


def test_a_shard_from_another_plan_of_the_run_is_refused(
    refresh_home: Settings, catalog: Any
) -> None:
    plan_refresh(refresh_home, "run-1")
    infer_shard(refresh_home, "run-1", "shots", 0)
    shards = run_folder(refresh_home, "run-1") / "shards"
    kept = shards.rename(shards.with_name("kept"))
    catalog.add(catalog.video_row("clip-e", 2.0, 20))
    plan_refresh(refresh_home, "run-1")  # planning again clears the run's shards
    assert not shards.exists()
    kept.rename(shards)
    infer_shard(refresh_home, "run-1", "scene", 0)
    with pytest.raises(ValueError, match=r"shots-0000: its ledger rows .* run infer_shard"):
        merge_shards(refresh_home, "run-1")


def test_merge_replaces_reprocessed_pairs_keeps_the_rest_and_drops_removed_items(
    refresh_home: Settings, refresh: RunRefresh, catalog: Any
) -> None:
    store = PredictionsStore(refresh_home)
    _, first = refresh(refresh_home, "run-1")
    before = store.read_predictions("scene")
    new_sha = catalog.replace_media("clip-a", make_video(77, seconds=3.0, size=(64, 48), fps=8))
    catalog.update("clip-b", status="quarantined", status_reason="taken down")
    plan = plan_refresh(refresh_home, "run-2")
    for shard in plan.shards:
        infer_shard(refresh_home, "run-2", shard["task"], shard["index"])
    version = merge_shards(refresh_home, "run-2")

    assert version.sealed and store.store.current() == first  # merged, not published
    manifest = version.manifest()
    assert manifest["run_id"] == "run-2" and manifest["base_version"] == first.name
    assert manifest["catalog_digest"] == plan.catalog_digest
    assert manifest["tasks"]["scene"] == {
        "model_name": "scene",
        "model_version": "1",
        "dataset_rev": "labels/scene/v1",
        "items_processed": 1,
    }
    assert manifest["tasks"]["shots"]["items_processed"] == 1
    assert manifest["items_removed"] == 1

    ledger = store.read_ledger(version.name).set_index(["item_id", "task"])
    assert sorted({item for item, _ in ledger.index}) == ["clip-a", "clip-c", "clip-d", "still"]
    assert ledger.loc[("clip-a", "scene"), "sha256"] == new_sha
    after = store.read_predictions("scene", version.name)
    assert "clip-b" not in set(after["item_id"])
    for item_id in ("clip-c", "clip-d"):  # untouched: carried over row for row
        old = before[before["item_id"] == item_id].reset_index(drop=True)
        new = after[after["item_id"] == item_id].reset_index(drop=True)
        assert new.equals(old)
    clip_a = after[after["item_id"] == "clip-a"]
    assert clip_a["start_s"].max() == 2.0  # the new 3-s file, not the old 2-s one
    assert not after.duplicated(["item_id", "start_s", "label"]).any()
    embeddings = store.read_embeddings("scene", version.name)
    assert set(embeddings["item_id"]) == {"clip-a", "clip-c", "clip-d", "still"}


def test_merging_a_run_with_nothing_to_do_copies_the_live_rows(
    refresh_home: Settings, refresh: RunRefresh
) -> None:
    store = PredictionsStore(refresh_home)
    _, first = refresh(refresh_home, "run-1")
    plan_refresh(refresh_home, "run-2")
    second = merge_shards(refresh_home, "run-2")
    for task in ("scene", "shots"):
        assert store.read_predictions(task, second.name).equals(store.read_predictions(task))
    assert store.read_ledger(second.name).equals(store.read_ledger(first.name))
    assert second.manifest()["tasks"]["scene"]["items_processed"] == 0
