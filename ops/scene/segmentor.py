"""From per-segment scores to scenes with a start and an end, and scene-level matching.

A scene-type model scores every 1-second segment; a scene is a run of segments above a
threshold, with short dips bridged and blips too short to be a scene dropped. When
several candidate lists of the same label are pooled (other thresholds, other window
sizes), overlapping candidates are resolved by score. The published code of Ziai's paper
meant to do this too, but a ``comp_idx_end - comp_idx_end`` typo (always 0) made it keep
whichever candidate came first; here the best-scored one wins.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

# Float slack for durations built from ``n * segment_s`` (3 * 0.1 != 0.3).
_EPS = 1e-9


@dataclass(frozen=True)
class Scene:
    """A labelled time span; ``score`` is the mean segment score inside it."""

    label: str
    start_s: float
    end_s: float
    score: float

    def __post_init__(self) -> None:
        if not self.label:
            raise ValueError("Scene.label must be a non-empty string")
        if not (math.isfinite(self.start_s) and math.isfinite(self.end_s)):
            raise ValueError(f"Scene times must be finite, got {self.start_s}..{self.end_s}")
        if not 0 <= self.start_s <= self.end_s:
            raise ValueError(f"Scene needs 0 <= start_s <= end_s, got {self.start_s}..{self.end_s}")

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class MatchCounts(NamedTuple):
    """True positives, false positives and false negatives (of scenes, or of segments via
    ``Confusion.matches``); precision, recall and F1 are 0 where undefined."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0


class Segmentor:
    """Joins consecutive segment scores of one label into scenes.

    A segment is positive when its score is at least ``threshold``. Runs of positive
    segments separated by at most ``max_gap_s`` of negative ones are merged into one
    scene, and scenes shorter than ``min_length_s`` are dropped (after merging, so two
    short runs around a dip can still make a scene).
    """

    def __init__(
        self, threshold: float = 0.5, min_length_s: float = 2.0, max_gap_s: float = 1.0
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        if not (math.isfinite(min_length_s) and min_length_s >= 0):
            raise ValueError(f"min_length_s must be finite and >= 0, got {min_length_s}")
        if not (math.isfinite(max_gap_s) and max_gap_s >= 0):
            raise ValueError(f"max_gap_s must be finite and >= 0, got {max_gap_s}")
        self.threshold = threshold
        self.min_length_s = min_length_s
        self.max_gap_s = max_gap_s

    def segment(
        self, scores: Sequence[float] | np.ndarray, *, segment_s: float = 1.0, label: str
    ) -> list[Scene]:
        """Scenes of ``label`` in a video whose i-th segment spans ``[i, i+1) * segment_s``."""
        values = _checked_scores(scores)
        if not (math.isfinite(segment_s) and segment_s > 0):
            raise ValueError(f"segment_s must be finite and positive, got {segment_s}")
        if not label:
            raise ValueError("label must be a non-empty string")
        scenes = []
        for start, end in self._merged_runs(values >= self.threshold, segment_s):
            if (end - start) * segment_s + _EPS < self.min_length_s:
                continue
            scenes.append(
                Scene(
                    label=label,
                    start_s=start * segment_s,
                    end_s=end * segment_s,
                    score=float(values[start:end].mean()),
                )
            )
        return scenes

    def _merged_runs(self, positive: np.ndarray, segment_s: float) -> list[tuple[int, int]]:
        """Half-open index ranges of positive runs, bridging gaps of at most ``max_gap_s``."""
        edges = np.diff(np.concatenate(([0], positive.astype(np.int8), [0])))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        merged: list[tuple[int, int]] = []
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            if merged and (start - merged[-1][1]) * segment_s <= self.max_gap_s + _EPS:
                merged[-1] = (merged[-1][0], end)
            else:
                merged.append((start, end))
        return merged


def _checked_scores(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"scores must be one score per segment (1-D), got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("scores must be finite; found NaN or infinity")
    if values.size and (values.min() < 0 or values.max() > 1):
        raise ValueError(
            f"scores must be probabilities in [0, 1] (not logits), "
            f"got range {values.min():g}..{values.max():g}"
        )
    return values


def _overlap_s(a: Scene, b: Scene) -> float:
    return max(0.0, min(a.end_s, b.end_s) - max(a.start_s, b.start_s))


def resolve_overlaps(candidates: Sequence[Scene]) -> list[Scene]:
    """Keep, per label, the best-scored candidates that overlap no better-scored kept one.

    Greedy by descending score (ties: earlier start, then shorter); scenes that only touch
    (one ends where the next starts) do not overlap, nor do scenes of different labels.
    The result is sorted by start time.
    """
    ranked = sorted(candidates, key=lambda s: (-s.score, s.start_s, s.end_s, s.label))
    kept: list[Scene] = []
    for candidate in ranked:
        if not any(
            other.label == candidate.label and _overlap_s(other, candidate) > 0 for other in kept
        ):
            kept.append(candidate)
    return sorted(kept, key=lambda s: (s.start_s, s.end_s, s.label))


def scene_iou(a: Scene, b: Scene) -> float:
    """Temporal intersection over union of two scenes (labels are not compared)."""
    union = max(a.end_s, b.end_s) - min(a.start_s, b.start_s)
    return _overlap_s(a, b) / union if union > 0 else 0.0


def match_scenes(
    predicted: Sequence[Scene], truth: Sequence[Scene], iou: float = 0.5
) -> MatchCounts:
    """Count scene-level hits: one-to-one, same label, IoU >= ``iou``, best pairs first.

    Greedy matching takes candidate pairs by descending IoU, so a prediction that
    overlaps two true scenes is credited to the one it covers best.
    """
    if not 0.0 < iou <= 1.0:
        raise ValueError(f"iou must be in (0, 1], got {iou}")
    pairs = sorted(
        (
            (scene_iou(p, t), p_index, t_index)
            for p_index, p in enumerate(predicted)
            for t_index, t in enumerate(truth)
            if p.label == t.label
        ),
        key=lambda pair: (-pair[0], pair[1], pair[2]),
    )
    used_predicted: set[int] = set()
    used_truth: set[int] = set()
    for overlap, p_index, t_index in pairs:
        if overlap + _EPS < iou:
            break
        if p_index in used_predicted or t_index in used_truth:
            continue
        used_predicted.add(p_index)
        used_truth.add(t_index)
    tp = len(used_predicted)
    return MatchCounts(tp=tp, fp=len(predicted) - tp, fn=len(truth) - tp)
