"""Generated genre folders and a model trained on them once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.genre.train import train_genre_model
from tests.ops.genre.synth import genre_folder


@pytest.fixture(scope="session")
def genre_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(train, test): four tracks per made-up genre to train on, two others to test on."""
    root = tmp_path_factory.mktemp("genres")
    return genre_folder(root / "train", 4, first_seed=0), genre_folder(root / "test", 2, 50)


@pytest.fixture(scope="session")
def model_path(genre_dirs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A genre model trained on the generated training folder."""
    path = tmp_path_factory.mktemp("model") / "genre.joblib"
    return train_genre_model(genre_dirs[0], path).path
