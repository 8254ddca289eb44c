"""The refresh tasks of music genre and mood, incrementally like ``scene``.

``genre`` runs the genre champion on audio items and video soundtracks: a file its gate
judges music gets one whole-item row per genre (the mean probability over its music
windows); speech, nature sounds and silence get no row, and count as done. ``mood`` runs
the mood champion on images (one whole-item row per mood) and on each shot's keyframe of
a video (the shot's mood as a row spanning the shot, and the duration-weighted mean as
whole-item rows); an audio track gets its music mood (tempo, mode, energy and brightness
placed on the same circle, ops.mood.music) as one whole-item row, so pictures and music
can be matched by distance on the circle.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from ops.media.decode import MediaDecodeError
from ops.predictions.schema import EMBEDDING_SCHEMA
from ops.refresh.tasks import (
    ItemFailed,
    ItemOutput,
    ModelCache,
    ModelRef,
    WorkItem,
    champion_model,
)
from ops.refresh.tasks import prediction_table as rows_of
from ops.settings import Settings

if TYPE_CHECKING:
    from ops.genre.predict import GenreClassifier
    from ops.mood.model import MoodModel

logger = logging.getLogger(__name__)
GENRE_TASK = "genre"
MOOD_TASK = "mood"


def _load_genre(tracking_uri: str, name: str, version: str) -> GenreClassifier:
    from ops.genre.tracking import load_genre_classifier

    logger.info("loading %s version %s", name, version)
    return load_genre_classifier(f"models:/{name}/{version}", tracking_uri)


def _load_mood(tracking_uri: str, name: str, version: str) -> MoodModel:
    from ops.mood.tracking import load_mood_model

    logger.info("loading %s version %s", name, version)
    return load_mood_model(f"models:/{name}/{version}", tracking_uri)


def _no_rows() -> pa.Table:
    return EMBEDDING_SCHEMA.empty_table()


class GenreTask:
    """Genre of music, audio items and video soundtracks; no genre for what is not music."""

    name = GENRE_TASK
    kinds = frozenset({"audio", "video"})
    no_model_message = "no genre champion yet (cinescope genre train, or DAG train_genre)"

    def __init__(self) -> None:
        self._models = ModelCache(_load_genre)

    def current_model(self, settings: Settings) -> ModelRef | None:
        from ops.genre.tracking import GENRE_MODEL

        return champion_model(settings, GENRE_MODEL)

    def _classifier(self, model: ModelRef, settings: Settings) -> GenreClassifier:
        return self._models.get(settings.tracking_uri, model.model_name, model.model_version)

    def vocabulary(self, model: ModelRef, settings: Settings) -> list[str]:
        return list(self._classifier(model, settings).model.labels)

    def run(self, work: WorkItem, settings: Settings) -> ItemOutput:
        from ops.genre.audio import NoAudioStream, UnreadableAudio

        classifier = self._classifier(work.model, settings)
        try:
            found = classifier.classify_file(work.path)
        except NoAudioStream as exc:
            if work.kind == "video":  # a silent film has no music to name
                return ItemOutput(rows_of(work, self.name, [], [], [], []), _no_rows(), 0)
            raise ItemFailed(str(exc)) from exc
        except (UnreadableAudio, MediaDecodeError) as exc:
            raise ItemFailed(str(exc)) from exc
        if not found.music:
            return ItemOutput(rows_of(work, self.name, [], [], [], []), _no_rows(), found.windows)
        labels = list(found.probabilities)
        scores = [found.probabilities[label] for label in labels]
        rows = rows_of(work, self.name, [None] * len(labels), [None] * len(labels), labels, scores)
        return ItemOutput(rows, _no_rows(), found.windows)


class MoodTask:
    """Mood on the circle: of images, of each shot of a video, of music."""

    name = MOOD_TASK
    kinds = frozenset({"image", "video", "audio"})
    no_model_message = "no mood champion yet (cinescope mood train, or DAG train_mood)"

    def __init__(self) -> None:
        self._models = ModelCache(_load_mood)

    def current_model(self, settings: Settings) -> ModelRef | None:
        from ops.mood.tracking import MOOD_MODEL

        return champion_model(settings, MOOD_MODEL)

    def vocabulary(self, model: ModelRef, settings: Settings) -> list[str]:
        from ops.mood.circle import MOODS

        return list(MOODS)

    def run(self, work: WorkItem, settings: Settings) -> ItemOutput:
        from ops.mood.circle import MOODS

        if work.kind == "audio":
            return self._music(work)
        model = self._models.get(
            settings.tracking_uri, work.model.model_name, work.model.model_version
        )
        if work.kind == "image":
            probabilities = self._pictures(model, [work.path])[0]
            count = len(MOODS)
            rows = rows_of(work, self.name, [None] * count, [None] * count, MOODS, probabilities)
            return ItemOutput(rows, _no_rows(), 1)
        return self._shots(work, model)

    def _pictures(self, model: MoodModel, paths: list[Path]) -> np.ndarray:
        from ops.faces.pictures import UnreadablePicture, read_picture

        try:
            pictures = [read_picture(path) for path in paths]
        except UnreadablePicture as exc:
            raise ItemFailed(str(exc)) from exc
        return model.predict_proba(pictures)

    def _shots(self, work: WorkItem, model: MoodModel) -> ItemOutput:
        from ops.media.shots import detect_shots, extract_keyframes
        from ops.mood.circle import MOODS

        try:
            shots = detect_shots(work.path)
            with tempfile.TemporaryDirectory(prefix="mood-keyframes-") as folder:
                keyframes = extract_keyframes(work.path, shots, Path(folder), max_side=512)
                probabilities = self._pictures(model, keyframes)
        except MediaDecodeError as exc:
            raise ItemFailed(str(exc)) from exc
        if not shots:
            raise ItemFailed(f"{work.path}: no video frame could be decoded")
        best = probabilities.argmax(axis=1)
        lengths = np.asarray([shot.end_s - shot.start_s for shot in shots])
        overall = (probabilities * lengths[:, None]).sum(axis=0) / max(lengths.sum(), 1e-9)
        per_shot = rows_of(
            work,
            self.name,
            [shot.start_s for shot in shots],
            [shot.end_s for shot in shots],
            [MOODS[index] for index in best],
            probabilities[np.arange(len(shots)), best],
        )
        count = len(MOODS)
        whole = rows_of(work, self.name, [None] * count, [None] * count, MOODS, overall)
        return ItemOutput(pa.concat_tables([per_shot, whole]), _no_rows(), len(shots))

    def _music(self, work: WorkItem) -> ItemOutput:
        from ops.mood.music import MusicMoodError, music_mood

        try:
            track = music_mood(work.path, track_id=work.item_id)
        except (MediaDecodeError, MusicMoodError) as exc:
            raise ItemFailed(str(exc)) from exc
        # how clearly the track sits in its octant: its distance from the neutral centre
        score = float(min(1.0, track.strength))
        rows = rows_of(work, self.name, [None], [None], [track.mood], [score])
        return ItemOutput(rows, _no_rows(), 1)
