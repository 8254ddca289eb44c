"""The refresh job end to end: publish, nothing-to-do, metadata-only rebuilds, failed checks."""

from __future__ import annotations

from contextlib import closing

import pytest

from ops.index.build import index_store
from ops.index.query import SearchQuery
from ops.index.reader import PublishedIndex
from ops.predictions.store import PredictionsStore
from ops.refresh.job import PredictionCheckFailed, run_refresh
from ops.sample_site.media import make_video
from ops.settings import Settings
from tests.support.refresh import CatalogEditor


def live_versions(settings: Settings) -> tuple[str | None, str | None]:
    index = index_store(settings).current()
    predictions = PredictionsStore(settings).store.current()
    return (index.name if index else None), (predictions.name if predictions else None)


def test_first_refresh_publishes_and_the_second_processes_nothing(refresh_home: Settings) -> None:
    first = run_refresh("run-1", refresh_home)
    assert first["published"] and first["plan"]["items_planned"] == 8  # 4 videos x 2 tasks
    assert live_versions(refresh_home) == ("v000001", "v000001")
    with closing(PublishedIndex.open(refresh_home)) as index:
        page = index.search(SearchQuery(q="clip"))
        assert {hit.item_id for hit in page.hits} >= {"clip-a", "clip-b", "clip-c", "clip-d"}
        found = index.item("clip-b")
        assert found is not None
        assert {entry["task"] for entry in found["lineage"]} == {"scene", "shots"}

    second = run_refresh("run-2", refresh_home)
    assert second["plan"]["items_planned"] == 0
    assert second["plan"]["summary"].startswith("nothing to do")
    assert not second["published"]
    assert "catalog unchanged since index v000001" in second["reason"]
    assert live_versions(refresh_home) == ("v000001", "v000001")


def test_a_metadata_change_rebuilds_the_index_without_inference(
    refresh_home: Settings, catalog: CatalogEditor
) -> None:
    run_refresh("run-1", refresh_home)
    catalog.update("clip-c", title="Lighthouse at Dawn")
    again = run_refresh("run-2", refresh_home)
    assert again["plan"]["items_planned"] == 0
    assert again["published"]
    assert live_versions(refresh_home) == ("v000002", "v000001")
    with closing(PublishedIndex.open(refresh_home)) as index:
        assert [
            hit.item_id for hit in index.search(SearchQuery(q="lighthouse", level="item")).hits
        ] == ["clip-c"]


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
    assert list((refresh_home.reports_dir / "predictions").glob("run-2.html"))
