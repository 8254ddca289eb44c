"""Where ``dvc repro`` reads and writes: the data root written into ``data-root.yaml``.

DVC reads no environment variables in ``dvc.yaml``, so the data root the user chose
(``CINESCOPE_HOME``, ``CINESCOPE_SCENE_LABELS_DIR``, ``CINESCOPE_GENRE_DATA_DIR``,
``CINESCOPE_MOOD_DATA_DIR``) is written into a small vars file that ``dvc.yaml``
interpolates (``${home}``, ``${scene_labels}``, ``${genre_data}``, ``${mood_data}``) into
every path and every stage command. The stages therefore read, write and declare the
same folders, and ``dvc.lock`` records which data root its hashes belong to.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from ops.atomic import atomic_open
from ops.genre.pipeline import data_dir as genre_data_dir
from ops.mood.pipeline import data_dir as mood_data_dir
from ops.scene.pipeline import labels_dir
from ops.settings import REPO_ROOT, Settings, get_settings

DATA_ROOT_FILE = REPO_ROOT / "data-root.yaml"


class DataRoot(BaseModel):
    """The folders the DVC stages use; inside the repository they are written relative to it."""

    model_config = ConfigDict(frozen=True)

    home: str
    scene_labels: str
    genre_data: str
    mood_data: str


def _for_dvc(path: Path) -> str:
    """Repository-relative when inside it (so ``dvc.lock`` holds no machine path), else absolute."""
    resolved = path.expanduser().resolve()
    return (
        str(resolved.relative_to(REPO_ROOT))
        if resolved.is_relative_to(REPO_ROOT)
        else str(resolved)
    )


def data_root(settings: Settings) -> DataRoot:
    return DataRoot(
        home=_for_dvc(settings.home),
        scene_labels=_for_dvc(labels_dir(settings)),
        genre_data=_for_dvc(genre_data_dir(settings)),
        mood_data=_for_dvc(mood_data_dir(settings)),
    )


def write_data_root(settings: Settings | None = None, target: Path = DATA_ROOT_FILE) -> DataRoot:
    """Write the current settings' data root where ``dvc.yaml`` reads it (before ``dvc repro``)."""
    root = data_root(settings or get_settings())
    with atomic_open(target) as handle:
        handle.write(
            "# Written by `cinescope scene data-root` (make train) from CINESCOPE_HOME and\n"
            "# CINESCOPE_{SCENE_LABELS,GENRE_DATA,MOOD_DATA}_DIR; dvc.yaml reads it. Rewrite it\n"
            "# to move the pipeline.\n"
        )
        yaml.safe_dump(root.model_dump(), handle, sort_keys=False)
    return root
