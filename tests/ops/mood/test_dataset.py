"""A user's labelled folder: one sub-folder per mood; bad entries skipped or refused clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ops.mood.circle import UnknownMoodError
from ops.mood.dataset import EmptyDatasetError, folder_dataset, generated_dataset
from ops.mood.standins import write_standin_folder


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    return write_standin_folder(tmp_path / "labelled", 2, size=(48, 36))


def test_every_readable_picture_is_featured_and_labelled_by_its_folder(labelled: Path) -> None:
    dataset = folder_dataset(labelled)
    assert dataset.training_data == "real"
    assert str(labelled) in dataset.source
    assert len(dataset.image_ids) == 16 and dataset.skipped == {}
    assert set(dataset.per_mood().values()) == {2}
    assert "sad/standin-sad-1.png" in dataset.image_ids
    for image_id, mood in zip(dataset.image_ids, dataset.moods, strict=True):
        assert image_id.startswith(f"{mood}/")
    # the same pictures, lossless on disk: the same features as when generated
    generated = generated_dataset(2, size=(48, 36))
    order = [generated.image_ids.index(Path(name).stem) for name in dataset.image_ids]
    assert np.allclose(dataset.features, generated.features[order])
    assert generated.training_data == "generated"
    assert "generated stand-ins" in generated.source


def test_corrupt_and_stray_files_are_skipped_with_their_reason(labelled: Path) -> None:
    (labelled / "calm" / "broken.jpg").write_bytes(b"\xff\xd8 not a picture")
    (labelled / "calm" / "notes.txt").write_text("shot on film")
    (labelled / "loose.png").write_bytes((labelled / "sad" / "standin-sad-0.png").read_bytes())
    (labelled / "tense").rename(labelled / "TENSE")  # sub-folder names ignore case
    dataset = folder_dataset(labelled)
    assert len(dataset.image_ids) == 16
    assert dataset.per_mood()["tense"] == 2
    assert set(dataset.skipped) == {"calm/broken.jpg", "calm/notes.txt", "loose.png"}
    assert "not a readable picture" in dataset.skipped["calm/broken.jpg"]
    assert "not a picture file" in dataset.skipped["calm/notes.txt"]
    assert dataset.skipped["loose.png"] == "not inside a mood sub-folder"


def test_an_unknown_label_stops_the_load_naming_it_and_the_moods(labelled: Path) -> None:
    (labelled / "melancholy").mkdir()
    with pytest.raises(UnknownMoodError, match=r"melancholy name no mood.*joyful, excited"):
        folder_dataset(labelled)


def test_an_empty_mood_folder_is_an_error(labelled: Path) -> None:
    for picture in (labelled / "gloomy").iterdir():
        picture.unlink()
    with pytest.raises(EmptyDatasetError, match="'gloomy' holds no pictures"):
        folder_dataset(labelled)


def test_a_folder_without_pictures_or_with_none_readable_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        folder_dataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmptyDatasetError, match="holds no pictures"):
        folder_dataset(tmp_path / "empty")
    (tmp_path / "broken" / "sad").mkdir(parents=True)
    (tmp_path / "broken" / "sad" / "a.png").write_bytes(b"PNG? no")
    with pytest.raises(EmptyDatasetError, match=r"no readable picture.*sad/a.png"):
        folder_dataset(tmp_path / "broken")
