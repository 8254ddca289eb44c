"""Reading a picture for face analysis, with a clear reason when it cannot be read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

PICTURE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".bmp", ".webp", ".gif"})
MAX_PIXELS = 64_000_000
"""Larger pictures are refused (a decompression bomb, or no face worth the memory)."""


class UnreadablePicture(ValueError):
    """A file that is not a picture this platform can read, with the reason."""


def read_picture(path: Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """The picture as uint8 RGB, upright as its EXIF orientation says."""
    try:
        with Image.open(path) as image:
            if image.width * image.height > max_pixels:
                raise UnreadablePicture(
                    f"{image.width}x{image.height} pixels is above the {max_pixels:,} cap"
                )
            upright = ImageOps.exif_transpose(image)
            return np.asarray(upright.convert("RGB"), dtype=np.uint8)
    except UnreadablePicture:
        raise
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        OSError,
        SyntaxError,
        ValueError,
    ) as error:
        raise UnreadablePicture(f"not a readable picture: {error}") from error
