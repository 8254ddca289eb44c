"""The pretrained face files as an MLflow model, ``face-embedder``, loaded like any other
model: by URI, with its version in the lineage of what it finds.

A pyfunc: a DataFrame with a ``path`` column of pictures in, one row per kept face out
(``path``, ``face``, the box, size, sharpness, turn, detection score, ``descriptor``).
Its weights are dlib's (landmarks, ResNet descriptor, CNN detector, from the
``face_recognition_models`` wheel), not trained here: versions are tagged
``training_data=pretrained``. ``ensure_face_embedder`` registers a version only when
the installed files differ from the latest version's (by their SHA-256).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

from ops.faces.detect import MODEL_FILES, FaceAnalyser, FaceSettings, model_file
from ops.faces.pictures import UnreadablePicture, read_picture
from ops.tracking_store import (
    default_artifact_location,
    ensure_experiment,
    require_intact_store,
    tracking_uri_context,
)

FACE_EMBEDDER = "face-embedder"
EXPERIMENT = "faces"
FILES_TAG = "files_sha256"
TRAINING_DATA_TAG = "training_data"
PRETRAINED = "pretrained"
OUTPUT_COLUMNS = (
    "path",
    "face",
    "x0",
    "y0",
    "x1",
    "y1",
    "size_px",
    "sharpness",
    "turn",
    "detection_score",
    "descriptor",
    "error",
)


class FaceEmbedderModel(PythonModel):
    """Pictures in, faces with 128-d descriptors out (see the module docstring)."""

    def __init__(self, settings: FaceSettings | None = None) -> None:
        self._settings = (settings or FaceSettings()).model_dump()
        self._analyser: FaceAnalyser | None = None

    def load_context(self, context: Any) -> None:
        files = {role: Path(context.artifacts[role]) for role in MODEL_FILES}
        self._analyser = FaceAnalyser(FaceSettings(**self._settings), files)

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        if "path" not in model_input:
            raise ValueError("face-embedder input needs a 'path' column of pictures")
        analyser = self._analyser or FaceAnalyser(FaceSettings(**self._settings))
        rows: list[dict[str, Any]] = []
        for path in model_input["path"]:
            try:
                found = analyser.analyse(read_picture(Path(path)))
            except UnreadablePicture as error:
                rows.append({"path": path, "face": -1, "error": str(error)})
                continue
            rows.extend(
                {"path": path, "face": number, **face.columns(), "error": None}
                for number, face in enumerate(found.faces)
            )
        return pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS))


def files_digest() -> str:
    """SHA-256 over the installed pretrained files, in role order."""
    digest = hashlib.sha256()
    for role in sorted(MODEL_FILES):
        with open(model_file(MODEL_FILES[role]), "rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


def ensure_face_embedder(tracking_uri: str, settings: FaceSettings | None = None) -> str:
    """The registered version holding the installed files; registered first if none does."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    require_intact_store(tracking_uri)
    client = MlflowClient(tracking_uri)
    digest = files_digest()
    try:
        versions = list(client.search_model_versions(f"name = '{FACE_EMBEDDER}'"))
    except MlflowException:
        versions = []
    for version in sorted(versions, key=lambda v: -int(v.version)):
        if version.tags.get(FILES_TAG) == digest:
            return str(version.version)
    return _register(client, tracking_uri, digest, settings or FaceSettings())


def _register(client: Any, tracking_uri: str, digest: str, settings: FaceSettings) -> str:
    experiment_id = ensure_experiment(client, EXPERIMENT, default_artifact_location(tracking_uri))
    tags = {TRAINING_DATA_TAG: PRETRAINED, FILES_TAG: digest}
    with (
        tracking_uri_context(tracking_uri),
        mlflow.start_run(experiment_id=experiment_id, run_name=FACE_EMBEDDER, tags=tags),
    ):
        mlflow.log_params(settings.model_dump())
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=FaceEmbedderModel(settings),
            artifacts={role: str(model_file(name)) for role, name in MODEL_FILES.items()},
            pip_requirements=_pip_requirements(),
            registered_model_name=FACE_EMBEDDER,
        )
    version = str(info.registered_model_version)
    for key, value in tags.items():
        client.set_model_version_tag(FACE_EMBEDDER, version, key, value)
    return version


def load_face_embedder(model_uri: str, tracking_uri: str) -> Any:
    """A registered face-embedder (``models:/face-embedder/1``) as a pyfunc model."""
    require_intact_store(tracking_uri)
    with tracking_uri_context(tracking_uri):
        return mlflow.pyfunc.load_model(model_uri)


def _pip_requirements() -> list[str]:
    """Pinned here so MLflow does not import the model to infer them."""
    return [
        f"{name}=={importlib.metadata.version(name)}"
        for name in ("mlflow", "dlib-bin", "opencv-python-headless", "pandas", "pillow")
    ]
