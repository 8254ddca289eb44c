"""What the catalog ingest steps take and return (DAG tasks pass these on whole).

Small references and counts, never data. Kept apart from the steps so that the DAG file
can import them when it is parsed, cheaply.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ops.ingest.staged import IngestStats


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CatalogCounts(_Result):
    """How many items the catalog holds, by status, and how many URLs were refused."""

    items: int
    ok: int
    quarantined: int
    vanished: int
    refused_urls: int

    def describe(self) -> str:
        return (
            f"{self.items} items ({self.ok} ok, {self.quarantined} quarantined,"
            f" {self.vanished} vanished); {self.refused_urls} URLs refused before cataloguing"
        )


class IngestParams(_Result):
    """What a manual ingest may choose (the ``catalog_ingest`` DAG's params)."""

    sources: list[str] = Field(
        default_factory=list,
        description="names of sources.yaml entries to crawl; empty: every source",
    )


class MergeSummary(_Result):
    """The ``merge`` step: what changed in the catalog, and what each source's crawl did."""

    stats: dict[str, int]
    sources: dict[str, IngestStats]
    items: int
    run_ids: list[str]


class CatalogValidation(_Result):
    """The ``validate`` step: the Great Expectations outcome and the catalog's counts."""

    success: bool
    statistics: dict[str, int]
    report: str
    counts: CatalogCounts


class RunSummary(_Result):
    """What an ingest run did before versioning (recorded with the revision)."""

    merge: MergeSummary | None = None
    validation: CatalogValidation | None = None


class CatalogVersion(_Result):
    """The ``version`` step: the catalog's revision in the data registry."""

    changed: bool
    revision: str | None
    commit: str | None
    items: int
    counts: CatalogCounts
    summary: RunSummary
