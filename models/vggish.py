"""The VGGish audio network (Hershey et al., 2017) in plain torch.

Layout as published: conv 64 / pool / conv 128 / pool / conv 256 x 2 / pool /
conv 512 x 2 / pool, then fully connected 4096, 4096 and a 128-d embedding (72.1 M
parameters on a 96 x 64 log-mel patch). Every layer but the embedding is followed by ReLU,
as in the current reference (TF) implementation: a linear embedding has no dead units and
uses the whole sphere once L2-normalised for the search index. ``width_multiplier``
scales the convolutions and the two 4096 layers for a slim CPU copy; the embedding size
is its own setting because the search index and the fusion head depend on it.
"""

from __future__ import annotations

import torch
from torch import nn

from models.resnet import scaled_width

CONV_WIDTHS = (64, 128, 256, 256, 512, 512)
POOL_AFTER = frozenset({0, 1, 3, 5})  # indices of the convolutions followed by a 2 x 2 max pool
HIDDEN_WIDTH = 4096


class VGGish(nn.Module):
    """Log-mel patch ``(B, 1, n_frames, n_mels)`` -> ``(B, embedding_dim)`` embedding."""

    def __init__(
        self,
        n_frames: int = 96,
        n_mels: int = 64,
        embedding_dim: int = 128,
        width_multiplier: float = 1.0,
    ) -> None:
        super().__init__()
        if not width_multiplier > 0:
            raise ValueError(f"width_multiplier must be positive, got {width_multiplier}")
        if embedding_dim < 1:
            raise ValueError(f"embedding_dim must be positive, got {embedding_dim}")
        pooled_frames, pooled_mels = n_frames >> len(POOL_AFTER), n_mels >> len(POOL_AFTER)
        if pooled_frames < 1 or pooled_mels < 1:
            raise ValueError(
                f"VGGish halves the patch {len(POOL_AFTER)} times: {n_frames} x {n_mels} is "
                f"too small (need at least {1 << len(POOL_AFTER)} frames and mel bands)"
            )
        self.n_frames, self.n_mels, self.embedding_dim = n_frames, n_mels, embedding_dim
        layers: list[nn.Module] = []
        channels = 1
        for index, base in enumerate(CONV_WIDTHS):
            width = scaled_width(base, width_multiplier)
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
            if index in POOL_AFTER:
                layers.append(nn.MaxPool2d(2, 2))
            channels = width
        self.features = nn.Sequential(*layers)
        hidden = scaled_width(HIDDEN_WIDTH, width_multiplier)
        self.embeddings = nn.Sequential(
            nn.Linear(channels * pooled_frames * pooled_mels, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, embedding_dim),
        )
        self._init_weights()

    def _init_weights(self) -> None:
        """Kaiming-normal weights for the ReLU stack, zero biases."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        expected = (1, self.n_frames, self.n_mels)
        if patches.ndim != 4 or tuple(patches.shape[1:]) != expected:
            raise ValueError(
                f"VGGish expects (B, {', '.join(map(str, expected))}) log-mel patches, "
                f"got {tuple(patches.shape)}"
            )
        return self.embeddings(torch.flatten(self.features(patches), 1))
