"""Fancams: for each named person, a video that follows their face through an item, and
a split screen of up to four of them side by side, in sync, with the item's sound.

The item's face tracks are found again (ops.faces.tracks) and recognised against the
face-gallery champion. A person's window is a square a few faces wide (``FACE_WIDTHS``
times their median face size, at most the frame's height), centred on their face: the
centre is held before their first and after their last appearance, glides in a line
between appearances, and is smoothed over ``SMOOTH_S`` so the camera never jumps.
Each window is scaled to a ``PANEL_PX`` square panel.
"""

from __future__ import annotations

from contextlib import ExitStack
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict

from ops.atomic import atomic_path
from ops.faces.gallery import CHAMPION_ALIAS, FACE_GALLERY, load_recogniser
from ops.faces.tracks import FaceTrack, TrackSettings, video_face_tracks
from ops.settings import Settings

MAX_PEOPLE = 4
FACE_WIDTHS = 3.0
SMOOTH_S = 0.5
PANEL_PX = 360


class Window(BaseModel):
    """One frame's crop: centre and side in source pixels."""

    model_config = ConfigDict(frozen=True)

    x: float
    y: float
    side: int


class Fancam(BaseModel):
    model_config = ConfigDict(frozen=True)

    person: str
    path: Path
    seen_frames: int
    side: int


class FancamResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    fancams: list[Fancam]
    split: Path
    frames: int
    seconds: float


def windows(
    centres: dict[int, tuple[float, float]],
    frames: int,
    side: int,
    size: tuple[int, int],
    fps: float,
) -> list[Window]:
    """A window per frame: the face centre where seen, held where not, smoothed, and
    kept inside the frame (``size``: width, height)."""
    if not centres:
        raise ValueError("the person is never on screen")
    known = np.array(sorted(centres), dtype=np.float64)
    every = np.arange(frames, dtype=np.float64)
    path_x = np.interp(every, known, [centres[int(f)][0] for f in known])
    path_y = np.interp(every, known, [centres[int(f)][1] for f in known])
    span = max(1, round(SMOOTH_S * fps))
    kernel = np.ones(2 * span + 1) / (2 * span + 1)
    smooth_x = np.convolve(np.pad(path_x, span, mode="edge"), kernel, mode="valid")
    smooth_y = np.convolve(np.pad(path_y, span, mode="edge"), kernel, mode="valid")
    width, height = size
    half = side / 2
    return [
        Window(
            x=float(np.clip(x, half, width - half)),
            y=float(np.clip(y, half, height - half)),
            side=side,
        )
        for x, y in zip(smooth_x, smooth_y, strict=True)
    ]


def crop(picture: np.ndarray, window: Window) -> np.ndarray:
    """The window's square of the picture, scaled to the panel size."""
    left = round(window.x - window.side / 2)
    top = round(window.y - window.side / 2)
    square = picture[top : top + window.side, left : left + window.side]
    return cv2.resize(square, (PANEL_PX, PANEL_PX), interpolation=cv2.INTER_AREA)


def make_fancams(settings: Settings, media: Path, people: list[str], folder: Path) -> FancamResult:
    """One fancam per person and the split screen, in ``folder``."""
    if not 1 <= len(people) <= MAX_PEOPLE:
        raise ValueError(f"a fancam takes 1 to {MAX_PEOPLE} people, got {len(people)}")
    from mlflow.exceptions import MlflowException

    try:
        recogniser = load_recogniser(
            f"models:/{FACE_GALLERY}@{CHAMPION_ALIAS}", settings.tracking_uri
        )
    except MlflowException as error:
        raise LookupError(f"no face-gallery champion to recognise people with: {error}") from error
    unknown = [person for person in people if person not in recogniser.people]
    if unknown:
        raise LookupError(f"not in the face gallery: {', '.join(unknown)}")
    found = video_face_tracks(media, TrackSettings())
    tracks: dict[str, list[FaceTrack]] = {person: [] for person in people}
    for track in found.tracks:
        if track.descriptor:
            name, _ = recogniser.identify(track.descriptor)
            if name in tracks:
                tracks[name].append(track)
    missing = [person for person, seen in tracks.items() if not seen]
    if missing:
        raise LookupError(f"not on screen in {media.name}: {', '.join(missing)}")
    import av

    with av.open(str(media)) as probe:
        stream = probe.streams.video[0]
        size = (stream.width, stream.height)
    plans = {person: _plan(seen, found.frames, size, found.fps) for person, seen in tracks.items()}
    folder.mkdir(parents=True, exist_ok=True)
    targets = {person: folder / f"{_file_name(person)}.mp4" for person in people}
    split = folder / "split.mp4"
    _render(media, plans, targets, split, found.fps)
    return FancamResult(
        fancams=[
            Fancam(person=p, path=targets[p], seen_frames=plans[p][1], side=plans[p][0][0].side)
            for p in people
        ],
        split=split,
        frames=found.frames,
        seconds=round(found.frames / found.fps, 3),
    )


def _plan(
    tracks: list[FaceTrack], frames: int, size: tuple[int, int], fps: float
) -> tuple[list[Window], int]:
    centres = {
        box.frame: ((box.box[0] + box.box[2]) / 2, (box.box[1] + box.box[3]) / 2)
        for track in tracks
        for box in track.boxes
    }
    faces = [box.box[2] - box.box[0] for track in tracks for box in track.boxes]
    side = int(min(size[1], size[0], max(32, FACE_WIDTHS * float(np.median(faces)))))
    return windows(centres, frames, side, size, fps), len(centres)


def _file_name(person: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in person).strip("_") or "person"


def _render(
    media: Path,
    plans: dict[str, tuple[list[Window], int]],
    targets: dict[str, Path],
    split: Path,
    fps: float,
) -> None:
    """Decode once; write every fancam and the split screen, each with the sound."""
    import av

    people = list(plans)
    outputs = {**{person: targets[person] for person in people}, "": split}
    with av.open(str(media)) as reader:
        audio_in = reader.streams.audio[0] if reader.streams.audio else None
        with _Writers(outputs, fps, audio_in, len(people)) as writers:
            number = 0
            streams = [reader.streams.video[0], *([audio_in] if audio_in else [])]
            for frame in reader.decode(*streams):
                if isinstance(frame, av.AudioFrame):
                    writers.sound(frame)
                    continue
                if not isinstance(frame, av.VideoFrame):
                    continue
                picture = frame.to_ndarray(format="rgb24")
                panels = []
                for person in people:
                    windows_of, _ = plans[person]
                    panel = crop(picture, windows_of[min(number, len(windows_of) - 1)])
                    writers.picture(person, panel)
                    panels.append(panel)
                writers.picture("", np.hstack(panels))
                number += 1


class _Writers:
    """One MP4 writer per output, each with the same sound; files appear when complete."""

    def __init__(self, outputs: dict[str, Path], fps: float, audio_in: Any, panels: int) -> None:
        self._outputs = outputs
        self._fps = Fraction(fps).limit_denominator(1001)
        self._audio_in = audio_in
        self._panels = panels
        self._frames: dict[str, int] = {}
        self._samples = 0
        self._stack = ExitStack()
        self._containers: dict[str, Any] = {}
        self._video: dict[str, Any] = {}
        self._audio: dict[str, Any] = {}

    def __enter__(self) -> _Writers:
        import av

        with self._stack as stack:
            for key, path in self._outputs.items():
                tmp = stack.enter_context(atomic_path(path))
                container = stack.enter_context(av.open(str(tmp), "w", format="mp4"))
                video = container.add_stream("libx264", rate=self._fps)
                video.width = PANEL_PX * (self._panels if key == "" else 1)
                video.height = PANEL_PX
                video.pix_fmt = "yuv420p"
                video.time_base = 1 / self._fps
                video.options = {"preset": "veryfast", "crf": "23"}
                self._containers[key], self._video[key] = container, video
                self._frames[key] = 0
                if self._audio_in is not None:
                    audio = container.add_stream("aac", rate=self._audio_in.rate)
                    audio.layout = self._audio_in.layout.name
                    self._audio[key] = audio
            if self._audio_in is not None:
                self._resampler = av.AudioResampler(
                    format="fltp", layout=self._audio_in.layout.name, rate=self._audio_in.rate
                )
            self._stack = stack.pop_all()
        return self

    def picture(self, key: str, panel: np.ndarray) -> None:
        import av

        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(panel), format="rgb24")
        frame.pts = self._frames[key]
        frame.time_base = 1 / self._fps
        self._frames[key] += 1
        self._containers[key].mux(self._video[key].encode(frame))

    def sound(self, frame: Any) -> None:
        for block in self._resampler.resample(frame):
            block.pts = self._samples  # each encoder copies the samples: one block serves all
            for key, audio in self._audio.items():
                self._containers[key].mux(audio.encode(block))
            self._samples += block.samples

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        """Flush the encoders when all went well; close every file either way (a failed
        run leaves none behind)."""
        with self._stack:
            if kind is None:
                for key, container in self._containers.items():
                    container.mux(self._video[key].encode())
                    if key in self._audio:
                        container.mux(self._audio[key].encode())
            if kind is not None:
                raise error
