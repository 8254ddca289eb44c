"""Music for a picture or a video: tracks ranked by distance on the mood circle.

An image's or video's mood (the mood task's best whole-item label) is matched with the
music moods of the catalog's tracks: first the tracks of the same mood, then those one
step round the circle (a neighbouring, similar mood), then two; ties fall to the track id
so the lists are reproducible. A track further than ``max_steps`` is not offered. The
score is ``1 - steps / 4`` (4 steps: the opposite mood), and the reason says the match.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ops.mood.circle import MOODS, circle_distance

MUSIC_FOR = "music"
"""The recommendation scope of these rows (next to the same-kind and any-kind lists)."""
PICTURE_KINDS = frozenset({"image", "video"})


def music_rows(
    moods: Mapping[str, str], kinds: Mapping[str, str], k: int, max_steps: int = 2
) -> list[dict[str, Any]]:
    """SIMILAR_SCHEMA rows (scope ``music``): up to ``k`` tracks per picture or video."""
    tracks = sorted((item, mood) for item, mood in moods.items() if kinds.get(item) == "audio")
    ranked: dict[str, list[tuple[int, str, str]]] = {}
    for centre in MOODS:
        near = [(circle_distance(centre, theirs), item, theirs) for item, theirs in tracks]
        ranked[centre] = sorted(entry for entry in near if entry[0] <= max_steps)[:k]
    rows: list[dict[str, Any]] = []
    for item, mood in sorted(moods.items()):
        if kinds.get(item) not in PICTURE_KINDS or mood not in ranked:
            continue
        for rank, (steps, track, theirs) in enumerate(ranked[mood], start=1):
            rows.append(
                {
                    "item_id": item,
                    "rank": rank,
                    "similar_item_id": track,
                    "score": 1.0 - steps / 4,
                    "reason": _reason(mood, theirs, steps),
                    "scope": MUSIC_FOR,
                }
            )
    return rows


def _reason(mood: str, theirs: str, steps: int) -> str:
    if steps == 0:
        return f"same mood: {mood}"
    plural = "s" if steps > 1 else ""
    return f"mood {theirs}, {steps} step{plural} from {mood} on the mood circle"
