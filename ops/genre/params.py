"""The genre model's and the music gate's settings, validated once and frozen.

Kept free of heavy imports: a DAG file may import them at parse time. The defaults are
what won on GTZAN's development clips (``python -m benchmarks.genre``): 3-s windows
every 1.5 s, every hand-made feature family, and a soft vote of an RBF SVM and a
logistic regression on standardised features.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Classifier = Literal["svm", "logreg", "extra_trees", "hist_gradient_boosting"]
CLASSIFIERS: tuple[Classifier, ...] = ("svm", "logreg", "extra_trees", "hist_gradient_boosting")


class GenreSettings(BaseModel):
    """How audio is cut into windows and which classifiers vote on each window."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sample_rate: int = Field(default=22_050, ge=8_000, description="decoding rate, mono")
    window_s: float = Field(default=3.0, gt=0.5, le=30, description="seconds per window")
    hop_s: float = Field(default=1.5, gt=0, description="seconds between window starts")
    classifiers: tuple[Classifier, ...] = Field(
        default=("svm", "logreg"),
        min_length=1,
        description="window classifiers whose probabilities are averaged (soft vote)",
    )
    svm_c: float = Field(default=1.0, gt=0, description="RBF SVM regularisation")
    logreg_c: float = Field(default=1.0, gt=0, description="logistic regression regularisation")
    trees: int = Field(default=300, ge=10, description="extra-trees ensemble size")
    calibration_folds: int = Field(
        default=3, ge=2, description="track-grouped folds that turn SVM scores into probabilities"
    )
    seed: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _sensible(self) -> GenreSettings:
        if self.hop_s > self.window_s:
            raise ValueError(f"hop_s ({self.hop_s}) must not exceed window_s ({self.window_s})")
        if len(set(self.classifiers)) != len(self.classifiers):
            raise ValueError(f"classifiers must be distinct, got {list(self.classifiers)}")
        return self

    @property
    def window_samples(self) -> int:
        return round(self.window_s * self.sample_rate)

    @property
    def hop_samples(self) -> int:
        return round(self.hop_s * self.sample_rate)


class GateSettings(BaseModel):
    """Rules that tell music from silence, noise, speech and sparse sounds, one window at a
    time; a file is music when enough of its windows are.

    The thresholds were set on GTZAN's development clips (every window of 50 tracks of
    ten genres, rap included, as music) against generated non-music (white and brown
    noise, silence, synthetic speech, bird-like chirps), never on the files the gate is
    evaluated on.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    silence_db: float = Field(
        default=-50.0, le=0, description="a window quieter than this RMS (dBFS) is silence"
    )
    min_chroma_peak: float = Field(
        default=0.13,
        gt=1 / 12,
        lt=1,
        description="tonal: the strongest pitch class holds at least this share of the "
        "chroma energy (noise spreads it evenly, about 0.10; music's windows: 0.13 and up)",
    )
    speech_share: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="speech: the voice detector hears speech in at least this share of the "
        "window...",
    )
    speech_low_energy: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="...and at least this share of its frames are below half its mean RMS "
        "(the pauses between words; sung or rapped vocals over a band keep the energy up)",
    )
    sparse_low_energy: float = Field(
        default=0.45,
        ge=0,
        le=1,
        description="sparse: at least this share of frames below half the mean RMS "
        "(isolated calls with silence between them: birds, animals, knocks)",
    )
    music_share: float = Field(
        default=0.5, gt=0, le=1, description="a file is music when this share of windows is"
    )
