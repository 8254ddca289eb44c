"""Words that make up generated titles, shared by the sample site and the scene clips.

They live apart from the site generator so that the scene clip generator
(``ops.scene.synthetic``) can name its titles without importing the site, which
itself renders scene clips into its videos.
"""

from __future__ import annotations

import re

ADJECTIVES = (
    "Quiet", "Crimson", "Silver", "Hidden", "Last", "Restless", "Golden", "Northern",
    "Forgotten", "Electric", "Distant", "Velvet", "Broken", "Wandering", "Midnight", "Summer",
)  # fmt: skip
NOUNS = (
    "Harbour", "Lighthouse", "Orchard", "Station", "Garden", "River", "Carnival", "Letter",
    "Mountain", "Window", "Train", "Circus", "Bridge", "Meadow", "Parade", "Island",
)  # fmt: skip


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
