"""MMR re-ranking: relevance order at lambda 1, near-copies pushed down below it."""

from __future__ import annotations

import numpy as np
import pytest

from ops.recommend.mmr import mmr_rerank

# Three near-copies (0, 1, 2) that are the most relevant, and two different candidates.
RELEVANCE = np.array([0.95, 0.94, 0.93, 0.80, 0.70])
SIMILARITY = np.array(
    [
        [1.00, 0.98, 0.97, 0.10, 0.20],
        [0.98, 1.00, 0.96, 0.10, 0.20],
        [0.97, 0.96, 1.00, 0.10, 0.20],
        [0.10, 0.10, 0.10, 1.00, 0.30],
        [0.20, 0.20, 0.20, 0.30, 1.00],
    ]
)


def test_lambda_one_keeps_the_relevance_order() -> None:
    assert mmr_rerank(RELEVANCE, SIMILARITY, k=5, lambda_=1.0) == [0, 1, 2, 3, 4]


def test_near_copies_give_way_to_different_candidates() -> None:
    picks = mmr_rerank(RELEVANCE, SIMILARITY, k=3, lambda_=0.7)
    assert picks == [0, 3, 4]


def test_default_lambda_still_starts_with_the_most_relevant() -> None:
    picks = mmr_rerank(RELEVANCE, SIMILARITY, k=5)
    assert picks[0] == 0
    assert sorted(picks) == [0, 1, 2, 3, 4]
    assert picks.index(3) < picks.index(1)


def test_k_larger_than_the_candidates_returns_each_once() -> None:
    assert sorted(mmr_rerank(RELEVANCE[:2], SIMILARITY[:2, :2], k=10)) == [0, 1]
    assert mmr_rerank(np.zeros(0), np.zeros((0, 0)), k=3) == []


@pytest.mark.parametrize(
    ("similarity", "lambda_", "message"),
    [(SIMILARITY[:4, :4], 0.7, "must be 5x5"), (SIMILARITY, 1.5, "within")],
    ids=["shape", "lambda"],
)
def test_bad_arguments_are_refused(similarity: np.ndarray, lambda_: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mmr_rerank(RELEVANCE, similarity, k=3, lambda_=lambda_)
