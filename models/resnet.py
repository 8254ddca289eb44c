"""ResNet-18 in plain torch (torchvision cannot be installed here).

The standard architecture of He et al. (BasicBlock, [2, 2, 2, 2]) with the same module
names as torchvision, so a torchvision state dict loads into it unchanged at width 1.0.
``width_multiplier`` scales every stage so tests and the CPU demo can run a slim copy.
"""

from __future__ import annotations

import torch
from torch import nn

STAGE_WIDTHS = (64, 128, 256, 512)
BLOCKS_PER_STAGE = (2, 2, 2, 2)


def scaled_width(base: int, width_multiplier: float) -> int:
    """Channel count of a slimmed layer; never below one channel."""
    return max(1, round(base * width_multiplier))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity (or 1x1 projection) shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


class ResNet18(nn.Module):
    """ResNet-18 on ``(B, C, H, W)`` images of any size (112 x 112 in the scene model).

    With ``num_classes=None`` it is a feature extractor returning the pooled
    ``embedding_dim``-d vector (512 at width 1.0); otherwise it ends in a linear classifier.
    The adaptive average pool is what lets it take frames smaller than 224 x 224.
    """

    def __init__(
        self,
        num_classes: int | None = None,
        width_multiplier: float = 1.0,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if not width_multiplier > 0:
            raise ValueError(f"width_multiplier must be positive, got {width_multiplier}")
        if num_classes is not None and num_classes < 1:
            raise ValueError(f"num_classes must be positive or None, got {num_classes}")
        widths = [scaled_width(base, width_multiplier) for base in STAGE_WIDTHS]
        self.conv1 = nn.Conv2d(in_channels, widths[0], 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        stages: list[nn.Sequential] = []
        channels = widths[0]
        for index, (width, blocks) in enumerate(zip(widths, BLOCKS_PER_STAGE, strict=True)):
            stride = 1 if index == 0 else 2
            layers = [BasicBlock(channels, width, stride)]
            layers += [BasicBlock(width, width) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*layers))
            channels = width
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.embedding_dim = channels
        self.fc: nn.Module = (
            nn.Identity() if num_classes is None else nn.Linear(channels, num_classes)
        )
        self._init_weights()

    def _init_weights(self) -> None:
        """Kaiming-normal convolutions (fan-out, ReLU) and unit BatchNorm, as torchvision."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))
