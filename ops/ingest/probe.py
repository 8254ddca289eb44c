"""Read a media file's properties, decoding a little of it to prove it is readable.

Images go through Pillow with a pixel cap (decompression bombs are refused
before any pixel is decoded); audio and video through PyAV, which decodes the
first frames and a frame near the end so that a truncated file is caught.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av
from PIL import Image, UnidentifiedImageError

_FRAMES_TO_DECODE = 3
_TAIL_FRACTION = 0.9
_PILLOW_GUARD_LOCK = threading.Lock()


@dataclass(frozen=True)
class ProbeResult:
    """What a file is, as far as decoding it tells (``error`` set when it is not readable)."""

    kind: str | None = None
    mime: str | None = None
    duration_s: float | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    audio_sample_rate: int | None = None
    audio_channels: int | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    frames_decoded: int | None = None
    error: str | None = None

    def columns(self) -> dict[str, Any]:
        """The catalog columns this result fills (``kind``/``mime`` are set by the caller)."""
        values = asdict(self)
        values["probe_error"] = values.pop("error")
        return values


def probe_file(path: Path, *, max_pixels: int) -> ProbeResult:
    """Probe an image first (cheap header read), then fall back to PyAV.

    ``error`` says why a file cannot be used; the validation suite turns it into
    a ``not decodable: <error>`` quarantine reason.
    """
    image = _probe_image(path, max_pixels)
    if image is not None:
        return image
    return _probe_av(path)


def _open_header(path: Path) -> Image.Image:
    """Open without Pillow's own size guard: we apply our cap before decoding anything."""
    with _PILLOW_GUARD_LOCK:
        previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            return Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = previous


def _probe_image(path: Path, max_pixels: int) -> ProbeResult | None:
    """Return a result for anything Pillow recognises as an image, else None.

    Opening reads only the header, so the pixel count is checked before any decoding.
    """
    try:
        img = _open_header(path)
    except UnidentifiedImageError:
        return None
    except (OSError, SyntaxError, ValueError) as exc:
        return ProbeResult(kind="image", error=f"unreadable image header: {exc}")
    with img:
        width, height = img.size
        mime = Image.MIME.get(img.format or "")
        if width * height > max_pixels:
            return ProbeResult(
                kind="image",
                mime=mime,
                width=width,
                height=height,
                error=f"{width}x{height} is over the pixel cap of "
                f"{max_pixels:,} (decompression bomb?)",
            )
        try:
            img.load()
        except (OSError, SyntaxError, ValueError) as exc:
            return ProbeResult(kind="image", mime=mime, width=width, height=height, error=str(exc))
    return ProbeResult(kind="image", mime=mime, width=width, height=height)


def _ffmpeg_message(exc: Exception) -> str:
    """FFmpeg's own words, without the file path it appends."""
    return getattr(exc, "strerror", None) or str(exc)


def _probe_av(path: Path) -> ProbeResult:
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        return ProbeResult(error=_ffmpeg_message(exc))
    with container:
        video = next((s for s in container.streams.video if not _is_cover_art(s)), None)
        audio = next(iter(container.streams.audio), None)
        if video is None and audio is None:
            return ProbeResult(error="no audio or video stream")
        if any(s.codec_context is None for s in (video, audio) if s is not None):
            return ProbeResult(error="a stream has no codec parameters")
        duration = container.duration / av.time_base if container.duration else None
        fields: dict[str, Any] = {"duration_s": duration, "kind": "video" if video else "audio"}
        if video is not None:
            rate = video.average_rate or video.guessed_rate
            fields |= {
                "fps": float(rate) if rate else None,
                "width": video.codec_context.width,
                "height": video.codec_context.height,
                "video_codec": video.codec_context.name,
            }
        if audio is not None:
            fields |= {
                "audio_sample_rate": audio.codec_context.sample_rate,
                "audio_channels": audio.codec_context.channels,
                "audio_codec": audio.codec_context.name,
            }
        stream = video if video is not None else audio
        try:
            frames = _decode_head_and_tail(container, stream, duration)
        except (av.error.FFmpegError, ValueError, IndexError) as exc:
            return ProbeResult(**fields, frames_decoded=0, error=_ffmpeg_message(exc))
        if frames == 0:
            return ProbeResult(**fields, frames_decoded=0, error="no frame decoded")
        return ProbeResult(**fields, frames_decoded=frames if video is not None else None)


def _is_cover_art(stream: av.video.stream.VideoStream) -> bool:
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _decode_head_and_tail(container: Any, stream: Any, duration: float | None) -> int:
    """Decode the first frames, then seek near the end and decode again."""
    decoded = 0
    for frame in container.decode(stream):
        del frame
        decoded += 1
        if decoded >= _FRAMES_TO_DECODE:
            break
    if decoded and duration and duration > 1.0:
        target = int(duration * _TAIL_FRACTION / stream.time_base) if stream.time_base else 0
        container.seek(target, stream=stream, backward=True, any_frame=False)
        tail = next(iter(container.decode(stream)), None)
        if tail is None:
            raise ValueError("the end of the file cannot be decoded (truncated?)")
        decoded += 1
    return decoded
