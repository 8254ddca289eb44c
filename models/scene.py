"""Scene-type classifier for 1-second segments: ResNet-18 frames + VGGish audio, late fusion.

Each enabled branch encodes its input (the frames of a segment are encoded one by one and
their embeddings averaged over N), then maps its own embedding to per-label logits through
its own dropout + linear head. The fused logits are the mean of the enabled branches'
logits. We fuse logits rather than concatenating embeddings into one head because then
every branch is trained to predict the labels on its own, so switching a branch off for
an ablation changes nothing about how the other one is read, and a segment whose audio is
silent or whose frames are black can still be outvoted by the other branch.

Labels are independent (multi-label, sigmoid per label): ``kiss`` first, new labels
are added by adding names to ``labels``.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Sequence
from typing import Any, BinaryIO

import torch
import torch.nn.functional as F
from torch import nn

from models.contracts import AudioContract, FrameContract, SceneInput
from models.resnet import ResNet18
from models.vggish import VGGish

CHECKPOINT_KEYS = frozenset({"config", "state_dict"})


class SceneClassifier(nn.Module):
    """Per-segment multi-label scene classifier; ``forward`` returns logits ``(B, L)``."""

    def __init__(
        self,
        labels: Sequence[str],
        frame_contract: FrameContract,
        audio_contract: AudioContract,
        use_frames: bool = True,
        use_audio: bool = True,
        width_multiplier: float = 1.0,
        dropout: float = 0.2,
        audio_embedding_dim: int = 128,
    ) -> None:
        super().__init__()
        if isinstance(labels, str) or not labels:
            raise ValueError(f"labels must be a non-empty sequence of label names, got {labels!r}")
        labels = list(labels)
        if not all(isinstance(label, str) and label for label in labels):
            raise ValueError(f"labels must be non-empty strings, got {labels!r}")
        if len(set(labels)) != len(labels):
            raise ValueError(f"labels must be unique, got {labels!r}")
        if not (use_frames or use_audio):
            raise ValueError("at least one branch must be on: use_frames or use_audio")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.labels = labels
        self.contract = SceneInput(frame_contract, audio_contract)
        self.use_frames, self.use_audio = use_frames, use_audio
        self.width_multiplier, self.dropout = width_multiplier, dropout
        self.audio_embedding_dim = audio_embedding_dim

        self.frame_encoder: ResNet18 | None = None
        self.frame_head: nn.Sequential | None = None
        if use_frames:
            self.frame_encoder = ResNet18(
                num_classes=None,
                width_multiplier=width_multiplier,
                in_channels=frame_contract.channels,
            )
            self.frame_head = self._head(self.frame_encoder.embedding_dim)
        self.audio_encoder: VGGish | None = None
        self.audio_head: nn.Sequential | None = None
        if use_audio:
            self.audio_encoder = VGGish(
                n_frames=self.contract.audio.patch_frames,
                n_mels=self.contract.audio.n_mels,
                embedding_dim=audio_embedding_dim,
                width_multiplier=width_multiplier,
            )
            self.audio_head = self._head(self.audio_encoder.embedding_dim)

    def _head(self, embedding_dim: int) -> nn.Sequential:
        return nn.Sequential(nn.Dropout(self.dropout), nn.Linear(embedding_dim, len(self.labels)))

    @property
    def embedding_dim(self) -> int:
        """Size of the vector ``embed`` returns: the enabled branches' sizes added up."""
        return sum(encoder.embedding_dim for encoder, _ in self._branches())

    def _branches(self) -> list[tuple[ResNet18 | VGGish, nn.Sequential]]:
        branches: list[tuple[ResNet18 | VGGish, nn.Sequential]] = []
        if self.frame_encoder is not None and self.frame_head is not None:
            branches.append((self.frame_encoder, self.frame_head))
        if self.audio_encoder is not None and self.audio_head is not None:
            branches.append((self.audio_encoder, self.audio_head))
        return branches

    def _validated(
        self, frames: torch.Tensor | None, audio: torch.Tensor | None
    ) -> list[torch.Tensor]:
        """The inputs of the enabled branches, in branch order, after the contract checks."""
        inputs: list[torch.Tensor] = []
        for name, enabled, tensor in (
            ("frames", self.use_frames, frames),
            ("audio", self.use_audio, audio),
        ):
            if enabled and tensor is None:
                raise ValueError(f"the {name} branch is on: pass {name}, not None")
            if not enabled and tensor is not None:
                raise ValueError(f"the {name} branch is off (use_{name}=False): pass {name}=None")
        if frames is not None:
            inputs.append(self.contract.frames.check_frames(frames))
        if audio is not None:
            inputs.append(self.contract.audio.check_audio(audio))
        if len({tensor.shape[0] for tensor in inputs}) > 1:
            raise ValueError(
                f"frames and audio must hold the same number of segments, "
                f"got {inputs[0].shape[0]} and {inputs[1].shape[0]}"
            )
        return inputs

    def _embeddings(
        self, frames: torch.Tensor | None, audio: torch.Tensor | None
    ) -> list[torch.Tensor]:
        """One ``(B, D_branch)`` embedding per enabled branch."""
        return [
            self._encode(encoder, tensor)
            for (encoder, _), tensor in zip(
                self._branches(), self._validated(frames, audio), strict=True
            )
        ]

    @staticmethod
    def _encode(encoder: ResNet18 | VGGish, tensor: torch.Tensor) -> torch.Tensor:
        """One branch's ``(B, D_branch)`` embedding; a segment's frames are averaged."""
        if isinstance(encoder, ResNet18):
            segments, per_segment = tensor.shape[:2]
            per_frame = encoder(tensor.flatten(0, 1))
            return per_frame.view(segments, per_segment, -1).mean(dim=1)
        return encoder(tensor)

    def forward(self, frames: torch.Tensor | None, audio: torch.Tensor | None) -> torch.Tensor:
        """Fused logits ``(B, L)``: the mean of the enabled branches' logits."""
        return self._logits(self._embeddings(frames, audio))

    def _logits(self, embeddings: list[torch.Tensor]) -> torch.Tensor:
        logits = [
            head(embedding)
            for (_, head), embedding in zip(self._branches(), embeddings, strict=True)
        ]
        return torch.stack(logits).mean(dim=0)

    @torch.no_grad()
    def predict_proba(
        self, frames: torch.Tensor | None, audio: torch.Tensor | None
    ) -> torch.Tensor:
        """Per-label probabilities ``(B, L)``; call ``eval()`` first, the mode is left alone."""
        return torch.sigmoid(self(frames, audio))

    @torch.no_grad()
    def embed(self, frames: torch.Tensor | None, audio: torch.Tensor | None) -> torch.Tensor:
        """Content embedding ``(B, embedding_dim)`` for the search index.

        The L2-normalised branch embeddings concatenated, so each branch weighs the same
        in a dot-product search whatever its size; call ``eval()`` first.
        """
        return self._fused(self._embeddings(frames, audio))

    @torch.no_grad()
    def embed_available(
        self, frames: torch.Tensor | None, audio: torch.Tensor | None
    ) -> torch.Tensor:
        """``embed`` for media that has only some of the inputs: a still image has no audio,
        a music track no frames. The part of a missing input is zeros, so these vectors
        share one space with full segments' and compare on what both have (an image with a
        film's pictures, a track with its sound). Call ``eval()`` first.
        """
        given = [tensor for tensor in (frames, audio) if tensor is not None]
        if not given:
            raise ValueError("embed_available needs frames, audio or both")
        parts: list[torch.Tensor | None] = []
        for encoder, name, tensor in (
            (self.frame_encoder, "frames", frames),
            (self.audio_encoder, "audio", audio),
        ):
            if encoder is None:
                if tensor is not None:
                    raise ValueError(f"the {name} branch is off (use_{name}=False): pass None")
                continue
            if tensor is None:
                parts.append(None)
                continue
            checked = (
                self.contract.frames.check_frames(tensor)
                if name == "frames"
                else self.contract.audio.check_audio(tensor)
            )
            parts.append(F.normalize(self._encode(encoder, checked), dim=1))
        encoded = next(part for part in parts if part is not None)
        sizes = [encoder.embedding_dim for encoder, _ in self._branches()]
        return torch.cat(
            [
                part if part is not None else encoded.new_zeros(encoded.shape[0], size)
                for part, size in zip(parts, sizes, strict=True)
            ],
            dim=1,
        )

    @staticmethod
    def _fused(embeddings: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat([F.normalize(e, dim=1) for e in embeddings], dim=1)

    @torch.no_grad()
    def predict_and_embed(
        self, frames: torch.Tensor | None, audio: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(predict_proba, embed)`` from one pass of the encoders (what inference needs)."""
        embeddings = self._embeddings(frames, audio)
        return torch.sigmoid(self._logits(embeddings)), self._fused(embeddings)

    def config(self) -> dict[str, Any]:
        """Everything ``from_config`` needs to rebuild this model, as JSON-serialisable values."""
        return {
            "labels": list(self.labels),
            "frame_contract": _jsonable(dataclasses.asdict(self.contract.frames)),
            "audio_contract": _jsonable(dataclasses.asdict(self.contract.audio)),
            "use_frames": self.use_frames,
            "use_audio": self.use_audio,
            "width_multiplier": self.width_multiplier,
            "dropout": self.dropout,
            "audio_embedding_dim": self.audio_embedding_dim,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SceneClassifier:
        """Build an untrained model from ``config()``'s output; unknown or missing keys fail."""
        accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
        unknown = set(config) - accepted
        missing = {"labels", "frame_contract", "audio_contract"} - set(config)
        if unknown or missing:
            raise ValueError(
                f"scene model config: unknown keys {sorted(unknown)}, "
                f"missing keys {sorted(missing)}"
            )
        arguments = dict(config)
        arguments["frame_contract"] = FrameContract(**config["frame_contract"])
        arguments["audio_contract"] = AudioContract(**config["audio_contract"])
        return cls(**arguments)

    def save(self, path: str | os.PathLike[str] | BinaryIO) -> None:
        """Write ``{"config", "state_dict"}`` with ``torch.save``.

        ``models`` imports only torch, so the write is not atomic by itself: pipeline
        code wraps it, ``with ops.atomic.atomic_path(target) as tmp: model.save(tmp)``.
        """
        torch.save({"config": self.config(), "state_dict": self.state_dict()}, path)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | BinaryIO,
        map_location: str | torch.device | None = "cpu",
    ) -> SceneClassifier:
        """Rebuild a saved model, in eval mode (loading is for inference far more often).

        Only tensors and plain values are unpickled (``weights_only``), so a checkpoint
        from an untrusted place cannot run code.
        """
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
        if not isinstance(checkpoint, dict) or set(checkpoint) != CHECKPOINT_KEYS:
            keys = sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__
            raise ValueError(
                f"not a scene model checkpoint: expected keys config, state_dict; got {keys}"
            )
        model = cls.from_config(checkpoint["config"])
        model.load_state_dict(checkpoint["state_dict"])
        return model.eval()


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    """Tuples become lists, so the config equals its own JSON round trip."""
    return {
        key: list(value) if isinstance(value, tuple) else value for key, value in fields.items()
    }
