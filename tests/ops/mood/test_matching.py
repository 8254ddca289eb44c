"""Matching pictures and music on the circle, and the mood-video plan with its lineage."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.mood.circle import mood_angle
from ops.mood.matching import (
    NoMoodMatchError,
    PlanSettings,
    plan_mood_video,
    rank_images,
    rank_tracks,
)
from ops.mood.model import ImageMood
from ops.mood.music import TrackMood


def track(track_id: str, mood: str, offset_deg: float = 0.0) -> TrackMood:
    return TrackMood(
        track_id=track_id,
        path=Path(f"/music/{track_id}.ogg"),
        mood=mood,  # type: ignore[arg-type]
        valence=0.0,
        arousal=0.0,
        angle_deg=(mood_angle(mood) + offset_deg) % 360,
        strength=0.5,
        tempo_bpm=120.0,
        key="C major",
        mode="major",
        mode_clarity=0.1,
        loudness_db=-20.0,
        brightness_hz=1500.0,
        seconds=60.0,
    )


def image(image_id: str, mood: str, confidence: float) -> ImageMood:
    return ImageMood(
        image_id=image_id,
        path=Path(f"/pictures/{image_id}.jpg"),
        mood=mood,  # type: ignore[arg-type]
        confidence=confidence,
    )


TRACKS = [
    track("far", "sad"),
    track("edge", "serene", offset_deg=-20.0),  # 25° from calm, at serene's edge
    track("centre", "serene", offset_deg=5.0),  # 50° from calm, 40° from joyful
    track("exact", "calm", offset_deg=2.0),
    track("other", "excited"),
]
IMAGES = [
    image("c1", "calm", 0.9),
    image("c2", "calm", 0.6),
    image("c3", "calm", 0.3),  # below the default confidence
    image("s1", "serene", 0.95),
    image("j1", "joyful", 0.8),
    image("g1", "gloomy", 0.7),
]


def test_tracks_rank_by_steps_then_by_angle() -> None:
    ranked = rank_tracks("calm", TRACKS)
    assert [(m.track.track_id, m.steps) for m in ranked] == [
        ("exact", 0),
        ("edge", 1),
        ("centre", 1),
        ("far", 2),
        ("other", 3),
    ]
    assert ranked[1].angle_gap_deg == pytest.approx(25.0)


def test_images_rank_by_steps_then_by_confidence() -> None:
    ranked = rank_images(track("t", "serene"), IMAGES)
    assert [(m.image.image_id, m.steps) for m in ranked] == [
        ("s1", 0),
        ("c1", 1),
        ("j1", 1),
        ("c2", 1),
        ("c3", 1),
        ("g1", 2),
    ]


def test_the_plan_takes_confident_pictures_of_one_mood_and_the_closest_track() -> None:
    plan = plan_mood_video(
        IMAGES,
        TRACKS,
        mood="calm",
        image_model_version="mood@3",
        music_model_version="music-mood@rules-1",
        image_training_data="generated",
    )
    assert plan.mood == "calm"
    assert plan.image_ids == ("c1", "c2")
    assert plan.image_paths == (Path("/pictures/c1.jpg"), Path("/pictures/c2.jpg"))
    assert plan.track_id == "exact" and plan.track_mood == "calm" and plan.steps == 0
    assert plan.image_model_version == "mood@3"
    assert plan.image_training_data == "generated"
    with pytest.raises(Exception, match="frozen"):
        plan.mood = "sad"


def test_without_a_mood_the_best_represented_one_is_taken() -> None:
    plan = plan_mood_video(
        IMAGES,
        TRACKS,
        image_model_version="v",
        music_model_version="m",
        image_training_data="real",
        settings=PlanSettings(min_confidence=0.65, min_images=1),
    )
    # calm, serene, joyful and gloomy have one picture each: the first on the circle wins
    assert plan.mood == "joyful"
    # serene and excited are both one step from joyful: "centre" points 40° from it,
    # "other" (excited at its centre) 45°
    assert plan.track_id == "centre"


def test_no_plan_without_enough_pictures_or_close_music() -> None:
    with pytest.raises(NoMoodMatchError, match=r"1 picture.*'serene'.*2 needed"):
        plan_mood_video(
            IMAGES,
            TRACKS,
            mood="serene",
            image_model_version="v",
            music_model_version="m",
            image_training_data="real",
        )
    with pytest.raises(NoMoodMatchError, match=r"no track within 1 step\(s\) of 'calm'.*3 steps"):
        plan_mood_video(
            IMAGES,
            [track("other", "excited")],
            mood="calm",
            image_model_version="v",
            music_model_version="m",
            image_training_data="real",
        )
    with pytest.raises(ValueError, match="unknown mood"):
        plan_mood_video(
            IMAGES,
            TRACKS,
            mood="bored",
            image_model_version="v",
            music_model_version="m",
            image_training_data="real",
        )
