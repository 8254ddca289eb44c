"""What the image-mood model sees of a picture: colour, light and texture statistics.

These are the cues the colour-emotion literature ties to valence and arousal (brightness
and saturation, Valdez & Mehrabian 1994; warm against cool hues; colourfulness, Hasler &
Süsstrunk 2003) and the texture cues of clutter and sharpness (edge density, gradient
energy, focus), measured in the spaces that make them simple: HSV for hue and
saturation, CIE Lab for lightness and the red-green / yellow-blue opponent axes. Every
picture is first shrunk (area averaging) so its longest side is at most ``side``
pixels: the statistics are about the whole picture, and a 24-megapixel photo then costs
what a thumbnail does.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

FEATURES_VERSION = 1
"""Bumped whenever a feature changes: a model trained on other features refuses to load."""

HUE_BINS = 12
FEATURE_SIDE = 256
WARM_HUES_DEG = (330.0, 90.0)
"""Reds, oranges and yellows: the warm half of the colour wheel."""

FEATURE_NAMES: tuple[str, ...] = (
    "value_mean",
    "value_std",
    "saturation_mean",
    "saturation_std",
    "dark_share",
    "bright_share",
    "grey_share",
    "hue_cos",
    "hue_sin",
    "hue_concentration",
    "warmth",
    *(f"hue_{index * 360 // HUE_BINS:03d}" for index in range(HUE_BINS)),
    "lightness_mean",
    "lightness_std",
    "a_mean",
    "b_mean",
    "a_std",
    "b_std",
    "lightness_entropy",
    "colourfulness",
    "edge_density",
    "gradient_mean",
    "laplacian_log_var",
)


def image_features(image: np.ndarray, side: int = FEATURE_SIDE) -> np.ndarray:
    """The feature vector (float32, ordered as :data:`FEATURE_NAMES`) of one uint8 RGB picture."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 RGB picture (H, W, 3), got {image.dtype} {image.shape}")
    image = _shrunk(image, side)
    rgb = image.astype(np.float32) / 255.0
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)  # H in degrees, S and V in 0..1
    hue, saturation, value = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)  # L 0..100, a and b about -100..100
    lightness = lab[..., 0]
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)

    weight = saturation * value  # a hue only counts as much as it is visible
    total = float(weight.sum()) or 1.0
    radians = np.deg2rad(hue)
    hue_cos = float((weight * np.cos(radians)).sum()) / total
    hue_sin = float((weight * np.sin(radians)).sum()) / total
    low, high = WARM_HUES_DEG
    warm = (hue >= low) | (hue < high)
    histogram, _ = np.histogram(hue, bins=HUE_BINS, range=(0.0, 360.0), weights=weight)
    counts, _ = np.histogram(lightness, bins=32, range=(0.0, 100.0))
    shares = counts[counts > 0] / counts.sum()

    red, green, blue = image[..., 0].astype(np.float32), image[..., 1], image[..., 2]
    red_green = red - green
    yellow_blue = 0.5 * (red + green) - blue
    colourfulness = np.hypot(red_green.std(), yellow_blue.std()) + 0.3 * np.hypot(
        red_green.mean(), yellow_blue.mean()
    )

    edges = cv2.Canny(grey, 100, 200)
    grad_x = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    grad_y = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    laplacian = cv2.Laplacian(grey, cv2.CV_32F)

    values = (
        value.mean(),
        value.std(),
        saturation.mean(),
        saturation.std(),
        (value < 0.25).mean(),
        (value > 0.75).mean(),
        (saturation < 0.1).mean(),
        hue_cos,
        hue_sin,
        np.hypot(hue_cos, hue_sin),
        float((weight * warm).sum()) / total,
        *(histogram / total),
        lightness.mean() / 100.0,
        lightness.std() / 100.0,
        lab[..., 1].mean() / 100.0,
        lab[..., 2].mean() / 100.0,
        lab[..., 1].std() / 100.0,
        lab[..., 2].std() / 100.0,
        -(shares * np.log2(shares)).sum() / 5.0,  # 5 bits: the entropy of 32 even bins
        colourfulness / 100.0,
        (edges > 0).mean(),
        np.hypot(grad_x, grad_y).mean() / 255.0,
        np.log1p(laplacian.var()),
    )
    return np.asarray(values, dtype=np.float32)


def feature_matrix(images: Iterable[np.ndarray], side: int = FEATURE_SIDE) -> np.ndarray:
    """Stack :func:`image_features` of many pictures into ``(n, len(FEATURE_NAMES))``."""
    rows = [image_features(image, side) for image in images]
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), len(FEATURE_NAMES))


def _shrunk(image: np.ndarray, side: int) -> np.ndarray:
    height, width = image.shape[:2]
    scale = side / max(height, width)
    if scale >= 1.0:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
