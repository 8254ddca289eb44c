"""Incremental planning against a real catalog, ledger and MLflow registry."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from ops.catalog.store import read_catalog
from ops.refresh.mood_genre import GenreTask, MoodTask
from ops.refresh.plan import (
    NOT_CHOSEN,
    RefreshPlan,
    catalog_digest,
    load_plan,
    pack_by_duration,
    plan_refresh,
    run_folder,
)
from ops.refresh.registry import TASKS, current_model
from ops.refresh.results import TASK_NAMES, RefreshParams
from ops.refresh.tasks import FacesTask
from ops.refresh.words import SpeechTask
from ops.settings import Settings
from ops.versioned import Version

RunRefresh = Callable[[Settings, str], tuple[RefreshPlan, Version]]  # the refresh fixture
RegisterVersion = Callable[..., str]  # the register_version fixture


def test_first_plan_covers_every_video_for_shots_and_every_kind_for_scene(
    refresh_home: Settings,
) -> None:
    plan = plan_refresh(refresh_home, "run-1")
    videos = {"clip-a", "clip-b", "clip-c", "clip-d"}
    every_kind = videos | {"still"}
    for task, expected in (("scene", every_kind), ("shots", videos), ("ocr", every_kind)):
        planned = {item for s in plan.shards if s["task"] == task for item in s["items"]}
        assert planned == expected  # the image gets a content vector and its text, no shots
    assert plan.media["still"]["kind"] == "image" and plan.media["clip-a"]["kind"] == "video"
    assert plan.media["clip-a"]["source"] == "test"
    assert plan.items_planned == 14 and plan.removed == [] and plan.base_version is None
    assert plan.models["scene"]["model_version"] == "1"
    assert plan.models["scene"]["dataset_rev"] == "labels/scene/v1"
    assert plan.summary.startswith("scene: 5 items (")
    assert "in 1 shard" in plan.summary
    saved = json.loads((run_folder(refresh_home, "run-1") / "plan.json").read_text())
    assert saved["shards"] == plan.shards
    assert load_plan(refresh_home, "run-1") == plan


def test_second_plan_after_a_refresh_plans_nothing_and_says_so(
    refresh_home: Settings, refresh: RunRefresh
) -> None:
    refresh(refresh_home, "run-1")
    second = plan_refresh(refresh_home, "run-2")
    assert second.shards == [] and second.items_planned == 0 and second.nothing_to_do
    shots, ocr = current_model("shots", refresh_home), current_model("ocr", refresh_home)
    assert shots is not None and ocr is not None
    assert second.summary == (
        f"nothing to do: 5 items up to date for scene (v1), shots ({shots.model_version}), "
        f"ocr ({ocr.model_version}); faces: {FacesTask.no_model_message}; "
        f"genre: {GenreTask.no_model_message}; mood: {MoodTask.no_model_message}; "
        f"speech: {SpeechTask.no_model_message}"
    )
    assert second.up_to_date == {"scene": 5, "shots": 4, "ocr": 5}


def test_new_champion_replans_only_its_own_task(
    refresh_home: Settings, refresh: RunRefresh, register_version: RegisterVersion
) -> None:
    refresh(refresh_home, "run-1")
    version = register_version(refresh_home.tracking_uri, "labels/scene/v2", seed=1)
    plan = plan_refresh(refresh_home, "run-2")
    assert {shard["task"] for shard in plan.shards} == {"scene"}
    assert plan.items_planned == 5
    assert plan.models["scene"] == {
        "model_name": "scene",
        "model_version": version,
        "dataset_rev": "labels/scene/v2",
    }
    assert "shots (" in plan.summary and "up to date" in plan.summary


def test_changed_content_is_replanned_and_removed_items_are_listed(
    refresh_home: Settings, refresh: RunRefresh, catalog: Any
) -> None:
    from ops.sample_site.media import make_video

    refresh(refresh_home, "run-1")
    catalog.replace_media("clip-a", make_video(42, seconds=2.0, size=(64, 48), fps=8))
    catalog.update("clip-b", status="quarantined", status_reason="taken down")
    catalog.update("clip-c", title="A new title")  # metadata only: no inference
    plan = plan_refresh(refresh_home, "run-2")
    assert sorted((s["task"], tuple(s["items"])) for s in plan.shards) == [
        ("ocr", ("clip-a",)),
        ("scene", ("clip-a",)),
        ("shots", ("clip-a",)),
    ]
    assert plan.removed == ["clip-b"] and not plan.nothing_to_do
    assert plan.media["clip-a"]["sha256"] == catalog.rows()[0]["sha256"]
    assert plan.summary.endswith("1 item left the catalog (their predictions go)")


def test_nothing_to_infer_but_removals_still_need_a_merge(
    refresh_home: Settings, refresh: RunRefresh, catalog: Any
) -> None:
    refresh(refresh_home, "run-1")
    catalog.update("clip-d", status="vanished")
    plan = plan_refresh(refresh_home, "run-2")
    assert plan.shards == [] and plan.removed == ["clip-d"] and not plan.nothing_to_do
    assert plan.summary.startswith("nothing to infer: 4 items up to date for scene (v1)")


def test_only_the_chosen_tasks_are_planned(refresh_home: Settings) -> None:
    plan = plan_refresh(refresh_home, "run-1", RefreshParams(tasks=["shots"]))
    assert {shard["task"] for shard in plan.shards} == {"shots"}
    others = ("scene", "faces", "genre", "mood", "speech", "ocr")
    assert plan.skipped == {task: NOT_CHOSEN for task in others}
    assert set(plan.models) == {"shots"}
    assert plan.summary.endswith("".join(f"; {task}: {NOT_CHOSEN}" for task in others))


def test_a_forced_task_plans_its_up_to_date_items_again(
    refresh_home: Settings, refresh: RunRefresh
) -> None:
    refresh(refresh_home, "run-1")
    plan = plan_refresh(refresh_home, "run-2", RefreshParams(force=["scene"]))
    planned = {item for shard in plan.shards if shard["task"] == "scene" for item in shard["items"]}
    assert planned == {"clip-a", "clip-b", "clip-c", "clip-d", "still"}
    assert {shard["task"] for shard in plan.shards} == {"scene"}  # shots: still up to date


def test_refresh_task_names_are_the_registered_tasks() -> None:
    assert set(TASK_NAMES) == set(TASKS)


def test_forcing_a_task_that_is_not_chosen_is_refused() -> None:
    with pytest.raises(ValueError, match="force names scene, which tasks does not include"):
        RefreshParams(tasks=["shots"], force=["scene"])


def test_a_task_without_champion_is_skipped_with_a_message(home: Settings, catalog: Any) -> None:
    catalog.write([catalog.video_row("clip", 2.0, 0)])
    assert current_model("scene", home) is None
    assert not home.mlflow_dir.exists(), "looking for a champion must not create a store"
    plan = plan_refresh(home, "run-1")
    assert plan.skipped == {
        "scene": "no champion registered yet",
        "faces": FacesTask.no_model_message,
        "genre": GenreTask.no_model_message,
        "mood": MoodTask.no_model_message,
        "speech": SpeechTask.no_model_message,
    }
    assert [s["task"] for s in plan.shards] == ["shots", "ocr"]
    assert plan.summary.endswith(
        f"; scene: no champion registered yet; faces: {FacesTask.no_model_message}; "
        f"genre: {GenreTask.no_model_message}; mood: {MoodTask.no_model_message}; "
        f"speech: {SpeechTask.no_model_message}"
    )
    with pytest.raises(KeyError, match="unknown refresh task 'karaoke'"):
        current_model("karaoke", home)


def test_shards_are_sized_by_media_duration(
    refresh_home: Settings, catalog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog.add(catalog.video_row("long", 7.0, 7))
    monkeypatch.setenv("CINESCOPE_REFRESH_SHARD_SECONDS", "5")
    plan = plan_refresh(Settings(), "run-1")
    scene = [s for s in plan.shards if s["task"] == "scene"]
    durations = {row["item_id"]: row["duration_s"] for row in catalog.rows()}
    assert sorted(i for s in scene for i in s["items"]) == sorted(durations)
    assert [s["index"] for s in scene] == list(range(len(scene)))
    for shard in scene:
        assert shard["seconds"] == pytest.approx(sum(durations[i] for i in shard["items"]))
        assert shard["seconds"] <= 5 or shard["items"] == ["long"]
    assert ["long"] in [s["items"] for s in scene]  # longer than a shard: a shard of its own
    assert len(scene) == 4  # 7 | 4 | 3 + 2 | 2 (best fit)


def test_pack_by_duration_is_best_fit_decreasing_and_deterministic() -> None:
    durations = {"a": 10.0, "b": 6.0, "c": 4.0, "d": 3.0, "e": 2.0, "huge": 15.0, "zero": 0.0}
    assert pack_by_duration(durations, 10.0) == [["huge"], ["a"], ["b", "c"], ["d", "e", "zero"]]
    assert pack_by_duration({}, 10.0) == []


def test_catalog_digest_follows_indexable_columns_of_ok_rows(refresh_home: Settings) -> None:
    catalog = read_catalog(refresh_home.catalog_path)
    digest = catalog_digest(catalog)
    assert catalog_digest(catalog.sample(frac=1, random_state=1)) == digest  # row order
    ignored = catalog.assign(etag="W/new", last_seen=catalog["last_seen"] + pd.Timedelta("1D"))
    assert catalog_digest(ignored) == digest
    quarantined = catalog.copy()
    quarantined.loc[quarantined["item_id"] == "clip-a", "status"] = "quarantined"
    assert catalog_digest(quarantined) != digest
    retitled = catalog.copy()
    retitled.loc[retitled["item_id"] == "clip-b", "title"] = "Another title"
    assert catalog_digest(retitled) != digest
    tagged = catalog.copy()
    tagged["tags"] = [["generated", "new"]] * len(tagged)
    assert catalog_digest(tagged) != digest


def test_run_ids_that_are_not_folder_names_are_refused(home: Settings) -> None:
    for bad in ("", "..", "a/b"):
        with pytest.raises(ValueError, match="cannot name a folder"):
            run_folder(home, bad)
    with pytest.raises(FileNotFoundError, match="run plan_refresh first"):
        load_plan(home, "never-planned")
