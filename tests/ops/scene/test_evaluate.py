"""Scene evaluation: segment and scene metrics against hand-computed examples, and plots."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ops.scene.evaluate import (
    average_precision,
    build_report,
    confusion_counts,
    max_f1_threshold,
    plot_confusion,
    plot_pr_curve,
    precision_recall_curve,
    segment_f1,
)
from ops.scene.segmentor import MatchCounts, Segmentor

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def segments_of(item_lengths: dict[str, int]) -> pd.DataFrame:
    """1-s segments of each item, back to back from 0 s."""
    rows = [
        {"item_id": item, "start_s": float(second), "end_s": float(second + 1)}
        for item, length in item_lengths.items()
        for second in range(length)
    ]
    return pd.DataFrame(rows)


def test_confusion_precision_recall_f1_by_hand() -> None:
    predicted = np.array([1, 1, 0, 0, 1], dtype=bool)
    truth = np.array([1, 0, 1, 0, 1], dtype=bool)
    counts = confusion_counts(predicted, truth)
    assert (counts.tn, counts.fp, counts.fn, counts.tp) == (1, 1, 1, 2)
    assert counts.matrix == [[1, 1], [1, 2]]
    assert counts.precision == pytest.approx(2 / 3)
    assert counts.recall == pytest.approx(2 / 3)
    assert counts.f1 == pytest.approx(2 / 3)


def test_segment_f1_thresholds_probabilities_at_one_half() -> None:
    probabilities = np.array([[0.5], [0.49], [0.9], [0.1]])
    targets = np.array([[1.0], [1.0], [0.0], [0.0]])
    # tp = 1 (0.5 counts as positive), fn = 1, fp = 1: F1 = 2 / (2 + 1 + 1)
    assert segment_f1(probabilities, targets) == pytest.approx(0.5)


def test_average_precision_by_hand() -> None:
    scores, truth = np.array([0.9, 0.8, 0.7, 0.6]), np.array([1, 0, 1, 0])
    curve = precision_recall_curve(scores, truth)
    assert curve.precision == pytest.approx((1.0, 0.5, 2 / 3, 0.5))
    assert curve.recall == pytest.approx((0.5, 0.5, 1.0, 1.0))
    assert curve.thresholds == pytest.approx((0.9, 0.8, 0.7, 0.6))
    # 0.5 * 1 + 0 * 0.5 + 0.5 * 2/3 + 0 * 0.5
    assert average_precision(scores, truth) == pytest.approx(0.5 + 1 / 3)


def test_the_decision_threshold_is_where_f1_peaks_not_one_half() -> None:
    # A model sure of everything: negatives at 0.95, positives at 0.998 (the kiss).
    scores = np.array([0.998, 0.998, 0.95, 0.95, 0.95, 0.4])
    truth = np.array([1, 1, 0, 0, 0, 0])
    assert max_f1_threshold(precision_recall_curve(scores, truth)) == pytest.approx(0.998)
    # Of thresholds with equal F1, the highest; without positives, the default.
    tied = precision_recall_curve(np.array([0.9, 0.8, 0.7, 0.6]), np.array([1, 0, 0, 1]))
    assert max_f1_threshold(tied) == pytest.approx(0.9)  # F1 2/3 at 0.9 and at 0.6
    assert max_f1_threshold(precision_recall_curve(np.ones(3), np.zeros(3))) == 0.5


def test_tied_scores_move_together() -> None:
    scores, truth = np.array([0.5, 0.5, 0.2]), np.array([1, 0, 1])
    curve = precision_recall_curve(scores, truth)
    assert curve.thresholds == pytest.approx((0.5, 0.2))
    assert average_precision(scores, truth) == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)


def test_perfect_ranking_has_average_precision_one_and_no_positives_has_none() -> None:
    assert average_precision(np.array([0.9, 0.8, 0.1]), np.array([1, 1, 0])) == 1.0
    assert math.isnan(average_precision(np.ones(3), np.zeros(3)))
    assert precision_recall_curve(np.ones(3), np.zeros(3)).thresholds == ()


def test_micro_average_precision_pools_every_label() -> None:
    scores = np.array([[0.9, 0.2], [0.3, 0.8], [0.6, 0.1]])
    truth = np.array([[1, 0], [0, 1], [0, 0]])
    # pooled ranking 0.9 (+), 0.8 (+), 0.6, 0.3, 0.2, 0.1: both positives first
    assert average_precision(scores, truth) == 1.0
    with pytest.raises(ValueError, match=r"scores \(3, 2\) and truth \(3,\) differ"):
        average_precision(scores, truth[:, 0])


def test_scene_f1_matches_at_iou_one_half() -> None:
    # truth scenes [1, 4) and [6, 8); predictions [1, 3) (IoU 2/3, a hit) and [5, 10)
    # (IoU 2/5 with [6, 8), a miss): tp 1, fp 1, fn 1.
    truth = np.zeros(10)
    truth[[1, 2, 3, 6, 7]] = 1
    scores = np.full(10, 0.1)
    scores[[1, 2, 5, 6, 7, 8, 9]] = 0.8
    report = build_report(
        scores[:, None],
        truth[:, None],
        segments_of({"a": 10}),
        ("kiss",),
        split="val",
        segmentor=Segmentor(threshold=0.5, min_length_s=2.0, max_gap_s=1.0),
    )
    assert report.micro.scenes == MatchCounts(tp=1, fp=1, fn=1)
    assert report.micro.scene_f1 == pytest.approx(0.5)


def test_scenes_are_built_per_item_in_time_order() -> None:
    """Rows arrive shuffled across two items; a scene must not run from one item into the next."""
    segments = segments_of({"a": 4, "b": 4})
    truth = np.array([0, 0, 1, 1, 1, 1, 0, 0], dtype=float)  # a: [2, 4), b: [0, 2)
    scores = truth * 0.9
    order = np.random.default_rng(0).permutation(len(segments))
    report = build_report(
        scores[order, None],
        truth[order, None],
        segments.iloc[order],
        ("kiss",),
        split="val",
        segmentor=Segmentor(threshold=0.5, min_length_s=1.0, max_gap_s=0.0),
    )
    assert report.micro.scenes == MatchCounts(tp=2, fp=0, fn=0)
    assert report.micro.f1 == pytest.approx(1.0)


def test_report_micro_pools_labels_and_metrics_are_flat() -> None:
    segments = segments_of({"a": 4})
    targets = np.array([[1, 0], [1, 0], [0, 1], [0, 0]], dtype=float)
    probabilities = np.array([[0.9, 0.2], [0.3, 0.1], [0.2, 0.7], [0.6, 0.1]])
    report = build_report(
        probabilities, targets, segments, ("kiss", "fight"), split="val", segmentor=Segmentor()
    )
    kiss, fight = report.per_label
    assert (kiss.confusion.tp, kiss.confusion.fp, kiss.confusion.fn) == (1, 1, 1)
    assert (fight.confusion.tp, fight.confusion.fp, fight.confusion.fn) == (1, 0, 0)
    assert report.micro.f1 == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    metrics = report.metrics(prefix="val_")
    assert metrics["val_f1"] == pytest.approx(report.micro.f1)
    assert metrics["val_f1_kiss"] == pytest.approx(0.5)
    assert metrics["val_pr_auc_fight"] == pytest.approx(1.0)
    assert set(report.to_dict()["micro"]) >= {"f1", "pr_auc", "confusion", "pr_curve", "scenes"}


def test_label_without_positives_has_no_pr_auc_metric() -> None:
    report = build_report(
        np.array([[0.2], [0.7]]),
        np.zeros((2, 1)),
        segments_of({"a": 2}),
        ("kiss",),
        split="val",
        segmentor=Segmentor(),
    )
    assert "val_pr_auc" not in report.metrics()
    assert report.metrics()["val_precision"] == 0.0


def test_report_rejects_misaligned_inputs() -> None:
    with pytest.raises(ValueError, match=r"shape \(3, 1\)"):
        build_report(
            np.zeros((2, 1)),
            np.zeros((2, 1)),
            segments_of({"a": 3}),
            ("kiss",),
            split="val",
            segmentor=Segmentor(),
        )


def test_plots_write_png_files(tmp_path: Path) -> None:
    segments = segments_of({"a": 6})
    targets = np.array([[1, 0], [1, 1], [0, 1], [0, 0], [1, 0], [0, 0]], dtype=float)
    probabilities = np.random.default_rng(1).uniform(size=targets.shape)
    report = build_report(
        probabilities, targets, segments, ("kiss", "fight"), split="val", segmentor=Segmentor()
    )
    for plot, name in ((plot_confusion, "confusion.png"), (plot_pr_curve, "plots/pr.png")):
        path = plot(report, tmp_path / name)
        assert path.read_bytes().startswith(PNG_MAGIC)
        assert path.stat().st_size > 1000
    assert not list(tmp_path.rglob("*.part"))
