"""The mood video, end to end: pick pictures of one mood from the catalog and music that
matches it, render them, and ingest the result as a new catalog item.

The steps (the ``mood_video`` DAG's tasks, and ``cinescope mood-video``):

1. :func:`plan_step`: the catalog's pictures with the mood the refresh's ``mood`` task
   gave them (its whole-item rows, with their confidence), and the tracks whose music
   mood lies near it on the circle, measured again for their exact place on it
   (ops.mood.music); ops.mood.matching picks the most confident pictures and the closest
   track.
2. :func:`render_step`: the MP4 (ops.mood.render) goes into the folder of the local
   source that takes generated media (``CINESCOPE_GENERATED_SOURCE``, default ``inbox``)
   with a sidecar naming its title, tags and lineage: the pictures, the track and the
   model versions. The render is atomic, so a killed task leaves no half-written video.
3. :func:`ingest_step`: that source is ingested, validated, merged and versioned like any
   crawl, so the video becomes a catalog item whose description states its lineage.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from ops.atomic import atomic_open
from ops.mood.circle import circle_distance
from ops.mood.matching import NoMoodMatchError, plan_mood_video
from ops.mood.render import RenderSettings
from ops.mood.results import (
    GeneratedVideo,
    MoodVideoParams,
    MoodVideoPlan,
    MoodVideoResult,
    PlanSettings,
)
from ops.settings import Settings

CANDIDATE_TRACKS = 12
"""Tracks whose cues are measured again to place them exactly: the nearest by mood."""


def _catalog_files(settings: Settings) -> pd.DataFrame:
    from ops.catalog.store import read_catalog
    from ops.ingest.rawstore import RawStore

    catalog = read_catalog(settings.catalog_path)
    catalog = catalog[(catalog["status"] == "ok") & catalog["sha256"].notna()]
    raw = RawStore(settings.raw_dir, settings.tmp_dir / "downloads")
    return catalog.assign(path=[raw.path_for(sha) for sha in catalog["sha256"]])


def _whole_item_moods(settings: Settings) -> pd.DataFrame:
    """Each item's best mood row of the live predictions: item_id, label, score, model."""
    from ops.predictions.store import PredictionsStore
    from ops.refresh.mood_genre import MOOD_TASK

    store = PredictionsStore(settings)
    if MOOD_TASK not in store.tasks():
        raise NoMoodMatchError("no mood predictions yet: run catalog_refresh with a mood champion")
    rows = store.read_predictions(MOOD_TASK)
    whole = rows[rows["start_s"].isna()].sort_values("score", ascending=False)
    return whole.drop_duplicates("item_id")


def _training_data(settings: Settings, name: str, version: str) -> str:
    from mlflow import MlflowClient

    from ops.scene.tracking import model_provenance

    return model_provenance(MlflowClient(settings.tracking_uri), name, version).training_data


def plan_step(settings: Settings, params: MoodVideoParams) -> MoodVideoPlan:
    """Pick the pictures and the track (see the module docstring)."""
    from ops.mood.matching import ImageMood
    from ops.mood.music import MusicMoodError, music_mood

    files = _catalog_files(settings).set_index("item_id")
    moods = _whole_item_moods(settings)
    moods = moods[moods["item_id"].isin(files.index)]
    kinds = files.loc[moods["item_id"], "kind"].to_numpy()
    pictures = moods[kinds == "image"]
    images = [
        ImageMood(
            image_id=str(row.item_id),
            path=files.loc[row.item_id, "path"],
            mood=row.label,
            confidence=float(row.score),
        )
        for row in pictures.itertuples()
    ]
    music = moods[kinds == "audio"]
    nearest = sorted(
        music.itertuples(), key=lambda row: (circle_distance(params.mood, row.label), row.item_id)
    )[:CANDIDATE_TRACKS]
    tracks = []
    for row in nearest:
        try:
            tracks.append(music_mood(files.loc[row.item_id, "path"], track_id=str(row.item_id)))
        except MusicMoodError:
            continue  # a track whose cues cannot be measured is not offered
    if pictures.empty:
        raise NoMoodMatchError("the catalog has no picture with a mood yet")
    name, version = str(pictures.iloc[0]["model_name"]), str(pictures.iloc[0]["model_version"])
    training = _training_data(settings, name, version)
    return plan_mood_video(
        images,
        tracks,
        image_model_version=f"{name} v{version}",
        music_model_version=f"{name} v{version} (music mood: ops.mood.music)",
        image_training_data="generated" if training == "generated" else "real",
        mood=params.mood,
        settings=PlanSettings(max_images=params.max_images, max_steps=params.max_steps),
    )


def generated_folder(settings: Settings) -> tuple[str, Path]:
    """The local source that takes generated media, and its folder for mood videos."""
    from ops.ingest.sources import LocalSource, SourceConfigError, get_source

    name = settings.generated_source
    source = get_source(settings.sources_file, name)
    if not isinstance(source, LocalSource):
        raise SourceConfigError(f"source {name!r} must be a local folder to take generated media")
    return name, source.path.expanduser() / "generated"


def render_step(
    settings: Settings, plan: MoodVideoPlan, seconds: float, render: RenderSettings | None = None
) -> GeneratedVideo:
    """Render the plan into the generated-media folder, with its sidecar."""
    from ops.mood.render import render_mood_video

    source, folder = generated_folder(settings)
    digest = hashlib.sha256(plan.model_dump_json().encode()).hexdigest()[:10]
    target = folder / f"mood-{plan.mood}-{digest}.mp4"
    folder.mkdir(parents=True, exist_ok=True)
    video = render_mood_video(
        list(plan.image_paths), plan.track_path, target, duration_s=seconds, settings=render
    )
    lineage = {
        "images": list(plan.image_ids),
        "track": plan.track_id,
        "models": [plan.image_model_version, plan.music_model_version],
        "image_training_data": plan.image_training_data,
    }
    sidecar = {
        "title": f"Mood video: {plan.mood}",
        "description": (
            f"{len(plan.image_ids)} pictures of mood {plan.mood} "
            f"({', '.join(plan.image_ids)}) set to track {plan.track_id} "
            f"(mood {plan.track_mood}); models: {'; '.join(lineage['models'])}"
            + (
                "; the mood model learned from generated stand-in pictures"
                if plan.image_training_data == "generated"
                else ""
            )
        ),
        "tags": ["mood video", plan.mood],
        "licence": "generated by cinescope",
        "has_audio": True,
        "lineage": lineage,
    }
    with atomic_open(target.with_suffix(".json")) as handle:
        json.dump(sidecar, handle, indent=2)
    return GeneratedVideo(source=source, video=video)


def ingest_step(settings: Settings, generated: GeneratedVideo) -> str | None:
    """Ingest, merge, validate and version the generated-media source; its revision."""
    from ops.catalog.lifecycle import validate_catalog_step, version_catalog
    from ops.catalog.merge import merge_staged
    from ops.ingest.pipeline import ingest_source

    staged = ingest_source(generated.source, settings=settings)
    merged = merge_staged([staged], settings=settings)
    validated = validate_catalog_step(settings=settings)
    return version_catalog(merged=merged, validated=validated, settings=settings).revision


def make_mood_video(
    settings: Settings, params: MoodVideoParams, render: RenderSettings | None = None
) -> MoodVideoResult:
    """Plan, render and ingest (what ``cinescope mood-video`` runs)."""
    plan = plan_step(settings, params)
    generated = render_step(settings, plan, params.seconds, render)
    revision = ingest_step(settings, generated)
    return MoodVideoResult(plan=plan, generated=generated, catalog_revision=revision)
