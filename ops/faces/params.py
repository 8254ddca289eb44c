"""What a faces_cluster run takes (its DAG's params, its CLI options) and what it did.

Kept free of heavy imports: the DAG file imports it at parse time.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ClusterParams(BaseModel):
    """A faces_cluster run: which algorithm, and whether to start over."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    algorithm: Literal["chinese_whispers", "agglomerative"] = Field(
        default="chinese_whispers", description="how undecided faces are grouped"
    )
    full: bool = Field(
        default=False,
        description="re-cluster every undecided face from scratch (named people are kept)",
    )


class ClusterRun(BaseModel):
    """What one faces_cluster run did."""

    model_config = ConfigDict(frozen=True)

    algorithm: str
    full: bool
    faces: int
    considered: int
    suggested: int
    joined: int
    new_clusters: int
    clusters: int
    people: int
