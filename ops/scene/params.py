"""The scene-type detector's training knobs, validated once, read from ``params.yaml``.

``dvc repro``, the training DAG and the CLI all build their run from the same
``scene:`` section of the DVC params file, so a run's parameters are whatever DVC
tracked, and a typo in that file fails before any data is read.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


class TrainParams(BaseModel):
    """Everything one scene training run depends on; frozen so a run cannot drift mid-way.

    The defaults are the CPU demo (64 x 64 frames, a quarter-width network); the paper's
    224 x 224 full-width setting is ``image_size: 224, width_multiplier: 1.0``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    labels: tuple[str, ...] = Field(default=("kiss",), min_length=1)
    frames_per_segment: int = Field(default=2, ge=1, description="still frames per 1-s segment")
    image_size: int = Field(default=64, ge=8, description="square frame side in pixels")
    width_multiplier: float = Field(default=0.25, gt=0, le=4)
    dropout: float = Field(default=0.2, ge=0, lt=1)
    epochs: int = Field(default=15, ge=1)
    batch_size: int = Field(default=32, ge=2, description="BatchNorm needs two per batch")
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    patience: int = Field(default=4, ge=1, description="epochs without a better val F1")
    seed: int = Field(default=0, ge=0)
    use_frames: bool = True
    use_audio: bool = True
    ablation: bool = Field(default=True, description="also train frames-only and audio-only")
    device: str = Field(default="auto", description="auto, cpu, cuda or cuda:N")
    amp: bool = Field(default=True, description="mixed precision; only ever on CUDA")
    num_workers: int = Field(default=0, ge=0)
    threshold: float = Field(default=0.5, ge=0, le=1, description="scene segmentor threshold")
    min_scene_s: float = Field(default=2.0, ge=0)
    max_gap_s: float = Field(default=1.0, ge=0)

    @field_validator("labels")
    @classmethod
    def _distinct_names(cls, labels: tuple[str, ...]) -> tuple[str, ...]:
        if not all(label.strip() for label in labels):
            raise ValueError(f"labels must be non-empty names, got {list(labels)}")
        if len(set(labels)) != len(labels):
            raise ValueError(f"labels must be unique, got {list(labels)}")
        return labels

    @field_validator("device")
    @classmethod
    def _known_device(cls, device: str) -> str:
        if not _DEVICE.fullmatch(device):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}")
        return device

    @model_validator(mode="after")
    def _one_branch_on(self) -> TrainParams:
        if not (self.use_frames or self.use_audio):
            raise ValueError("at least one of use_frames and use_audio must be true")
        return self

    @property
    def fused(self) -> bool:
        """Both modalities on: the paper's model, and the only one an ablation makes sense for."""
        return self.use_frames and self.use_audio

    @classmethod
    def from_yaml(cls, path: Path, section: str = "scene") -> TrainParams:
        """Read one section of a DVC params file; a missing file or section says which."""
        if not path.is_file():
            raise FileNotFoundError(f"params file not found: {path}")
        document: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(document, dict) or section not in document:
            sections = sorted(document) if isinstance(document, dict) else []
            raise ValueError(f"{path}: no {section!r} section (found {sections})")
        values = document[section]
        if not isinstance(values, dict):
            raise ValueError(f"{path}: section {section!r} must be a mapping, got {values!r}")
        return cls.model_validate(values)
