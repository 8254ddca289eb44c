"""Clustering scores against hand-computed values."""

from __future__ import annotations

import pytest

from ops.faces.metrics import clustering_scores


def test_a_perfect_clustering_scores_one_everywhere() -> None:
    scores = clustering_scores(["a", "a", "b", "b", "c"], [7, 7, 3, 3, 9])
    assert (scores.faces, scores.identities, scores.clusters) == (5, 3, 3)
    assert scores.purity == scores.pairwise_f == scores.bcubed_f == 1.0


def test_scores_of_a_merge_and_a_split_by_hand() -> None:
    # identities a a a b | clusters 1 1 2 1: cluster 1 = {a, a, b}, cluster 2 = {a}
    scores = clustering_scores(["a", "a", "a", "b"], [1, 1, 2, 1])
    assert scores.purity == pytest.approx(3 / 4)  # cluster 1's majority a (2) + cluster 2 (1)
    # pairs in one cluster: (a,a) right, (a,b) x2 wrong -> precision 1/3;
    # same-identity pairs: 3 (a,a), 1 together -> recall 1/3
    assert scores.pairwise_precision == pytest.approx(1 / 3)
    assert scores.pairwise_recall == pytest.approx(1 / 3)
    assert scores.pairwise_f == pytest.approx(1 / 3)
    # BCubed precision: a in c1 2/3 (x2), b in c1 1/3, a in c2 1 -> (4/3 + 1/3 + 1) / 4
    assert scores.bcubed_precision == pytest.approx((2 / 3 * 2 + 1 / 3 + 1) / 4)
    # BCubed recall: a in c1 2/3 (x2), a in c2 1/3, b 1 -> (4/3 + 1/3 + 1) / 4
    assert scores.bcubed_recall == pytest.approx((2 / 3 * 2 + 1 / 3 + 1) / 4)


def test_every_face_alone_is_pure_but_recalls_nothing_pairwise() -> None:
    scores = clustering_scores(["a", "a", "b"], [0, 1, 2])
    assert scores.purity == 1.0
    assert scores.pairwise_recall == 0.0 and scores.pairwise_f == 0.0
    assert scores.bcubed_precision == 1.0 and scores.bcubed_recall == pytest.approx(2 / 3)


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="2 identities but 1 cluster labels"):
        clustering_scores(["a", "b"], [0])
