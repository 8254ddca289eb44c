"""What the mood-video steps take and return, apart from the steps themselves: the
``mood_video`` DAG imports this module when it is parsed, so it stays light."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ops.mood.circle import Mood

TrainingData = Literal["generated", "real"]
"""What a model learned from: generated stand-ins or real labelled data."""


class MoodVideoParams(BaseModel):
    """A mood video to make (the DAG's params, the command's options)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mood: Mood = Field(default="calm", description="the mood of the pictures and the music")
    seconds: float = Field(default=20.0, gt=0, le=600, description="length of the video")
    max_images: int = Field(default=8, ge=2, le=50, description="pictures at most")
    max_steps: int = Field(
        default=1, ge=0, le=4, description="music at most this many moods round the circle"
    )


class PlanSettings(BaseModel):
    """How a mood video's pictures and music are chosen."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_images: int = Field(default=8, ge=1)
    min_images: int = Field(default=2, ge=1)
    min_confidence: float = Field(default=0.4, ge=0, le=1)
    max_steps: int = Field(default=1, ge=0, le=4, description="music at most this far round")


class MoodVideoPlan(BaseModel):
    """What a mood video will show and play, and the lineage of those choices."""

    model_config = ConfigDict(frozen=True)

    mood: Mood
    image_ids: tuple[str, ...]
    image_paths: tuple[Path, ...]
    image_confidences: tuple[float, ...]
    track_id: str
    track_path: Path
    track_mood: Mood
    steps: int
    image_model_version: str
    music_model_version: str
    image_training_data: TrainingData
    settings: PlanSettings


class RenderSettings(BaseModel):
    """Output size, rate, fades and encoder settings of a mood video."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    width: int = Field(default=1280, ge=16, multiple_of=2)
    height: int = Field(default=720, ge=16, multiple_of=2)
    fps: int = Field(default=25, ge=1, le=120)
    fade_s: float = Field(default=1.0, ge=0, description="capped at half a picture's share")
    fit: Literal["letterbox", "crop"] = Field(
        default="letterbox", description="black bars, or fill the frame by cropping"
    )
    sample_rate: int = Field(default=44_100, ge=8_000)
    crf: int = Field(default=20, ge=0, le=51)
    preset: str = "veryfast"
    audio_bitrate: str = "128k"
    threads: int = Field(default=2, ge=1, description="encoder threads")
    loop_crossfade_s: float = Field(default=0.05, ge=0)


class RenderedVideo(BaseModel):
    """A finished mood video and how it was made."""

    model_config = ConfigDict(frozen=True)

    path: Path
    duration_s: float
    frames: int
    audio_samples: int
    segment_s: float
    fade_s: float
    images: tuple[Path, ...]
    skipped: dict[str, str]
    track: Path
    music_seconds: float = Field(
        description="seconds of the track played before any loop (its length when looped)"
    )
    looped: bool
    settings: RenderSettings
    render_seconds: float


class GeneratedVideo(BaseModel):
    """A rendered mood video waiting in the folder of the source that takes it."""

    model_config = ConfigDict(frozen=True)

    source: str
    video: RenderedVideo


class MoodVideoResult(BaseModel):
    """What was made and where it went in the catalog."""

    model_config = ConfigDict(frozen=True)

    plan: MoodVideoPlan
    generated: GeneratedVideo
    catalog_revision: str | None = None
