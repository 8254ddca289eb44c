"""The fancam's camera path: it follows the face, glides between sightings, stays inside."""

from __future__ import annotations

import numpy as np
import pytest

from ops.faces.fancam import PANEL_PX, Window, crop, windows


def test_the_window_follows_the_face_and_stays_inside_the_frame() -> None:
    centres = {f: (100.0 + 2 * f, 90.0) for f in range(30, 60)}
    path = windows(centres, frames=90, side=120, size=(640, 360), fps=30)
    assert len(path) == 90
    assert path[0].x == pytest.approx(path[10].x)  # held before the first sighting
    assert path[89].x == pytest.approx(path[80].x)  # and after the last
    middle = path[45]
    assert abs(middle.x - centres[45][0]) < 10  # smoothed, but on the face
    assert all(60 <= w.x <= 580 and 60 <= w.y <= 300 for w in path)  # never past an edge
    steps = np.abs(np.diff([w.x for w in path]))
    assert steps.max() <= 3  # glides: never a jump


def test_a_person_never_seen_has_no_path() -> None:
    with pytest.raises(ValueError, match="never on screen"):
        windows({}, frames=10, side=50, size=(100, 100), fps=25)


def test_the_crop_is_the_windows_square_scaled_to_the_panel() -> None:
    picture = np.zeros((360, 640, 3), np.uint8)
    picture[100:140, 200:240] = 255  # a white square around (220, 120)
    panel = crop(picture, Window(x=220, y=120, side=40))
    assert panel.shape == (PANEL_PX, PANEL_PX, 3) and panel.min() == 255
