"""How well face clusters match known identities: purity, compactness, pairwise and
BCubed F, as the face-clustering literature reports them (ETRI: purity and compactness).

Pairwise counts come from scikit-learn's pair confusion matrix; BCubed is written here
because scikit-learn has none (it is a few lines over the same contingency table).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict
from sklearn.metrics.cluster import contingency_matrix, pair_confusion_matrix


class ClusteringScores(BaseModel):
    """Quality of one clustering of faces whose identities are known."""

    model_config = ConfigDict(frozen=True)

    faces: int
    identities: int
    clusters: int
    purity: float
    """Share of faces whose cluster's most common identity is their own."""
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f: float


def _f(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def clustering_scores(identities: Sequence[str], clusters: Sequence[int]) -> ClusteringScores:
    """Score ``clusters`` (one label per face) against the faces' true ``identities``."""
    if len(identities) != len(clusters):
        raise ValueError(f"{len(identities)} identities but {len(clusters)} cluster labels")
    if not identities:
        return ClusteringScores(
            faces=0,
            identities=0,
            clusters=0,
            purity=0.0,
            pairwise_precision=0.0,
            pairwise_recall=0.0,
            pairwise_f=0.0,
            bcubed_precision=0.0,
            bcubed_recall=0.0,
            bcubed_f=0.0,
        )
    table = contingency_matrix(list(identities), list(clusters))  # identity x cluster
    faces = int(table.sum())
    pairs = pair_confusion_matrix(list(identities), list(clusters))
    together_same, together_apart = pairs[1, 1], pairs[0, 1]  # same cluster: right, wrong
    apart_same = pairs[1, 0]  # same identity split apart
    pair_precision = _ratio(together_same, together_same + together_apart)
    pair_recall = _ratio(together_same, together_same + apart_same)
    # BCubed: per face, the share of its cluster that shares its identity (precision) and
    # the share of its identity that shares its cluster (recall), averaged over faces.
    cells = table.astype(np.float64)
    per_cluster = cells.sum(axis=0)
    per_identity = cells.sum(axis=1)
    bcubed_precision = float((cells**2 / per_cluster[np.newaxis, :]).sum() / faces)
    bcubed_recall = float((cells**2 / per_identity[:, np.newaxis]).sum() / faces)
    return ClusteringScores(
        faces=faces,
        identities=table.shape[0],
        clusters=table.shape[1],
        purity=float(table.max(axis=0).sum() / faces),
        pairwise_precision=pair_precision,
        pairwise_recall=pair_recall,
        pairwise_f=_f(pair_precision, pair_recall),
        bcubed_precision=bcubed_precision,
        bcubed_recall=bcubed_recall,
        bcubed_f=_f(bcubed_precision, bcubed_recall),
    )


def _ratio(numerator: float, denominator: float) -> float:
    """A ratio that is 1.0 when nothing was asked of it (no pairs to get wrong)."""
    return 1.0 if denominator == 0 else float(numerator / denominator)
