"""Training of the scene-type detector: one model per call, resumable, CPU or CUDA.

``train_model`` trains one SceneClassifier (both modalities, or one for an ablation)
with AdamW and a class-weighted BCE loss, stops early on the validation segment F1,
and writes two checkpoints every epoch, both atomically: ``best.pt`` (the model to
keep, a ``SceneClassifier.save`` file) and ``last.pt`` (everything needed to carry on:
weights, optimizer, grad scaler, history and every RNG state), so a killed task picks up
where it stopped and ends with the same numbers as one that was never interrupted.
``train_scene`` trains the fused model and its single-modality ablations and scores them.
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from rich.progress import Progress, TextColumn
from torch import nn
from torch.utils.data import DataLoader

from models.scene import SceneClassifier
from ops.atomic import atomic_path
from ops.console import progress_bar
from ops.scene.evaluate import (
    Batch,
    EvalReport,
    evaluate,
    model_inputs,
    predict_segments,
    segment_f1,
)
from ops.scene.params import TrainParams

if TYPE_CHECKING:
    from ops.scene.prepare import PreparedDataset

logger = logging.getLogger(__name__)

BEST_CHECKPOINT = "best.pt"
LAST_CHECKPOINT = "last.pt"
MODALITIES: dict[str, tuple[bool, bool]] = {
    "both": (True, True),
    "frames": (True, False),
    "audio": (False, True),
}

EpochCallback = Callable[[int, dict[str, float]], None]
VariantEpochCallback = Callable[[str, int, dict[str, float]], None]
VariantScope = Callable[[str], AbstractContextManager[object]]


@dataclass(frozen=True)
class TrainOutcome:
    """What one training run left behind; ``history`` has one dict per epoch trained."""

    model_path: Path
    history: list[dict[str, float]]
    best_epoch: int
    best_val_f1: float
    device: str
    seconds: float
    stopped_early: bool


@dataclass(frozen=True)
class VariantResult:
    """One trained model of the ablation (``both``, ``frames`` or ``audio``), scored on val."""

    name: str
    use_frames: bool
    use_audio: bool
    outcome: TrainOutcome
    report: EvalReport


@dataclass(frozen=True)
class SceneTrainingResult:
    """The model to register (``main``) and every model of the ablation, ``main`` first."""

    main: VariantResult
    variants: tuple[VariantResult, ...]

    @property
    def model_path(self) -> Path:
        return self.main.outcome.model_path

    @property
    def report(self) -> EvalReport:
        return self.main.report

    @property
    def decision_thresholds(self) -> dict[str, float]:
        """Per label, the max-F1 threshold on the validation split: what inference uses."""
        return self.report.decision_thresholds()

    def ablation_table(self) -> list[dict[str, Any]]:
        """One row per variant: which modalities, and its validation numbers."""
        return [
            {
                "variant": variant.name,
                "frames": variant.use_frames,
                "audio": variant.use_audio,
                **variant.report.metrics(prefix="val_"),
                "best_epoch": variant.outcome.best_epoch,
            }
            for variant in self.variants
        ]


def select_device(preference: str = "auto") -> torch.device:
    """CUDA when there is one (``auto``), else the CPU; asking for absent CUDA is an error."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(preference)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device {preference!r} was asked for, but torch sees no CUDA device "
                f"(torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'}); "
                "use device 'auto' or 'cpu'"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RuntimeError(
                f"device {preference!r} was asked for, but only "
                f"{torch.cuda.device_count()} CUDA device(s) exist"
            )
    elif device.type != "cpu":
        raise ValueError(f"device must be auto, cpu or cuda[:N], got {preference!r}")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (every CUDA device too): same seed, same run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def use_available_cpus() -> int:
    """Cap torch's threads at the CPUs this process may run on; returns the count.

    Inside a container or a CPU set, torch's default can count the whole machine and
    oversubscribe the few cores the task really has (OpenMP threads then spin against
    each other: ten times slower here). A lower count set before (``OMP_NUM_THREADS``,
    ``torch.set_num_threads``) is kept, so a shared machine can ask for fewer.
    """
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = max(1, min(available or 1, torch.get_num_threads()))
    torch.set_num_threads(threads)
    return threads


def class_weights(segments: pd.DataFrame, labels: Sequence[str]) -> torch.Tensor:
    """``pos_weight`` per label for BCE: negatives / positives among the given segments.

    Kiss seconds are rare, so unweighted BCE would learn to say "no" everywhere; the
    weight makes the positives of each label count as much as its negatives.
    """
    missing = [label for label in labels if label not in segments.columns]
    if missing:
        raise ValueError(f"segments have no 0/1 column for labels {missing}")
    weights = []
    for label in labels:
        positives = int((segments[label] >= 0.5).sum())
        negatives = len(segments) - positives
        if positives == 0 or negatives == 0:
            raise ValueError(
                f"label {label!r} has {positives} positive and {negatives} negative training "
                "segments: a classifier needs both"
            )
        weights.append(negatives / positives)
    return torch.tensor(weights, dtype=torch.float32)


def _check_prepared(prepared: PreparedDataset, params: TrainParams) -> None:
    """Refuse features made with other settings than the run's, before any training."""
    problems = []
    if tuple(prepared.labels) != tuple(params.labels):
        problems.append(f"labels {list(prepared.labels)} vs {list(params.labels)}")
    if prepared.frames.frames_per_segment != params.frames_per_segment:
        problems.append(
            f"frames_per_segment {prepared.frames.frames_per_segment} vs "
            f"{params.frames_per_segment}"
        )
    if (prepared.frames.height, prepared.frames.width) != (params.image_size, params.image_size):
        problems.append(
            f"frame size {prepared.frames.height}x{prepared.frames.width} vs "
            f"{params.image_size}x{params.image_size}"
        )
    if problems:
        raise ValueError(
            f"the prepared dataset at {prepared.root} does not match the training params "
            f"(prepared vs params: {'; '.join(problems)}); prepare it again with these params"
        )


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The shuffling order of one epoch depends on (seed, epoch) only, so resuming keeps it."""
    state = np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def _rng_states() -> dict[str, Any]:
    numpy_state = np.random.get_state(legacy=False)
    # Plain ints instead of an ndarray: ``last.pt`` then loads with ``weights_only=True``.
    numpy_state["state"] = {
        "key": numpy_state["state"]["key"].tolist(),
        "pos": int(numpy_state["state"]["pos"]),
    }
    return {
        "python": random.getstate(),
        "numpy": numpy_state,
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _restore_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    numpy_state = dict(states["numpy"])
    numpy_state["state"] = {
        "key": np.asarray(numpy_state["state"]["key"], dtype=np.uint32),
        "pos": numpy_state["state"]["pos"],
    }
    np.random.set_state(numpy_state)
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


@dataclass
class _Progress:
    """Where a run stands; what ``last.pt`` stores besides weights and optimizer."""

    epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_val_f1: float = -math.inf


def _fingerprint(model: SceneClassifier, params: TrainParams) -> dict[str, Any]:
    """What must not change between a run and its resumption."""
    return {
        "model": model.config(),
        "lr": params.lr,
        "weight_decay": params.weight_decay,
        "batch_size": params.batch_size,
        "seed": params.seed,
    }


def _save_last(
    path: Path,
    model: SceneClassifier,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    progress: _Progress,
    fingerprint: dict[str, Any],
) -> None:
    with atomic_path(path) as tmp:
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(),
                "epoch": progress.epoch,
                "history": progress.history,
                "best_epoch": progress.best_epoch,
                "best_val_f1": progress.best_val_f1,
                "fingerprint": fingerprint,
                "rng": _rng_states(),
            },
            tmp,
        )


def _load_last(
    path: Path,
    model: SceneClassifier,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    fingerprint: dict[str, Any],
) -> _Progress:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if checkpoint["fingerprint"] != fingerprint:
        raise ValueError(
            f"{path} was written by a run with other model or optimizer settings "
            f"({checkpoint['fingerprint']} vs {fingerprint}); delete it or pass resume=False"
        )
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    scaler.load_state_dict(checkpoint["scaler"])
    _restore_rng_states(checkpoint["rng"])
    return _Progress(
        epoch=checkpoint["epoch"],
        history=list(checkpoint["history"]),
        best_epoch=checkpoint["best_epoch"],
        best_val_f1=checkpoint["best_val_f1"],
    )


def _train_one_epoch(
    model: SceneClassifier,
    loader: DataLoader[Batch],
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    progress: Progress,
    batch_task: Any,
) -> float:
    """One pass over the training split; returns the mean loss per segment."""
    device = next(model.parameters()).device
    model.train()
    total_loss, seen = 0.0, 0
    progress.reset(batch_task, total=len(loader))
    for frames, audio, target in loader:
        inputs = model_inputs(model, frames, audio, device)
        target = target.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=scaler.is_enabled()):
            loss = criterion(model(*inputs), target)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        total_loss += loss.item() * len(target)
        seen += len(target)
        progress.advance(batch_task)
    return total_loss / seen


def train_model(
    prepared: PreparedDataset,
    params: TrainParams,
    out_dir: Path,
    *,
    use_frames: bool,
    use_audio: bool,
    resume: bool = True,
    on_epoch: EpochCallback | None = None,
) -> TrainOutcome:
    """Train one scene model on the ``train`` split, keeping the best on ``val`` in ``best.pt``.

    With ``resume`` and an ``out_dir/last.pt`` from the same settings, training carries on
    after its last finished epoch (a run that already stopped early stays stopped).
    ``on_epoch(epoch, record)`` is called after every epoch with that epoch's history record.
    """
    from ops.scene.prepare import SegmentTensorDataset

    _check_prepared(prepared, params)
    device = select_device(params.device)
    if device.type == "cpu":
        use_available_cpus()
    seed_everything(params.seed)

    model = SceneClassifier(
        params.labels,
        prepared.frames,
        prepared.audio,
        use_frames=use_frames,
        use_audio=use_audio,
        width_multiplier=params.width_multiplier,
        dropout=params.dropout,
    ).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=params.lr, weight_decay=params.weight_decay
    )
    amp = params.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    train_set = SegmentTensorDataset(prepared, "train")
    val_set = SegmentTensorDataset(prepared, "val")
    train_segments = prepared.segments[prepared.segments["split"] == "train"]
    if len(train_segments) < 2:
        raise ValueError(f"need at least 2 training segments, got {len(train_segments)}")
    pos_weight = class_weights(train_segments, params.labels)
    criterion = nn.BCEWithLogitsLoss(pos_weight=pos_weight.to(device))
    val_criterion = nn.BCEWithLogitsLoss(pos_weight=pos_weight)

    out_dir.mkdir(parents=True, exist_ok=True)
    best_path, last_path = out_dir / BEST_CHECKPOINT, out_dir / LAST_CHECKPOINT
    fingerprint = _fingerprint(model, params)
    state = _Progress()
    if resume and last_path.exists():
        state = _load_last(last_path, model, optimizer, scaler, fingerprint)
        logger.info("resuming %s after epoch %d", out_dir, state.epoch)

    started = time.perf_counter()
    stopped_early = False
    with progress_bar(TextColumn("{task.fields[status]}")) as progress:
        epoch_task = progress.add_task(
            f"train {out_dir.name}", total=params.epochs, completed=state.epoch, status=""
        )
        batch_task = progress.add_task("  batches", total=None, status="")
        for epoch in range(state.epoch + 1, params.epochs + 1):
            if state.epoch - state.best_epoch >= params.patience:
                stopped_early = True
                break
            epoch_started = time.perf_counter()
            # A last batch of one segment would break BatchNorm in training mode.
            loader = DataLoader(
                train_set,
                batch_size=params.batch_size,
                shuffle=True,
                generator=_epoch_generator(params.seed, epoch),
                num_workers=params.num_workers,
                pin_memory=device.type == "cuda",
                drop_last=len(train_set) % params.batch_size == 1,
            )
            train_loss = _train_one_epoch(
                model, loader, criterion, optimizer, scaler, progress, batch_task
            )
            logits, targets = predict_segments(
                model,
                val_set,
                batch_size=params.batch_size,
                num_workers=params.num_workers,
                amp=amp,
            )
            record = {
                "epoch": float(epoch),
                "train_loss": train_loss,
                "val_loss": float(val_criterion(logits, targets)),
                "val_f1": segment_f1(torch.sigmoid(logits).numpy(), targets.numpy()),
                "epoch_s": time.perf_counter() - epoch_started,
            }
            state.history.append(record)
            state.epoch = epoch
            if record["val_f1"] > state.best_val_f1:
                state.best_epoch, state.best_val_f1 = epoch, record["val_f1"]
                with atomic_path(best_path) as tmp:
                    model.save(tmp)
            _save_last(last_path, model, optimizer, scaler, state, fingerprint)
            progress.update(
                epoch_task,
                completed=epoch,
                status=f"loss {train_loss:.4f} val F1 {record['val_f1']:.3f}",
            )
            logger.info(
                "%s epoch %d: train loss %.4f, val loss %.4f, val F1 %.4f (%.1f s)",
                out_dir.name,
                epoch,
                train_loss,
                record["val_loss"],
                record["val_f1"],
                record["epoch_s"],
            )
            if on_epoch is not None:
                on_epoch(epoch, record)
    return TrainOutcome(
        model_path=best_path,
        history=state.history,
        best_epoch=state.best_epoch,
        best_val_f1=state.best_val_f1,
        device=str(device),
        seconds=time.perf_counter() - started,
        stopped_early=stopped_early,
    )


def modality_name(use_frames: bool, use_audio: bool) -> str:
    """``both``, ``frames`` or ``audio``: the variant's folder and its name in the ablation."""
    return next(
        name for name, branches in MODALITIES.items() if branches == (use_frames, use_audio)
    )


def train_scene(
    prepared: PreparedDataset,
    params: TrainParams,
    out_dir: Path,
    on_epoch: VariantEpochCallback | None = None,
    variant_scope: VariantScope | None = None,
) -> SceneTrainingResult:
    """Train the model ``params`` describe, plus frames-only and audio-only when it is fused.

    Each variant lives in ``out_dir/<variant>/`` (resumable on its own) and is scored on
    the validation split; ``on_epoch(variant, epoch, record)`` follows every variant, and
    each variant trains inside ``variant_scope(variant)`` (its MLflow child run).
    """
    main = modality_name(params.use_frames, params.use_audio)
    names = [main, *(("frames", "audio") if params.ablation and params.fused else ())]
    device = select_device(params.device)
    variants = []
    for name in names:
        use_frames, use_audio = MODALITIES[name]
        with variant_scope(name) if variant_scope else nullcontext():
            outcome = train_model(
                prepared,
                params,
                out_dir / name,
                use_frames=use_frames,
                use_audio=use_audio,
                on_epoch=None if on_epoch is None else _for_variant(on_epoch, name),
            )
            model = SceneClassifier.load(outcome.model_path, map_location=device)
            report = evaluate(model, prepared, "val", params)
        logger.info("%s: val F1 %.4f, scene F1 %.4f", name, report.micro.f1, report.micro.scene_f1)
        variants.append(VariantResult(name, use_frames, use_audio, outcome, report))
    return SceneTrainingResult(main=variants[0], variants=tuple(variants))


def _for_variant(callback: VariantEpochCallback, name: str) -> EpochCallback:
    def forward(epoch: int, record: dict[str, float]) -> None:
        callback(name, epoch, record)

    return forward
