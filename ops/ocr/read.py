"""Text on pictures and in videos, a caption on screen for a while counted once.

A video is read on sampled frames (one every ``interval_s``, or each shot's keyframe),
scaled inside FFmpeg so the longer side is at most ``max_side``; boxes are given in the
picture's displayed pixels either way. A line read on consecutive sampled frames at about
the same place with about the same text is one caption: one box, from the first frame it
was seen on to the end of the last (a frame stands for the time until the next sample).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict
from tqdm import tqdm

from ops.faces.pictures import PICTURE_SUFFIXES, UnreadablePicture, read_picture
from ops.faces.tracks import iou
from ops.media.decode import MediaDecodeError, VideoStreamInfo, iter_frames, open_video
from ops.media.shots import detect_shots
from ops.ocr.params import OcrSettings
from ops.ocr.readers import Box, TextLine, TextReader, build_reader


class UnreadableMedia(ValueError):
    """A file that is neither a readable picture nor a decodable video, with the reason."""


class OcrBox(BaseModel):
    """One caption or piece of text: where (``box``: x0, y0, x1, y1 in displayed pixels),
    what, how sure, and when: seconds ``[time_s, end_s)`` in a video, None on a picture."""

    model_config = ConfigDict(frozen=True)

    time_s: float | None
    end_s: float | None
    text: str
    confidence: float
    box: Box


class OcrResult(BaseModel):
    """The text boxes of one picture or video, by time then top to bottom."""

    model_config = ConfigDict(frozen=True)

    boxes: list[OcrBox]


@dataclass(frozen=True)
class FrameText:
    """The lines read on one sampled frame, which stands for ``[time_s, end_s)``."""

    time_s: float
    end_s: float
    lines: list[TextLine]


def read_file(
    path: Path, settings: OcrSettings | None = None, reader: TextReader | None = None
) -> OcrResult:
    """The text of a picture or a video (by what the file holds, the suffix a hint)."""
    chosen = settings or OcrSettings()
    reader = reader or build_reader(chosen)
    if not path.is_file():
        raise UnreadableMedia(f"{path}: no such file")
    if path.suffix.lower() in PICTURE_SUFFIXES:
        return read_image(path, reader)
    try:
        info = open_video(path)
    except MediaDecodeError as video_error:
        try:
            return read_image(path, reader)
        except UnreadableMedia:
            raise UnreadableMedia(
                f"{path}: neither a picture nor a video ({video_error})"
            ) from video_error
    return read_video(info, chosen, reader)


def read_image(path: Path, reader: TextReader) -> OcrResult:
    """Every line of a picture, top to bottom."""
    try:
        image = read_picture(path)
    except UnreadablePicture as error:
        raise UnreadableMedia(f"{path}: {error}") from error
    lines = sorted(reader.read(image), key=lambda line: (line.box[1], line.box[0]))
    return OcrResult(
        boxes=[
            OcrBox(time_s=None, end_s=None, text=ln.text, confidence=ln.confidence, box=ln.box)
            for ln in lines
        ]
    )


def read_still(path: Path, reader: TextReader, settings: OcrSettings | None = None) -> OcrResult:
    """Every line of a catalog still: a picture, or else (a format only FFmpeg decodes)
    its first decoded frame; its boxes have no time either way."""
    try:
        return read_image(path, reader)
    except UnreadableMedia as picture_error:
        chosen = settings or OcrSettings()
        try:
            info = open_video(path)
            first = next(sampled_frames(info, chosen), None)
        except MediaDecodeError:
            raise picture_error from None
        if first is None:
            raise picture_error from None
    scale = display_scale(info, chosen.max_side)
    lines = sorted(reader.read(first[2]), key=lambda line: (line.box[1], line.box[0]))
    return OcrResult(
        boxes=[
            OcrBox(
                time_s=None,
                end_s=None,
                text=line.text,
                confidence=line.confidence,
                box=_scaled_box(line.box, scale),
            )
            for line in lines
        ]
    )


def read_video(info: VideoStreamInfo, settings: OcrSettings, reader: TextReader) -> OcrResult:
    """The captions of a video: sampled frames read, repeated lines merged."""
    frames = [
        FrameText(time_s, end_s, reader.read(image))
        for time_s, end_s, image in tqdm(
            sampled_frames(info, settings), desc="ocr", unit="frame", disable=None
        )
    ]
    scale = display_scale(info, settings.max_side)
    return OcrResult(boxes=merge_captions(frames, settings, scale))


def sampled_frames(
    info: VideoStreamInfo, settings: OcrSettings
) -> Iterator[tuple[float, float, np.ndarray]]:
    """``(time_s, end_s, upright RGB frame)`` of the frames to read, at display aspect
    ratio and at most ``max_side`` pixels (:func:`display_scale` maps them back)."""
    width, height = _scaled_size(info, settings.max_side)
    duration = info.duration_s
    shots: dict[int, tuple[float, float]] = {}  # keyframe -> the shot's span
    if settings.sampling == "shots":
        shots = {s.keyframe_index: (s.start_s, s.end_s) for s in detect_shots(info.path)}
        wanted: Collection[int] = shots.keys()
    else:
        fps = float(info.nominal_fps or info.fps or 0) or 25.0
        step = max(1, round(settings.interval_s * fps))
        wanted = range(0, info.frame_count or math.ceil((duration or 24 * 3600) * fps) + 1, step)
    for frame in iter_frames(info.path, width=width, height=height, indices=wanted):
        start_s, end_s = shots.get(frame.index, (frame.time_s, frame.time_s + settings.interval_s))
        if duration is not None:
            end_s = min(end_s, duration)
        upright = np.ascontiguousarray(np.rot90(frame.image, k=info.rotation // 90))
        yield round(start_s, 3), round(max(end_s, start_s), 3), upright


def display_scale(info: VideoStreamInfo, max_side: int) -> float:
    """Displayed pixels per pixel of a sampled frame (the same along both sides, as the
    frames keep the display aspect ratio)."""
    return info.height / _scaled_size(info, max_side)[1]


def _scaled_size(info: VideoStreamInfo, max_side: int) -> tuple[int, int]:
    """Decoded (unrotated) size at display aspect ratio, the longer side at most ``max_side``."""
    display_width = float(info.width * info.sample_aspect_ratio)
    scale = min(1.0, max_side / max(display_width, info.height))
    return max(1, round(display_width * scale)), max(1, round(info.height * scale))


@dataclass
class _Caption:
    """A line followed across sampled frames."""

    time_s: float
    end_s: float
    last_frame: int
    readings: list[TextLine] = field(default_factory=list)

    @property
    def latest(self) -> TextLine:
        return self.readings[-1]

    def box(self, scale: float = 1.0) -> OcrBox:
        """The caption's best reading: its most frequent text, read most confidently."""
        counts: dict[str, int] = {}
        for reading in self.readings:
            counts[reading.text] = counts.get(reading.text, 0) + 1
        best = max(self.readings, key=lambda r: (counts[r.text], r.confidence))
        confidence = float(np.mean([reading.confidence for reading in self.readings]))
        return OcrBox(
            time_s=self.time_s,
            end_s=self.end_s,
            text=best.text,
            confidence=round(confidence, 4),
            box=_scaled_box(best.box, scale),
        )


def merge_captions(
    frames: Sequence[FrameText], settings: OcrSettings | None = None, scale: float = 1.0
) -> list[OcrBox]:
    """One box per caption: a line continues a caption seen on one of the last
    ``max_gap + 1`` sampled frames when its box overlaps the caption's last box by
    ``merge_iou`` and its text is ``merge_similarity`` alike; boxes scaled by ``scale``."""
    chosen = settings or OcrSettings()
    open_captions: list[_Caption] = []
    done: list[_Caption] = []
    for number, frame in enumerate(frames):
        still_open: list[_Caption] = []
        for caption in open_captions:
            gone = number - caption.last_frame > chosen.max_gap + 1
            (done if gone else still_open).append(caption)
        open_captions = still_open
        continued: set[int] = set()
        for line in sorted(frame.lines, key=lambda ln: -ln.confidence):
            match = _best_match(line, open_captions, continued, chosen)
            if match is None:
                open_captions.append(_Caption(frame.time_s, frame.end_s, number, [line]))
                continued.add(id(open_captions[-1]))
                continue
            match.readings.append(line)
            match.end_s, match.last_frame = frame.end_s, number
            continued.add(id(match))
    captions = [caption.box(scale) for caption in [*done, *open_captions]]
    return sorted(captions, key=lambda box: (box.time_s or 0.0, box.box[1], box.box[0]))


def _best_match(
    line: TextLine, captions: list[_Caption], taken: set[int], settings: OcrSettings
) -> _Caption | None:
    """The open caption ``line`` continues best (by overlap), if any."""
    best, best_iou = None, 0.0
    for caption in captions:
        if id(caption) in taken:
            continue
        overlap = iou(line.box, caption.latest.box)
        similar = SequenceMatcher(None, line.text, caption.latest.text).ratio()
        if (
            overlap >= settings.merge_iou
            and similar >= settings.merge_similarity
            and overlap > best_iou
        ):
            best, best_iou = caption, overlap
    return best


def _scaled_box(box: Box, scale: float) -> Box:
    x0, y0, x1, y1 = box
    return round(x0 * scale), round(y0 * scale), round(x1 * scale), round(y1 * scale)
