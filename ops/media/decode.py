"""One seam for decoding video: PyAV with its bundled FFmpeg.

Every video feature (shots, keyframes, faces, 1-second segments) reads frames
through here, so threading, scaling and timestamps are decided once. Frames
are scaled and converted inside FFmpeg, so Python only ever holds the small
arrays a feature asks for; decoding streams frame by frame, so memory stays
flat whatever the duration. Times are measured from the first frame, because
some files start at a non-zero timestamp and every consumer wants 0 to mean
"the first picture".
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

_OPEN_ERRORS = (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError)


class MediaDecodeError(Exception):
    """A file that cannot be decoded as video; the message names the file and the reason."""


@dataclass(frozen=True)
class VideoStreamInfo:
    """What one needs to know about a video stream before reading its frames.

    ``width``/``height`` are the stored pixel size, which is what
    :func:`iter_frames` returns; :attr:`display_size` is what a viewer shows.
    """

    path: Path
    codec: str
    width: int
    height: int
    sample_aspect_ratio: Fraction
    rotation: int  # degrees counter-clockwise that turn stored pixels upright: 0, 90, 180, 270
    fps: Fraction | None  # average rate: frames / duration
    nominal_fps: Fraction | None  # the rate timestamps are built on (differs for variable rate)
    frame_count: int | None  # from the container header, when it says
    duration_s: float | None
    start_time_s: float  # timestamp of the first frame; iter_frames' times start after it

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as shown: sample aspect ratio applied, then rotation."""
        width = max(1, round(self.width * self.sample_aspect_ratio))
        if self.rotation % 180:
            return self.height, width
        return width, self.height


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    """One picture: its position in decoding order, its time from the first frame, its pixels."""

    index: int
    time_s: float
    image: np.ndarray


def open_video(path: Path) -> VideoStreamInfo:
    """Read a video's stream properties, decoding its first frame to prove it is readable."""
    with open_container(path) as container:
        stream = _video_stream(container, path)
        first = _first_frame(container, stream, path)
        tick = stream.time_base or Fraction(0)
        duration_s = (
            float(stream.duration * tick)
            if stream.duration and tick
            else (container.duration / av.time_base if container.duration else None)
        )
        return VideoStreamInfo(
            path=path,
            codec=stream.codec_context.name,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            sample_aspect_ratio=stream.sample_aspect_ratio or Fraction(1),
            rotation=round(first.rotation / 90) % 4 * 90,
            fps=stream.average_rate or stream.guessed_rate,
            nominal_fps=stream.guessed_rate or stream.average_rate,
            frame_count=stream.frames or None,
            duration_s=duration_s,
            start_time_s=float(first.pts * tick) if first.pts is not None and tick else 0.0,
        )


def iter_frames(
    path: Path,
    *,
    width: int | None = None,
    height: int | None = None,
    pix_fmt: str = "rgb24",
    interpolation: str | None = None,
    threads: bool = True,
    indices: Collection[int] | None = None,
) -> Iterator[DecodedFrame]:
    """Decode frames in order, scaled and converted by FFmpeg to ``pix_fmt`` arrays.

    ``width``/``height``: the output size; give one and the other keeps the
    display aspect ratio, give neither for the stored size. ``interpolation``
    is an FFmpeg scaler name (``"AREA"`` for quality thumbnails,
    ``"FAST_BILINEAR"`` when only coarse statistics matter; default bilinear).
    ``indices``: convert and yield only these frames (every frame is still
    decoded, up to the last one asked for), which is how a few keyframes are
    read without converting the rest.
    """
    _check_request(width, height, pix_fmt)
    if not path.is_file():
        raise MediaDecodeError(f"{path}: no such file")
    wanted = None if indices is None else set(indices)
    return _converted_frames(path, width, height, pix_fmt, interpolation, threads, wanted)


def decode_only(path: Path, *, threads: bool = True) -> int:
    """Decode every frame and do nothing else: the speed limit features are measured against."""
    with open_container(path) as container:
        stream = _video_stream(container, path)
        _configure_threads(stream, threads)
        count = 0
        try:
            for _frame in container.decode(stream):
                count += 1
        except av.error.FFmpegError as exc:
            raise MediaDecodeError(f"{path}: decoding failed after {count} frames: {exc}") from exc
        return count


def _check_request(width: int | None, height: int | None, pix_fmt: str) -> None:
    for name, value in (("width", width), ("height", height)):
        if value is not None and value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")
    try:
        av.VideoFormat(pix_fmt)
    except ValueError as exc:
        raise ValueError(f"unknown pixel format {pix_fmt!r}") from exc


def open_container(path: Path) -> Any:
    """Open a file for demuxing, turning every way it can fail into one clear error."""
    if not path.is_file():
        raise MediaDecodeError(f"{path}: no such file")
    try:
        return av.open(str(path), metadata_errors="ignore")
    except _OPEN_ERRORS as exc:
        raise MediaDecodeError(f"{path}: cannot open: {exc}") from exc


def _video_stream(container: Any, path: Path) -> Any:
    """The first real video stream (an MP3's or M4A's cover picture does not count)."""
    for stream in container.streams.video:
        if stream.codec_context is None:
            continue
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    raise MediaDecodeError(f"{path}: no video stream")


def _configure_threads(stream: Any, threads: bool) -> None:
    """Frame + slice threads with an automatic count, or strictly one thread."""
    if threads:
        stream.thread_type = "AUTO"
        stream.thread_count = 0
    else:
        stream.thread_count = 1


def _first_frame(container: Any, stream: Any, path: Path) -> Any:
    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as exc:
        raise MediaDecodeError(f"{path}: the first frame cannot be decoded: {exc}") from exc
    raise MediaDecodeError(f"{path}: no frame could be decoded")


def _output_size(stream: Any, width: int | None, height: int | None) -> tuple[int, int]:
    """Fill in a missing dimension so the picture keeps its display aspect ratio."""
    stored_width, stored_height = stream.codec_context.width, stream.codec_context.height
    if width is not None and height is not None:
        return width, height
    if width is None and height is None:
        return stored_width, stored_height
    display_ratio = stored_width * (stream.sample_aspect_ratio or Fraction(1)) / stored_height
    if width is None:
        assert height is not None
        return max(1, round(height * display_ratio)), height
    return width, max(1, round(width / display_ratio))


def _converted_frames(
    path: Path,
    width: int | None,
    height: int | None,
    pix_fmt: str,
    interpolation: str | None,
    threads: bool,
    wanted: set[int] | None,
) -> Iterator[DecodedFrame]:
    if wanted is not None and not wanted:
        return
    reformatter = VideoReformatter()
    with open_container(path) as container:
        stream = _video_stream(container, path)
        _configure_threads(stream, threads)
        out_width, out_height = _output_size(stream, width, height)
        for index, time_s, frame in _timed_frames(container, stream, path):
            if wanted is not None:
                if index not in wanted:
                    continue
                wanted.discard(index)
            # One scaler thread: decoding already keeps the cores busy, and slice
            # threads only add synchronisation cost to small outputs.
            picture = reformatter.reformat(
                frame,
                out_width,
                out_height,
                pix_fmt,
                interpolation=interpolation,
                src_color_range=frame.color_range,
                threads=1,
            )
            yield DecodedFrame(index, time_s, picture.to_ndarray())
            if wanted is not None and not wanted:
                return


def _timed_frames(container: Any, stream: Any, path: Path) -> Iterator[tuple[int, float, Any]]:
    """Yield ``(index, seconds from the first frame, frame)``.

    A frame without a timestamp gets ``index / nominal rate`` instead; files
    that lack timestamps lack them throughout, so the two never mix in practice.
    """
    tick = float(stream.time_base or 0)
    rate = stream.guessed_rate or stream.average_rate
    frame_period = 1 / float(rate) if rate else 0.0
    origin: int | None = None
    index = 0
    try:
        for frame in container.decode(stream):
            pts = frame.pts
            if pts is None or not tick:
                time_s = index * frame_period
            else:
                if origin is None:
                    origin = pts
                time_s = (pts - origin) * tick
            yield index, time_s, frame
            index += 1
    except av.error.FFmpegError as exc:
        raise MediaDecodeError(f"{path}: decoding failed after {index} frames: {exc}") from exc
