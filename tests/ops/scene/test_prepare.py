"""Preparing a real (generated) labelled dataset: segment table, split by title, tensors."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from models.contracts import AudioContract, FrameContract
from ops.catalog.store import write_catalog
from ops.ingest.rawstore import RawStore
from ops.scene.labels import training_data_origin, version_labels
from ops.scene.prepare import (
    SEGMENT_COLUMNS,
    PreparedDataset,
    SegmentTensorDataset,
    prepare_dataset,
    split_by_title,
)
from ops.scene.synthetic import SCENE_LABEL, generate_scene_dataset
from ops.settings import Settings

FRAMES = FrameContract(frames_per_segment=2, height=32, width=32)
AUDIO = AudioContract()
LABELS = (SCENE_LABEL,)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(home=tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> Path:
    root = generate_scene_dataset(
        tmp_path_factory.mktemp("labelled"), titles=4, seconds=(8, 10), seed=5
    )
    version_labels(root, settings)
    return root


@pytest.fixture(scope="module")
def prepared(
    tmp_path_factory: pytest.TempPathFactory, dataset: Path, settings: Settings
) -> PreparedDataset:
    return prepare_dataset(
        dataset,
        tmp_path_factory.mktemp("prepared"),
        settings,
        labels=LABELS,
        frames=FRAMES,
        audio=AUDIO,
    )


def test_the_segment_table_has_its_columns_and_one_row_per_second(
    prepared: PreparedDataset, dataset: Path
) -> None:
    table = pd.read_parquet(prepared.root / "segments.parquet")

    assert list(table.columns) == [*SEGMENT_COLUMNS, SCENE_LABEL]
    assert set(table["split"]) == {"train", "val"}
    media = pd.read_csv(dataset / "media.csv").set_index("item_id")
    for item_id, rows in table.groupby("item_id"):
        assert rows["segment_index"].tolist() == list(range(len(rows)))
        assert rows["start_s"].tolist() == [float(i) for i in range(len(rows))]
        assert (rows["title"] == media.loc[item_id, "title"]).all()
        assert rows["feature_dir"].nunique() == 1


def test_segments_are_positive_exactly_where_the_generator_put_both_cues(
    prepared: PreparedDataset, dataset: Path
) -> None:
    cues = pd.read_csv(dataset / "cues.csv")
    expected = cues.assign(kiss=(cues["visual"] & cues["sound"]).astype(int))
    merged = prepared.segments.merge(
        expected, left_on=["item_id", "segment_index"], right_on=["item_id", "second"]
    )

    assert len(merged) == len(prepared.segments)
    assert (merged["kiss_x"] == merged["kiss_y"]).all()


def test_the_split_is_by_title_with_positives_on_both_sides(prepared: PreparedDataset) -> None:
    segments = prepared.segments

    assert (segments.groupby("title")["split"].nunique() == 1).all()
    for split in ("train", "val"):
        assert segments.loc[segments["split"] == split, SCENE_LABEL].sum() > 0


def test_the_summary_counts_the_table_and_names_the_dataset_revision(
    prepared: PreparedDataset,
) -> None:
    summary = json.loads((prepared.root / "prepared.json").read_text())

    assert summary["labels"] == [SCENE_LABEL]
    assert summary["dataset_rev"] == prepared.dataset_rev == "labels/scene/v1"
    assert FrameContract(**summary["frames_contract"]) == FRAMES
    for split in ("train", "val"):
        rows = prepared.segments[prepared.segments["split"] == split]
        assert summary["counts"][split]["segments"] == len(rows)
        assert summary["counts"][split]["positives"][SCENE_LABEL] == rows[SCENE_LABEL].sum()
    assert summary["refused_rows"] == 0
    assert pd.read_csv(prepared.root / "refused.csv").empty


def test_load_reads_back_what_was_prepared(prepared: PreparedDataset) -> None:
    loaded = PreparedDataset.load(prepared.root)

    pd.testing.assert_frame_equal(loaded.segments, prepared.segments.reset_index(drop=True))
    assert (loaded.labels, loaded.frames, loaded.audio) == (LABELS, FRAMES, AUDIO)
    assert loaded.dataset_rev == "labels/scene/v1"


def test_a_second_run_is_deterministic_and_reuses_the_feature_cache(
    prepared: PreparedDataset, dataset: Path, settings: Settings, tmp_path: Path
) -> None:
    meta = Path(prepared.segments["feature_dir"].iloc[0]) / "meta.json"
    written_at = meta.stat().st_mtime_ns

    again = prepare_dataset(
        dataset, tmp_path / "again", settings, labels=LABELS, frames=FRAMES, audio=AUDIO
    )

    pd.testing.assert_frame_equal(
        again.segments.reset_index(drop=True), prepared.segments.reset_index(drop=True)
    )
    assert meta.stat().st_mtime_ns == written_at


def test_a_generated_stand_in_is_recorded_as_such_and_real_footage_as_real(
    prepared: PreparedDataset, dataset: Path, tmp_path: Path
) -> None:
    assert prepared.training_data == "generated"
    assert PreparedDataset.load(prepared.root).training_data == "generated"
    real = shutil.copytree(dataset, tmp_path / "real")
    (real / "cues.csv").unlink()  # only the generator writes a cue log
    assert training_data_origin(real) == "real"


def test_the_tensor_dataset_yields_model_inputs_from_the_cache(prepared: PreparedDataset) -> None:
    train = SegmentTensorDataset(prepared, "train")

    frames, audio, target = train[0]

    assert frames.shape == (2, 3, 32, 32) and frames.dtype == torch.float32
    assert audio.shape == (1, 96, 64) and audio.dtype == torch.float32
    assert target.shape == (1,) and target.dtype == torch.float32
    rows = prepared.segments[prepared.segments["split"] == "train"]
    assert len(train) == len(rows)
    assert [float(train[i][2][0]) for i in range(len(train))] == rows[SCENE_LABEL].tolist()
    batch_frames, batch_audio, batch_target = next(iter(DataLoader(train, batch_size=4)))
    FRAMES.check_frames(batch_frames)
    AUDIO.check_audio(batch_audio)
    assert batch_target.shape == (4, 1)
    copy = pickle.loads(pickle.dumps(train))
    torch.testing.assert_close(copy[3][0], train[3][0])
    with pytest.raises(ValueError, match="unknown split"):
        SegmentTensorDataset(prepared, "test")


def test_bad_rows_and_bad_media_are_refused_with_reasons_and_the_rest_goes_on(
    dataset: Path, settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "dataset"
    shutil.copytree(dataset, folder)
    with open(folder / "annotations.csv", "a") as handle:
        handle.write("ghost-film,1,3,kiss\n")  # no media for it
        handle.write(f"{pd.read_csv(folder / 'media.csv')['item_id'][0]},4,2,kiss\n")
    with open(folder / "media.csv", "a") as handle:
        handle.write("lost-film,clips/lost-film.mp4,Lost Film\n")  # its file is missing

    result = prepare_dataset(
        folder, tmp_path / "out", settings, labels=LABELS, frames=FRAMES, audio=AUDIO
    )

    refused = pd.read_csv(tmp_path / "out" / "refused.csv")
    reasons = dict(zip(refused["item_id"], refused["reason"], strict=True))
    assert "no usable media for item ghost-film" in reasons["ghost-film"]
    assert "media not usable" in reasons["lost-film"] and "no such file" in reasons["lost-film"]
    assert any("is not after start_s" in reason for reason in refused["reason"])
    assert result.segments["item_id"].nunique() == 4
    assert result.dataset_rev is None  # this folder is no registry version


def test_without_a_media_list_the_items_come_from_the_catalog(
    dataset: Path, settings: Settings, tmp_path: Path
) -> None:
    home = Settings(home=tmp_path / "home")
    store = RawStore(home.raw_dir, home.tmp_dir)
    media = pd.read_csv(dataset / "media.csv")
    rows = []
    for row in media.itertuples():
        with open(dataset / row.path, "rb") as handle:
            sha256, size = store.put_stream(handle, max_bytes=10**8)
        rows.append(
            {
                "item_id": row.item_id,
                "source": "test",
                "url": f"https://example.test/{row.item_id}",
                "kind": "video",
                "sha256": sha256,
                "bytes": size,
                "title": row.title,
                "status": "ok",
            }
        )
    write_catalog(pd.DataFrame(rows), home.catalog_path)
    folder = tmp_path / "labels-only"
    folder.mkdir()
    shutil.copy(dataset / "annotations.csv", folder / "annotations.csv")

    result = prepare_dataset(
        folder, tmp_path / "out", home, labels=LABELS, frames=FRAMES, audio=AUDIO
    )

    annotated = set(pd.read_csv(folder / "annotations.csv")["item_id"])
    assert set(result.segments["item_id"]) == annotated
    assert result.segments[SCENE_LABEL].sum() > 0


def test_split_by_title_gives_every_label_positives_on_both_sides() -> None:
    rows = []
    for index in range(12):
        title = f"film {index}"
        rows.append({"title": title, "kiss": int(index in (0, 1)), "fight": int(index == 5)})
        rows.append({"title": title, "kiss": 0, "fight": int(index in (6, 7, 8))})
    segments = pd.DataFrame(rows)

    split = split_by_title(segments, ["kiss", "fight"], val_fraction=0.25, seed=1)

    assert split == split_by_title(segments, ["kiss", "fight"], val_fraction=0.25, seed=1)
    assert sorted(set(split.values())) == ["train", "val"]
    assert 2 <= sum(value == "val" for value in split.values()) <= 4
    for label, holders in (("kiss", (0, 1)), ("fight", (5, 6, 7, 8))):
        sides = {split[f"film {index}"] for index in holders}
        assert sides == {"train", "val"}, label
    assert split != split_by_title(segments, ["kiss", "fight"], val_fraction=0.25, seed=2)


def test_split_by_title_needs_two_titles() -> None:
    segments = pd.DataFrame({"title": ["only"], "kiss": [1]})

    with pytest.raises(ValueError, match="two titles"):
        split_by_title(segments, ["kiss"], val_fraction=0.25, seed=0)


def test_bad_arguments_are_refused_before_any_work(
    dataset: Path, settings: Settings, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="val_fraction"):
        prepare_dataset(
            dataset, tmp_path, settings, labels=LABELS, frames=FRAMES, audio=AUDIO, val_fraction=1
        )
    with pytest.raises(ValueError, match="labels"):
        prepare_dataset(dataset, tmp_path, settings, labels="kiss", frames=FRAMES, audio=AUDIO)
    assert not (tmp_path / "segments.parquet").exists()
