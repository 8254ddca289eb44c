"""Generated stand-in pictures: deterministic, sized, and as the circle says they should look."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ops.faces.pictures import read_picture
from ops.mood.circle import MOODS
from ops.mood.features import FEATURE_NAMES, image_features
from ops.mood.standins import standin_image, standin_images, write_standin_folder


def test_same_seed_same_pixels_other_seed_other_pixels() -> None:
    first = standin_image("calm", 3, seed=7)
    assert np.array_equal(first, standin_image("calm", 3, seed=7))
    assert not np.array_equal(first, standin_image("calm", 3, seed=8))
    assert not np.array_equal(first, standin_image("calm", 4, seed=7))
    assert not np.array_equal(first, standin_image("serene", 3, seed=7))


def test_pictures_have_the_asked_size_and_ids_name_their_mood() -> None:
    batch = list(standin_images(2, size=(96, 64)))
    assert len(batch) == 2 * len(MOODS)
    for image_id, mood, picture in batch:
        assert image_id.startswith(f"standin-{mood}-")
        assert picture.shape == (64, 96, 3) and picture.dtype == np.uint8
    assert len({image_id for image_id, _, _ in batch}) == len(batch)


def test_unknown_moods_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown mood 'bored'"):
        standin_image("bored", 0)


def _mean(mood: str, name: str) -> float:
    column = FEATURE_NAMES.index(name)
    return float(np.mean([image_features(standin_image(mood, i))[column] for i in range(12)]))


def test_looks_follow_valence_and_arousal() -> None:
    # pleasant brighter than unpleasant; aroused more saturated and busier than unaroused
    assert _mean("joyful", "value_mean") > _mean("sad", "value_mean") + 0.2
    assert _mean("excited", "saturation_mean") > _mean("gloomy", "saturation_mean") + 0.3
    assert _mean("tense", "edge_density") > 3 * _mean("calm", "edge_density")
    assert _mean("angry", "warmth") > _mean("sad", "warmth") + 0.3


def test_a_written_folder_reads_back_pixel_for_pixel(tmp_path: Path) -> None:
    folder = write_standin_folder(tmp_path / "labelled", 1, seed=2, size=(40, 30))
    assert sorted(path.name for path in folder.iterdir()) == sorted(MOODS)
    picture = read_picture(folder / "angry" / "standin-angry-0.png")
    assert np.array_equal(picture, standin_image("angry", 0, seed=2, size=(40, 30)))
