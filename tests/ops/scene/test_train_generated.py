"""Acceptance: on generated clips whose ``kiss`` needs picture AND sound, fusion wins.

The generator makes every single-modality cue as frequent as the true scenes, so a
frames-only or audio-only model tops out near F1 0.67 while the fused one should pass
0.9 (the paper reports 0.95 on films). About a minute on two CPU cores.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from models.contracts import AudioContract, FrameContract
from ops.scene.params import TrainParams
from ops.scene.prepare import prepare_dataset
from ops.scene.synthetic import generate_scene_dataset
from ops.scene.train import train_scene
from ops.settings import Settings

pytestmark = pytest.mark.slow

PARAMS = TrainParams(
    frames_per_segment=2,
    image_size=64,
    width_multiplier=0.25,
    epochs=10,
    patience=3,
    batch_size=32,
    seed=0,
    device="cpu",
)


def test_fused_model_reaches_f1_0_9_on_generated_scenes(tmp_path: Path, home: Settings) -> None:
    dataset_dir = generate_scene_dataset(tmp_path / "clips", titles=24, seconds=(20, 40), seed=0)
    prepared = prepare_dataset(
        dataset_dir,
        tmp_path / "prepared",
        home,
        labels=PARAMS.labels,
        frames=FrameContract(PARAMS.frames_per_segment, PARAMS.image_size, PARAMS.image_size),
        audio=AudioContract(),
        seed=0,
    )
    result = train_scene(prepared, PARAMS, tmp_path / "train")

    f1 = {variant.name: variant.report.micro.f1 for variant in result.variants}
    epoch_s = [record["epoch_s"] for record in result.main.outcome.history]
    print(
        f"\nsegment F1 {f1}, scene F1 {result.report.micro.scene_f1:.3f}, "
        f"PR-AUC {result.report.micro.pr_auc:.3f}, fused epoch {min(epoch_s):.2f} s"
    )
    assert f1["both"] >= 0.9
    assert f1["both"] > max(f1["frames"], f1["audio"])
