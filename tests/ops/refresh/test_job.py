"""The refresh job end to end: publish, nothing-to-do, metadata-only rebuilds, failed checks."""

from __future__ import annotations

import os
import threading
from contextlib import closing
from typing import Any

import pytest

import ops.index.build as build_module
import ops.refresh.job as job
from ops.index.build import index_store
from ops.index.query import SearchQuery
from ops.index.reader import PublishedIndex
from ops.locks import LockHeld
from ops.predictions.store import PredictionsStore
from ops.refresh.job import (
    DamagedPredictions,
    PredictionCheckFailed,
    refresh_lock_path,
    run_refresh,
)
from ops.refresh.results import RefreshOutcome, RefreshParams
from ops.sample_site.media import make_video
from ops.settings import Settings
from tests.support.index_files import largest_search_file
from tests.support.refresh import CatalogEditor, RegisterVersion


def live_versions(settings: Settings) -> tuple[str | None, str | None]:
    index = index_store(settings).current()
    predictions = PredictionsStore(settings).store.current()
    return (index.name if index else None), (predictions.name if predictions else None)


def test_first_refresh_publishes_and_the_second_processes_nothing(refresh_home: Settings) -> None:
    first = run_refresh("run-1", refresh_home)
    assert first.published and first.plan.items_planned == 14  # 4 videos x 3 + image x 2
    assert live_versions(refresh_home) == ("v000001", "v000001")
    with closing(PublishedIndex.open(refresh_home)) as index:
        page = index.search(SearchQuery(q="clip"))
        assert {hit.item_id for hit in page.hits} >= {"clip-a", "clip-b", "clip-c", "clip-d"}
        found = index.item("clip-b")
        assert found is not None
        # the models behind its rows: ocr ran too (ledger) but found no text in these clips
        assert {entry["task"] for entry in found["lineage"]} == {"scene", "shots"}

    second = run_refresh("run-2", refresh_home)
    assert second.plan.items_planned == 0
    assert second.plan.summary.startswith("nothing to do")
    assert second.published is None and second.reason is not None
    assert "catalog unchanged since index v000001" in second.reason
    assert live_versions(refresh_home) == ("v000001", "v000001")


def test_a_metadata_change_rebuilds_the_index_without_inference(
    refresh_home: Settings, catalog: CatalogEditor
) -> None:
    run_refresh("run-1", refresh_home)
    catalog.update("clip-c", title="Lighthouse at Dawn")
    again = run_refresh("run-2", refresh_home)
    assert again.plan.items_planned == 0
    assert again.published
    assert live_versions(refresh_home) == ("v000002", "v000001")
    with closing(PublishedIndex.open(refresh_home)) as index:
        assert [
            hit.item_id for hit in index.search(SearchQuery(q="lighthouse", level="item")).hits
        ] == ["clip-c"]


def test_a_refresh_of_one_new_file_derives_the_index_which_answers_as_a_rebuild_would(
    refresh_home: Settings, catalog: CatalogEditor
) -> None:
    run_refresh("run-1", refresh_home)
    catalog.replace_media("clip-b", make_video(9, seconds=3.0, size=(64, 48), fps=8))
    again = run_refresh("run-2", refresh_home)
    assert again.published and again.plan.items_planned > 0
    live = index_store(refresh_home).current()
    assert live is not None and live.manifest()["build"] == {
        "kind": "incremental",
        "from": "v000001",
        "changed_items": 1,
        "removed_items": 0,
    }
    rebuilt = build_module.build_index_version(
        refresh_home, again.published.predictions_version, full=True
    )
    with (
        closing(PublishedIndex.open(refresh_home)) as derived,
        closing(PublishedIndex.open(refresh_home, rebuilt.name)) as full,
    ):
        for query in (
            SearchQuery(page_size=100),
            SearchQuery(q="clip", page_size=100),
            SearchQuery(level="segment", page_size=100),
        ):
            one, other = derived.search(query), full.search(query)
            assert (one.total, one.facets) == (other.total, other.facets)
            assert {hit.doc_id for hit in one.hits} == {hit.doc_id for hit in other.hits}
        for item in ("clip-a", "clip-b"):
            assert without_vector_rows(derived.item(item)) == without_vector_rows(full.item(item))


@pytest.mark.parametrize("media_changed", [False, True])
def test_a_full_index_build_asked_for_is_built_afresh_and_published(
    refresh_home: Settings, catalog: CatalogEditor, media_changed: bool
) -> None:
    run_refresh("run-1", refresh_home)
    if media_changed:
        catalog.replace_media("clip-b", make_video(9, seconds=3.0, size=(64, 48), fps=8))
    again = run_refresh("run-2", refresh_home, params=RefreshParams(full_index_build=True))
    assert again.published and again.published.index_version == "v000002"
    manifest = index_store(refresh_home).get("v000002").manifest()
    assert manifest["build"] == {"kind": "full", "reason": "a full build was asked for"}
    assert manifest["layers"] == []


def without_vector_rows(found: dict[str, Any] | None) -> dict[str, Any]:
    """An item's answer without its documents' vector rows (they count within the part
    of the index version that holds each document)."""
    assert found is not None

    def plain(document: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in document.items() if key != "vector_row"}

    spans = {key: [plain(document) for document in found[key]] for key in ("segments", "shots")}
    return found | {"item": plain(found["item"])} | spans


def test_a_failing_prediction_check_keeps_the_previous_index_live(
    refresh_home: Settings, catalog: CatalogEditor
) -> None:
    run_refresh("run-1", refresh_home)
    # New content whose catalog duration is wrong: its 1-s predictions run past the item's
    # end, which the checks refuse.
    catalog.replace_media("clip-a", make_video(7, seconds=4.0, size=(64, 48), fps=8))
    catalog.update("clip-a", duration_s=0.5)
    with pytest.raises(PredictionCheckFailed, match="the live index stays"):
        run_refresh("run-2", refresh_home)
    assert live_versions(refresh_home) == ("v000001", "v000001")
    assert [version.name for version in index_store(refresh_home).versions()] == ["v000001"]
    assert [v.name for v in PredictionsStore(refresh_home).store.versions()] == ["v000001"]
    assert list((refresh_home.reports_dir / "predictions").glob("run-2.html"))


def test_a_refresh_whose_only_change_is_a_removal_publishes_an_index_without_it(
    refresh_home: Settings, catalog: CatalogEditor
) -> None:
    run_refresh("run-1", refresh_home)
    catalog.write([row for row in catalog.rows() if row["item_id"] != "clip-d"])
    again = run_refresh("run-2", refresh_home)
    assert again.plan.items_planned == 0 and again.published
    assert live_versions(refresh_home) == ("v000002", "v000002")
    with closing(PublishedIndex.open(refresh_home)) as index:
        assert index.item("clip-d") is None
        assert index.item("clip-c") is not None
    assert "clip-d" not in set(PredictionsStore(refresh_home).read_ledger()["item_id"])


def test_a_run_that_fails_half_way_leaves_no_version_behind(
    refresh_home: Settings, catalog: CatalogEditor, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_refresh("run-1", refresh_home)
    catalog.replace_media("clip-a", make_video(8, seconds=2.0, size=(64, 48), fps=8))

    def crash(*_: object) -> None:
        raise RuntimeError("checks crashed")

    monkeypatch.setattr(job, "_check_new_predictions", crash)
    for attempt in range(3):
        with pytest.raises(RuntimeError, match="checks crashed"):
            run_refresh(f"run-{attempt + 2}", refresh_home)
    assert [version.name for version in index_store(refresh_home).versions()] == ["v000001"]
    assert [v.name for v in PredictionsStore(refresh_home).store.versions()] == ["v000001"]
    assert live_versions(refresh_home) == ("v000001", "v000001")


def test_a_second_refresh_while_one_runs_is_refused_and_the_first_publishes_a_whole_index(
    refresh_home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    building, go_on = threading.Event(), threading.Event()
    build_backend = build_module._build_backend

    def paused_build(*args: object) -> None:
        building.set()
        go_on.wait()
        build_backend(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(build_module, "_build_backend", paused_build)
    first: list[RefreshOutcome] = []
    thread = threading.Thread(target=lambda: first.append(run_refresh("run-1", refresh_home)))
    thread.start()
    building.wait()
    with pytest.raises(LockHeld) as refused:
        run_refresh("run-2", refresh_home)
    go_on.set()
    thread.join()
    assert str(refused.value) == (
        f"refresh run-2 refused: another one is running (refresh run-1, pid {os.getpid()}, "
        f"since {str(refused.value).split('since ')[1].split(';')[0]}; "
        f"lock {refresh_lock_path(refresh_home)}). Wait for it to finish, then run again."
    )
    assert first[0].published and live_versions(refresh_home) == ("v000001", "v000001")
    live = index_store(refresh_home).current()
    assert live is not None and live.problems() == []
    assert set(live.manifest()["files"]) >= {
        "search.tantivy/meta.json",
        "documents.parquet",
        "vectors.faiss",
    }


def test_a_damaged_live_index_is_rebuilt_not_trusted(refresh_home: Settings) -> None:
    run_refresh("run-1", refresh_home)
    live = index_store(refresh_home).get("v000001").path
    damaged = largest_search_file(live)
    whole = damaged.stat().st_size
    damaged.write_bytes(damaged.read_bytes()[:4096])
    again = run_refresh("run-2", refresh_home)
    assert again.published and again.published.index_version == "v000002"
    assert again.plan.rebuild_reason == (
        f"the live index v000001 is damaged ({damaged} is 4096 bytes, its manifest says "
        f"{whole} (truncated or changed since it was sealed))"
    )


def test_a_damaged_live_predictions_file_is_named_at_the_next_refresh(
    refresh_home: Settings,
) -> None:
    run_refresh("run-1", refresh_home)
    predictions = PredictionsStore(refresh_home).store
    scene = predictions.get("v000001").path / "scene.parquet"
    scene.write_bytes(scene.read_bytes()[:100])
    with pytest.raises(DamagedPredictions) as raised:
        run_refresh("run-2", refresh_home)
    assert str(raised.value).startswith(
        f"the live predictions version v000001 is damaged: {scene} is 100 bytes"
    )
    assert str(raised.value).endswith(
        f"Repair: delete {predictions.root / 'CURRENT'}, and the next `cinescope refresh` "
        "infers the whole catalog again"
    )


def test_labels_of_a_stand_in_model_are_withheld_and_said_so_unless_allowed(
    refresh_home: Settings, register_version: RegisterVersion
) -> None:
    register_version(refresh_home.tracking_uri, "labels/scene/v2", training_data="generated")
    lines: list[str] = []
    run_refresh("run-1", refresh_home, report=lines.append)
    assert (
        "withheld scene labels from scene v2: trained on generated stand-in data "
        "(set CINESCOPE_PUBLISH_STANDIN_LABELS=true to publish)"
    ) in lines
    with closing(PublishedIndex.open(refresh_home)) as index:
        found = index.item("clip-b")
        assert found is not None
        scene = next(entry for entry in found["lineage"] if entry["task"] == "scene")
        assert scene | {"dataset_rev": "labels/scene/v2"} == scene
        assert (scene["model_version"], scene["training_data"], scene["labels"]) == (
            "2",
            "generated",
            "withheld",
        )
        segment_labels = [label for segment in found["segments"] for label in segment["labels"]]
        labels = {*found["item"]["labels"], *segment_labels}
        assert not labels & {"kiss", "hug"}
        assert index.search(SearchQuery(like="clip-b")).hits  # its vectors still serve

    allowed = refresh_home.model_copy(update={"publish_standin_labels": True})
    lines.clear()
    again = run_refresh("run-2", allowed, report=lines.append)
    assert again.published, "allowing stand-in labels rebuilds the index"
    assert not [line for line in lines if line.startswith("withheld")]
    with closing(PublishedIndex.open(allowed)) as index:
        found = index.item("clip-b")
        assert found is not None
        scene = next(entry for entry in found["lineage"] if entry["task"] == "scene")
        assert (scene["training_data"], scene["labels"]) == ("generated", "published")
