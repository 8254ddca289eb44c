"""The mood video: pictures in turn, each fading in and out, the music's volume following.

The video is ``duration_s`` long and every picture gets an equal share of it. One
envelope, ``e(t)`` between 0 and 1, drives both the picture and the sound: within each
share it rises over ``fade_s`` as a raised cosine (``sin²``), holds at 1 and falls the
same way, reaching 0 exactly at every join. A frame is faded with the envelope at its
centre; every audio sample is multiplied by the envelope at its own time, so the
volume moves smoothly (the raised cosine has no corner) and both picture and sound are
at rest at each join: no gap, no click. Music shorter than the video is looped with an
equal-power crossfade.

Pictures are letterboxed (or centre-cropped) to the output size once and converted to
YUV 4:2:0 once; fading a frame is then a multiply on its planes around video black
(Y = 16, chroma = 128), which is what fading the RGB picture to black gives. Encoding
is H.264 + AAC into an MP4 written beside the target and renamed onto it only when
complete (:func:`ops.atomic.atomic_path`), so a render that is killed or fails leaves
no partial video at the target.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageOps
from tqdm import tqdm

from ops.atomic import atomic_path
from ops.faces.pictures import UnreadablePicture, read_picture
from ops.mood.results import RenderedVideo, RenderSettings
from ops.scene.audio import iter_windows

AAC_FRAME = 1024
"""Samples per AAC frame: the encoder takes audio in blocks of exactly this many."""


class RenderError(ValueError):
    """A mood video that cannot be made from what was given (no readable picture, no sound)."""


def fade_envelope(times_s: np.ndarray, segment_s: float, fade_s: float) -> np.ndarray:
    """The picture-and-volume envelope at ``times_s``: 0 at every join, 1 between fades."""
    if fade_s <= 0:
        return np.ones_like(times_s, dtype=np.float64)
    local = np.mod(times_s, segment_s)
    ramp = np.clip(np.minimum(local, segment_s - local) / fade_s, 0.0, 1.0)
    return np.sin(0.5 * np.pi * ramp) ** 2


def fitted_picture(image: np.ndarray, size: tuple[int, int], fit: str) -> np.ndarray:
    """``image`` at exactly ``size`` (width, height): letterboxed in black, or cropped."""
    picture = Image.fromarray(image)
    if fit == "crop":
        shaped = ImageOps.fit(picture, size, method=Image.Resampling.LANCZOS)
    else:
        shaped = ImageOps.pad(picture, size, method=Image.Resampling.LANCZOS, color=(0, 0, 0))
    return np.asarray(shaped, dtype=np.uint8)


def render_mood_video(
    images: Sequence[Path],
    track: Path,
    target: Path,
    *,
    duration_s: float,
    settings: RenderSettings | None = None,
) -> RenderedVideo:
    """Render ``images`` in turn over ``track`` into the MP4 ``target`` (a progress bar)."""
    settings = settings or RenderSettings()
    if duration_s <= 0:
        raise ValueError(f"duration_s must be positive, got {duration_s}")
    started = time.perf_counter()
    planes, shown, skipped = _pictures(images, settings)
    frames = max(1, round(duration_s * settings.fps))
    samples = round(duration_s * settings.sample_rate)
    segment_s = duration_s / len(planes)
    fade_s = min(settings.fade_s, segment_s / 2)
    music, track_samples = _music(track, samples, settings)
    music *= fade_envelope(np.arange(samples) / settings.sample_rate, segment_s, fade_s).astype(
        np.float32
    )
    frame_times = (np.arange(frames) + 0.5) / settings.fps
    levels = fade_envelope(frame_times, segment_s, fade_s)
    shares = np.minimum((frame_times / segment_s).astype(int), len(planes) - 1)
    black = _black_levels(settings.height)

    with atomic_path(target) as tmp, av.open(str(tmp), "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=settings.fps)
        video.width, video.height, video.pix_fmt = settings.width, settings.height, "yuv420p"
        video.options = {
            "preset": settings.preset,
            "crf": str(settings.crf),
            "threads": str(settings.threads),
        }
        audio = container.add_stream(
            "aac", rate=settings.sample_rate, options={"b": settings.audio_bitrate}
        )
        audio.layout = "mono"
        written = 0
        for index in tqdm(range(frames), desc="mood video", unit="frame", leave=False):
            faded = _faded(planes[shares[index]], black, float(levels[index]))
            picture = av.VideoFrame.from_ndarray(faded, format="yuv420p")
            picture.pts = index
            container.mux(video.encode(picture))
            # the audio up to this frame's end; all of what is left after the last frame
            until = min(samples, round((index + 1) * settings.sample_rate / settings.fps))
            if index == frames - 1:
                until = samples
            while until - written >= AAC_FRAME or (until == samples and written < samples):
                block = music[written : min(written + AAC_FRAME, samples)]
                container.mux(audio.encode(_audio_frame(block, written, settings.sample_rate)))
                written += block.size
        container.mux(video.encode())
        container.mux(audio.encode())
    return RenderedVideo(
        path=target,
        duration_s=duration_s,
        frames=frames,
        audio_samples=samples,
        segment_s=segment_s,
        fade_s=fade_s,
        images=shown,
        skipped=skipped,
        track=track,
        music_seconds=round(min(track_samples, samples) / settings.sample_rate, 3),
        looped=track_samples < samples,
        settings=settings,
        render_seconds=round(time.perf_counter() - started, 3),
    )


def _pictures(
    images: Sequence[Path], settings: RenderSettings
) -> tuple[list[np.ndarray], tuple[Path, ...], dict[str, str]]:
    """Each readable picture fitted to the output size as YUV 4:2:0 planes ``(H*3/2, W)``."""
    planes: list[np.ndarray] = []
    shown: list[Path] = []
    skipped: dict[str, str] = {}
    for path in images:
        try:
            fitted = fitted_picture(
                read_picture(path), (settings.width, settings.height), settings.fit
            )
        except UnreadablePicture as error:
            skipped[str(path)] = str(error)
            continue
        frame = av.VideoFrame.from_ndarray(fitted, format="rgb24")
        planes.append(frame.reformat(format="yuv420p").to_ndarray())
        shown.append(path)
    if not planes:
        raise RenderError(f"none of the {len(images)} picture(s) could be read: {skipped}")
    return planes, tuple(shown), skipped


def _music(track: Path, samples: int, settings: RenderSettings) -> tuple[np.ndarray, int]:
    """``samples`` mono samples of the track (looped with a crossfade when it is shorter),
    and how many samples the track itself gave."""
    blocks: list[np.ndarray] = []
    gathered = 0
    rate = settings.sample_rate
    for block in iter_windows(track, sample_rate=rate, window=rate):
        blocks.append(block)
        gathered += block.size
        if gathered >= samples:
            break
    if not gathered:
        raise RenderError(f"{track}: no audio to play")
    source = np.concatenate(blocks)
    music = source[:samples].copy()
    overlap = min(round(settings.loop_crossfade_s * rate), source.size // 2)
    turn = np.linspace(0.0, 0.5 * np.pi, overlap, dtype=np.float32)
    while music.size < samples:
        if overlap:  # equal power: uncorrelated music keeps its loudness through the seam
            music[-overlap:] = music[-overlap:] * np.cos(turn) + source[:overlap] * np.sin(turn)
        music = np.concatenate([music, source[overlap:]])
    return music[:samples], source.size


def _black_levels(height: int) -> np.ndarray:
    """Per row of the YUV 4:2:0 planes, the value that is black: 16 for Y, 128 for U and V."""
    levels = np.full((height * 3 // 2, 1), 128.0, dtype=np.float32)
    levels[:height] = 16.0
    return levels


def _faded(planes: np.ndarray, black: np.ndarray, level: float) -> np.ndarray:
    """The picture's planes faded towards black by ``level`` (1: as is, 0: black)."""
    if level >= 1.0:
        return planes
    faded = (planes.astype(np.float32) - black) * level + black
    return np.clip(np.rint(faded), 0, 255).astype(np.uint8)


def _audio_frame(block: np.ndarray, start: int, rate: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(block, dtype=np.float32).reshape(1, -1), format="fltp", layout="mono"
    )
    frame.sample_rate = rate
    frame.pts = start
    return frame
