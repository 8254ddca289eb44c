"""Generated stand-in pictures for the image-mood model, one batch per mood.

No real mood-labelled image set is available here, so the tests and the demo train on
pictures made up on the spot; a model trained on them says so (``training_data:
generated``). Each picture is drawn from a point of the mood circle, jittered around its
mood's direction (so neighbouring moods overlap, as real ones do), and rendered with
what the colour-emotion and shape literature links to that point:

- brightness and saturation from valence and arousal by inverting Valdez & Mehrabian's
  regressions ("Effects of color on emotions", 1994: pleasure = .69 brightness + .22
  saturation, arousal = -.31 brightness + .60 saturation, standardised);
- hue from anchors around the circle (sunny yellow for joyful, orange for excited, reds
  for tense and angry, blues for sad and gloomy, teal for calm, green for serene),
  interpolated between neighbours;
- arousal as contrast, clutter (more shapes), grain and sharpness (calm pictures are
  blurred and sparse);
- valence as shape: round shapes for pleasant moods, sharp angles for unpleasant ones
  (Bar & Neta, "Humans prefer curved visual objects", 2006).
"""

from __future__ import annotations

import colorsys
import math
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ops.atomic import atomic_path
from ops.mood.circle import MOODS, STEP_DEG, Mood, mood_angle

STANDIN_SOURCE = "generated stand-ins"
STANDIN_SIZE = (160, 120)
ANGLE_JITTER_DEG = 14.0
"""Spread of a picture's direction around its mood's: about one in eight falls past the
half-way line to a neighbour, so even a perfect reader cannot be always right."""

_HUE_ANCHORS_DEG: dict[Mood, float] = {
    "joyful": 52.0,
    "excited": 30.0,
    "tense": 12.0,
    "angry": 356.0,
    "sad": 222.0,
    "gloomy": 250.0,
    "calm": 192.0,
    "serene": 120.0,
}
_PLEASURE = (0.69, 0.22)  # Valdez & Mehrabian: pleasure from (brightness, saturation)
_AROUSAL = (-0.31, 0.60)  # arousal from (brightness, saturation)

RGB = tuple[int, int, int]


def standin_image(
    mood: str, index: int, *, seed: int = 0, size: tuple[int, int] = STANDIN_SIZE
) -> np.ndarray:
    """One generated ``mood`` picture (uint8 RGB, height x width x 3): same inputs, same pixels."""
    centre = mood_angle(mood)
    rng = np.random.default_rng([seed, index, zlib.crc32(f"mood-standin-{mood}".encode())])
    angle = centre + rng.normal(0.0, ANGLE_JITTER_DEG)
    strength = rng.uniform(0.55, 1.0)
    valence = strength * math.cos(math.radians(angle))
    arousal = strength * math.sin(math.radians(angle))
    return _render(rng, angle, valence, arousal, size)


def standin_images(
    per_mood: int, *, seed: int = 0, size: tuple[int, int] = STANDIN_SIZE
) -> Iterator[tuple[str, Mood, np.ndarray]]:
    """``(image_id, mood, picture)`` for ``per_mood`` pictures of every mood, mood by mood."""
    for mood in MOODS:
        for index in range(per_mood):
            yield f"standin-{mood}-{index}", mood, standin_image(mood, index, seed=seed, size=size)


def write_standin_folder(
    folder: Path, per_mood: int, *, seed: int = 0, size: tuple[int, int] = STANDIN_SIZE
) -> Path:
    """Write the stand-ins as a labelled folder (``<mood>/<image_id>.png``), the layout a
    user's own labelled pictures come in, so the real loading path can be exercised."""
    for image_id, mood, picture in standin_images(per_mood, seed=seed, size=size):
        with atomic_path(folder / mood / f"{image_id}.png") as tmp:
            Image.fromarray(picture).save(tmp, format="PNG")
    return folder


def _hue(angle: float) -> float:
    """The hue (0 to 1) at a direction of the circle, between its two neighbouring anchors."""
    position = (angle % 360.0) / STEP_DEG
    below = int(position) % len(MOODS)
    above = (below + 1) % len(MOODS)
    share = position - int(position)
    start, end = _HUE_ANCHORS_DEG[MOODS[below]], _HUE_ANCHORS_DEG[MOODS[above]]
    turn = (end - start + 180.0) % 360.0 - 180.0  # the short way round the colour wheel
    return ((start + share * turn) % 360.0) / 360.0


def _brightness_saturation(valence: float, arousal: float) -> tuple[float, float]:
    """Value and saturation (0 to 1) whose Valdez-Mehrabian pleasure and arousal are the
    given ones: the 2x2 regression solved, its z-scores scaled onto the unit range."""
    matrix = np.array([_PLEASURE, _AROUSAL])
    brightness_z, saturation_z = np.linalg.solve(matrix, [valence, arousal])
    value = float(np.clip(0.55 + 0.17 * brightness_z, 0.08, 0.95))
    saturation = float(np.clip(0.45 + 0.2 * saturation_z, 0.04, 0.95))
    return value, saturation


def _colour(hue: float, saturation: float, value: float) -> RGB:
    red, green, blue = colorsys.hsv_to_rgb(
        hue % 1.0, float(np.clip(saturation, 0, 1)), float(np.clip(value, 0, 1))
    )
    return round(red * 255), round(green * 255), round(blue * 255)


def _render(
    rng: np.random.Generator,
    angle: float,
    valence: float,
    arousal: float,
    size: tuple[int, int],
) -> np.ndarray:
    width, height = size
    activity = (arousal + 1) / 2  # 0 (sleepy) to 1 (aroused)
    roundness = (valence + 1) / 2  # 0 (unpleasant: angular) to 1 (pleasant: round)
    hue = _hue(angle) + rng.normal(0.0, 0.03)
    value, saturation = _brightness_saturation(valence, arousal)
    contrast = 0.08 + 0.3 * activity

    def pick() -> RGB:
        shade = value + rng.uniform(-contrast, contrast)
        tint = hue + rng.normal(0.0, 0.05)
        if rng.random() < 0.3 * activity:  # aroused pictures carry a clashing accent
            tint += 0.5
        return _colour(tint, saturation * rng.uniform(0.8, 1.15), shade)

    top, bottom = np.asarray(pick(), np.float32), np.asarray(pick(), np.float32)
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    background = np.broadcast_to(top * (1 - ramp) + bottom * ramp, (height, width, 3))
    image = Image.fromarray(background.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(round(2 + 14 * activity * rng.uniform(0.6, 1.2))):
        centre_x, centre_y = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(0.06, 0.3) * min(width, height) * (1.3 - 0.6 * activity)
        colour = pick()
        if rng.random() < roundness:
            box = (centre_x - radius, centre_y - radius * rng.uniform(0.6, 1.0))
            draw.ellipse((*box, centre_x + radius, centre_y + radius), fill=colour)
        elif rng.random() < 0.5:
            corners = rng.integers(3, 6)
            turns = rng.uniform(0, 2 * math.pi) + np.arange(corners) * 2 * math.pi / corners
            spikes = radius * rng.uniform(0.4, 1.3, size=corners)
            points = list(
                zip(
                    centre_x + spikes * np.cos(turns),
                    centre_y + spikes * np.sin(turns),
                    strict=True,
                )
            )
            draw.polygon(points, fill=colour)
        else:
            steps = np.cumsum(rng.uniform(-radius, radius, size=(6, 2)), axis=0)
            points = [(centre_x + dx, centre_y + dy) for dx, dy in steps]
            draw.line(points, fill=colour, width=int(1 + 3 * activity), joint="curve")
    blur = 3.0 * (1 - activity) ** 2 * rng.uniform(0.5, 1.5)
    if blur > 0.3:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    pixels = np.asarray(image, dtype=np.float32)
    pixels += rng.normal(0.0, 2 + 14 * activity**2, size=pixels.shape)
    return np.clip(pixels, 0, 255).astype(np.uint8)
