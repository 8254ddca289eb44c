"""The mood circle: order, distances, and points of the valence-arousal plane."""

from __future__ import annotations

import itertools

import pytest

from ops.mood.circle import (
    MOODS,
    UnknownMoodError,
    angle_gap,
    circle_distance,
    mood_angle,
    mood_at,
    valence_arousal,
)


def test_eight_moods_counter_clockwise_from_pleasant() -> None:
    assert len(MOODS) == 8
    assert [mood_angle(mood) for mood in MOODS] == [45.0 * step for step in range(8)]
    assert valence_arousal("joyful") == pytest.approx((1.0, 0.0))
    assert valence_arousal("tense") == pytest.approx((0.0, 1.0))
    assert valence_arousal("sad") == pytest.approx((-1.0, 0.0))
    assert valence_arousal("calm") == pytest.approx((0.0, -1.0))


def test_circle_distance_goes_the_short_way_round() -> None:
    assert circle_distance("joyful", "joyful") == 0
    assert circle_distance("joyful", "excited") == 1
    assert circle_distance("joyful", "serene") == 1  # across the 0°/360° seam
    assert circle_distance("serene", "excited") == 2
    assert circle_distance("joyful", "sad") == 4
    assert circle_distance("excited", "gloomy") == 4
    for first, second in itertools.product(MOODS, repeat=2):
        assert 0 <= circle_distance(first, second) == circle_distance(second, first) <= 4
    assert sorted(circle_distance("tense", mood) for mood in MOODS) == [0, 1, 1, 2, 2, 3, 3, 4]


def test_unknown_moods_are_refused_by_name() -> None:
    with pytest.raises(UnknownMoodError, match=r"unknown mood 'bored'.*joyful"):
        circle_distance("bored", "sad")


@pytest.mark.parametrize(
    ("valence", "arousal", "mood"),
    [
        (1.0, 0.1, "joyful"),
        (0.7, 0.6, "excited"),
        (0.05, 0.9, "tense"),
        (-0.5, 0.6, "angry"),
        (-0.9, -0.2, "sad"),
        (-0.4, -0.5, "gloomy"),
        (0.1, -0.8, "calm"),
        (0.8, -0.7, "serene"),
        (1.0, -0.3, "joyful"),  # -17°: still within joyful's ±22.5°
    ],
)
def test_a_point_falls_in_its_octant(valence: float, arousal: float, mood: str) -> None:
    assert mood_at(valence, arousal) == mood


def test_angle_gap_is_unsigned_and_at_most_half_a_turn() -> None:
    assert angle_gap(10, 350) == 20
    assert angle_gap(350, 10) == 20
    assert angle_gap(0, 180) == 180
    assert angle_gap(90, 450) == 0
