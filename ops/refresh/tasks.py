"""The inference tasks a refresh runs over the catalog, and which model each uses now.

A task names its current model (``ModelRef``: name, version, dataset revision); planning
compares that with the ledger, and a shard runs exactly the version its plan recorded,
so rows never claim a model that did not make them. Models load lazily, once per
process and behind a lock (Immich's pattern): a worker that runs several shards of the
same model loads it once, and a task whose champion moved drops the old one.

- ``scene``: the MLflow champion ``models:/scene@champion``. For a video, per 1-s segment
  and label a probability, one whole-item row per label (the highest segment score), an
  embedding per segment and their mean for the item. For an image or an audio track,
  only an item embedding, from the model's frame or audio branch: every kind gets a
  content vector, and no label is claimed from half a model.
- ``shots``: the content-change shot detector; per shot a ``shot`` row (its span) and a
  ``keyframe`` row (start = end = the keyframe's time), no embeddings.
- ``faces``: face tracks (ops.faces.tracks) recognised against the face-gallery champion;
  per track of a named person a row with its span, the person and 1 - distance.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import numpy as np
import pyarrow as pa

from ops.media.decode import MediaDecodeError
from ops.predictions.schema import EMBEDDING_SCHEMA, PREDICTION_SCHEMA
from ops.settings import Settings

if TYPE_CHECKING:
    from models.scene import SceneClassifier
    from ops.faces.gallery import Recogniser
    from ops.scene.inference import ScoredSegments

logger = logging.getLogger(__name__)
M = TypeVar("M")

SHOTS_CODE_VERSION = "shots-2"  # bump when detect_shots or the rows it gives change
SHOTS_MODEL_NAME = "shot-detector"
SHOT_LABEL = "shot"
KEYFRAME_LABEL = "keyframe"
NOT_VERSIONED = "n/a"


@dataclass(frozen=True)
class ModelRef:
    """Which model a task's rows come from, and the labelled data it was trained on."""

    model_name: str
    model_version: str
    dataset_rev: str

    @property
    def label(self) -> str:
        """``v3`` for a registry version number, the version string itself otherwise."""
        return f"v{self.model_version}" if self.model_version.isdigit() else self.model_version


@dataclass(frozen=True)
class WorkItem:
    """One item for one task: its media file and the model its rows must name."""

    item_id: str
    path: Path
    model: ModelRef
    created_at: datetime
    kind: str  # the catalog kind: video, audio or image
    source: str  # the catalog source it came from (whose settings may matter, e.g. language)
    duration_s: float | None  # as the probe measured it; None for a still


@dataclass(frozen=True)
class ItemOutput:
    """A task's rows for one item; ``segments`` is what the ledger records."""

    predictions: pa.Table
    embeddings: pa.Table
    segments: int


class ItemFailed(Exception):
    """This item's media cannot be processed (corrupt, missing, undecodable).

    It becomes a ``failed`` ledger row and the shard carries on. Anything else (a bug,
    running out of GPU memory) fails the shard, so a passing problem is never recorded
    as a verdict on the file.
    """


class InferenceTask(Protocol):
    """What the refresh needs from a task."""

    name: str
    kinds: frozenset[str]  # catalog ``kind`` values the task applies to
    no_model_message: str

    def current_model(self, settings: Settings) -> ModelRef | None: ...

    def vocabulary(self, model: ModelRef, settings: Settings) -> list[str] | None:
        """Every label that ``model``'s rows can carry (what the prediction checks allow);
        None for a task whose labels are open text (what was said or shown)."""
        ...

    def run(self, work: WorkItem, settings: Settings) -> ItemOutput: ...


def _constant(value: object, count: int, type_: pa.DataType) -> pa.Array:
    return pa.repeat(pa.scalar(value, type_), count)


def prediction_table(
    work: WorkItem,
    task: str,
    start_s: Sequence[float | None] | np.ndarray,
    end_s: Sequence[float | None] | np.ndarray,
    labels: Sequence[str] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
) -> pa.Table:
    """Rows of PREDICTION_SCHEMA for one item, every one naming the work's model."""
    count = len(labels)
    columns = {
        "item_id": _constant(work.item_id, count, pa.string()),
        "start_s": pa.array(start_s, pa.float64()),
        "end_s": pa.array(end_s, pa.float64()),
        "task": _constant(task, count, pa.string()),
        "label": pa.array(labels, pa.string()),
        "score": pa.array(np.asarray(scores, dtype=np.float32), pa.float32()),
        "model_name": _constant(work.model.model_name, count, pa.string()),
        "model_version": _constant(work.model.model_version, count, pa.string()),
        "dataset_rev": _constant(work.model.dataset_rev, count, pa.string()),
        "created_at": _constant(work.created_at, count, PREDICTION_SCHEMA.field("created_at").type),
    }
    return pa.Table.from_pydict(columns, schema=PREDICTION_SCHEMA)


def embedding_table(
    work: WorkItem,
    task: str,
    start_s: Sequence[float | None],
    end_s: Sequence[float | None],
    vectors: np.ndarray,
) -> pa.Table:
    """Rows of EMBEDDING_SCHEMA for one item: one vector per row of ``vectors``."""
    count = len(vectors)
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1), pa.float32())
    offsets = pa.array(np.arange(count + 1, dtype=np.int32) * vectors.shape[1], pa.int32())
    columns = {
        "item_id": _constant(work.item_id, count, pa.string()),
        "start_s": pa.array(start_s, pa.float64()),
        "end_s": pa.array(end_s, pa.float64()),
        "task": _constant(task, count, pa.string()),
        "model_name": _constant(work.model.model_name, count, pa.string()),
        "model_version": _constant(work.model.model_version, count, pa.string()),
        "vector": pa.ListArray.from_arrays(offsets, flat),
    }
    return pa.Table.from_pydict(columns, schema=EMBEDDING_SCHEMA)


# -- scene ------------------------------------------------------------------------------------


class ModelCache(Generic[M]):
    """The one model of a task this process holds, loaded on first use, under a lock."""

    def __init__(self, load: Callable[[str, str, str], M]) -> None:
        self._load = load
        self._lock = threading.Lock()
        self._key: tuple[str, str, str] | None = None
        self._model: M | None = None

    def get(self, tracking_uri: str, name: str, version: str) -> M:
        key = (tracking_uri, name, version)
        with self._lock:
            if self._key != key or self._model is None:
                self._model = None  # let the old one go before the new one loads
                self._model = self._load(tracking_uri, name, version)
                self._key = key
            return self._model


def _load_scene_model(tracking_uri: str, name: str, version: str) -> SceneClassifier:
    from ops.scene.tracking import load_scene_model
    from ops.scene.train import select_device

    device = select_device("auto")
    logger.info("loading %s version %s on %s", name, version, device)
    return load_scene_model(f"models:/{name}/{version}", tracking_uri).to(device).eval()


def embedded_store_missing(tracking_uri: str) -> bool:
    """A SQLite tracking store that was never created holds no champion (and is not made).

    One that exists but is damaged is refused (:func:`require_intact_store`), not re-created.
    """
    from ops.tracking_store import embedded_store_path, require_intact_store

    require_intact_store(tracking_uri)
    store = embedded_store_path(tracking_uri)
    return store is not None and not store.exists()


def champion_model(settings: Settings, name: str) -> ModelRef | None:
    """The registered model ``name``'s champion version and the data it learned from
    (ops.tracking_store.champion_ref); None before there is one."""
    from ops.tracking_store import champion_ref

    found = champion_ref(settings.tracking_uri, name)
    return ModelRef(name, found[0], found[1]) if found else None


class SceneTask:
    """Scene types per 1-s segment from the MLflow champion; content vectors of every kind."""

    name = "scene"
    kinds = frozenset({"video", "audio", "image"})
    no_model_message = "no champion registered yet"

    def __init__(self) -> None:
        self._models = ModelCache(_load_scene_model)

    def current_model(self, settings: Settings) -> ModelRef | None:
        """``models:/scene@champion``: its version and its run's ``dataset_rev`` tag."""
        from ops.scene.tracking import REGISTERED_MODEL

        return champion_model(settings, REGISTERED_MODEL)

    def _model(self, model: ModelRef, settings: Settings) -> SceneClassifier:
        return self._models.get(settings.tracking_uri, model.model_name, model.model_version)

    def vocabulary(self, model: ModelRef, settings: Settings) -> list[str]:
        """The labels the registered version was trained on."""
        return list(self._model(model, settings).labels)

    def run(self, work: WorkItem, settings: Settings) -> ItemOutput:
        """Stream the item's segments through the model in batches (flat memory)."""
        import torch

        from ops.scene.inference import score_file

        model = self._model(work.model, settings)
        if next(model.parameters()).device.type == "cpu":
            # decoding runs alongside: more intra-op threads oversubscribe the cores
            torch.set_num_threads(settings.inference_threads)
        if work.kind != "video":
            return _content_vector_output(work, self.name, model)
        try:
            scored = score_file(model, work.path)
        except MediaDecodeError as exc:
            raise ItemFailed(str(exc)) from exc
        if not len(scored):
            raise ItemFailed(f"{work.path}: no 1-s segment could be read (shorter than 0.5 s?)")
        return _scene_output(work, self.name, model.labels, scored)


def _scene_output(
    work: WorkItem, task: str, labels: Sequence[str], scored: ScoredSegments
) -> ItemOutput:
    """Segment x label rows, one whole-item row per label, segment and item vectors."""
    segment_scores, segment_vectors = scored.scores, scored.vectors
    count, width = segment_scores.shape
    starts, ends = scored.times[:, 0], scored.times[:, 1]
    per_segment = prediction_table(
        work,
        task,
        np.repeat(starts, width),
        np.repeat(ends, width),
        np.tile(np.asarray(labels, dtype=object), count),
        segment_scores.reshape(-1),
    )
    whole = prediction_table(
        work, task, [None] * width, [None] * width, list(labels), segment_scores.max(axis=0)
    )
    embeddings = embedding_table(
        work,
        task,
        [*starts.tolist(), None],
        [*ends.tolist(), None],
        np.vstack([segment_vectors, segment_vectors.mean(axis=0, keepdims=True)]),
    )
    return ItemOutput(pa.concat_tables([per_segment, whole]), embeddings, count)


def _content_vector_output(work: WorkItem, task: str, model: SceneClassifier) -> ItemOutput:
    """An image's or audio track's item vector from the branch that reads it; no labels."""
    from ops.scene.inference import embed_audio, embed_image

    branch = "frame" if work.kind == "image" else "audio"
    if not (model.use_frames if branch == "frame" else model.use_audio):
        raise ItemFailed(
            f"{work.model.model_name} {work.model.label} has no {branch} branch, "
            f"so a {work.kind} item gets no content vector from it"
        )
    try:
        embedded = (embed_image if branch == "frame" else embed_audio)(model, work.path)
    except MediaDecodeError as exc:
        raise ItemFailed(str(exc)) from exc
    if not embedded.parts:
        raise ItemFailed(f"{work.path}: no 1-s segment could be read (shorter than 0.5 s?)")
    vectors = embedded.vector[None]
    embeddings = embedding_table(work, task, [None], [None], vectors)
    return ItemOutput(PREDICTION_SCHEMA.empty_table(), embeddings, embedded.parts)


# -- shots ------------------------------------------------------------------------------------


class ShotsTask:
    """Shot boundaries from the content-change detector (no registry: code + settings)."""

    name = "shots"
    kinds = frozenset({"video"})
    no_model_message = "no shot detector available"

    def current_model(self, settings: Settings) -> ModelRef | None:
        """Versioned by a digest of the detector's default settings and its code version."""
        from ops.media.shots import ShotSettings

        described = json.dumps(
            {"code": SHOTS_CODE_VERSION, "settings": ShotSettings().model_dump()}, sort_keys=True
        )
        digest = hashlib.sha256(described.encode()).hexdigest()[:12]
        return ModelRef(SHOTS_MODEL_NAME, digest, NOT_VERSIONED)

    def vocabulary(self, model: ModelRef, settings: Settings) -> list[str]:
        return [SHOT_LABEL, KEYFRAME_LABEL]

    def run(self, work: WorkItem, settings: Settings) -> ItemOutput:
        from ops.media.shots import detect_shots

        try:
            shots = detect_shots(work.path)
        except MediaDecodeError as exc:
            raise ItemFailed(str(exc)) from exc
        if not shots:
            raise ItemFailed(f"{work.path}: no video frame could be decoded")
        # The Prediction contract has no keyframe field: a keyframe is a point-in-time row.
        keyframes = [shot.keyframe_s for shot in shots]
        rows = prediction_table(
            work,
            self.name,
            [*(shot.start_s for shot in shots), *keyframes],
            [*(shot.end_s for shot in shots), *keyframes],
            [SHOT_LABEL] * len(shots) + [KEYFRAME_LABEL] * len(shots),
            [1.0] * (2 * len(shots)),
        )
        return ItemOutput(rows, EMBEDDING_SCHEMA.empty_table(), len(shots))


# -- faces ------------------------------------------------------------------------------------


def _load_recogniser(tracking_uri: str, name: str, version: str) -> Recogniser:
    from ops.faces.gallery import load_recogniser

    logger.info("loading %s version %s", name, version)
    return load_recogniser(f"models:/{name}/{version}", tracking_uri)


class FacesTask:
    """Who is on screen: face tracks recognised against the face-gallery champion; one
    row per track of a named person (its span, the person, 1 - distance)."""

    name = "faces"
    kinds = frozenset({"video"})
    no_model_message = (
        "no face-gallery champion yet (name people on /curate, then `cinescope faces gallery`)"
    )

    def __init__(self) -> None:
        self._models = ModelCache(_load_recogniser)

    def current_model(self, settings: Settings) -> ModelRef | None:
        """``models:/face-gallery@champion``: its version and its gallery's dataset tag."""
        from ops.faces.gallery import FACE_GALLERY

        return champion_model(settings, FACE_GALLERY)

    def vocabulary(self, model: ModelRef, settings: Settings) -> list[str]:
        """The people the gallery version knows."""
        recogniser = self._models.get(settings.tracking_uri, model.model_name, model.model_version)
        return sorted(set(recogniser.people))

    def run(self, work: WorkItem, settings: Settings) -> ItemOutput:
        from ops.faces.tracks import TrackSettings, UnreadableVideo, video_face_tracks

        recogniser = self._models.get(
            settings.tracking_uri, work.model.model_name, work.model.model_version
        )
        try:
            found = video_face_tracks(work.path, TrackSettings(workers=1))
        except UnreadableVideo as exc:
            raise ItemFailed(str(exc)) from exc
        named = [
            (track, *recogniser.identify(track.descriptor))
            for track in found.tracks
            if track.descriptor
        ]
        named = [(track, person, distance) for track, person, distance in named if person]
        rows = prediction_table(
            work,
            self.name,
            [track.start_s for track, _, _ in named],
            [track.end_s for track, _, _ in named],
            [str(person) for _, person, _ in named],
            [round(max(0.0, 1.0 - distance), 4) for _, _, distance in named],
        )
        return ItemOutput(rows, EMBEDDING_SCHEMA.empty_table(), len(named))
