"""How good a scene-type model is: segment metrics, scene metrics, and their plots.

Segment level is what the network is trained on (every 1-s segment, sigmoid >= 0.5);
scene level is what a user sees (the Segmentor's joined scenes matched against the
annotated ones at IoU >= 0.5). Both are reported per label and micro-averaged, with
average precision as PR-AUC. Segment metrics come from scikit-learn; scene matching has no
library equivalent and lives in :mod:`ops.scene.segmentor`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from sklearn import metrics as sklearn_metrics
from torch.utils.data import DataLoader, Dataset

from models.scene import SceneClassifier
from ops.atomic import atomic_path
from ops.scene.params import TrainParams
from ops.scene.segmentor import MatchCounts, Segmentor, match_scenes

if TYPE_CHECKING:
    from ops.scene.prepare import PreparedDataset

SEGMENT_THRESHOLD = 0.5
SCENE_IOU = 0.5
MICRO = "micro"
# Annotated scenes are exactly the runs of positive segments: no bridging, no minimum.
_TRUTH_SEGMENTOR = Segmentor(threshold=0.5, min_length_s=0.0, max_gap_s=0.0)

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class Confusion:
    """Segment counts at the 0.5 threshold; ``matrix`` is ``[[tn, fp], [fn, tp]]``.

    Precision, recall and F1 do not depend on ``tn``: they are those of the same counts
    as scene matches, so segment and scene metrics share one definition.
    """

    tn: int
    fp: int
    fn: int
    tp: int

    @property
    def matches(self) -> MatchCounts:
        return MatchCounts(tp=self.tp, fp=self.fp, fn=self.fn)

    @property
    def precision(self) -> float:
        return self.matches.precision

    @property
    def recall(self) -> float:
        return self.matches.recall

    @property
    def f1(self) -> float:
        return self.matches.f1

    @property
    def matrix(self) -> list[list[int]]:
        return [[self.tn, self.fp], [self.fn, self.tp]]


@dataclass(frozen=True)
class PRCurve:
    """Precision and recall at every distinct score, highest threshold first."""

    precision: tuple[float, ...]
    recall: tuple[float, ...]
    thresholds: tuple[float, ...]


@dataclass(frozen=True)
class LabelReport:
    """All metrics of one label, or of all labels pooled (``label == "micro"``)."""

    label: str
    positives: int
    confusion: Confusion
    pr_auc: float
    scenes: MatchCounts
    curve: PRCurve

    @property
    def precision(self) -> float:
        return self.confusion.precision

    @property
    def recall(self) -> float:
        return self.confusion.recall

    @property
    def f1(self) -> float:
        return self.confusion.f1

    @property
    def scene_f1(self) -> float:
        return self.scenes.f1

    def summary(self) -> dict[str, float]:
        """The headline numbers, the ones logged as metrics and compared by the gate."""
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "pr_auc": self.pr_auc,
            "scene_f1": self.scene_f1,
        }


@dataclass(frozen=True)
class EvalReport:
    """One model on one split: per-label reports and their micro average."""

    split: str
    segments: int
    per_label: tuple[LabelReport, ...]
    micro: LabelReport

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(report.label for report in self.per_label)

    def metrics(self, prefix: str = "val_") -> dict[str, float]:
        """Flat finite metrics: ``val_f1`` (micro) and ``val_f1_kiss`` (per label), etc.

        A label without positives has no PR-AUC (NaN); it is left out rather than logged.
        """
        flat = {f"{prefix}{name}": value for name, value in self.micro.summary().items()}
        for report in self.per_label:
            flat |= {
                f"{prefix}{name}_{report.label}": value for name, value in report.summary().items()
            }
        return {name: value for name, value in flat.items() if math.isfinite(value)}

    def decision_thresholds(self) -> dict[str, float]:
        """Per label, the score threshold with the best F1 on this split (see
        :func:`max_f1_threshold`): what the model's labels are decided at."""
        return {report.label: max_f1_threshold(report.curve) for report in self.per_label}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for the run's ``eval_report.json``."""

        def label_dict(report: LabelReport) -> dict[str, Any]:
            return {
                "label": report.label,
                "positives": report.positives,
                **report.summary(),
                "confusion": report.confusion.matrix,
                "scenes": report.scenes._asdict(),
                "pr_curve": asdict(report.curve),
            }

        return {
            "split": self.split,
            "segments": self.segments,
            "micro": label_dict(self.micro),
            "per_label": [label_dict(report) for report in self.per_label],
        }


def confusion_counts(predicted: np.ndarray, truth: np.ndarray) -> Confusion:
    """Count the four outcomes of boolean predictions against boolean truth (any shape)."""
    predicted, truth = np.asarray(predicted, dtype=bool), np.asarray(truth, dtype=bool)
    if predicted.shape != truth.shape:
        raise ValueError(f"predictions {predicted.shape} and truth {truth.shape} differ in shape")
    tn, fp, fn, tp = sklearn_metrics.confusion_matrix(
        truth.ravel(), predicted.ravel(), labels=[False, True]
    ).ravel()
    return Confusion(tn=int(tn), fp=int(fp), fn=int(fn), tp=int(tp))


def segment_f1(probabilities: np.ndarray, targets: np.ndarray) -> float:
    """Micro F1 of all labels at the 0.5 threshold: the early-stopping and gate metric."""
    return confusion_counts(probabilities >= SEGMENT_THRESHOLD, targets >= 0.5).f1


def precision_recall_curve(scores: np.ndarray, truth: np.ndarray) -> PRCurve:
    """Precision/recall when thresholding at each distinct score (ties move together).

    scikit-learn's curve, highest threshold first and without its closing (recall 0,
    precision 1) point, which has no threshold. Empty when there are no positives, since
    recall is undefined then.
    """
    scores, truth = _flat_pair(scores, truth)
    if not truth.any():
        return PRCurve((), (), ())
    precision, recall, thresholds = sklearn_metrics.precision_recall_curve(
        truth, scores, drop_intermediate=False
    )
    return PRCurve(
        precision=tuple(precision[-2::-1].tolist()),
        recall=tuple(recall[-2::-1].tolist()),
        thresholds=tuple(thresholds[::-1].tolist()),
    )


def average_precision(scores: np.ndarray, truth: np.ndarray) -> float:
    """Area under the PR curve as scikit-learn's step sum, sum_n (R_n - R_{n-1}) P_n, over
    all labels pooled (micro); NaN without positives, where it is undefined."""
    scores, truth = _flat_pair(scores, truth)
    if not truth.any():
        return math.nan
    return float(sklearn_metrics.average_precision_score(truth, scores))


def _flat_pair(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores and boolean truth of any (equal) shape as two flat arrays, every label pooled."""
    scores, truth = np.asarray(scores, dtype=np.float64), np.asarray(truth, dtype=bool)
    if scores.shape != truth.shape:
        raise ValueError(f"scores {scores.shape} and truth {truth.shape} differ in shape")
    return scores.ravel(), truth.ravel()


def max_f1_threshold(curve: PRCurve) -> float:
    """The threshold of ``curve`` with the highest F1 (of equals, the highest threshold).

    Chosen on validation data, so a model that is sure of everything (scores near 1 on
    negatives too) gets a high bar instead of the fixed 0.5; ``SEGMENT_THRESHOLD`` when
    the split has no positives to choose on.
    """
    if not curve.thresholds:
        return SEGMENT_THRESHOLD
    precision, recall = np.asarray(curve.precision), np.asarray(curve.recall)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    return float(curve.thresholds[int(np.argmax(f1))])


def item_scene_counts(
    scores: np.ndarray,
    targets: np.ndarray,
    *,
    label: str,
    segment_s: float,
    segmentor: Segmentor,
) -> MatchCounts:
    """Scene hits in one item: predicted scenes vs. the runs of positive target segments."""
    predicted = segmentor.segment(scores, segment_s=segment_s, label=label)
    truth = _TRUTH_SEGMENTOR.segment(targets, segment_s=segment_s, label=label)
    return match_scenes(predicted, truth, iou=SCENE_IOU)


def _added(counts: list[MatchCounts]) -> MatchCounts:
    return MatchCounts(*(int(sum(column)) for column in zip(*counts, strict=True)))


def build_report(
    probabilities: np.ndarray,
    targets: np.ndarray,
    segments: pd.DataFrame,
    labels: tuple[str, ...],
    *,
    split: str,
    segmentor: Segmentor,
) -> EvalReport:
    """All metrics from per-segment probabilities ``(n, L)`` and 0/1 targets ``(n, L)``.

    ``segments`` holds the same ``n`` rows in the same order, with ``item_id``,
    ``start_s`` and ``end_s``: the scene metrics run per item over its segments in time order.
    """
    probabilities, targets = np.asarray(probabilities), np.asarray(targets)
    expected = (len(segments), len(labels))
    if probabilities.shape != expected or targets.shape != expected:
        raise ValueError(
            f"need probabilities and targets of shape {expected} (segments x labels), "
            f"got {probabilities.shape} and {targets.shape}"
        )
    if len(segments) == 0:
        raise ValueError(f"the {split!r} split has no segments to evaluate")
    truth = targets >= 0.5
    ordered = segments.reset_index(drop=True).sort_values(["item_id", "start_s"], kind="stable")
    items = [
        (
            rows.index.to_numpy(),
            float(np.median(rows["end_s"].to_numpy() - rows["start_s"].to_numpy())),
        )
        for _, rows in ordered.groupby("item_id", sort=False)
    ]
    per_label = []
    for column, label in enumerate(labels):
        scenes = _added(
            [
                item_scene_counts(
                    probabilities[rows, column],
                    truth[rows, column],
                    label=label,
                    segment_s=segment_s,
                    segmentor=segmentor,
                )
                for rows, segment_s in items
            ]
        )
        per_label.append(_label_report(label, probabilities[:, column], truth[:, column], scenes))
    micro = _label_report(
        MICRO, probabilities, truth, _added([report.scenes for report in per_label])
    )
    return EvalReport(split=split, segments=len(segments), per_label=tuple(per_label), micro=micro)


def _label_report(
    label: str, scores: np.ndarray, truth: np.ndarray, scenes: MatchCounts
) -> LabelReport:
    return LabelReport(
        label=label,
        positives=int(truth.sum()),
        confusion=confusion_counts(scores >= SEGMENT_THRESHOLD, truth),
        pr_auc=average_precision(scores, truth),
        scenes=scenes,
        curve=precision_recall_curve(scores, truth),
    )


def model_inputs(
    model: SceneClassifier, frames: torch.Tensor, audio: torch.Tensor, device: torch.device
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """A loader batch as the model takes it: on ``device``, ``None`` for a branch that is off.

    Frames are made contiguous: a channels-last view (what an ``(H, W, 3)`` -> ``(3, H, W)``
    ``movedim`` gives) makes CPU convolutions and BatchNorm about ten times slower.
    """
    return (
        frames.to(device, non_blocking=True, memory_format=torch.contiguous_format)
        if model.use_frames
        else None,
        audio.to(device, non_blocking=True) if model.use_audio else None,
    )


@torch.no_grad()
def predict_segments(
    model: SceneClassifier,
    dataset: Dataset[Batch],
    *,
    batch_size: int,
    num_workers: int = 0,
    amp: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and targets ``(n, L)`` on the CPU, in dataset order; leaves the model in eval mode.

    Runs wherever the model's weights are; ``amp`` autocasts to float16 on CUDA only.
    """
    device = next(model.parameters()).device
    model.eval()
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
    )
    logits, targets = [], []
    for frames, audio, target in loader:
        inputs = model_inputs(model, frames, audio, device)
        with torch.autocast(
            device.type, dtype=torch.float16, enabled=amp and device.type == "cuda"
        ):
            batch_logits = model(*inputs)
        logits.append(batch_logits.float().cpu())
        targets.append(target.float())
    if not logits:
        raise ValueError("no segments to predict: the dataset is empty")
    return torch.cat(logits), torch.cat(targets)


def evaluate(
    model: SceneClassifier,
    prepared: PreparedDataset,
    split: str = "val",
    params: TrainParams | None = None,
) -> EvalReport:
    """Score one split of a prepared dataset with ``model`` (on the model's device)."""
    from ops.scene.prepare import SegmentTensorDataset

    params = params or TrainParams()
    if tuple(model.labels) != tuple(prepared.labels):
        raise ValueError(
            f"the model predicts {list(model.labels)} but the dataset is labelled "
            f"{list(prepared.labels)}"
        )
    dataset = SegmentTensorDataset(prepared, split)
    logits, targets = predict_segments(
        model,
        dataset,
        batch_size=params.batch_size,
        num_workers=params.num_workers,
        amp=params.amp,
    )
    segments = prepared.segments[prepared.segments["split"] == split]
    return build_report(
        torch.sigmoid(logits).numpy(),
        targets.numpy(),
        segments,
        tuple(model.labels),
        split=split,
        segmentor=Segmentor(params.threshold, params.min_scene_s, params.max_gap_s),
    )


def plot_confusion(report: EvalReport, path: Path) -> Path:
    """One 2 x 2 confusion matrix per label, counts written in the cells, as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(3.4 * len(report.per_label), 3.2), layout="constrained")
    FigureCanvasAgg(figure)  # Agg on this figure only: no global backend switch
    for axes, label_report in zip(
        figure.subplots(1, len(report.per_label), squeeze=False)[0], report.per_label, strict=True
    ):
        matrix = np.array(label_report.confusion.matrix)
        axes.imshow(matrix, cmap="Blues", vmin=0)
        for (row, column), count in np.ndenumerate(matrix):
            colour = "white" if count > matrix.max() / 2 else "black"
            axes.text(column, row, str(count), ha="center", va="center", color=colour)
        axes.set_xticks([0, 1], ["no", "yes"])
        axes.set_yticks([0, 1], ["no", "yes"])
        axes.set_xlabel("predicted")
        axes.set_ylabel("annotated")
        axes.set_title(f"{label_report.label} ({report.split}, F1 {label_report.f1:.3f})")
    return _save_png(figure, path)


def plot_pr_curve(report: EvalReport, path: Path) -> Path:
    """Precision against recall per label (and micro-averaged when several), as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5, 4), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    shown = [*report.per_label, report.micro] if len(report.per_label) > 1 else report.per_label
    for label_report in shown:
        curve = label_report.curve
        if curve.recall:
            axes.step(
                (0.0, *curve.recall),
                (curve.precision[0], *curve.precision),
                where="pre",
                label=f"{label_report.label} (AP {label_report.pr_auc:.3f})",
            )
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.05)
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_title(f"precision-recall ({report.split})")
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="lower left")
    return _save_png(figure, path)


def _save_png(figure: Any, path: Path) -> Path:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    return path
