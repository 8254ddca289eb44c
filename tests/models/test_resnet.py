"""ResNet-18: the standard architecture, slim variants and small inputs."""

from __future__ import annotations

import pytest
import torch

from models.resnet import BasicBlock, ResNet18


def parameter_count(module: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def test_width_one_with_imagenet_head_has_the_standard_parameter_count() -> None:
    assert parameter_count(ResNet18(num_classes=1000)) == 11_689_512


def test_feature_extractor_drops_only_the_classifier() -> None:
    extractor = ResNet18()
    assert extractor.embedding_dim == 512
    assert parameter_count(extractor) == 11_689_512 - (512 * 1000 + 1000)


def test_module_names_follow_torchvision_so_its_weights_would_load() -> None:
    names = set(ResNet18(num_classes=1000).state_dict())
    expected = {
        "conv1.weight",
        "bn1.running_mean",
        "layer1.0.conv1.weight",
        "layer2.0.downsample.0.weight",
        "layer2.0.downsample.1.running_var",
        "layer4.1.bn2.bias",
        "fc.weight",
        "fc.bias",
    }
    assert expected <= names
    assert "layer1.0.downsample.0.weight" not in names  # stage 1 keeps width and stride


@pytest.mark.parametrize("size", [32, 112, 97])
def test_slim_extractor_embeds_frames_smaller_than_224(size: int) -> None:
    model = ResNet18(width_multiplier=0.125).eval()
    with torch.no_grad():
        embedding = model(torch.randn(2, 3, size, size))
    assert embedding.shape == (2, model.embedding_dim) == (2, 64)
    assert torch.isfinite(embedding).all()


def test_classifier_head_returns_one_logit_per_class() -> None:
    model = ResNet18(num_classes=5, width_multiplier=0.125, in_channels=1).eval()
    with torch.no_grad():
        assert model(torch.randn(3, 1, 64, 64)).shape == (3, 5)


def test_kaiming_initialisation_scales_convolutions_by_fan_out() -> None:
    torch.manual_seed(0)
    block = ResNet18().layer3[0]
    assert isinstance(block, BasicBlock)
    conv = block.conv1  # 128 -> 256 channels, 3 x 3
    expected_std = (2.0 / (256 * 3 * 3)) ** 0.5
    assert conv.weight.std().item() == pytest.approx(expected_std, rel=0.05)


@pytest.mark.parametrize("arguments", [{"width_multiplier": 0.0}, {"num_classes": 0}])
def test_bad_settings_are_refused(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ResNet18(**arguments)  # type: ignore[arg-type]
