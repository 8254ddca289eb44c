"""Torch networks and their input contracts, in plain torch (nothing else is imported here)."""

from models.contracts import AudioContract, FrameContract, SceneInput
from models.resnet import ResNet18
from models.scene import SceneClassifier
from models.vggish import VGGish

__all__ = [
    "AudioContract",
    "FrameContract",
    "ResNet18",
    "SceneClassifier",
    "SceneInput",
    "VGGish",
]
