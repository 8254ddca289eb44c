"""Recommendation parameters: frozen pydantic models, reachable from settings.

Kept free of numpy and the rest so that ``ops.settings`` can nest them (``Settings.recommend``,
env ``CINESCOPE_RECOMMEND__CF_WEIGHT=0.3`` or ``CINESCOPE_RECOMMEND__ALS__FACTORS=64``)
without making settings slow to import.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_LAMBDA = 0.7
"""Default MMR trade-off: mostly relevance, with enough diversity to break up clusters."""


class FusionParams(BaseModel):
    """How item vectors are fused from what the model sees and what the page says."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    content_weight: float = Field(
        default=0.6, ge=0, description="weight of the content (model) vector"
    )
    metadata_weight: float = Field(
        default=0.4, gt=0, description="weight of the metadata (title, tags, people...) vector"
    )
    metadata_dim: int = Field(
        default=256,
        ge=2,
        description="LSA dimensions once the vocabulary and the catalog both exceed it",
    )
    seed: int = Field(default=0, description="the SVD's randomness")


class AlsParams(BaseModel):
    """Implicit-feedback ALS (Hu, Koren and Volinsky) on the interactions file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    factors: int = Field(default=32, ge=1, description="latent dimensions")
    regularization: float = Field(default=0.1, gt=0, description="lambda of the ridge solves")
    alpha: float = Field(default=40.0, gt=0, description="confidence slope: 1 + alpha * count")
    iterations: int = Field(default=15, ge=1, description="sweeps over users then items")
    seed: int = 0


class RecommendParams(BaseModel):
    """How the recommendation table of an index version is built (see ``ops.recommend.build``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fusion: FusionParams = FusionParams()
    als: AlsParams = AlsParams()
    mmr_lambda: float = Field(
        default=DEFAULT_LAMBDA, ge=0, le=1, description="MMR: 1 = relevance only, 0 = diversity"
    )
    candidate_factor: int = Field(default=4, ge=1, description="MMR chooses k of the best N * k")
    duplicate_cosine: float = Field(
        default=0.999, ge=0, le=1, description="fused cosine at which an item is a duplicate"
    )
    min_score: float = Field(
        default=0.05, ge=0, le=1, description="candidates scoring under it are left out"
    )
    cf_weight: float = Field(
        default=0.5, ge=0, le=1, description="w of (1 - w) * content + w * collaborative"
    )
    min_item_interactions: int = Field(
        default=5, ge=0, description="events an item needs before its collaborative vector counts"
    )
    test_fraction: float = Field(
        default=0.2, gt=0, lt=1, description="latest share of interactions held out for recall@k"
    )
