"""A labelled folder versioned in the data registry, and what marks it as stand-ins."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.datasets.folders import (
    STANDIN_MARKER,
    folder_training_data,
    generate_once,
    mark_standins,
    version_folder,
)
from ops.settings import Settings


def labelled(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def test_a_folder_is_versioned_once_per_content_and_says_what_it_holds(
    home: Settings, tmp_path: Path
) -> None:
    folder = labelled(tmp_path / "music", {"jazz/a.wav": "a", "jazz/b.wav": "b", "rag/c.wav": "c"})
    first = version_folder(folder, "labels/genre", home)
    assert (first.dataset_rev, first.new_version, first.training_data) == (
        "labels/genre/v1",
        True,
        "real",
    )
    assert first.files == {"jazz": 2, "rag": 1}
    mark_standins(folder, {"generator": "test"})  # hidden: not part of the dataset
    again = version_folder(folder, "labels/genre", home)
    assert (again.dataset_rev, again.new_version, again.training_data) == (
        "labels/genre/v1",
        False,
        "generated",
    )
    (folder / "rag" / "c.wav").write_text("changed")
    assert version_folder(folder, "labels/genre", home).dataset_rev == "labels/genre/v2"


def test_a_missing_or_empty_folder_is_refused(home: Settings, tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError, match="not a labelled folder"):
        version_folder(tmp_path / "none", "labels/genre", home)
    (tmp_path / "empty" / "jazz").mkdir(parents=True)
    with pytest.raises(ValueError, match="no files"):
        version_folder(tmp_path / "empty", "labels/genre", home)


def test_generate_once_leaves_no_half_folder_and_keeps_an_existing_one(tmp_path: Path) -> None:
    target = tmp_path / "standins"

    def broken(folder: Path) -> None:
        labelled(folder, {"jazz/a.wav": "a"})
        raise RuntimeError("killed half-way")

    with pytest.raises(RuntimeError):
        generate_once(target, broken)
    assert not target.exists()

    def write(folder: Path) -> None:
        labelled(folder, {"jazz/a.wav": "a"})
        mark_standins(folder, {"generator": "test"})

    assert generate_once(target, write) == target
    assert folder_training_data(target) == "generated" and (target / STANDIN_MARKER).is_file()
    assert not (tmp_path / "standins.partial").exists()
    generate_once(target, broken)  # exists: nothing is written
