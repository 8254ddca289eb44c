"""Pictures and music matched by distance on the mood circle, and the mood-video plan.

Distance is first the number of steps between the two moods (0 to 4), then, among
tracks as many steps away, the angle between the picture mood's direction and the
track's own measured direction (a track near the centre of its octant fits better than
one at its edge); ties fall to the id so a plan is reproducible.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from ops.mood.circle import angle_gap, circle_distance, mood_angle, mood_index
from ops.mood.dataset import TrainingData
from ops.mood.model import ImageMood
from ops.mood.music import TrackMood
from ops.mood.results import MoodVideoPlan, PlanSettings


class NoMoodMatchError(ValueError):
    """No pictures, or no music close enough, for the mood video asked for."""


class TrackMatch(BaseModel):
    """A track ranked for a picture mood."""

    model_config = ConfigDict(frozen=True)

    track: TrackMood
    steps: int
    angle_gap_deg: float


class ImageMatch(BaseModel):
    """A picture ranked for a track."""

    model_config = ConfigDict(frozen=True)

    image: ImageMood
    steps: int


def rank_tracks(mood: str, tracks: Sequence[TrackMood]) -> list[TrackMatch]:
    """Every track, closest to ``mood`` first."""
    centre = mood_angle(mood)
    matches = [
        TrackMatch(
            track=track,
            steps=circle_distance(mood, track.mood),
            angle_gap_deg=round(angle_gap(centre, track.angle_deg), 2),
        )
        for track in tracks
    ]
    return sorted(
        matches, key=lambda match: (match.steps, match.angle_gap_deg, match.track.track_id)
    )


def rank_images(track: TrackMood, images: Sequence[ImageMood]) -> list[ImageMatch]:
    """Every picture, closest to the track's mood first, the more confident first."""
    matches = [
        ImageMatch(image=image, steps=circle_distance(track.mood, image.mood)) for image in images
    ]
    return sorted(
        matches, key=lambda match: (match.steps, -match.image.confidence, match.image.image_id)
    )


def plan_mood_video(
    images: Sequence[ImageMood],
    tracks: Sequence[TrackMood],
    *,
    image_model_version: str,
    music_model_version: str,
    image_training_data: TrainingData,
    mood: str | None = None,
    settings: PlanSettings | None = None,
) -> MoodVideoPlan:
    """Pick the most confident pictures of one mood and the closest track.

    ``mood`` defaults to the mood with the most confident pictures (ties: the first on
    the circle). The versions name the models whose outputs were passed in, so the
    video can be traced back to them.
    """
    settings = settings or PlanSettings()
    confident = [image for image in images if image.confidence >= settings.min_confidence]
    if mood is None:
        counts = Counter(image.mood for image in confident)
        if not counts:
            raise NoMoodMatchError(
                f"no picture has a mood confidence of {settings.min_confidence:g} or more"
            )
        mood = max(counts, key=lambda name: (counts[name], -mood_index(name)))
    mood_index(mood)  # an unknown mood is refused by name
    chosen = sorted(
        (image for image in confident if image.mood == mood),
        key=lambda image: (-image.confidence, image.image_id),
    )[: settings.max_images]
    if len(chosen) < settings.min_images:
        raise NoMoodMatchError(
            f"{len(chosen)} picture(s) of mood {mood!r} with confidence "
            f"{settings.min_confidence:g} or more; {settings.min_images} needed"
        )
    ranked = rank_tracks(mood, tracks)
    if not ranked or ranked[0].steps > settings.max_steps:
        nearest = f"the nearest is {ranked[0].steps} steps away" if ranked else "no tracks"
        raise NoMoodMatchError(
            f"no track within {settings.max_steps} step(s) of {mood!r} ({nearest})"
        )
    best = ranked[0]
    return MoodVideoPlan(
        mood=mood,  # type: ignore[arg-type]
        image_ids=tuple(image.image_id for image in chosen),
        image_paths=tuple(image.path for image in chosen),
        image_confidences=tuple(image.confidence for image in chosen),
        track_id=best.track.track_id,
        track_path=best.track.path,
        track_mood=best.track.mood,
        steps=best.steps,
        image_model_version=image_model_version,
        music_model_version=music_model_version,
        image_training_data=image_training_data,
        settings=settings,
    )
