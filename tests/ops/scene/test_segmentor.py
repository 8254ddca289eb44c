"""Segmentor: thresholding, gap merging, minimum length, overlap resolution and matching."""

from __future__ import annotations

import numpy as np
import pytest

from ops.scene.segmentor import (
    MatchCounts,
    Scene,
    Segmentor,
    match_scenes,
    resolve_overlaps,
    scene_iou,
)


def spans(scenes: list[Scene]) -> list[tuple[float, float]]:
    return [(scene.start_s, scene.end_s) for scene in scenes]


def test_consecutive_segments_at_or_above_threshold_make_one_scene() -> None:
    segmentor = Segmentor(threshold=0.5, min_length_s=0.0, max_gap_s=0.0)
    scenes = segmentor.segment([0.1, 0.5, 0.9, 0.7, 0.2, 0.8], label="kiss")
    assert spans(scenes) == [(1.0, 4.0), (5.0, 6.0)]
    assert (scenes[0].label, scenes[0].score) == ("kiss", pytest.approx(0.7))
    assert scenes[1].score == pytest.approx(0.8)


def test_gaps_up_to_max_gap_are_bridged_and_scored_with_the_dip() -> None:
    scores = [0.9, 0.9, 0.1, 0.9, 0.2, 0.3, 0.9]
    bridged = Segmentor(min_length_s=0.0, max_gap_s=1.0).segment(scores, label="kiss")
    assert spans(bridged) == [(0.0, 4.0), (6.0, 7.0)]
    assert bridged[0].score == pytest.approx((0.9 + 0.9 + 0.1 + 0.9) / 4)
    wide = Segmentor(min_length_s=0.0, max_gap_s=2.0).segment(scores, label="kiss")
    assert spans(wide) == [(0.0, 7.0)]


def test_scenes_shorter_than_min_length_are_dropped_after_merging() -> None:
    segmentor = Segmentor(min_length_s=3.0, max_gap_s=1.0)
    scores = [0.9, 0.1, 0.9, 0.0, 0.0, 0.9, 0.9, 0.0, 0.0, 0.9, 0.9, 0.9]
    # 0-3 only exists because the dip at 1 s is bridged; 5-7 is two seconds long.
    assert spans(segmentor.segment(scores, label="kiss")) == [(0.0, 3.0), (9.0, 12.0)]


def test_segment_length_scales_times_and_thresholds_in_seconds() -> None:
    segmentor = Segmentor(min_length_s=0.3, max_gap_s=0.1)
    scores = [0.9, 0.1, 0.9, 0.9, 0.0, 0.0, 0.9]
    scenes = segmentor.segment(scores, segment_s=0.1, label="kiss")
    assert spans(scenes) == [(0.0, pytest.approx(0.4))]


def test_no_scores_or_no_positive_segment_gives_no_scene() -> None:
    assert Segmentor().segment([], label="kiss") == []
    assert Segmentor().segment(np.full(10, 0.49), label="kiss") == []


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        ([[0.5, 0.5]], "1-D"),
        ([0.5, float("nan")], "finite"),
        ([0.5, 2.3], "probabilities"),
    ],
)
def test_bad_scores_are_refused_with_the_reason(scores: list[object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Segmentor().segment(scores, label="kiss")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "arguments", [{"threshold": 1.5}, {"min_length_s": -1.0}, {"max_gap_s": float("inf")}]
)
def test_bad_settings_are_refused(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Segmentor(**arguments)


def test_overlaps_are_resolved_by_score_not_by_order() -> None:
    first = Scene("kiss", 0.0, 5.0, 0.6)
    best = Scene("kiss", 3.0, 8.0, 0.9)
    after = Scene("kiss", 7.0, 10.0, 0.7)
    # First-wins (the published code) would keep `first` and `after` and drop `best`.
    assert resolve_overlaps([first, best, after]) == [best]


def test_touching_scenes_and_other_labels_do_not_overlap() -> None:
    kiss = Scene("kiss", 0.0, 5.0, 0.9)
    touching = Scene("kiss", 5.0, 8.0, 0.5)
    fight = Scene("fight", 2.0, 4.0, 0.4)
    assert resolve_overlaps([touching, fight, kiss]) == [kiss, fight, touching]


def test_scene_iou() -> None:
    a = Scene("kiss", 0.0, 4.0, 1.0)
    assert scene_iou(a, Scene("kiss", 2.0, 6.0, 1.0)) == pytest.approx(2 / 6)
    assert scene_iou(a, a) == 1.0
    assert scene_iou(a, Scene("kiss", 4.0, 6.0, 1.0)) == 0.0


def test_matching_is_one_to_one_by_best_iou_and_same_label() -> None:
    truth = [Scene("kiss", 0.0, 4.0, 1.0), Scene("kiss", 10.0, 14.0, 1.0)]
    predicted = [
        Scene("kiss", 1.0, 4.0, 0.8),  # IoU 0.75 with truth 0
        Scene("kiss", 0.0, 3.0, 0.9),  # IoU 0.75 too, but truth 0 is taken
        Scene("fight", 10.0, 14.0, 0.9),  # right place, wrong label
        Scene("kiss", 12.0, 20.0, 0.9),  # IoU 0.2 with truth 1
    ]
    counts = match_scenes(predicted, truth)
    assert counts == MatchCounts(tp=1, fp=3, fn=1)
    assert counts.f1 == pytest.approx(2 / (2 + 3 + 1))


def test_matching_takes_the_best_pairs_first_not_predictions_in_order() -> None:
    truth = [Scene("kiss", 0.0, 10.0, 1.0), Scene("kiss", 10.0, 20.0, 1.0)]
    straddling = Scene("kiss", 3.5, 15.5, 0.9)  # IoU 0.39 with truth 0, 0.33 with truth 1
    tight = Scene("kiss", 0.0, 9.0, 0.9)  # IoU 0.9 with truth 0
    # Each prediction in turn taking its best free truth would match `straddling` to
    # truth 0 and leave `tight` unmatched: (1, 1, 1).
    assert match_scenes([straddling, tight], truth, iou=0.3) == (2, 0, 0)


def test_iou_exactly_at_the_threshold_counts() -> None:
    truth = [Scene("kiss", 0.0, 0.6, 1.0)]
    assert match_scenes([Scene("kiss", 0.3, 0.6, 1.0)], truth).tp == 1


def test_bad_scene_or_iou_is_refused() -> None:
    with pytest.raises(ValueError, match="start_s <= end_s"):
        Scene("kiss", 5.0, 4.0, 1.0)
    with pytest.raises(ValueError, match="iou"):
        match_scenes([], [], iou=0.0)
