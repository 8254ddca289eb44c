"""Small, real media files for the sample site, synthesised with PyAV and Pillow.

Each maker is deterministic in ``(seed, index)`` and different indexes give
different bytes, so a generated site holds no accidental duplicates (the
duplicate trap is the only one). Files are tiny so that a 1,000-item site
builds in seconds, yet they decode like any camera or studio file would:
H.264 + AAC in MP4, AAC in M4A or PCM WAV, JPEG and PNG.
"""

from __future__ import annotations

import io
import struct
import wave
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import av
import numpy as np
from PIL import Image

from ops.mood.circle import MOODS
from ops.mood.standins import standin_image

GENRES = ("baroque", "classical", "ragtime", "jazz")
RGB = tuple[int, int, int]

AUDIO_SAMPLE_RATE = 22_050
HELD_OUT = 100_000
"""Stand-in numbers from here on are the catalog's: the mood model trains on the first ones."""
IMAGE_SIZES = ((320, 240), (400, 300), (360, 360), (480, 320), (300, 400))
BOMB_SIDE = 40_000


@dataclass(frozen=True)
class _Style:
    """What makes a genre recognisable here: tempo, rhythm, timbre and scale."""

    bpm: float
    rhythm: tuple[float, ...]  # note lengths in beats, cycled
    harmonics: tuple[float, ...]  # amplitudes of the partials 1, 2, 3, ...
    decay_per_s: float  # exponential decay; small = sustained, large = plucked
    scale: tuple[int, ...]  # semitone steps above the root


_MAJOR = (0, 2, 4, 5, 7, 9, 11, 12)
_STYLES: dict[str, _Style] = {
    "baroque": _Style(108, (0.25,), (1.0, 0.7, 0.5, 0.35, 0.25, 0.15), 7.0, _MAJOR),
    "classical": _Style(76, (1.0, 0.5, 0.5, 2.0), (1.0, 0.25, 0.08), 0.6, _MAJOR),
    "ragtime": _Style(126, (0.5, 0.25, 0.5, 0.25, 0.5), (1.0, 0.5, 0.3, 0.15), 4.5, _MAJOR),
    "jazz": _Style(138, (2 / 3, 1 / 3), (1.0, 0.0, 0.35, 0.0, 0.12), 1.8, (0, 3, 5, 6, 7, 10, 12)),
}


def _rng(seed: int, index: int, purpose: str) -> np.random.Generator:
    """One independent stream per (seed, index, purpose): makers never share randomness."""
    return np.random.default_rng([seed, index, zlib.crc32(purpose.encode())])


def _gradient(width: int, height: int, start: RGB, end: RGB, angle: float) -> np.ndarray:
    """An RGB image blending ``start`` into ``end`` along ``angle`` (radians)."""
    xs = np.arange(width, dtype=np.float32)[None, :]
    ys = np.arange(height, dtype=np.float32)[:, None]
    ramp = xs * np.cos(angle) + ys * np.sin(angle)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1.0)
    blend = np.asarray(start, np.float32) * (1 - ramp[..., None])
    blend += np.asarray(end, np.float32) * ramp[..., None]
    return blend.astype(np.uint8)


def _random_colour(rng: np.random.Generator) -> RGB:
    red, green, blue = (int(v) for v in rng.integers(0, 256, size=3))
    return red, green, blue


def mux(
    container_format: str,
    frames: Iterable[np.ndarray] = (),
    *,
    size: tuple[int, int] | None = None,
    fps: int = 12,
    audio: np.ndarray | None = None,
) -> bytes:
    """Encode RGB frames as H.264 and/or mono float audio as AAC into an in-memory file."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container_format) as container:
        video = None
        if size is not None:
            video = container.add_stream("libx264", rate=fps)
            video.width, video.height = size
            video.pix_fmt = "yuv420p"
            video.options = {"preset": "veryfast", "crf": "30", "threads": "1"}  # deterministic
        sound = None
        if audio is not None:
            # The default "twoloop" coder is most of the cost of a short track; quality is moot.
            sound = container.add_stream(
                "aac", rate=AUDIO_SAMPLE_RATE, options={"aac_coder": "fast", "b": "64k"}
            )
            sound.layout = "mono"
        if video is not None:
            for picture in frames:
                container.mux(video.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
            container.mux(video.encode())
        if sound is not None and audio is not None:
            chunk = 1024
            for start in range(0, len(audio), chunk):
                samples = audio[start : start + chunk].astype(np.float32).reshape(1, -1)
                block = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
                block.sample_rate = AUDIO_SAMPLE_RATE
                block.pts = start
                container.mux(sound.encode(block))
            container.mux(sound.encode())
    return buffer.getvalue()


def make_video(
    index: int,
    *,
    seed: int = 0,
    seconds: float = 2.0,
    size: tuple[int, int] = (160, 120),
    fps: int = 12,
    with_audio: bool = True,
) -> bytes:
    """An MP4 (H.264 + AAC) of a disc bouncing over a gradient; the tone's pitch follows its x."""
    rng = _rng(seed, index, "video")
    width, height = size
    background = _gradient(width, height, _random_colour(rng), _random_colour(rng), rng.random())
    disc_colour = np.asarray(_random_colour(rng), np.uint8)
    radius = int(rng.integers(min(size) // 8, min(size) // 4))
    position = rng.uniform([radius, radius], [width - radius, height - radius])
    velocity = rng.uniform(-1, 1, size=2) * np.array([width, height]) / fps
    xs, ys = np.arange(width)[None, :], np.arange(height)[:, None]
    frame_count = max(1, round(seconds * fps))
    frames, x_track = [], []
    for _ in range(frame_count):
        frame = background.copy()
        frame[(xs - position[0]) ** 2 + (ys - position[1]) ** 2 <= radius**2] = disc_colour
        frames.append(frame)
        x_track.append(position[0] / width)
        position = position + velocity
        for axis, limit in enumerate((width, height)):
            if not radius <= position[axis] <= limit - radius:
                velocity[axis] = -velocity[axis]
                position[axis] = float(np.clip(position[axis], radius, limit - radius))
    audio = None
    if with_audio:
        samples_per_frame = AUDIO_SAMPLE_RATE / fps
        sample_frame = np.arange(round(frame_count * samples_per_frame)) // samples_per_frame
        pitch = 220.0 + 660.0 * np.asarray(x_track)[sample_frame.astype(int)]
        audio = 0.3 * np.sin(2 * np.pi * np.cumsum(pitch) / AUDIO_SAMPLE_RATE)
    return mux("mp4", frames, size=size, fps=fps, audio=audio)


def _note(frequency: float, seconds: float, style: _Style) -> np.ndarray:
    """One note with the style's partials and envelope (short attack and release, no clicks)."""
    t = np.arange(max(1, int(seconds * AUDIO_SAMPLE_RATE))) / AUDIO_SAMPLE_RATE
    tone = sum(
        amplitude * np.sin(2 * np.pi * frequency * (k + 1) * t)
        for k, amplitude in enumerate(style.harmonics)
        if amplitude
    )
    envelope = np.exp(-style.decay_per_s * t) * np.minimum(1.0, t / 0.005)
    envelope *= np.minimum(1.0, (t[-1] - t + 1 / AUDIO_SAMPLE_RATE) / 0.01)
    return np.asarray(tone * envelope / sum(style.harmonics), dtype=np.float32)


def synthesise_music(index: int, *, seed: int, genre: str, seconds: float) -> np.ndarray:
    """Mono float samples at :data:`AUDIO_SAMPLE_RATE`: a random melody in the genre's style."""
    if genre not in _STYLES:
        raise ValueError(f"unknown genre {genre!r}; expected one of {', '.join(GENRES)}")
    style = _STYLES[genre]
    rng = _rng(seed, index, f"music-{genre}")
    root_midi = int(rng.integers(52, 67))
    beat_s = 60.0 / style.bpm
    notes, elapsed, degree, step = [], 0.0, int(rng.integers(0, len(style.scale))), 0
    while elapsed < seconds:
        length_s = style.rhythm[step % len(style.rhythm)] * beat_s
        degree = int(np.clip(degree + rng.integers(-2, 3), 0, len(style.scale) - 1))
        midi = root_midi + style.scale[degree]
        notes.append(_note(440.0 * 2 ** ((midi - 69) / 12), length_s, style))
        elapsed += length_s
        step += 1
    return 0.5 * np.concatenate(notes)[: int(seconds * AUDIO_SAMPLE_RATE)]


def make_music(
    index: int,
    *,
    seed: int = 0,
    genre: str,
    seconds: float = 3.0,
    container: Literal["m4a", "wav"] = "m4a",
) -> bytes:
    """A short music track in ``genre``: AAC in an M4A file, or 16-bit PCM WAV."""
    samples = synthesise_music(index, seed=seed, genre=genre, seconds=seconds)
    if container == "m4a":
        return mux("ipod", audio=samples)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(AUDIO_SAMPLE_RATE)
        wav.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def make_image(
    index: int, *, seed: int = 0, mood: str, image_format: Literal["jpeg", "png"] = "jpeg"
) -> bytes:
    """A picture of ``mood``, drawn as the mood model's generated stand-ins are
    (ops.mood.standins), but never one of the pictures it trains on."""
    if mood not in MOODS:
        raise ValueError(f"unknown mood {mood!r}; expected one of {', '.join(MOODS)}")
    rng = _rng(seed, index, f"image-{mood}")
    size = IMAGE_SIZES[int(rng.integers(0, len(IMAGE_SIZES)))]
    image = Image.fromarray(standin_image(mood, HELD_OUT + index, seed=seed, size=size))
    buffer = io.BytesIO()
    if image_format == "jpeg":
        image.save(buffer, format="JPEG", quality=85)
    else:
        image.save(buffer, format="PNG")
    return buffer.getvalue()


def truncated_copy(data: bytes, fraction: float = 0.4) -> bytes:
    """The first ``fraction`` of a file: what an interrupted upload leaves behind."""
    return data[: max(1, int(len(data) * fraction))]


def padded_mp4(data: bytes, total_bytes: int) -> bytes:
    """An MP4 grown to ``total_bytes`` by a trailing ``free`` box: still valid, just too big."""
    padding = total_bytes - len(data)
    if padding < 8:
        raise ValueError(f"cannot pad {len(data)} bytes to {total_bytes}: too close or smaller")
    return data + struct.pack(">I4s", padding, b"free") + bytes(padding - 8)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def png_bomb(width: int = BOMB_SIDE, height: int = BOMB_SIDE) -> bytes:
    """A small, well-formed PNG whose header declares ``width`` x ``height`` RGB pixels.

    A decoder that trusts the header would allocate gigabytes; only the pixel
    count check before decoding protects the pipeline.
    """
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(bytes(1 + 3 * min(width, 1024)), 9)  # one filtered row, then nothing
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", pixels)
        + _png_chunk(b"IEND", b"")
    )
