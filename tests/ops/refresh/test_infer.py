"""Shard inference on real decoded media: rows, failures, and atomic, retryable output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ops.predictions.schema import LEDGER_SCHEMA
from ops.predictions.store import PredictionsStore, ledger_file, read_arrow
from ops.refresh.infer import infer_shard
from ops.refresh.merge import merge_shards
from ops.refresh.plan import RefreshPlan, plan_refresh, run_folder
from ops.refresh.registry import get_task
from ops.sample_site.media import make_video, truncated_copy
from ops.settings import Settings
from ops.versioned import Version

LABELS = ["kiss", "hug"]

RunRefresh = Callable[[Settings, str], tuple[RefreshPlan, Version]]  # the refresh fixture


def shard_ledger(folder: Path) -> pd.DataFrame:
    return read_arrow(ledger_file(folder), LEDGER_SCHEMA).to_pandas()


def test_scene_rows_per_segment_and_label_with_item_rows_and_vectors(
    refresh_home: Settings,
) -> None:
    plan = plan_refresh(refresh_home, "run-1")
    result = infer_shard(refresh_home, "run-1", "scene", 0)
    assert (result.items, result.ok, result.failed) == (5, 5, 0)  # 4 videos and the image
    assert result.path == run_folder(refresh_home, "run-1") / "shards" / "scene-0000"
    predictions = pd.read_parquet(result.path / "scene.parquet")
    embeddings = pd.read_parquet(result.path / "scene.embeddings.parquet")
    ledger = shard_ledger(result.path).set_index("item_id")
    assert result.rows == len(predictions)
    assert (ledger["status"] == "ok").all() and ledger["reason"].isna().all()
    assert (ledger["model_version"] == "1").all()
    assert (ledger["dataset_rev"] == "labels/scene/v1").all()
    assert get_task("scene").vocabulary(plan.model("scene"), refresh_home) == LABELS

    for item_id, rows in predictions.groupby("item_id"):
        segments = int(ledger.loc[item_id, "segments"])
        assert segments >= 2
        assert ledger.loc[item_id, "sha256"] == plan.media[item_id]["sha256"]
        per_segment = rows[rows["start_s"].notna()]
        whole = rows[rows["start_s"].isna()].set_index("label")
        assert len(per_segment) == segments * len(LABELS)
        assert sorted(whole.index) == sorted(LABELS) and whole["end_s"].isna().all()
        for label in LABELS:
            scores = per_segment.loc[per_segment["label"] == label, "score"]
            assert whole.loc[label, "score"] == pytest.approx(scores.max())
        assert rows["score"].between(0, 1).all()
        assert per_segment["start_s"].min() == 0.0
        assert (per_segment["end_s"] > per_segment["start_s"]).all()
        assert set(rows["model_name"]) == {"scene"} and set(rows["dataset_rev"]) == {
            "labels/scene/v1"
        }

        vectors = embeddings[embeddings["item_id"] == item_id]
        segment_vectors = np.stack(vectors.loc[vectors["start_s"].notna(), "vector"])
        item_vector = np.stack(vectors.loc[vectors["start_s"].isna(), "vector"])
        assert segment_vectors.shape[0] == segments and item_vector.shape[0] == 1
        np.testing.assert_allclose(item_vector[0], segment_vectors.mean(axis=0), rtol=1e-5)


def test_shots_rows_one_shot_and_one_keyframe_per_shot_without_embeddings(
    refresh_home: Settings,
) -> None:
    plan = plan_refresh(refresh_home, "run-1")
    result = infer_shard(refresh_home, "run-1", "shots", 0)
    predictions = pd.read_parquet(result.path / "shots.parquet")
    vocabulary = get_task("shots").vocabulary(plan.model("shots"), refresh_home)
    assert vocabulary == ["shot", "keyframe"]
    assert set(predictions["label"]) == {"shot", "keyframe"}
    assert (predictions["score"] == 1.0).all() and predictions["start_s"].notna().all()
    for _, rows in predictions.groupby("item_id"):
        shots = rows[rows["label"] == "shot"].sort_values("start_s")
        keyframes = rows[rows["label"] == "keyframe"].sort_values("start_s")
        assert len(shots) == len(keyframes) >= 1 and (shots["end_s"] > 0).all()
        assert (keyframes["start_s"].to_numpy() == keyframes["end_s"].to_numpy()).all()
        inside = (keyframes["start_s"].to_numpy() >= shots["start_s"].to_numpy()) & (
            keyframes["start_s"].to_numpy() < shots["end_s"].to_numpy()
        )
        assert inside.all()
    assert set(predictions["model_name"]) == {"shot-detector"}
    assert set(predictions["dataset_rev"]) == {"n/a"}
    assert len(pd.read_parquet(result.path / "shots.embeddings.parquet")) == 0


def test_a_corrupt_video_is_a_failed_row_and_is_retried_only_when_it_changes(
    refresh_home: Settings, catalog: Any, refresh: RunRefresh
) -> None:
    broken = truncated_copy(make_video(50, seconds=3.0, size=(64, 48), fps=8))
    catalog.add({**catalog.media_row("broken", broken), "kind": "video", "duration_s": 3.0})
    plan, _ = refresh(refresh_home, "run-1")
    assert any("broken" in shard["items"] for shard in plan.shards if shard["task"] == "scene")

    store = PredictionsStore(refresh_home)
    ledger = store.read_ledger()
    failed = ledger[ledger["status"] == "failed"]
    assert sorted(failed["task"]) == ["ocr", "scene", "shots"]
    assert set(failed["item_id"]) == {"broken"}
    assert failed["reason"].str.contains("broken|cannot open|decod", regex=True).all()
    assert failed["reason"].str.len().gt(10).all()
    assert (ledger.loc[ledger["item_id"] != "broken", "status"] == "ok").all()
    assert "broken" not in set(store.read_predictions("scene")["item_id"])
    assert len(ledger) == 17  # 5 videos x 3 tasks + the image's content vector and its text

    assert plan_refresh(refresh_home, "run-2").shards == []  # same file, same model: no retry
    catalog.replace_media("broken", make_video(50, seconds=3.0, size=(64, 48), fps=8))
    _, fixed = refresh(refresh_home, "run-3")
    ledger = store.read_ledger(fixed.name)
    assert (ledger["status"] == "ok").all() and len(ledger) == 17


def test_a_missing_raw_file_is_a_failed_row(refresh_home: Settings) -> None:
    plan = plan_refresh(refresh_home, "run-1")
    sha256 = plan.media["clip-b"]["sha256"]
    (refresh_home.raw_dir / sha256[:2] / sha256).unlink()
    result = infer_shard(refresh_home, "run-1", "shots", 0)
    assert (result.ok, result.failed) == (3, 1)
    ledger = shard_ledger(result.path).set_index("item_id")
    assert ledger.loc["clip-b", "status"] == "failed"
    assert ledger.loc["clip-b", "reason"].startswith("raw file missing:")
    assert pd.isna(ledger.loc["clip-b", "segments"])


def test_an_unknown_shard_is_a_clear_error(refresh_home: Settings) -> None:
    plan_refresh(refresh_home, "run-1")
    with pytest.raises(KeyError, match=r"no shard scene-0007 \(scene-0000, shots-0000, ocr-0000\)"):
        infer_shard(refresh_home, "run-1", "scene", 7)


def _kill_when_rows_are_being_written(process: subprocess.Popen[bytes], shards: Path) -> None:
    """SIGKILL the process group once the scratch shard holds a first item's rows."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        partial = [
            ledger
            for ledger in shards.glob(".scene-0000.*.partial/ledger.parquet")
            if ledger.stat().st_size > 4  # more than the Parquet magic: a row group is in
        ]
        if partial:
            os.killpg(process.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    process.wait(timeout=60)


def test_a_shard_killed_mid_write_then_retried_gives_exactly_one_copy(
    refresh_home: Settings, catalog: Any
) -> None:
    for index in range(4):
        catalog.add(catalog.video_row(f"extra-{index}", 3.0, 10 + index))
    plan = plan_refresh(refresh_home, "run-1")
    shards = run_folder(refresh_home, "run-1") / "shards"
    code = (
        "from ops.settings import Settings\n"
        "from ops.refresh.infer import infer_shard\n"
        "infer_shard(Settings(), 'run-1', 'scene', 0)\n"
    )
    env = {**os.environ, "CINESCOPE_HOME": str(refresh_home.home), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-c", code], env=env, start_new_session=True, stderr=subprocess.DEVNULL
    )
    _kill_when_rows_are_being_written(process, shards)
    assert process.returncode == -signal.SIGKILL, "the shard ended before it could be killed"
    assert not (shards / "scene-0000").exists(), "a killed shard must leave no shard folder"
    assert list(shards.glob(".scene-0000.*.partial"))

    infer_shard(refresh_home, "run-1", "scene", 0)
    infer_shard(refresh_home, "run-1", "shots", 0)
    infer_shard(refresh_home, "run-1", "shots", 0)  # a retry after success replaces it
    infer_shard(refresh_home, "run-1", "ocr", 0)
    assert sorted(path.name for path in shards.iterdir()) == [
        "ocr-0000",
        "scene-0000",
        "shots-0000",
    ]

    version = merge_shards(refresh_home, "run-1")
    store = PredictionsStore(refresh_home)
    ledger = store.read_ledger(version.name)
    assert len(ledger) == plan.items_planned == 26  # 8 videos x 3 tasks + the image x 2
    assert not ledger.duplicated(["item_id", "task"]).any()
    segments = ledger.groupby("task")["segments"].sum()
    video_segments = ledger.loc[
        (ledger["task"] == "scene") & (ledger["item_id"] != "still"), "segments"
    ].sum()
    scene = store.read_predictions("scene", version.name)
    assert not scene.duplicated(["item_id", "start_s", "label"]).any()
    assert len(scene) == video_segments * len(LABELS) + 8 * len(LABELS)  # the image: none
    shots = store.read_predictions("shots", version.name)
    assert not shots.duplicated(["item_id", "start_s", "label"]).any()
    assert len(shots) == 2 * segments["shots"]  # a shot row and a keyframe row per shot
    embeddings = store.read_embeddings("scene", version.name)
    assert len(embeddings) == segments["scene"] + 8


def test_images_and_audio_get_a_content_vector_and_no_labels(
    refresh_home: Settings, catalog: Any, refresh: RunRefresh
) -> None:
    from ops.sample_site.media import make_image, make_music

    picture = catalog.media_row("photo", make_image(3, mood="calm", image_format="png"))
    track = catalog.media_row("track", make_music(4, genre="jazz", seconds=3.0, container="wav"))
    catalog.add({**picture, "kind": "image"})
    catalog.add({**track, "kind": "audio"})
    plan, version = refresh(refresh_home, "run-1")
    assert {"photo", "track"} <= set(plan.media)
    assert not any(
        item in shard["items"]
        for shard in plan.shards
        if shard["task"] == "shots"
        for item in ("photo", "track")
    )

    store = PredictionsStore(refresh_home)
    ledger = store.read_ledger(version.name).set_index(["item_id", "task"])
    assert ledger.loc[("photo", "scene"), "status"] == "ok"
    assert ledger.loc[("track", "scene"), "segments"] == 3  # 1-s audio patches
    labelled = set(store.read_predictions("scene", version.name)["item_id"])
    assert not labelled & {"photo", "track", "still"}  # no label from half a model
    embeddings = store.read_embeddings("scene", version.name).set_index("item_id")
    vectors = {item: np.asarray(embeddings.loc[item, "vector"]) for item in ("photo", "track")}
    video = np.stack(embeddings.loc["clip-a", "vector"].to_numpy())
    assert all(vector.shape == video.shape[1:] for vector in vectors.values())
    assert embeddings.loc[["photo", "track"], "start_s"].isna().all()  # item-level only
    assert float(vectors["photo"] @ vectors["track"]) == pytest.approx(0.0, abs=1e-6)
