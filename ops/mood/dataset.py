"""Mood-labelled pictures turned into features: generated stand-ins, or a user's own folder.

A labelled folder holds one sub-folder per mood (named as in :data:`MOODS`, any case),
each with its pictures. A sub-folder with another name stops the load with the names it
expected, since a typo would otherwise train a model that never learns that mood; a
picture that cannot be read is skipped with its reason; an empty mood sub-folder or a
folder with nothing readable is an error. Features are computed as pictures are read,
so a folder of thousands of photos never sits in memory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator
from tqdm import tqdm

from ops.faces.pictures import PICTURE_SUFFIXES, UnreadablePicture, read_picture
from ops.mood.circle import MOODS, Mood, UnknownMoodError
from ops.mood.features import FEATURE_NAMES, FEATURE_SIDE, feature_matrix, image_features
from ops.mood.results import TrainingData
from ops.mood.standins import STANDIN_SIZE, STANDIN_SOURCE, standin_images


class EmptyDatasetError(ValueError):
    """A labelled folder (or one of its mood sub-folders) with no readable picture."""


class MoodDataset(BaseModel):
    """Features of labelled pictures, with where they came from and what was skipped."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    image_ids: tuple[str, ...]
    moods: tuple[Mood, ...]
    features: np.ndarray
    training_data: TrainingData
    source: str
    skipped: dict[str, str] = {}

    @model_validator(mode="after")
    def _rows_agree(self) -> MoodDataset:
        rows = len(self.image_ids)
        if len(self.moods) != rows or self.features.shape != (rows, len(FEATURE_NAMES)):
            raise ValueError(
                f"{rows} ids, {len(self.moods)} moods and features of shape "
                f"{self.features.shape} do not describe the same pictures"
            )
        return self

    def per_mood(self) -> dict[str, int]:
        """How many pictures each mood has (every mood listed, zero included)."""
        return {mood: self.moods.count(mood) for mood in MOODS}


def generated_dataset(
    per_mood: int, *, seed: int = 0, size: tuple[int, int] = STANDIN_SIZE
) -> MoodDataset:
    """Features of ``per_mood`` generated stand-ins per mood (see :mod:`ops.mood.standins`)."""
    ids, moods, pictures = zip(*standin_images(per_mood, seed=seed, size=size), strict=True)
    features = feature_matrix(tqdm(pictures, desc="mood features", unit="picture", leave=False))
    return MoodDataset(
        image_ids=ids,
        moods=moods,
        features=features,
        training_data="generated",
        source=f"{STANDIN_SOURCE} (seed {seed}, {per_mood} per mood, {size[0]}x{size[1]})",
    )


def folder_dataset(folder: Path, side: int = FEATURE_SIDE) -> MoodDataset:
    """Features of every readable picture of a labelled folder (one sub-folder per mood)."""
    pictures, skipped = _labelled_pictures(folder)
    ids: list[str] = []
    moods: list[Mood] = []
    rows: list[np.ndarray] = []
    for mood, path in tqdm(pictures, desc="mood features", unit="picture", leave=False):
        name = path.relative_to(folder).as_posix()
        try:
            rows.append(image_features(read_picture(path), side))
        except UnreadablePicture as error:
            skipped[name] = str(error)
            continue
        ids.append(name)
        moods.append(mood)
    if not rows:
        raise EmptyDatasetError(
            f"{folder}: no readable picture in its mood sub-folders "
            f"({len(skipped)} skipped: {_first_reasons(skipped)})"
        )
    return MoodDataset(
        image_ids=tuple(ids),
        moods=tuple(moods),
        features=np.stack(rows),
        training_data="real",
        source=f"labelled folder {folder}",
        skipped=skipped,
    )


def _labelled_pictures(folder: Path) -> tuple[list[tuple[Mood, Path]], dict[str, str]]:
    """(mood, picture file) pairs, sorted, and the files skipped before any decoding."""
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder of mood sub-folders")
    entries = sorted(entry for entry in folder.iterdir() if not entry.name.startswith("."))
    subfolders = [entry for entry in entries if entry.is_dir()]
    unknown = [entry.name for entry in subfolders if entry.name.lower() not in MOODS]
    if unknown:
        raise UnknownMoodError(
            f"{folder}: sub-folder(s) {', '.join(unknown)} name no mood; "
            f"expected one sub-folder per mood among {', '.join(MOODS)}"
        )
    skipped = {entry.name: "not inside a mood sub-folder" for entry in entries if entry.is_file()}
    pictures: list[tuple[Mood, Path]] = []
    for sub in subfolders:
        mood = MOODS[MOODS.index(sub.name.lower())]
        files = sorted(path for path in sub.rglob("*") if path.is_file())
        if not files:
            raise EmptyDatasetError(f"{sub}: the mood sub-folder {sub.name!r} holds no pictures")
        for path in files:
            if path.suffix.lower() in PICTURE_SUFFIXES:
                pictures.append((mood, path))
            else:
                skipped[path.relative_to(folder).as_posix()] = (
                    f"not a picture file (suffix {path.suffix or 'none'!r})"
                )
    if not pictures:
        raise EmptyDatasetError(f"{folder} holds no pictures in mood sub-folders")
    return pictures, skipped


def _first_reasons(skipped: dict[str, str], shown: int = 3) -> str:
    listed = "; ".join(f"{name}: {reason}" for name, reason in list(skipped.items())[:shown])
    return listed + ("; ..." if len(skipped) > shown else "")
