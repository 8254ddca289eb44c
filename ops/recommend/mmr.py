"""Maximal Marginal Relevance (Carbonell & Goldstein, 1998): relevant and not redundant.

Candidates are picked one at a time, each maximising
``lambda_ * relevance - (1 - lambda_) * max(similarity to those already picked)``, so a list
of near-copies of one neighbour gives way to neighbours of different kinds.
"""

from __future__ import annotations

import numpy as np

from ops.recommend.params import DEFAULT_LAMBDA


def mmr_rerank(
    relevance: np.ndarray, similarity: np.ndarray, k: int, lambda_: float = DEFAULT_LAMBDA
) -> list[int]:
    """Positions of the ``k`` candidates picked by MMR, in pick order.

    ``relevance`` holds one score per candidate; ``similarity`` is the candidates' pairwise
    similarity matrix. ``lambda_ = 1`` keeps the relevance order; ``lambda_ = 0`` only
    seeks diversity (after the most relevant first pick).
    """
    relevance = np.asarray(relevance, dtype=np.float64)
    similarity = np.asarray(similarity, dtype=np.float64)
    count = relevance.shape[0]
    if similarity.shape != (count, count):
        raise ValueError(
            f"similarity must be {count}x{count} for {count} candidates, got {similarity.shape}"
        )
    if not 0.0 <= lambda_ <= 1.0:
        raise ValueError(f"lambda_ must be within [0, 1], got {lambda_}")
    picked: list[int] = []
    available = np.ones(count, dtype=bool)
    redundancy = np.full(count, -np.inf)
    for _ in range(min(k, count)):
        penalty = np.where(np.isfinite(redundancy), redundancy, 0.0)
        objective = lambda_ * relevance - (1.0 - lambda_) * penalty
        objective[~available] = -np.inf
        best = int(np.argmax(objective))
        picked.append(best)
        available[best] = False
        redundancy = np.maximum(redundancy, similarity[:, best])
    return picked
