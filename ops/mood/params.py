"""The image-mood model's settings, validated once and frozen.

Kept free of heavy imports: a DAG file builds its trigger form from them at parse time.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class MoodModelSettings(BaseModel):
    """The classifier and its knobs; frozen so a fitted model's settings cannot drift."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    classifier: Literal["forest", "logistic"] = Field(
        default="forest", description="random forest, or multinomial logistic regression"
    )
    trees: int = Field(default=300, ge=1, description="forest: number of trees")
    min_leaf: int = Field(default=2, ge=1, description="forest: pictures per leaf at least")
    c: float = Field(default=1.0, gt=0, description="logistic: inverse regularisation")
    feature_side: int = Field(default=256, ge=16, description="pictures shrunk to this side")
    seed: int = Field(default=0, ge=0)
    threads: int = Field(default=1, ge=1, description="forest: trees fitted in parallel")
