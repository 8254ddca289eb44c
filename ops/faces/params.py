"""What a faces_cluster run takes (its DAG's params, its CLI options) and what its steps did.

Kept free of heavy imports: the DAG file imports it at parse time.
"""

from __future__ import annotations

from collections import Counter
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


class Added(BaseModel):
    """What one call adding faces to the face store did."""

    model_config = ConfigDict(frozen=True)

    pictures: int = 0
    faces_added: int = 0
    already_known: int = 0
    refused: dict[str, int] = Field(default_factory=dict, description="faces refused, by reason")
    unreadable: dict[str, str] = Field(default_factory=dict, description="why, by picture")

    def plus(self, other: Added) -> Added:
        return Added(
            pictures=self.pictures + other.pictures,
            faces_added=self.faces_added + other.faces_added,
            already_known=self.already_known + other.already_known,
            refused=dict(Counter(self.refused) + Counter(other.refused)),
            unreadable=self.unreadable | other.unreadable,
        )
