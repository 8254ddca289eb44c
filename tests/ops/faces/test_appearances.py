"""Curated people recognised across the catalog: a refresh with a face-gallery champion
writes appearances, and search and the API answer them (on the real clip)."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ops.api.app import create_app
from ops.cli import app
from ops.faces.fancam import PANEL_PX
from ops.faces.gallery import register_gallery
from ops.faces.people import CurationStore, cluster_people, name_cluster
from ops.faces.store import FaceStore
from ops.index.query import SearchQuery
from ops.index.reader import PublishedIndex
from ops.media.cut import merged_spans
from ops.refresh.job import run_refresh
from ops.refresh.results import RefreshParams
from ops.settings import Settings
from tests.support.refresh import CatalogEditor

PERFORMER = "Lin-Manuel Miranda"


def test_a_named_performer_is_found_where_he_is_on_screen(
    home: Settings, catalog: CatalogEditor, shared_data: Path, tmp_path: Path
) -> None:
    clip = shared_data / "video" / "short_hamilton_clip.mp4"
    catalog.write([{**catalog.media_row("hamilton", clip.read_bytes()), "title": "Hamilton"}])
    FaceStore(home).add_video(clip, "curation")
    cluster_people(home)
    curation = CurationStore(home)
    (cluster,) = curation.read().clusters
    curation.apply("ada", "name", cluster, lambda s: name_cluster(s, cluster, PERFORMER))
    assert register_gallery(home).promoted

    outcome = run_refresh("run-1", home, params=RefreshParams(tasks=["faces"]))
    assert outcome.published is not None, outcome.reason

    reader = PublishedIndex.open(home)
    try:
        spans = reader.appearances(PERFORMER)
        assert spans is not None
        # the three tracks checked by eye: 0-0.6 s, 2.6-5.0 s, 5.0-7.0 s
        assert [(s["start_s"] < 1, s["item_id"]) for s in spans][:1] == [(True, "hamilton")]
        assert len(spans) == 3 and all(s["score"] > 0.4 for s in spans)
        assert spans[0]["models"][0]["model_name"] == "face-gallery"
        found = reader.search(SearchQuery(person=[PERFORMER], label=["appearance"]))
        assert found.total == 3 and found.facets["person"] == {PERFORMER: 3}
        item = reader.item("hamilton")
        assert item is not None and PERFORMER in item["item"]["people"]
        assert reader.appearances("Nobody Known") == []
    finally:
        reader.close()
    with TestClient(create_app(home)) as client:
        answer = client.get(f"/people/{PERFORMER}/appearances").json()
    assert (len(answer["appearances"]), answer["note"]) == (3, None)

    target = tmp_path / "performer.mp4"
    made = CliRunner().invoke(
        app, ["clip", "hamilton", "--person", PERFORMER, "--out", str(target)]
    )
    assert made.exit_code == 0, made.output
    joined = merged_spans([(s["start_s"], s["end_s"]) for s in found_spans(home)])
    spans = sum(end - start for start, end in joined)
    with av.open(str(target)) as container:
        kinds = sorted(stream.type for stream in container.streams)
        seconds = float(container.duration or 0) / 1e6
    assert kinds == ["audio", "video"] and seconds == pytest.approx(spans, abs=0.1)
    unknown = CliRunner().invoke(app, ["clip", "hamilton", "--person", "Nobody Known"])
    assert unknown.exit_code == 2 and "no appearance of 'Nobody Known'" in unknown.stderr

    folder = tmp_path / "fancam"
    made = CliRunner().invoke(
        app, ["fancam", "hamilton", "--people", PERFORMER, "--out", str(folder)]
    )
    assert made.exit_code == 0, made.output
    for name, width in (("Lin_Manuel_Miranda.mp4", PANEL_PX), ("split.mp4", PANEL_PX)):
        with av.open(str(folder / name)) as container:
            video = container.streams.video[0]
            assert (video.width, video.height) == (width, PANEL_PX)
            assert container.streams.audio, "the fancam keeps the sound"
            frames = sum(1 for _ in container.decode(video=0))
        assert frames == 275  # every frame of the clip, in sync
    refused = CliRunner().invoke(app, ["fancam", "hamilton", "--people", "Nobody Known"])
    assert refused.exit_code == 2 and "not in the face gallery: Nobody Known" in refused.stderr


def found_spans(home: Settings) -> list[dict[str, float]]:
    reader = PublishedIndex.open(home)
    try:
        return reader.appearances(PERFORMER) or []
    finally:
        reader.close()
