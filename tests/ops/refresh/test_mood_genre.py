"""Genre and mood in the refresh: champions trained on small stand-in sets, run over a
catalog of tracks, pictures and a video; then the index, music for a picture, and the
mood video made from the catalog and ingested back into it."""

from __future__ import annotations

import json
import shutil
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ops.genre import pipeline as genre_pipeline
from ops.genre.pipeline import GenreTrainParams
from ops.index.build import build_index_version, index_store
from ops.index.query import SearchQuery
from ops.index.reader import PublishedIndex
from ops.mood import pipeline as mood_pipeline
from ops.mood.pipeline import MoodTrainParams
from ops.mood.standins import standin_image
from ops.sample_site.media import make_music, make_video
from ops.settings import Settings
from tests.support.refresh import CatalogEditor, RunRefresh

pytestmark = pytest.mark.slow

GENRES = ("baroque", "jazz")
CALM = 5  # calm pictures in the catalog


@pytest.fixture(scope="module")
def champions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tracking store and data registry with genre v1 and mood v1 as champions."""
    root = tmp_path_factory.mktemp("music-champions")
    settings = Settings(home=root / "home")
    genre_pipeline.generate_demo_data(settings, per_genre=4, seconds=6.0, genres=GENRES)
    genre_pipeline.train_step(settings, params=GenreTrainParams(folds=2))
    mood_pipeline.generate_demo_data(settings, per_mood=10)
    mood_pipeline.train_step(settings, params=MoodTrainParams(folds=2, trees=80))
    return settings.home


def _picture(mood: str, index: int) -> bytes:
    from io import BytesIO

    out = BytesIO()
    Image.fromarray(standin_image(mood, 500 + index, size=(160, 120))).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def music_home(home: Settings, champions: Path, catalog: CatalogEditor) -> Settings:
    for folder in ("mlflow", "registry", "genre", "mood"):
        if (champions / folder).exists():
            shutil.copytree(champions / folder, home.home / folder, dirs_exist_ok=True)
    rows = [
        catalog.media_row(f"{genre}-track", make_music(n, genre=genre, container="wav"))
        for n, genre in enumerate(GENRES)
    ]
    rows += [catalog.media_row(f"calm-{n}", _picture("calm", n)) for n in range(CALM)]
    silent = make_video(7, seconds=2.0, size=(64, 48), fps=8, with_audio=False)
    rows += [catalog.media_row("film", silent)]
    catalog.write(rows)
    return home


def test_refresh_names_genre_and_mood_and_offers_music_for_a_picture(
    music_home: Settings, refresh: RunRefresh
) -> None:
    plan, _ = refresh(music_home, "music-1")
    tasks = {shard["task"] for shard in plan.shards}
    assert {"genre", "mood"} <= tasks
    publish = music_home.model_copy(update={"publish_standin_labels": True})
    store = index_store(publish)
    store.publish(build_index_version(publish).name)
    with closing(PublishedIndex.open(publish)) as index:
        for genre in GENRES:
            track = index.item(f"{genre}-track")
            assert track is not None and track["item"]["genres"] == [genre]
        moods = [index.item(f"calm-{n}")["item"]["moods"] for n in range(CALM)]  # type: ignore[index]
        assert moods.count(["calm"]) >= 3, moods
        found = index.search(SearchQuery(kind=["audio"], genre=["jazz"]))
        assert [hit.item_id for hit in found.hits] == ["jazz-track"]
        assert found.facets["genre"] == {"jazz": 1}
        picture = next(f"calm-{n}" for n in range(CALM) if moods[n] == ["calm"])
        offered = index.music_for(picture, 5)
        assert offered and all("mood" in item.reason for item in offered)
        assert {item.kind for item in offered} == {"audio"}
        film = index.item("film")
        assert film is not None and film["item"]["genres"] == []  # a silent film: no genre
        assert film["item"]["moods"] and film["shots"][0]["moods"]


def test_a_refresh_without_stand_in_publishing_withholds_genre_and_mood(
    music_home: Settings, refresh: RunRefresh
) -> None:
    refresh(music_home, "music-2")
    store = index_store(music_home)
    store.publish(build_index_version(music_home).name)
    with closing(PublishedIndex.open(music_home)) as index:
        track = index.item("jazz-track")
        assert track is not None and track["item"]["genres"] == []
        assert {entry["task"] for entry in track["lineage"]} >= {"genre", "mood"}


def test_the_mood_video_is_made_from_the_catalog_and_ingested(
    music_home: Settings, refresh: RunRefresh, tmp_path: Path
) -> None:
    from ops.catalog.store import read_catalog
    from ops.mood.check import check_video
    from ops.mood.results import MoodVideoParams, RenderSettings
    from ops.mood.video import make_mood_video

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    sources = tmp_path / "sources.yaml"
    sources.write_text(f"sources:\n  - {{name: inbox, kind: local, path: {inbox}}}\n")
    settings = music_home.model_copy(update={"sources_file": sources})
    refresh(settings, "music-3")

    small = RenderSettings(width=160, height=96, fps=12, sample_rate=22_050)
    params = MoodVideoParams(mood="calm", seconds=3.0, max_steps=4)  # any track will do
    made = make_mood_video(settings, params, small)

    video = made.generated.video
    assert video.path.parent == inbox / "generated" and made.plan.mood == "calm"
    assert set(made.plan.image_ids) <= {f"calm-{n}" for n in range(CALM)}
    check = check_video(video.path, duration_s=3.0, segments=len(made.plan.image_ids))
    assert check.ok, check.problems
    catalog = read_catalog(settings.catalog_path)
    item = catalog[catalog["title"] == "Mood video: calm"]
    assert len(item) == 1 and item.iloc[0]["status"] == "ok"
    description = str(item.iloc[0]["description"])
    assert made.plan.track_id in description and "mood v1" in description
    assert np.isclose(item.iloc[0]["duration_s"], 3.0, atol=0.1)


def test_the_mood_video_dag_runs_the_same_steps_through_airflow(
    music_home: Settings, refresh: RunRefresh
) -> None:
    """The repository's sources.yaml: generated media go to the inbox under the home."""
    from ops.airflow_env import run_dag
    from ops.catalog.store import read_catalog

    refresh(music_home, "music-4")

    run_dag("mood_video", music_home, {"mood": "calm", "seconds": 2.0, "max_steps": 4})

    (video,) = (music_home.home / "inbox" / "generated").glob("mood-calm-*.mp4")
    lineage = json.loads(video.with_suffix(".json").read_text())["lineage"]
    assert lineage["images"] and lineage["track"] in {f"{g}-track" for g in GENRES}
    catalog = read_catalog(music_home.catalog_path)
    assert (catalog["title"] == "Mood video: calm").sum() == 1
