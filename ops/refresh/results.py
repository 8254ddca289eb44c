"""What each step of the catalog refresh takes and returns (DAG tasks pass these on whole).

Small references (run id, version names, counts), never data. Kept apart from the steps
so that the DAG file can import them when it is parsed, cheaply.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

TaskName = Literal["scene", "shots", "faces", "genre", "mood", "speech", "ocr"]
"""The inference tasks a refresh can run (``ops.refresh.registry.TASKS``)."""
TASK_NAMES: tuple[TaskName, ...] = get_args(TaskName)


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RefreshParams(_Result):
    """What a manual refresh may choose (the ``catalog_refresh`` DAG's params)."""

    tasks: list[TaskName] = Field(
        default_factory=lambda: list(TASK_NAMES),
        min_length=1,
        description="the inference tasks to plan; the others keep their predictions as they are",
    )
    force: list[TaskName] = Field(
        default_factory=list,
        description="tasks whose items are all inferred again, even those up to date",
    )
    full_index_build: bool = Field(
        default=False,
        description=(
            "build the index afresh from every prediction instead of deriving it from the "
            "live one (a compaction; the build is a full one by itself when it must be)"
        ),
    )

    @model_validator(mode="after")
    def _force_only_planned_tasks(self) -> RefreshParams:
        unplanned = sorted(set(self.force) - set(self.tasks))
        if unplanned:
            raise ValueError(f"force names {', '.join(unplanned)}, which tasks does not include")
        return self


class PlannedShard(_Result):
    task: str
    index: int
    items: int
    seconds: float

    @property
    def name(self) -> str:
        return f"{self.task}-{self.index:04d}"


class RefreshPlanned(_Result):
    """The ``plan`` step: what this run infers, and whether the index must be rebuilt."""

    run_id: str
    summary: str
    items_planned: int
    nothing_to_do: bool
    shards: list[PlannedShard]
    rebuild: bool
    rebuild_reason: str
    full_index_build: bool = False


class InferredShard(_Result):
    """The ``infer`` step: what one shard produced."""

    task: str
    index: int
    path: str
    items: int
    ok: int
    failed: int
    rows: int
    seconds: float


class MergedPredictions(_Result):
    """The ``merge`` step: the predictions version the index is built over."""

    run_id: str
    predictions_version: str | None
    new_predictions: bool
    rebuild: bool
    rebuild_reason: str
    full_index_build: bool = False


class BuiltIndex(_Result):
    """The ``build`` step: a sealed, unpublished index version."""

    merged: MergedPredictions
    index_version: str
    documents: int
    withheld_labels: list[str]


class CheckedIndex(_Result):
    """The ``check`` step: the built index, its predictions having passed their checks."""

    built: BuiltIndex
    check: str
    check_report: str | None = None


class PublishedRefresh(_Result):
    """The ``publish`` step: what is live now."""

    index_version: str
    predictions_version: str | None
    documents: int
    pruned: list[str]


class RefreshOutcome(_Result):
    """A whole refresh run in one process (``cinescope refresh``)."""

    plan: RefreshPlanned
    published: PublishedRefresh | None
    reason: str | None = Field(default=None, description="why nothing was published")
