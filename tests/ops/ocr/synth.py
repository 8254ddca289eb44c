"""Captions rendered onto pictures and videos for the OCR tests and benchmark, so the text
and where it lies are known to the pixel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ops.sample_site.media import mux

FONT_DIR = Path("/usr/share/fonts/truetype")
LATIN_FONT = FONT_DIR / "dejavu" / "DejaVuSans-Bold.ttf"
KOREAN_FONT = FONT_DIR / "nanum" / "NanumGothicBold.ttf"
Box = tuple[int, int, int, int]


def caption(
    picture: np.ndarray,
    text: str,
    *,
    size: int = 28,
    colour: tuple[int, int, int] = (255, 255, 255),
    font: Path = LATIN_FONT,
    at: tuple[float, float] = (0.5, 0.85),
    outline: int = 0,
) -> tuple[np.ndarray, Box]:
    """``picture`` with ``text`` drawn centred at ``at`` (shares of width and height), and
    the text's box (x0, y0, x1, y1); ``outline``: a black stroke this many pixels wide."""
    image = Image.fromarray(picture).convert("RGB")
    draw = ImageDraw.Draw(image)
    typeface = ImageFont.truetype(str(font), size)
    x = at[0] * image.width
    y = at[1] * image.height
    kwargs = {"stroke_width": outline, "stroke_fill": (0, 0, 0)} if outline else {}
    draw.text((x, y), text, font=typeface, fill=colour, anchor="mm", **kwargs)  # type: ignore[arg-type]
    box = draw.textbbox((x, y), text, font=typeface, anchor="mm", stroke_width=outline)
    x0, y0, x1, y1 = (round(v) for v in box)
    return np.asarray(image), (x0, y0, x1, y1)


def backdrop(width: int = 640, height: int = 360, seed: int = 0) -> np.ndarray:
    """A textureless picture: a colour gradient with mild noise."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, width)[None, :, None]
    start, end = rng.integers(20, 120, 3), rng.integers(60, 160, 3)
    picture = start + (end - start) * ramp + rng.normal(0, 4, (height, width, 3))
    return np.clip(picture, 0, 255).astype(np.uint8)


def captioned_video(
    path: Path,
    text: str,
    *,
    shown: tuple[float, float],
    seconds: float = 5.0,
    fps: int = 12,
    size: tuple[int, int] = (640, 360),
) -> Box:
    """An H.264 MP4 of a moving square over a gradient, ``text`` captioned during
    ``shown`` seconds ``[from, to)``; returns the caption's box."""
    width, height = size
    ground = backdrop(width, height)
    frames, box = [], (0, 0, 0, 0)
    for number in range(round(seconds * fps)):
        frame = ground.copy()
        x = (number * 7) % (width - 40)
        frame[40:80, x : x + 40] = (220, 60, 60)
        if shown[0] <= number / fps < shown[1]:
            frame, box = caption(frame, text)
        frames.append(frame)
    path.write_bytes(mux("mp4", frames, size=size, fps=fps))
    return box
