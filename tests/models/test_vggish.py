"""VGGish: the published layout, slim variants and the patch-shape check."""

from __future__ import annotations

import pytest
import torch

from models.vggish import VGGish


def parameter_count(module: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def test_width_one_has_the_published_layout_and_parameter_count() -> None:
    model = VGGish()
    convolutions = [m.out_channels for m in model.features if isinstance(m, torch.nn.Conv2d)]
    linears = [m.out_features for m in model.embeddings if isinstance(m, torch.nn.Linear)]
    assert convolutions == [64, 128, 256, 256, 512, 512]
    assert linears == [4096, 4096, 128]
    assert model.embeddings[0].in_features == 512 * 6 * 4
    assert parameter_count(model) == 72_141_184


def test_slim_model_embeds_a_batch_of_log_mel_patches() -> None:
    model = VGGish(width_multiplier=0.125).eval()
    with torch.no_grad():
        embedding = model(torch.randn(4, 1, 96, 64))
    assert embedding.shape == (4, 128)
    assert torch.isfinite(embedding).all()


def test_embedding_size_is_its_own_setting() -> None:
    model = VGGish(embedding_dim=32, width_multiplier=0.125).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 96, 64)).shape == (2, 32)


def test_embedding_is_linear_so_it_can_be_negative() -> None:
    torch.manual_seed(0)
    model = VGGish(width_multiplier=0.125).eval()
    with torch.no_grad():
        assert (model(torch.randn(4, 1, 96, 64)) < 0).any()


def test_wrong_patch_shape_names_expected_and_actual() -> None:
    model = VGGish(width_multiplier=0.125)
    with pytest.raises(ValueError, match=r"\(B, 1, 96, 64\).*\(2, 1, 64, 96\)"):
        model(torch.randn(2, 1, 64, 96))


def test_patch_too_small_to_pool_four_times_is_refused() -> None:
    with pytest.raises(ValueError, match="too small"):
        VGGish(n_frames=8, n_mels=64)
