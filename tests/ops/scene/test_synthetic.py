"""The generated scene dataset: files, annotations derived from both cues, cues in the media."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.contracts import AudioContract, FrameContract
from ops.media.decode import open_video
from ops.scene.features import iter_segments
from ops.scene.synthetic import (
    FPS,
    SCENE_LABEL,
    generate_scene_dataset,
    plan_cue_runs,
)

TITLES = 4
SECONDS = (8, 10)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_scene_dataset(
        tmp_path_factory.mktemp("scenes"), titles=TITLES, seconds=SECONDS, seed=3
    )


def runs_of(flags: np.ndarray) -> list[tuple[int, int]]:
    """Half-open (start, end) index ranges where ``flags`` is true."""
    edges = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    return list(
        zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True)
    )


def test_it_writes_clips_annotations_media_list_and_cue_log(dataset: Path) -> None:
    media = pd.read_csv(dataset / "media.csv")
    annotations = pd.read_csv(dataset / "annotations.csv")

    assert list(media.columns) == ["item_id", "path", "title"]
    assert list(annotations.columns) == ["item_id", "start_s", "end_s", "label"]
    assert media["item_id"].is_unique and media["title"].is_unique and len(media) == TITLES
    assert set(annotations["label"]) == {SCENE_LABEL}
    assert set(annotations["item_id"]) <= set(media["item_id"])
    for row in media.itertuples():
        info = open_video(dataset / row.path)
        assert (info.width, info.height, info.fps) == (128, 96, FPS)
        assert info.duration_s is not None
        assert SECONDS[0] <= round(info.duration_s) <= SECONDS[1]


def test_a_second_is_positive_exactly_when_both_cues_are_present(dataset: Path) -> None:
    annotations = pd.read_csv(dataset / "annotations.csv")
    cues = pd.read_csv(dataset / "cues.csv")

    for item_id, log in cues.groupby("item_id"):
        log = log.sort_values("second")
        both = (log["visual"] == 1).to_numpy() & (log["sound"] == 1).to_numpy()
        own = annotations[annotations["item_id"] == item_id]
        assert runs_of(both) == sorted(zip(own["start_s"], own["end_s"], strict=True))
        # One modality alone is never enough: each clip has motif-only and sound-only time.
        assert ((log["visual"] == 1) & (log["sound"] == 0)).any()
        assert ((log["visual"] == 0) & (log["sound"] == 1)).any()
    lengths = annotations["end_s"] - annotations["start_s"]
    assert lengths.between(2, 6).all()


def test_the_cues_are_really_in_the_pictures_and_the_sound(dataset: Path) -> None:
    media = pd.read_csv(dataset / "media.csv")
    cues = pd.read_csv(dataset / "cues.csv").set_index(["item_id", "second"])
    warm, low, visual, sound = [], [], [], []
    for row in media.itertuples():
        for segment in iter_segments(dataset / row.path, FrameContract(2, 32, 32), AudioContract()):
            pixels = segment.frames.astype(int)
            red, blue = pixels[..., 0], pixels[..., 2]
            warm.append(float(((red > 170) & (blue < 110) & (red - blue > 100)).mean()))
            low.append(float(segment.logmel[:, :10].mean()))  # mel bands below ~350 Hz
            visual.append(bool(cues.loc[(row.item_id, segment.index), "visual"]))
            sound.append(bool(cues.loc[(row.item_id, segment.index), "sound"]))
    warm_by_cue, low_by_cue = np.array(warm), np.array(low)
    shown, heard = np.array(visual), np.array(sound)

    assert warm_by_cue[shown].mean() > 3 * warm_by_cue[~shown].mean() + 0.01
    assert low_by_cue[heard].mean() > low_by_cue[~heard].mean() + 2
    threshold = (low_by_cue[heard].mean() + low_by_cue[~heard].mean()) / 2
    assert ((low_by_cue > threshold) == heard).mean() >= 0.9


def test_the_same_seed_gives_the_same_dataset(dataset: Path, tmp_path: Path) -> None:
    again = generate_scene_dataset(tmp_path / "again", titles=TITLES, seconds=SECONDS, seed=3)
    other = generate_scene_dataset(tmp_path / "other", titles=TITLES, seconds=SECONDS, seed=4)

    for name in ("annotations.csv", "media.csv", "cues.csv"):
        assert (again / name).read_bytes() == (dataset / name).read_bytes()
    first_clip = pd.read_csv(dataset / "media.csv")["path"][0]
    assert (again / first_clip).read_bytes() == (dataset / first_clip).read_bytes()
    assert (other / "cues.csv").read_bytes() != (dataset / "cues.csv").read_bytes()


@pytest.mark.parametrize("duration", [8, 9, 20, 31, 32, 40])
def test_cue_runs_fit_the_clip_and_stay_apart(duration: int) -> None:
    for seed in range(50):
        runs = plan_cue_runs(np.random.default_rng([seed, duration]), duration)

        kinds = [run.kind for run in runs]
        assert sorted(kinds) == sorted(["both", "visual", "sound"] * (len(runs) // 3))
        assert runs[0].start_s >= 0 and runs[-1].end_s <= duration
        assert all(2 <= run.end_s - run.start_s <= 6 for run in runs)
        assert all(b.start_s >= a.end_s + 1 for a, b in itertools.pairwise(runs))


@pytest.mark.parametrize(
    ("titles", "seconds", "message"),
    [(0, (20, 40), "titles"), (2, (7, 10), "seconds"), (2, (12, 10), "seconds")],
)
def test_impossible_sizes_are_refused(
    tmp_path: Path, titles: int, seconds: tuple[int, int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        generate_scene_dataset(tmp_path, titles=titles, seconds=seconds)
