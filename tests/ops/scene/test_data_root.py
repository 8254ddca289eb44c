from __future__ import annotations

from pathlib import Path

import yaml

from ops.scene.data_root import write_data_root
from ops.settings import REPO_ROOT, Settings


def test_a_data_root_outside_the_repository_is_written_absolute(tmp_path: Path) -> None:
    labels, music = tmp_path / "films", tmp_path / "music"
    target = tmp_path / "data-root.yaml"
    settings = Settings(home=tmp_path / "data", scene_labels_dir=labels, genre_data_dir=music)
    write_data_root(settings, target=target)
    assert yaml.safe_load(target.read_text()) == {
        "home": str(tmp_path / "data"),
        "scene_labels": str(labels),
        "genre_data": str(music),
        "mood_data": str(tmp_path / "data" / "datasets" / "mood"),
    }


def test_the_default_data_root_is_written_relative_to_the_repository(tmp_path: Path) -> None:
    """dvc.lock then holds `var/...`, the same on every clone."""
    root = write_data_root(Settings(home=REPO_ROOT / "var"), target=tmp_path / "data-root.yaml")
    assert (root.home, root.scene_labels) == ("var", "var/datasets/scene")
    assert (root.genre_data, root.mood_data) == ("var/datasets/genre", "var/datasets/mood")
