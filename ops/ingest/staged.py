"""What one source's ingest hands on: a reference to its staged output, and its counts.

Kept apart from :mod:`ops.ingest.pipeline` so that a DAG file can import it when parsed.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


@dataclass
class IngestStats:
    """Counters a source's crawl adds to as it goes."""

    discovered: int = 0
    new: int = 0
    not_modified: int = 0
    unchanged: int = 0
    """Items not asked about: the source dates them no later than the copy held, or the
    copy is still fresh (:mod:`ops.ingest.recrawl`)."""
    downloaded_bytes: int = 0
    requests: int = 0
    pages_fetched: int = 0
    pages_not_modified: int = 0
    pages_unchanged: int = 0
    """Pages answered from the cache without a request, for the same reasons."""
    full_revalidation: bool = False
    """Every page and item was asked about (conditional GET), whatever the source dates."""
    seconds: float = 0.0
    """How long the source's ingest took: crawl, downloads and probes."""
    refused: int = 0
    retries: int = 0
    partials_swept: int = 0
    external_links_skipped: int = 0
    face_set_pictures: int = 0


class StagedSource(BaseModel):
    """Reference to one source's staged output (the ``ingest`` task's result)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    run_id: str
    items_path: str
    refusals_path: str
    complete: bool
    seen_item_ids: list[str]
    stats: IngestStats = Field(default_factory=IngestStats)
