"""Scene training: params, device, class weights, determinism, early stopping, resume, ablation.

The datasets here are real ``PreparedDataset``s read by the real ``SegmentTensorDataset``;
only their feature cache is written directly (a few random arrays in the cache layout)
instead of being decoded from video, which keeps every test to seconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from pydantic import ValidationError

from models.contracts import AudioContract, FrameContract
from models.scene import SceneClassifier
from ops.scene.evaluate import evaluate, predict_segments
from ops.scene.features import META_NAME
from ops.scene.params import TrainParams
from ops.scene.prepare import PreparedDataset, SegmentTensorDataset
from ops.scene.train import (
    BEST_CHECKPOINT,
    LAST_CHECKPOINT,
    class_weights,
    select_device,
    train_model,
    train_scene,
)

FRAMES = FrameContract(frames_per_segment=1, height=32, width=32)
AUDIO = AudioContract()
SEGMENTS_PER_ITEM = 6
KISS_SECONDS = (1, 2, 3)  # of every item with a scene
METRICS = ("train_loss", "val_loss", "val_f1")


def write_item_features(folder: Path, kiss: np.ndarray, rng: np.random.Generator) -> None:
    """One item's feature cache: kiss seconds are brighter AND louder, so both branches learn."""
    count = len(kiss)
    frames = rng.integers(0, 120, size=(count, 1, 32, 32, 3), dtype=np.uint8)
    frames[kiss] += 120
    logmel = rng.normal(size=(count, AUDIO.patch_frames, AUDIO.n_mels)).astype(np.float32)
    logmel[kiss] += 2.0
    times = np.stack([np.arange(count), np.arange(1, count + 1)], axis=1).astype(np.float64)
    folder.mkdir(parents=True)
    for name, array in (("frames", frames), ("logmel", logmel), ("times", times)):
        np.save(folder / f"{name}.npy", array)
    (folder / META_NAME).write_text(json.dumps({"has_audio": True, "segments": count}))


def make_prepared(root: Path, *, val_positives: bool = True, seed: int = 0) -> PreparedDataset:
    """4 train titles and 2 val titles of 6 one-second segments each."""
    rng = np.random.default_rng(seed)
    rows = []
    for index, split in enumerate(["train"] * 4 + ["val"] * 2):
        item_id = f"title-{index}"
        kiss = np.zeros(SEGMENTS_PER_ITEM, dtype=bool)
        if split == "train" or val_positives:
            kiss[list(KISS_SECONDS)] = True
        folder = root / "features" / item_id
        write_item_features(folder, kiss, rng)
        for second in range(SEGMENTS_PER_ITEM):
            rows.append(
                {
                    "item_id": item_id,
                    "title": item_id,
                    "start_s": float(second),
                    "end_s": float(second + 1),
                    "split": split,
                    "feature_dir": str(folder),
                    "segment_index": second,
                    "kiss": int(kiss[second]),
                }
            )
    return PreparedDataset(root, pd.DataFrame(rows), ("kiss",), FRAMES, AUDIO, "labels/scene/v1")


def make_params(**overrides: object) -> TrainParams:
    values: dict[str, object] = {
        "frames_per_segment": 1,
        "image_size": 32,
        "width_multiplier": 0.125,
        "epochs": 3,
        "batch_size": 8,
        "lr": 3e-3,
        "patience": 10,
        "device": "cpu",
    }
    return TrainParams.model_validate(values | overrides)


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Training keeps the process's thread count; one thread spares the shared test machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> PreparedDataset:
    return make_prepared(tmp_path_factory.mktemp("prepared"))


def metrics_of(history: list[dict[str, float]]) -> list[tuple[float, ...]]:
    """The history without wall-clock times, which differ between identical runs."""
    return [tuple(record[key] for key in ("epoch", *METRICS)) for record in history]


# -- params -------------------------------------------------------------------------------------


def test_params_read_from_a_dvc_params_file(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("scene:\n  labels: [kiss, fight]\n  epochs: 3\n  device: cuda:0\nother: 1\n")
    params = TrainParams.from_yaml(path)
    assert params.labels == ("kiss", "fight")
    assert (params.epochs, params.device, params.image_size) == (3, "cuda:0", 64)
    with pytest.raises(ValueError, match=r"no 'genre' section \(found \['other', 'scene'\]\)"):
        TrainParams.from_yaml(path, section="genre")
    with pytest.raises(FileNotFoundError, match="params file not found"):
        TrainParams.from_yaml(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"use_frames": False, "use_audio": False}, "at least one of use_frames"),
        ({"labels": ["kiss", "kiss"]}, "labels must be unique"),
        ({"device": "tpu"}, "device must be auto, cpu"),
        ({"batch_size": 1}, "greater than or equal to 2"),
        ({"epochs": 2, "unknown": 1}, "Extra inputs are not permitted"),
    ],
)
def test_params_refuse_bad_values(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TrainParams.model_validate(overrides)


# -- device and class weights -------------------------------------------------------------------


def test_select_device() -> None:
    assert select_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert select_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="torch sees no CUDA device"):
            select_device("cuda")
    with pytest.raises(ValueError, match="device must be auto, cpu or cuda"):
        select_device("meta")


def test_class_weights_are_negatives_over_positives() -> None:
    segments = pd.DataFrame({"kiss": [1, 1, 0, 0, 0, 0, 0, 0], "fight": [1, 0, 1, 0, 1, 0, 1, 0]})
    weights = class_weights(segments, ["kiss", "fight"])
    assert weights.tolist() == pytest.approx([6 / 2, 4 / 4])
    with pytest.raises(ValueError, match="'kiss' has 0 positive and 3 negative"):
        class_weights(pd.DataFrame({"kiss": [0, 0, 0]}), ["kiss"])
    with pytest.raises(ValueError, match=r"no 0/1 column for labels \['fight'\]"):
        class_weights(pd.DataFrame({"kiss": [0, 1]}), ["kiss", "fight"])


# -- training -----------------------------------------------------------------------------------


def test_training_learns_and_writes_checkpoints(prepared: PreparedDataset, tmp_path: Path) -> None:
    seen: list[int] = []
    outcome = train_model(
        prepared,
        make_params(epochs=4),
        tmp_path,
        use_frames=True,
        use_audio=True,
        on_epoch=lambda epoch, record: seen.append(epoch),
    )
    assert seen == [1, 2, 3, 4] and len(outcome.history) == 4
    assert outcome.device == "cpu" and not outcome.stopped_early
    assert outcome.best_val_f1 == max(record["val_f1"] for record in outcome.history)
    assert outcome.best_val_f1 >= 0.8, outcome.history
    model = SceneClassifier.load(outcome.model_path)
    assert outcome.model_path == tmp_path / BEST_CHECKPOINT
    assert (tmp_path / LAST_CHECKPOINT).is_file()
    assert not list(tmp_path.glob("*.part"))
    assert evaluate(model, prepared, "val", make_params()).micro.f1 == pytest.approx(
        outcome.best_val_f1
    )


def test_same_seed_same_history(prepared: PreparedDataset, tmp_path: Path) -> None:
    runs = [
        train_model(prepared, make_params(), tmp_path / name, use_frames=True, use_audio=True)
        for name in ("first", "second")
    ]
    assert metrics_of(runs[0].history) == metrics_of(runs[1].history)
    weights = [torch.load(run.model_path, weights_only=True)["state_dict"] for run in runs]
    assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])


def test_early_stopping_stops_after_patience(tmp_path: Path) -> None:
    """No positives in val: the F1 stays 0, so epoch 1 stays best and patience runs out."""
    prepared = make_prepared(tmp_path / "data", val_positives=False)
    outcome = train_model(
        prepared,
        make_params(epochs=10, patience=2),
        tmp_path / "run",
        use_frames=False,
        use_audio=True,
    )
    assert outcome.stopped_early
    assert [int(record["epoch"]) for record in outcome.history] == [1, 2, 3]
    assert outcome.best_epoch == 1


def test_resume_continues_where_it_stopped(prepared: PreparedDataset, tmp_path: Path) -> None:
    first = train_model(
        prepared, make_params(epochs=2), tmp_path / "run", use_frames=True, use_audio=True
    )
    seen: list[int] = []
    resumed = train_model(
        prepared,
        make_params(epochs=4),
        tmp_path / "run",
        use_frames=True,
        use_audio=True,
        on_epoch=lambda epoch, record: seen.append(epoch),
    )
    assert seen == [3, 4]
    assert resumed.history[:2] == first.history
    straight = train_model(
        prepared, make_params(epochs=4), tmp_path / "straight", use_frames=True, use_audio=True
    )
    # Weights, optimizer and every RNG come back: as if it had never stopped.
    assert metrics_of(resumed.history) == metrics_of(straight.history)


def test_resume_refuses_a_checkpoint_of_other_settings(
    prepared: PreparedDataset, tmp_path: Path
) -> None:
    train_model(prepared, make_params(epochs=1), tmp_path, use_frames=True, use_audio=True)
    with pytest.raises(ValueError, match="other model or optimizer settings"):
        train_model(
            prepared, make_params(epochs=2, lr=1e-2), tmp_path, use_frames=True, use_audio=True
        )
    fresh = train_model(
        prepared,
        make_params(epochs=1, lr=1e-2),
        tmp_path,
        use_frames=True,
        use_audio=True,
        resume=False,
    )
    assert len(fresh.history) == 1


def test_training_refuses_features_made_with_other_params(
    prepared: PreparedDataset, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=r"frame size 32x32 vs 64x64"):
        train_model(prepared, make_params(image_size=64), tmp_path, use_frames=True, use_audio=True)


def test_train_scene_trains_the_ablation(prepared: PreparedDataset, tmp_path: Path) -> None:
    calls: list[tuple[str, int]] = []
    result = train_scene(
        prepared,
        make_params(epochs=2),
        tmp_path,
        on_epoch=lambda variant, epoch, record: calls.append((variant, epoch)),
    )
    assert [variant.name for variant in result.variants] == ["both", "frames", "audio"]
    assert calls == [(name, epoch) for name in ("both", "frames", "audio") for epoch in (1, 2)]
    assert result.model_path == tmp_path / "both" / BEST_CHECKPOINT
    frames_only = SceneClassifier.load(tmp_path / "frames" / BEST_CHECKPOINT)
    assert (frames_only.use_frames, frames_only.use_audio) == (True, False)
    table = result.ablation_table()
    assert [(row["variant"], row["frames"], row["audio"]) for row in table] == [
        ("both", True, True),
        ("frames", True, False),
        ("audio", False, True),
    ]
    assert table[0]["val_f1"] == pytest.approx(result.report.micro.f1)


def test_train_scene_without_ablation_trains_only_the_asked_model(
    prepared: PreparedDataset, tmp_path: Path
) -> None:
    result = train_scene(prepared, make_params(epochs=1, use_frames=False), tmp_path)
    assert [variant.name for variant in result.variants] == ["audio"]
    result = train_scene(prepared, make_params(epochs=1, ablation=False), tmp_path / "fused")
    assert [variant.name for variant in result.variants] == ["both"]


def test_the_decision_threshold_is_the_best_f1_point_on_validation_data(
    prepared: PreparedDataset, tmp_path: Path
) -> None:
    from sklearn.metrics import f1_score, precision_recall_curve

    result = train_scene(prepared, make_params(epochs=1, ablation=False), tmp_path)
    model = SceneClassifier.load(result.model_path)
    logits, targets = predict_segments(model, SegmentTensorDataset(prepared, "val"), batch_size=8)
    scores, truth = torch.sigmoid(logits).numpy()[:, 0], targets.numpy()[:, 0]
    precision, recall, _ = precision_recall_curve(truth, scores)
    best_f1 = np.max(2 * precision * recall / np.maximum(precision + recall, 1e-12))

    chosen = result.decision_thresholds["kiss"]
    assert set(result.decision_thresholds) == {"kiss"}
    assert f1_score(truth, scores >= chosen) == pytest.approx(best_f1)
