"""Shot boundaries and one keyframe per shot.

PySceneDetect's design: a detector is fed decoded frames one by one and
reports cuts, and decoding stays behind one seam (:mod:`ops.media.decode`).
The detector here works on tiny grey frames (64x36 by default) scaled inside
FFmpeg, so it costs a few microseconds a frame, a small fraction of decoding.

It finds two kinds of boundary:

* hard cuts: the mean absolute luma change from the previous frame is large
  in absolute terms and several times the change around it (AdaptiveDetector's
  rolling-average idea, which keeps camera motion from reading as cuts), and
  the picture a few frames later still differs from the one a few frames
  before (so a flash, which changes the picture and changes it back, is not);
* fades through black: a run of black frames (FFmpeg ``blackdetect``'s
  definition: at least 98% of pixels darker than 10% of full scale) between
  two pictures gives one boundary, in the middle of the run. A run at the very
  start (fade-in) or very end (fade-out) of a video separates nothing, so it
  gives none; a hard cut into or out of black is part of such a run.

A minimum shot length drops boundaries that come too soon after the previous one.
"""

from __future__ import annotations

from array import array
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from ops.atomic import atomic_path
from ops.media.decode import DecodedFrame, MediaDecodeError, iter_frames, open_video

CutKind = Literal["cut", "fade"]


@dataclass(frozen=True)
class Cut:
    """A boundary: ``frame`` is the first frame of the new shot."""

    frame: int
    time_s: float
    kind: CutKind


@dataclass(frozen=True)
class Shot:
    """Frames ``[start_frame, end_frame)`` and seconds ``[start_s, end_s)`` from the first frame."""

    index: int
    start_frame: int
    end_frame: int
    start_s: float
    end_s: float
    keyframe_index: int
    keyframe_s: float


class ShotDetector(Protocol):
    """Fed every frame in order (as ``pix_fmt`` arrays of ``frame_size``); reports cuts.

    ``process`` may report a cut a few frames after it happened (a detector
    can look ahead); ``flush`` reports what is left once the video has ended.
    One detector instance serves one video.
    """

    @property
    def frame_size(self) -> tuple[int, int]: ...

    @property
    def pix_fmt(self) -> str: ...

    def process(self, frame: DecodedFrame) -> list[Cut]: ...

    def flush(self) -> list[Cut]: ...


class ShotSettings(BaseModel):
    """The content-change detector's knobs; the defaults suit films and clips alike."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    frame_width: int = Field(default=64, ge=8, description="analysis frame width")
    frame_height: int = Field(default=36, ge=8, description="analysis frame height")
    min_change: float = Field(
        default=10.0, gt=0, le=255, description="mean absolute luma change (0-255) a cut must reach"
    )
    adaptive_ratio: float = Field(
        default=3.0, ge=1, description="a cut's change over the mean change of the frames around it"
    )
    window: int = Field(
        default=2, ge=1, description="frames each side of a cut that it is compared with"
    )
    min_shot_s: float = Field(default=0.5, ge=0, description="shorter shots are merged")
    black_level: float = Field(
        default=0.10, gt=0, lt=1, description="pixels below this share of full scale are black"
    )
    black_share: float = Field(
        default=0.98, gt=0, le=1, description="a frame with at least this share of black is black"
    )


@dataclass(slots=True)
class _Sample:
    """What the detector keeps of a frame: small enough to hold a window of them."""

    index: int
    time_s: float
    image: np.ndarray
    change: float | None  # mean absolute difference from the previous frame; None for the first
    black: bool


class ContentChangeDetector:
    """Hard cuts by adaptive content change, fades by black runs (see the module docstring)."""

    pix_fmt = "gray"

    def __init__(self, settings: ShotSettings | None = None) -> None:
        self.settings = settings or ShotSettings()
        pixels = self.settings.frame_width * self.settings.frame_height
        self._pixels = float(pixels)
        self._black_threshold = int(self.settings.black_level * 255)
        self._max_bright_pixels = int((1 - self.settings.black_share) * pixels)
        self._recent: deque[_Sample] = deque(maxlen=2 * self.settings.window + 1)
        self._black_run: list[tuple[int, float]] = []  # (index, time) only: runs can be long
        self._seen_picture = False
        self._last_boundary_s = 0.0

    @property
    def frame_size(self) -> tuple[int, int]:
        return self.settings.frame_width, self.settings.frame_height

    def process(self, frame: DecodedFrame) -> list[Cut]:
        image = frame.image
        previous = self._recent[-1] if self._recent else None
        change = None
        if previous is not None:
            change = cv2.norm(image, previous.image, cv2.NORM_L1) / self._pixels
        bright = int(np.count_nonzero(image > self._black_threshold))
        sample = _Sample(
            frame.index, frame.time_s, image, change, bright <= self._max_bright_pixels
        )
        self._recent.append(sample)
        cuts = self._judge(len(self._recent) - 1 - self.settings.window)
        cuts += self._follow_black_run(sample)
        return cuts

    def flush(self) -> list[Cut]:
        """Judge the last frames with what look-ahead exists; a trailing black run is a fade-out."""
        first_unjudged = max(0, len(self._recent) - self.settings.window)
        cuts: list[Cut] = []
        for position in range(first_unjudged, len(self._recent)):
            cuts += self._judge(position)
        return cuts

    def _judge(self, position: int) -> list[Cut]:
        """Is the frame at ``position`` in the window the first of a new shot (a hard cut)?"""
        if position < 1:
            return []
        candidate, before = self._recent[position], self._recent[position - 1]
        change = candidate.change
        if change is None or change < self.settings.min_change or candidate.black or before.black:
            return []
        around = [
            sample.change
            for sample in self._recent
            if sample is not candidate and sample.change is not None
        ]
        if around and change < self.settings.adaptive_ratio * (sum(around) / len(around)):
            return []
        # The window's first and last pictures must differ too: a flash shorter
        # than the window changes the picture and changes it back.
        oldest, newest = self._recent[0], self._recent[-1]
        lasting = cv2.norm(oldest.image, newest.image, cv2.NORM_L1) / self._pixels
        if lasting < self.settings.min_change:
            return []
        return self._boundary(candidate.index, candidate.time_s, "cut")

    def _follow_black_run(self, sample: _Sample) -> list[Cut]:
        """Extend the current black run, or close it with a boundary in its middle."""
        if sample.black:
            self._black_run.append((sample.index, sample.time_s))
            return []
        cuts: list[Cut] = []
        if self._black_run and self._seen_picture:
            middle_index, middle_s = self._black_run[len(self._black_run) // 2]
            cuts = self._boundary(middle_index, middle_s, "fade")
        self._black_run = []
        self._seen_picture = True
        return cuts

    def _boundary(self, first_index: int, first_s: float, kind: CutKind) -> list[Cut]:
        """A cut before frame ``first_index``, unless the shot it ends is too short."""
        if first_s - self._last_boundary_s < self.settings.min_shot_s:
            return []
        self._last_boundary_s = first_s
        return [Cut(first_index, first_s, kind)]


def detect_shots(
    path: Path,
    *,
    settings: ShotSettings | None = None,
    detector: ShotDetector | None = None,
) -> list[Shot]:
    """Split a video into shots, each with the frame in its middle as keyframe.

    ``detector`` defaults to a :class:`ContentChangeDetector` built from
    ``settings``. The detector sees frames scaled with FFmpeg's fast bilinear
    scaler: it only needs coarse statistics, and a proper low-pass scaler would
    cost more than the detection itself. Only one timestamp per frame is
    kept (8 bytes), so memory stays small for films of any length.
    """
    if settings is not None and detector is not None:
        raise ValueError("pass settings or a detector, not both")
    chosen = detector if detector is not None else ContentChangeDetector(settings)
    width, height = chosen.frame_size
    times = array("d")
    cuts: list[Cut] = []
    frames = iter_frames(
        path, width=width, height=height, pix_fmt=chosen.pix_fmt, interpolation="FAST_BILINEAR"
    )
    for frame in frames:
        times.append(frame.time_s)
        cuts += chosen.process(frame)
    cuts += chosen.flush()
    return shots_from_cuts([cut.frame for cut in cuts], times)


def shots_from_cuts(cut_frames: list[int], times: array[float] | list[float]) -> list[Shot]:
    """Turn the first frames of new shots into shots; ``times[i]`` is frame ``i``'s time.

    The last shot ends one frame interval after the last frame.
    """
    if not times:
        return []
    frame_count = len(times)
    last_interval = times[-1] - times[-2] if frame_count > 1 else 0.0
    starts = [0, *sorted({f for f in cut_frames if 0 < f < frame_count})]
    ends = [*starts[1:], frame_count]
    shots = []
    for number, (start, end) in enumerate(zip(starts, ends, strict=True)):
        keyframe = (start + end - 1) // 2
        end_s = times[end] if end < frame_count else times[-1] + last_interval
        shots.append(Shot(number, start, end, times[start], end_s, keyframe, times[keyframe]))
    return shots


def extract_keyframes(
    path: Path, shots: list[Shot], out_dir: Path, *, max_side: int = 1280, quality: int = 90
) -> list[Path]:
    """Write each shot's keyframe as ``shot_NNNNN.jpg``, upright and at display aspect ratio.

    The longer side is at most ``max_side`` pixels. One decoding pass reads all
    keyframes, converting only those frames. Files are written atomically, so a
    killed task leaves no half-written JPEG. Returns the paths in shot order.
    """
    if max_side <= 0:
        raise ValueError(f"max_side must be positive, got {max_side}")
    if not shots:
        return []
    info = open_video(path)
    display_width = float(info.width * info.sample_aspect_ratio)
    scale = min(1.0, max_side / max(display_width, info.height))
    width = max(1, round(display_width * scale))
    height = max(1, round(info.height * scale))
    by_frame = {shot.keyframe_index: shot for shot in shots}
    written: dict[int, Path] = {}
    frames = iter_frames(
        path, width=width, height=height, interpolation="AREA", indices=by_frame.keys()
    )
    for frame in frames:
        shot = by_frame[frame.index]
        upright = np.ascontiguousarray(np.rot90(frame.image, k=info.rotation // 90))
        target = out_dir / f"shot_{shot.index:05d}.jpg"
        with atomic_path(target) as tmp:
            Image.fromarray(upright).save(tmp, format="JPEG", quality=quality)
        written[shot.index] = target
    missing = [shot.index for shot in shots if shot.index not in written]
    if missing:
        raise MediaDecodeError(f"{path}: keyframes of shots {missing} lie past the last frame")
    return [written[shot.index] for shot in shots]
