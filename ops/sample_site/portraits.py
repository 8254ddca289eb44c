"""Two real people whose photographs come with the installation: the demo's cast.

- Eileen Collins, NASA astronaut: ``astronaut.png`` of scikit-image (``skimage.data``),
  a NASA photograph, in the public domain as a work of the U.S. federal government.
- Grace Hopper, U.S. Navy: ``grace_hopper.jpg`` of matplotlib's sample data, an official
  U.S. Navy photograph, in the public domain for the same reason.

Each has one photograph, so a person's face set is made of variations of it (crops,
scales, a mirror image, exposure, a slight turn): enough for clustering and recognition
to work on real faces, though far easier than photographs taken on different days. The
portrait film shows both, in turn, so that catalog refresh finds them in a video.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from ops.sample_site.media import AUDIO_SAMPLE_RATE, mux

FILM_SIZE = (640, 360)
FILM_FPS = 12
FILM_SHOTS: tuple[tuple[str, float], ...] = (
    ("Eileen Collins", 3.0),
    ("Grace Hopper", 3.0),
    ("Eileen Collins", 2.5),
)
"""The portrait film: who is shown, for how many seconds, in order."""


def _astronaut() -> Image.Image:
    from skimage import data

    # the top of the photograph: her face, without the mission patch below it
    return Image.fromarray(data.astronaut()).crop((40, 0, 400, 330))


def _grace_hopper() -> Image.Image:
    from matplotlib import cbook

    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    with Image.open(path) as photograph:
        return photograph.convert("RGB").crop((40, 40, 500, 470))


PORTRAITS: dict[str, Callable[[], Image.Image]] = {
    "Eileen Collins": _astronaut,
    "Grace Hopper": _grace_hopper,
}
LICENCE = "Public domain (U.S. federal government work)"


@cache
def portrait(name: str) -> Image.Image:
    """The one photograph of ``name`` (see the module docstring for its origin)."""
    if name not in PORTRAITS:
        raise KeyError(f"no portrait of {name!r}; there are {', '.join(PORTRAITS)}")
    return PORTRAITS[name]()


def variations(name: str, count: int = 6, seed: int = 0) -> list[Image.Image]:
    """``count`` different pictures made from ``name``'s photograph."""
    rng = np.random.default_rng([seed, sum(map(ord, name))])
    original = portrait(name)
    width, height = original.size
    pictures = []
    for number in range(count):
        keep = rng.uniform(0.75, 0.95)
        x0 = int(rng.uniform(0, (1 - keep) * width))
        y0 = int(rng.uniform(0, (1 - keep) * height))
        picture = original.crop((x0, y0, x0 + int(keep * width), y0 + int(keep * height)))
        picture = picture.rotate(float(rng.uniform(-6, 6)), resample=Image.Resampling.BILINEAR)
        picture = ImageEnhance.Brightness(picture).enhance(float(rng.uniform(0.75, 1.25)))
        if number % 2:
            picture = ImageOps.mirror(picture)
        side = int(rng.integers(260, 420))
        pictures.append(picture.resize((side, round(side * picture.height / picture.width))))
    return pictures


def _frame(name: str, progress: float) -> np.ndarray:
    """One frame of a shot: the photograph slowly zooming in, centred on a dark ground."""
    picture = portrait(name)
    zoom = 1.0 + 0.12 * progress
    width, height = picture.size
    inner_w, inner_h = width / zoom, height / zoom
    left, top = (width - inner_w) / 2, (height - inner_h) / 2
    crop = picture.crop((round(left), round(top), round(left + inner_w), round(top + inner_h)))
    film_w, film_h = FILM_SIZE
    shown = crop.resize((round(film_h * crop.width / crop.height), film_h))
    canvas = Image.new("RGB", FILM_SIZE, (18, 18, 24))
    canvas.paste(shown, ((film_w - shown.width) // 2, 0))
    return np.asarray(canvas)


def portrait_film() -> bytes:
    """An MP4 (H.264 + AAC) showing each person of :data:`FILM_SHOTS` in turn, over a
    soft chord."""
    frames = []
    for name, seconds in FILM_SHOTS:
        count = round(seconds * FILM_FPS)
        frames += [_frame(name, step / count) for step in range(count)]
    duration = len(frames) / FILM_FPS
    times = np.arange(round(duration * AUDIO_SAMPLE_RATE)) / AUDIO_SAMPLE_RATE
    chord = np.sin(2 * np.pi * np.outer((220.0, 277.2, 329.6), times)).sum(axis=0)
    return mux("mp4", frames, size=FILM_SIZE, fps=FILM_FPS, audio=0.1 * chord)


def shots() -> list[tuple[str, float, float]]:
    """(person, start second, end second) of each shot of the portrait film."""
    spans, start = [], 0.0
    for name, seconds in FILM_SHOTS:
        spans.append((name, start, start + seconds))
        start += seconds
    return spans
