"""Faces through a video: tracks of one face across frames, at a fraction of the cost of
analysing every frame.

dlib's HOG detector (with its upsampling, for small faces) runs on every
``detect_every``-th frame only, in ``workers`` processes; the other frames are decoded
but never converted or analysed. Detections on consecutive keyframes join one track when
their boxes overlap (IoU at least ``link_iou``; one missed keyframe is bridged), and the
box of the frames between is interpolated. The true start of a track lies between the
keyframe before its first detection and that detection, so it starts (and ends) half a
keyframe interval out, the unbiased guess. A track never crosses a shot boundary: every
frame also goes, as a tiny grey picture, through the shot detector (ops.media.shots), and
no detection links across a cut (a cut to another face in the same place would otherwise
continue the track with the wrong person). Only each track's largest face is aligned and
described (the ResNet costs about 0.1 s a face here, the detector 0.14 s a frame).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ops.faces.detect import FaceAnalyser, FaceSettings
from ops.media.decode import DecodedFrame
from ops.media.shots import ContentChangeDetector

Box = tuple[int, int, int, int]


class UnreadableVideo(ValueError):
    """A file PyAV cannot decode as a video, with FFmpeg's reason."""


class TrackSettings(BaseModel):
    """How a video's faces are followed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    detect_every: int = Field(default=12, ge=1, description="frames between detections")
    link_iou: float = Field(default=0.2, gt=0, le=1, description="least overlap to link")
    workers: int = Field(default=2, ge=1, description="detector processes")
    described: int = Field(
        default=3, ge=1, description="largest faces of a track described and averaged"
    )


class TrackBox(BaseModel):
    model_config = ConfigDict(frozen=True)

    frame: int
    box: Box
    detected: bool


class FaceTrack(BaseModel):
    """One face followed through the video: its boxes frame by frame, the mean
    descriptor of its largest faces (empty when the quality filter refused them all),
    and when it is on screen."""

    model_config = ConfigDict(frozen=True)

    track: int
    start_s: float
    end_s: float
    boxes: list[TrackBox]
    best_frame: int
    descriptor: list[float]
    refused: str | None = None


class VideoFaces(BaseModel):
    model_config = ConfigDict(frozen=True)

    fps: float
    frames: int
    keyframes: int
    tracks: list[FaceTrack]
    seconds: float


@dataclass
class _OpenTrack:
    detections: list[tuple[int, Box]] = field(default_factory=list)
    largest: list[tuple[int, int, Box, np.ndarray]] = field(default_factory=list)
    """(area, frame, box, picture) of the largest detections, largest first."""
    missed: int = 0


def video_face_tracks(
    path: Path, settings: TrackSettings | None = None, faces: FaceSettings | None = None
) -> VideoFaces:
    """The face tracks of the video at ``path``."""
    import av

    chosen = settings or TrackSettings()
    face_settings = faces or FaceSettings()
    started = time.perf_counter()
    try:
        return _tracks(path, chosen, face_settings, started)
    except (av.FFmpegError, IndexError) as error:  # IndexError: no video stream
        raise UnreadableVideo(f"{path.name}: not a readable video ({error})") from error


def _tracks(
    path: Path, chosen: TrackSettings, face_settings: FaceSettings, started: float
) -> VideoFaces:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        frames = 0

        shots = ContentChangeDetector()
        width, height = shots.frame_size
        cuts: list[int] = []

        def keyframes() -> Iterator[tuple[int, np.ndarray]]:
            nonlocal frames
            for number, frame in enumerate(container.decode(stream)):
                frames = number + 1
                grey = frame.reformat(width=width, height=height, format="gray").to_ndarray()
                seen = DecodedFrame(number, number / fps, grey)
                cuts.extend(cut.frame for cut in shots.process(seen))
                if number % chosen.detect_every == 0:
                    yield number, frame.to_ndarray(format="rgb24")
            cuts.extend(cut.frame for cut in shots.flush())

        with ProcessPoolExecutor(chosen.workers, initializer=_start_worker,
                                 initargs=(face_settings,)) as pool:  # fmt: skip
            closed, count = _link(pool, keyframes(), chosen, cuts)
            jobs = [(picture, box) for t in closed for _, _, box, picture in t.largest]
            descriptions = iter(pool.map(_describe, jobs))
            described = [_mean([next(descriptions) for _ in t.largest]) for t in closed]
    tracks = [
        _finished(number, track, description, chosen.detect_every, frames, fps, cuts)
        for number, (track, description) in enumerate(zip(closed, described, strict=True))
    ]
    return VideoFaces(
        fps=fps,
        frames=frames,
        keyframes=count,
        tracks=tracks,
        seconds=round(time.perf_counter() - started, 2),
    )


def _link(
    pool: ProcessPoolExecutor,
    keyframes: Iterator[tuple[int, np.ndarray]],
    settings: TrackSettings,
    cuts: list[int],
) -> tuple[list[_OpenTrack], int]:
    """Detect on the keyframes (in the pool, in order) and link the detections, never
    across a cut. ``cuts`` fills as ``keyframes`` is read; ``pool.map`` reads it all before
    its first result, so every cut is known by the time the first link is made."""
    pictures: dict[int, np.ndarray] = {}

    def sent() -> Iterator[np.ndarray]:
        for number, picture in keyframes:
            pictures[number] = picture
            yield picture

    numbers = iter(range(0, 1 << 62, settings.detect_every))
    open_tracks: list[_OpenTrack] = []
    closed: list[_OpenTrack] = []
    count = 0
    previous = -1
    for boxes in pool.map(_detect, sent(), chunksize=1):
        number = next(numbers)
        picture = pictures.pop(number)
        count += 1
        if any(previous < cut <= number for cut in cuts):
            closed += open_tracks
            open_tracks = []
        previous = number
        pairs = sorted(
            (
                (iou(track.detections[-1][1], box), t, b)
                for t, track in enumerate(open_tracks)
                for b, box in enumerate(boxes)
            ),
            reverse=True,
        )
        taken_tracks: set[int] = set()
        taken_boxes: set[int] = set()
        for overlap, t, b in pairs:
            if overlap < settings.link_iou or t in taken_tracks or b in taken_boxes:
                continue
            taken_tracks.add(t)
            taken_boxes.add(b)
            _extend(open_tracks[t], number, boxes[b], picture, settings.described)
        for t, track in enumerate(open_tracks):
            if t not in taken_tracks:
                track.missed += 1
        closed += [track for track in open_tracks if track.missed > 1]
        open_tracks = [track for track in open_tracks if track.missed <= 1]
        for b, box in enumerate(boxes):
            if b not in taken_boxes:
                track = _OpenTrack()
                _extend(track, number, box, picture, settings.described)
                open_tracks.append(track)
    closed += open_tracks
    return sorted(closed, key=lambda track: track.detections[0][0]), count


def _extend(track: _OpenTrack, frame: int, box: Box, picture: np.ndarray, keep: int) -> None:
    track.detections.append((frame, box))
    track.missed = 0
    area = (box[2] - box[0]) * (box[3] - box[1])
    track.largest = sorted([*track.largest, (area, frame, box, picture)], key=lambda x: -x[0])
    del track.largest[keep:]


def _mean(descriptions: list[tuple[list[float], str | None]]) -> tuple[list[float], str | None]:
    """The mean of the described faces (averaging steadies a descriptor across
    expressions); the first refusal when none was described."""
    kept = [descriptor for descriptor, _ in descriptions if descriptor]
    if not kept:
        return [], descriptions[0][1]
    return [float(value) for value in np.mean(kept, axis=0)], None


def _finished(
    number: int,
    track: _OpenTrack,
    description: tuple[list[float], str | None],
    every: int,
    frames: int,
    fps: float,
    cuts: list[int],
) -> FaceTrack:
    boxes = interpolated(track.detections, every, frames, cuts)
    descriptor, refused = description
    return FaceTrack(
        track=number,
        start_s=round(boxes[0].frame / fps, 3),
        end_s=round((boxes[-1].frame + 1) / fps, 3),
        boxes=boxes,
        best_frame=track.largest[0][1],
        descriptor=descriptor,
        refused=refused,
    )


def interpolated(
    detections: list[tuple[int, Box]], every: int, frames: int, cuts: Sequence[int] = ()
) -> list[TrackBox]:
    """A box for every frame of the track: detected on keyframes, interpolated between
    them, and held for half a keyframe interval beyond the first and last detection, or
    up to the shot boundary (of ``cuts``) within a keyframe interval, where the face
    appeared or left."""
    half = every // 2
    first, last = detections[0], detections[-1]
    opened = [cut for cut in cuts if first[0] - every < cut <= first[0]]
    closed = [cut for cut in cuts if last[0] < cut <= last[0] + every]
    start = opened[-1] if opened else max(0, first[0] - half)
    stop = closed[0] if closed else min(frames, last[0] + half + 1)
    boxes = [TrackBox(frame=f, box=first[1], detected=False) for f in range(start, first[0])]
    for (start, a), (end, b) in pairwise(detections):
        for frame in range(start, end):
            share = (frame - start) / (end - start)
            box = tuple(round(x + (y - x) * share) for x, y in zip(a, b, strict=True))
            boxes.append(TrackBox(frame=frame, box=box, detected=frame == start))  # type: ignore[arg-type]
    boxes.append(TrackBox(frame=last[0], box=last[1], detected=True))
    boxes += [TrackBox(frame=f, box=last[1], detected=False) for f in range(last[0] + 1, stop)]
    return boxes


def save_grabs(path: Path, found: VideoFaces, folder: Path) -> list[Path]:
    """Each track's best frame as a JPEG with its box drawn (``track-<n>.jpg``), for a
    person to check the tracks by eye."""
    import av
    import cv2

    wanted = {track.best_frame: track for track in found.tracks}
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with av.open(str(path)) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if number not in wanted:
                continue
            picture = frame.to_ndarray(format="bgr24")
            track = wanted[number]
            box = next(box.box for box in track.boxes if box.frame == number)
            cv2.rectangle(picture, box[:2], box[2:], (0, 0, 255), 2)
            target = folder / f"track-{track.track}.jpg"
            cv2.imwrite(str(target), picture)
            written.append(target)
    return written


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


_worker: FaceAnalyser | None = None


def _start_worker(settings: FaceSettings) -> None:
    global _worker
    _worker = FaceAnalyser(settings)


def _detect(picture: np.ndarray) -> list[Box]:
    assert _worker is not None
    return _worker.boxes(picture)


def _describe(job: tuple[Any, Box]) -> tuple[list[float], str | None]:
    assert _worker is not None
    picture, box = job
    return _worker.describe_box(picture, box)
