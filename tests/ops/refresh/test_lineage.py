"""Lineage of an item: which model, trained on what, made its rows, in a store version."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from ops.refresh.lineage import item_lineage
from ops.refresh.plan import RefreshPlan
from ops.refresh.registry import current_model
from ops.settings import Settings
from ops.versioned import Version, VersionError

RunRefresh = Callable[[Settings, str], tuple[RefreshPlan, Version]]  # the refresh fixture
RegisterVersion = Callable[..., str]  # the register_version fixture


def test_lineage_per_task_from_the_published_or_a_named_version(
    refresh_home: Settings, refresh: RunRefresh, register_version: RegisterVersion
) -> None:
    assert item_lineage(refresh_home, "clip-a") == []  # nothing published yet
    _, first = refresh(refresh_home, "run-1")
    lineage = item_lineage(refresh_home, "clip-a")
    assert [entry["task"] for entry in lineage] == ["ocr", "scene", "shots"]
    ocr, scene, shots = lineage
    assert ocr["model_name"] == "ocr-rapidocr" and ocr["status"] == "ok"
    assert ocr["rows"] == 0  # the clip shows no text
    assert scene["model_name"] == "scene" and scene["model_version"] == "1"
    assert scene["dataset_rev"] == "labels/scene/v1"
    assert scene["status"] == "ok" and scene["reason"] is None
    assert scene["rows"] == scene["segments"] * 2 + 2  # 2 labels per segment + item rows
    assert scene["embeddings"] == scene["segments"] + 1
    assert scene["predictions_version"] == first.name
    datetime.fromisoformat(scene["processed_at"])
    shots_model = current_model("shots", refresh_home)
    assert shots_model is not None
    assert shots["model_name"] == "shot-detector"
    assert shots["model_version"] == shots_model.model_version
    assert shots["rows"] == 2 * shots["segments"] and shots["embeddings"] == 0  # + keyframes

    register_version(refresh_home.tracking_uri, "labels/scene/v2", seed=2)
    _, second = refresh(refresh_home, "run-2")
    by_task = {entry["task"]: entry for entry in item_lineage(refresh_home, "clip-a")}
    assert by_task["scene"]["dataset_rev"] == "labels/scene/v2"
    earlier = {entry["task"]: entry for entry in item_lineage(refresh_home, "clip-a", first.name)}
    assert earlier["scene"]["model_version"] == "1"
    assert item_lineage(refresh_home, "no-such-item") == []
    with pytest.raises(VersionError, match="v000009 does not exist"):
        item_lineage(refresh_home, "clip-a", "v000009")
    assert second.name != first.name
