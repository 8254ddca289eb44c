"""The genre pipeline's data step and params: stand-ins by default, a user's folder by
setting, the params file's section under a trigger's values."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.dag_params import ParamsRefused
from ops.genre.pipeline import (
    GenreTrainParams,
    data_dir,
    data_step,
    generate_demo_data,
    run_params,
    train_step,
)
from ops.sample_site.media import GENRES
from ops.settings import Settings


def test_the_default_folder_gets_stand_ins_once_and_one_version(home: Settings) -> None:
    generate_demo_data(home, per_genre=2, seconds=3.0, genres=GENRES[:2])
    first = data_step(home)
    assert first.folder == data_dir(home) == home.home / "datasets" / "genre"
    assert (first.dataset_rev, first.training_data) == ("labels/genre/v1", "generated")
    assert first.files == {genre: 2 for genre in GENRES[:2]}
    again = data_step(home)
    assert (again.dataset_rev, again.new_version) == ("labels/genre/v1", False)


def test_a_users_folder_replaces_the_stand_ins(
    home: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ops.datasets.folders import STANDIN_MARKER
    from ops.genre.standins import write_standin_folder

    mine = write_standin_folder(tmp_path / "mine", 1, seconds=3.0, genres=GENRES[:2])
    (mine / STANDIN_MARKER).unlink()  # labelled by hand, as far as anyone can tell
    monkeypatch.setenv("CINESCOPE_GENRE_DATA_DIR", str(mine))
    settings = Settings()
    labelled = data_step(settings)
    assert (labelled.folder, labelled.training_data) == (mine, "real")
    assert not (home.home / "datasets" / "genre").exists()  # no stand-ins were made
    monkeypatch.setenv("CINESCOPE_GENRE_DATA_DIR", str(tmp_path / "typo"))
    with pytest.raises(NotADirectoryError):
        data_step(Settings())


def test_too_few_tracks_for_the_folds_is_refused_with_the_genre(home: Settings) -> None:
    generate_demo_data(home, per_genre=2, seconds=3.0, genres=GENRES[:2])
    with pytest.raises(ValueError, match=r"5-fold evaluation needs at least 5 tracks of every"):
        train_step(home, data_step(home), GenreTrainParams())


def test_run_params_are_the_params_files_section_under_what_is_given(
    home: Settings, tmp_path: Path
) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("scene:\n  epochs: 1\ngenre:\n  folds: 3\n  svm_c: 5.0\n")
    settings = home.model_copy(update={"scene_params_file": params})
    chosen = run_params(settings, {"svm_c": 2.0})
    assert (chosen.folds, chosen.svm_c, chosen.window_s) == (3, 2.0, 3.0)
    assert chosen.model_settings.svm_c == 2.0 and not hasattr(chosen.model_settings, "folds")
    with pytest.raises(ParamsRefused, match="hop_s"):
        run_params(settings, {"hop_s": 10.0})
