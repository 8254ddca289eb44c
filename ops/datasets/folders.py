"""A labelled folder (one sub-folder per label) as a dataset of the data registry.

The genre and mood models train on such folders: a user's own labelled files, or
generated stand-ins. A stand-in folder carries a hidden marker file naming its
generator, so every version and every model trained on it records ``generated``, and a
folder without it records ``real``; hidden files are not part of the dataset, so the
marker changes no revision. Light at import (a DAG file imports :class:`LabelledFolder`).
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ops.scene.results import StepResult
from ops.settings import Settings

STANDIN_MARKER = ".standins.json"


class LabelledFolder(StepResult):
    """A model's data step: the labelled folder and its data-registry revision."""

    folder: Path
    dataset_rev: str  # <dataset>/vN
    new_version: bool
    training_data: str  # generated or real
    files: dict[str, int]  # files per label sub-folder


def mark_standins(folder: Path, generator: dict[str, Any]) -> None:
    """Record that ``folder`` holds generated stand-ins, and how they were made."""
    from ops.atomic import atomic_open

    with atomic_open(folder / STANDIN_MARKER) as handle:
        json.dump(generator, handle, indent=2, sort_keys=True)


def folder_training_data(folder: Path) -> str:
    """``generated`` for a folder of stand-ins (it has the marker), ``real`` otherwise."""
    from ops.scene.labels import GENERATED, REAL

    return GENERATED if (folder / STANDIN_MARKER).is_file() else REAL


def generate_once(folder: Path, write: Callable[[Path], object]) -> Path:
    """``folder`` as ``write(partial)`` makes it, unless it exists: written beside it and
    renamed, so a killed run leaves no half folder to be taken for a whole one."""
    if folder.exists():
        return folder
    partial = folder.with_name(f"{folder.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    write(partial)
    partial.rename(folder)
    return folder


def version_folder(folder: Path, dataset: str, settings: Settings) -> LabelledFolder:
    """Commit ``folder`` as the next ``<dataset>/vN``, or find the version that already
    holds exactly its content."""
    from ops.datasets.registry import DataRegistry
    from ops.scene.labels import dataset_digest, dataset_files, matching_version

    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a labelled folder (one sub-folder per label)")
    files = dataset_files(folder)
    if not files:
        raise ValueError(f"{folder} holds no files to version")
    counts = dict(sorted(Counter(name.split("/")[0] for name in files).items()))
    training_data = folder_training_data(folder)
    created = DataRegistry.from_settings(settings).commit(
        dataset,
        files,
        message=f"{len(files)} files of {len(counts)} labels",
        metadata={
            "content_sha256": dataset_digest(files),
            "files": len(files),
            "per_label": counts,
            "training_data": training_data,
        },
    )
    version = created or matching_version(folder, settings, dataset=dataset)
    if version is None:  # the registry said "unchanged", so a version must hold this content
        raise RuntimeError(f"{dataset}: no registry version matches {folder}'s content")
    return LabelledFolder(
        folder=folder,
        dataset_rev=version.tag,
        new_version=created is not None,
        training_data=training_data,
        files=counts,
    )
