"""Read a media file's properties, decoding a little of it to prove it is readable.

Images go through Pillow with a pixel cap (decompression bombs are refused
before any pixel is decoded); audio and video through PyAV, which decodes the
first frames and a frame near the end so that a truncated file is caught.
Videos also get what a player needs to show them right: the display matrix's
rotation, the sample aspect ratio, the resulting display size, and whether the
frame rate varies (timestamp steps of the first packets).
"""

from __future__ import annotations

import struct
import threading
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import av
from PIL import Image, UnidentifiedImageError

_FRAMES_TO_DECODE = 3
_TAIL_FRACTION = 0.9
_TIMING_PACKETS = 300  # timestamp steps read to tell a variable frame rate
# A step this much longer than the shortest one (plus one tick of rounding) is a rate change.
_VFR_STEP_RATIO = 1.05
_PILLOW_GUARD_LOCK = threading.Lock()
# FFmpeg's tty demuxer takes any text for ANSI art: text is not media here.
_TEXT_DEMUXERS = frozenset({"tty"})


@dataclass(frozen=True)
class ProbeResult:
    """What a file is, as far as decoding it tells (``error`` set when it is not readable)."""

    kind: str | None = None
    mime: str | None = None
    duration_s: float | None = None
    fps: float | None = None
    vfr: bool | None = None
    min_fps: float | None = None
    max_fps: float | None = None
    width: int | None = None
    height: int | None = None
    sample_aspect_ratio: float | None = None
    rotation: int | None = None
    display_width: int | None = None
    display_height: int | None = None
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


def is_readable_media(handle: IO[bytes]) -> bool:
    """Whether Pillow or PyAV recognises the content (headers only: nothing is decoded)."""
    try:
        with _open_header(handle):
            return True
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        handle.seek(0)
    try:
        with av.open(handle, metadata_errors="ignore") as container:
            streams = container.streams.video or container.streams.audio
            return bool(streams) and container.format.name not in _TEXT_DEMUXERS
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError):
        return False


def _open_header(source: Path | IO[bytes]) -> Image.Image:
    """Open without Pillow's own size guard: we apply our cap before decoding anything."""
    with _PILLOW_GUARD_LOCK:
        previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            return Image.open(source)
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
    """Read the streams' properties; a file cut short is refused even where it decodes."""
    cut_short = truncation(path)
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        return ProbeResult(error=cut_short or _ffmpeg_message(exc))
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
                "sample_aspect_ratio": _sample_aspect_ratio(video),
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
            head = _read_head(container, stream)
            frames = head.frames + _decode_tail(container, stream, duration, head.frames)
        except (av.error.FFmpegError, ValueError, IndexError) as exc:
            error = cut_short or _ffmpeg_message(exc)
            return ProbeResult(**fields, frames_decoded=0, error=error)
        if frames == 0:
            return ProbeResult(**fields, frames_decoded=0, error=cut_short or "no frame decoded")
        if video is None:
            return ProbeResult(**fields, error=cut_short)
        return ProbeResult(
            **fields,
            **_display_fields(fields, head.rotation),
            **head.timing(video.time_base),
            frames_decoded=frames,
            error=cut_short,
        )


def _is_cover_art(stream: av.video.stream.VideoStream) -> bool:
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _sample_aspect_ratio(video: Any) -> float | None:
    """The width of a pixel over its height; None when the file does not say."""
    ratio = video.sample_aspect_ratio or video.codec_context.sample_aspect_ratio
    return round(float(ratio), 4) if ratio else None


def _display_fields(fields: dict[str, Any], rotation: int) -> dict[str, Any]:
    """The size a player shows: pixels stretched by the aspect ratio, then rotated."""
    width, height = fields["width"], fields["height"]
    if not width or not height:
        return {"rotation": rotation}
    shown_width = round(width * (fields["sample_aspect_ratio"] or 1.0))
    if rotation in (90, 270):
        shown_width, height = height, shown_width
    return {"rotation": rotation, "display_width": shown_width, "display_height": height}


@dataclass(frozen=True)
class _Head:
    """What the first packets of a stream tell: decodable frames, rotation, timestamps."""

    frames: int
    rotation: int
    timestamps: tuple[int, ...]

    def timing(self, time_base: Fraction | None) -> dict[str, Any]:
        """Whether the frame rate varies, and its range, from the steps between timestamps."""
        steps = [b - a for a, b in zip(self.timestamps, self.timestamps[1:], strict=False)]
        steps = [step for step in steps if step > 0]
        if not steps or not time_base:
            return {}
        shortest, longest = min(steps), max(steps)
        return {
            "vfr": longest > shortest * _VFR_STEP_RATIO + 1,
            "min_fps": round(1 / float(longest * time_base), 3),
            "max_fps": round(1 / float(shortest * time_base), 3),
        }


def _read_head(container: Any, stream: Any) -> _Head:
    """Decode the first frames and collect the timestamps of the first packets.

    Packets come in decoding order; a later packet is never shown before the last
    decoding timestamp read, so the presentation timestamps below it are complete.
    """
    decoded, rotation = 0, 0
    shown: list[int] = []
    last_dts: int | None = None
    for count, packet in enumerate(container.demux(stream)):
        if packet.pts is not None:
            shown.append(packet.pts)
            last_dts = packet.dts if packet.dts is not None else last_dts
        if decoded < _FRAMES_TO_DECODE:
            for frame in packet.decode():
                if decoded == 0 and stream.type == "video":
                    rotation = round(frame.rotation or 0) % 360
                decoded += 1
        timing_read = count >= _TIMING_PACKETS or stream.type != "video"  # audio: unused
        if decoded >= _FRAMES_TO_DECODE and timing_read:
            break
    complete = sorted(pts for pts in shown if last_dts is None or pts < last_dts)
    return _Head(decoded, rotation, tuple(complete))


def _decode_tail(container: Any, stream: Any, duration: float | None, decoded: int) -> int:
    """Seek near the end and decode one frame: 1 when it decodes (0 for short files)."""
    if not decoded or not duration or duration <= 1.0:
        return 0
    target = int(duration * _TAIL_FRACTION / stream.time_base) if stream.time_base else 0
    container.seek(target, stream=stream, backward=True, any_frame=False)
    if next(iter(container.decode(stream)), None) is None:
        raise ValueError(
            f"truncated: the container says it lasts {duration:.1f} s,"
            " but nothing near its end decodes"
        )
    return 1


def truncation(path: Path) -> str | None:
    """Say how a file is cut short when its container declares more bytes than it holds.

    MP4/MOV/M4A boxes and RIFF (WAV, AVI) chunks state their sizes up front, so a file
    that ends early is told apart from one that was never media.
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(12)
        if head[:4] == b"RIFF" and len(head) == 12:
            (declared,) = struct.unpack("<I", head[4:8])
            if 0 < declared < 0xFFFFFFFF and 8 + declared > size:
                return _cut_short(size, 8 + declared, "RIFF header")
            return None
        if head[4:8] != b"ftyp":
            return None
        offset = 0
        while offset + 8 <= size:
            handle.seek(offset)
            box_size, box_type = struct.unpack(">I4s", handle.read(8))
            if box_size == 1:
                (box_size,) = struct.unpack(">Q", handle.read(8))
            if box_size == 0:  # runs to the end of the file
                return None
            if box_size < 8:
                return None  # not a box structure we understand: let FFmpeg's words stand
            if offset + box_size > size:
                name = box_type.decode("latin-1")
                return _cut_short(size, offset + box_size, f"{name!r} box")
            offset += box_size
    return None


def _cut_short(size: int, declared_end: int, part: str) -> str:
    return (
        f"truncated: the file ends at byte {size:,} but its {part} runs to byte"
        f" {declared_end:,} (an interrupted copy or download?)"
    )
