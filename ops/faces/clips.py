"""A person's clips: the spans of an item where a named person is on screen, cut into
one video with its sound (``cinescope clip ITEM --person NAME``)."""

from __future__ import annotations

from pathlib import Path

from ops.catalog.store import item_media
from ops.index.reader import PublishedIndex
from ops.media.cut import CutResult, cut_spans
from ops.settings import Settings


def person_clip(settings: Settings, item_id: str, person: str, target: Path) -> CutResult:
    """Cut the item's appearances of ``person`` (from the live index) into ``target``."""
    reader = PublishedIndex.open(settings)
    try:
        found = reader.appearances(person)
        version = reader.version
    finally:
        reader.close()
    if found is None:
        raise LookupError(f"index {version} holds no person appearances yet (no face-gallery ran)")
    spans = [(float(s["start_s"]), float(s["end_s"])) for s in found if s["item_id"] == item_id]
    if not spans:
        raise LookupError(f"no appearance of {person!r} in item {item_id!r} (index {version})")
    return cut_spans(item_media(settings, item_id), spans, target)
