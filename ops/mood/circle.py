"""The eight moods and the circle they sit on.

The circle is Russell's circumplex of affect (Russell, "A circumplex model of affect",
1980): every feeling is a point in the plane of *valence* (unpleasant to pleasant, the
horizontal axis) and *arousal* (sleepy to aroused, the vertical axis), and the words for
feelings lie around its rim in an order that recurs across people and languages. It is
the model behind Cho et al.'s eight moods on a circle, where neighbours are similar; it
gives each mood a direction that both an image and a piece of music can be mapped to (so
one matches the other by distance), and it is what the music literature's findings are
stated in (fast, loud, bright: high arousal; major mode: positive valence).

The eight moods are the octants of that plane, counter-clockwise from "pleasant", named
with the words the catalog already tags its images with:

========  =====  ==================================  =====================================
mood      angle  valence, arousal                    Russell's nearest words
========  =====  ==================================  =====================================
joyful      0°   pleasant                            happy, glad, pleased
excited    45°   pleasant and aroused                excited, delighted
tense      90°   aroused                             tense, alarmed, aroused
angry     135°   unpleasant and aroused              angry, annoyed, distressed
sad       180°   unpleasant                          sad, miserable
gloomy    225°   unpleasant and unaroused            gloomy, depressed, bored
calm      270°   unaroused                           calm, tired, droopy
serene    315°   pleasant and unaroused              serene, content, relaxed
========  =====  ==================================  =====================================
"""

from __future__ import annotations

import math
from typing import Literal, get_args

Mood = Literal["joyful", "excited", "tense", "angry", "sad", "gloomy", "calm", "serene"]
MOODS: tuple[Mood, ...] = get_args(Mood)
"""The moods in their order around the circle, counter-clockwise from ``joyful`` at 0°."""

STEP_DEG = 360.0 / len(MOODS)


class UnknownMoodError(ValueError):
    """A mood name that is not one of :data:`MOODS`."""


def mood_index(mood: str) -> int:
    """The mood's position on the circle (0 for ``joyful``), or a clear error."""
    try:
        return MOODS.index(mood)
    except ValueError:
        raise UnknownMoodError(
            f"unknown mood {mood!r}; expected one of {', '.join(MOODS)}"
        ) from None


def mood_angle(mood: str) -> float:
    """The mood's direction in degrees, counter-clockwise from pleasant (``joyful`` = 0)."""
    return mood_index(mood) * STEP_DEG


def valence_arousal(mood: str) -> tuple[float, float]:
    """The unit vector ``(valence, arousal)`` pointing at the mood's octant centre."""
    angle = math.radians(mood_angle(mood))
    return math.cos(angle), math.sin(angle)


def circle_distance(first: str, second: str) -> int:
    """Steps between two moods the short way round the circle: 0 (same) to 4 (opposite)."""
    gap = abs(mood_index(first) - mood_index(second)) % len(MOODS)
    return min(gap, len(MOODS) - gap)


def angle_gap(first_deg: float, second_deg: float) -> float:
    """The unsigned angle between two directions, in degrees (0 to 180)."""
    gap = abs(first_deg - second_deg) % 360.0
    return min(gap, 360.0 - gap)


def mood_at(valence: float, arousal: float) -> Mood:
    """The mood whose octant holds the point ``(valence, arousal)``.

    The octants are centred on the moods, so each covers ±22.5° around its angle; the
    origin itself (no feeling either way) falls to ``joyful``, as ``atan2(0, 0) = 0``.
    """
    return MOODS[round(point_angle(valence, arousal) / STEP_DEG) % len(MOODS)]


def point_angle(valence: float, arousal: float) -> float:
    """The direction of ``(valence, arousal)`` in degrees, 0 to 360."""
    return math.degrees(math.atan2(arousal, valence)) % 360.0
