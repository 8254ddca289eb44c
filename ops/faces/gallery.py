"""The curated gallery and the recogniser built on it, ``face-gallery``.

The gallery is every named person's confirmed faces (person, face id, descriptor),
versioned in the data registry as ``faces/gallery`` (v1, v2, ...). The recogniser names a
face after its nearest gallery face when closer than an open-set threshold, and leaves it
unknown otherwise: a stranger is never forced onto a named person.

The threshold is chosen on the gallery itself, leaving one out: each confirmed face is a
genuine probe against the rest of the gallery, and an impostor probe against the gallery
without its person (it must come out unknown), as is every ignored face (a stranger)
against the whole gallery. The threshold is the largest that keeps the false-accept rate
at or under ``target_far``; that rate and the true-accept rate at it are measured and
logged with the version. A version becomes champion when there is none, or when it
knows every person the champion knows and its false-accept rate is within the target.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel
from pydantic import BaseModel, ConfigDict

from ops.datasets.registry import DataRegistry
from ops.faces.people import CurationStore
from ops.faces.store import FaceStore
from ops.settings import Settings
from ops.tracking_store import (
    default_artifact_location,
    ensure_experiment,
    require_intact_store,
    tracking_uri_context,
)

FACE_GALLERY = "face-gallery"
GALLERY_DATASET = "faces/gallery"
GALLERY_FILE = "gallery.parquet"
CHAMPION_ALIAS = "champion"
PEOPLE_TAG = "people"
PEOPLE_SEPARATOR = "\n"
TARGET_FAR = 0.01
MAX_THRESHOLD = 0.6
"""dlib's own same-person distance: the threshold never goes above it."""


class GalleryMeasure(BaseModel):
    """The open-set threshold and what it was measured to do."""

    model_config = ConfigDict(frozen=True)

    threshold: float
    false_accept_rate: float
    true_accept_rate: float
    genuine_probes: int
    impostor_probes: int


class GalleryVersion(BaseModel):
    """A registered face-gallery version."""

    model_config = ConfigDict(frozen=True)

    version: str
    dataset_rev: str
    people: list[str]
    faces: int
    measure: GalleryMeasure
    promoted: bool
    reason: str


class Recogniser:
    """Nearest gallery face within the threshold, or unknown."""

    def __init__(self, gallery: pd.DataFrame, threshold: float) -> None:
        self.people = gallery["person"].astype(str).tolist()
        self.descriptors = np.asarray(gallery["descriptor"].tolist(), dtype=np.float32)
        self.threshold = threshold

    def identify(self, descriptor: list[float] | np.ndarray) -> tuple[str | None, float]:
        """(person or None, distance to the nearest gallery face)."""
        if not self.people:
            return None, float("inf")
        distances = np.linalg.norm(self.descriptors - np.asarray(descriptor), axis=1)
        nearest = int(np.argmin(distances))
        distance = float(distances[nearest])
        return (self.people[nearest] if distance < self.threshold else None), distance


class FaceGalleryModel(PythonModel):
    """A pyfunc: a ``descriptor`` column in; ``person`` (None: unknown) and ``distance``
    out."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.recogniser: Recogniser | None = None

    def load_context(self, context: Any) -> None:
        gallery = pd.read_parquet(context.artifacts["gallery"])
        self.recogniser = Recogniser(gallery, self.threshold)

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        if self.recogniser is None:
            raise RuntimeError("face-gallery used before its gallery was loaded")
        found = [self.recogniser.identify(row) for row in model_input["descriptor"]]
        return pd.DataFrame(found, columns=["person", "distance"])


def gallery_frame(settings: Settings) -> pd.DataFrame:
    """Every named person's confirmed faces with their descriptors, by person."""
    state = CurationStore(settings).read()
    rows = [(name, face) for name, person in sorted(state.people.items()) for face in person.faces]
    faces = [face for _, face in rows]
    descriptors = FaceStore(settings).descriptors(faces) if faces else np.zeros((0, 128))
    return pd.DataFrame(
        {
            "person": [name for name, _ in rows],
            "face_id": faces,
            "descriptor": [row.tolist() for row in descriptors],
        }
    )


def choose_threshold(
    gallery: pd.DataFrame, strangers: np.ndarray, target_far: float = TARGET_FAR
) -> GalleryMeasure:
    """The largest threshold whose leave-one-out false-accept rate is within target."""
    people = gallery["person"].to_numpy()
    matrix = np.asarray(gallery["descriptor"].tolist(), dtype=np.float32).reshape(-1, 128)
    distances = np.linalg.norm(matrix[:, None, :] - matrix[None, :, :], axis=2)
    np.fill_diagonal(distances, np.inf)
    same = people[:, None] == people[None, :]
    genuine = np.where(same, distances, np.inf).min(axis=1)  # nearest other face of theirs
    impostor = np.where(same, np.inf, distances).min(axis=1)  # nearest face of anyone else
    genuine = genuine[np.isfinite(genuine)]
    impostor = impostor[np.isfinite(impostor)]
    if len(strangers) and len(matrix):
        outside = np.linalg.norm(strangers[:, None, :] - matrix[None, :, :], axis=2).min(axis=1)
        impostor = np.concatenate([impostor, outside])
    allowed = int(np.floor(target_far * len(impostor)))
    ordered = np.sort(impostor)
    threshold = (
        MAX_THRESHOLD if allowed >= len(ordered) else float(min(ordered[allowed], MAX_THRESHOLD))
    )
    return GalleryMeasure(
        threshold=round(threshold, 4),
        false_accept_rate=round(float((impostor < threshold).mean()) if len(impostor) else 0.0, 4),
        true_accept_rate=round(float((genuine < threshold).mean()) if len(genuine) else 0.0, 4),
        genuine_probes=len(genuine),
        impostor_probes=len(impostor),
    )


def register_gallery(settings: Settings, target_far: float = TARGET_FAR) -> GalleryVersion:
    """Version the gallery (data registry), register the recogniser built on it (MLflow),
    and promote it when the gate allows (see the module docstring)."""
    from mlflow import MlflowClient

    gallery = gallery_frame(settings)
    if gallery.empty:
        raise ValueError("no named people yet: name a cluster on the curation page first")
    state = CurationStore(settings).read()
    strangers = (
        FaceStore(settings).descriptors(state.ignored) if state.ignored else np.zeros((0, 128))
    )
    measure = choose_threshold(gallery, strangers, target_far)
    people = sorted(set(gallery["person"]))
    with tempfile.TemporaryDirectory(prefix="gallery-") as scratch:
        path = Path(scratch) / GALLERY_FILE
        gallery.to_parquet(path, index=False)
        registry = DataRegistry.from_settings(settings)
        registry.ensure()
        registry.commit(
            GALLERY_DATASET,
            {GALLERY_FILE: path},
            message=f"{len(gallery)} faces of {len(people)} people",
            metadata={"people": people},
        )
        dataset = registry.latest(GALLERY_DATASET)
        assert dataset is not None
        tracking_uri = settings.tracking_uri
        require_intact_store(tracking_uri)
        client = MlflowClient(tracking_uri)
        experiment = ensure_experiment(client, "faces", default_artifact_location(tracking_uri))
        tags = {
            "dataset_rev": dataset.tag,
            "training_data": "real",
            PEOPLE_TAG: PEOPLE_SEPARATOR.join(people),
        }
        with (
            tracking_uri_context(tracking_uri),
            mlflow.start_run(experiment_id=experiment, run_name=FACE_GALLERY, tags=tags),
        ):
            mlflow.log_params({"target_far": target_far, "people": len(people)})
            mlflow.log_metrics(
                measure.model_dump(exclude={"threshold"}) | {"threshold": measure.threshold}
            )
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=FaceGalleryModel(measure.threshold),
                artifacts={"gallery": str(path)},
                pip_requirements=[f"mlflow=={mlflow.__version__}", "pandas", "numpy"],
                registered_model_name=FACE_GALLERY,
                metadata={"people": people, "threshold": measure.threshold},
            )
    version = str(info.registered_model_version)
    for key, value in tags.items():
        client.set_model_version_tag(FACE_GALLERY, version, key, value)
    promoted, reason = _gate(client, people, measure, target_far)
    if promoted:
        client.set_registered_model_alias(FACE_GALLERY, CHAMPION_ALIAS, version)
    return GalleryVersion(
        version=version,
        dataset_rev=dataset.tag,
        people=people,
        faces=len(gallery),
        measure=measure,
        promoted=promoted,
        reason=reason,
    )


def _gate(
    client: Any, people: list[str], measure: GalleryMeasure, target: float
) -> tuple[bool, str]:
    from mlflow.exceptions import MlflowException

    if measure.false_accept_rate > target:
        return False, f"false-accept rate {measure.false_accept_rate} above the target {target}"
    try:
        champion = client.get_model_version_by_alias(FACE_GALLERY, CHAMPION_ALIAS)
    except MlflowException:
        return True, "no champion yet"
    known = set(filter(None, champion.tags.get(PEOPLE_TAG, "").split(PEOPLE_SEPARATOR)))
    missing = sorted(known - set(people))
    if missing:
        return False, f"the champion knows {', '.join(missing)}, this gallery does not"
    return True, f"knows every person the champion (v{champion.version}) knows"


def load_recogniser(model_uri: str, tracking_uri: str) -> Recogniser:
    """A registered face-gallery (``models:/face-gallery@champion``) as a Recogniser."""
    require_intact_store(tracking_uri)
    with tracking_uri_context(tracking_uri):
        model = mlflow.pyfunc.load_model(model_uri)
    wrapped: FaceGalleryModel = model.unwrap_python_model()
    if wrapped.recogniser is None:
        raise RuntimeError(f"{model_uri}: the gallery did not load")
    return wrapped.recogniser
