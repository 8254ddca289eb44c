"""SceneClassifier: fusion branches, input contracts, config and checkpoint round trips."""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from models.contracts import AudioContract, FrameContract, SceneInput
from models.scene import SceneClassifier

SLIM = 0.125
LABELS = ["kiss", "fight"]
FRAMES = FrameContract(frames_per_segment=2, height=64, width=64)
AUDIO = AudioContract()


def make_model(**overrides: object) -> SceneClassifier:
    torch.manual_seed(0)
    arguments: dict[str, object] = {
        "labels": LABELS,
        "frame_contract": FRAMES,
        "audio_contract": AUDIO,
        "width_multiplier": SLIM,
    }
    arguments.update(overrides)
    return SceneClassifier(**arguments).eval()  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    return SceneInput(FRAMES, AUDIO).example(batch=3)


@pytest.mark.parametrize(
    ("use_frames", "use_audio", "embedding_dim"),
    [(True, True, 64 + 128), (True, False, 64), (False, True, 128)],
)
def test_each_branch_combination_gives_logits_and_embeddings(
    inputs: tuple[torch.Tensor, torch.Tensor],
    use_frames: bool,
    use_audio: bool,
    embedding_dim: int,
) -> None:
    frames, audio = inputs
    model = make_model(use_frames=use_frames, use_audio=use_audio)
    frames_in, audio_in = (frames if use_frames else None), (audio if use_audio else None)
    with torch.no_grad():
        logits = model(frames_in, audio_in)
    probabilities = model.predict_proba(frames_in, audio_in)
    embedding = model.embed(frames_in, audio_in)
    assert logits.shape == probabilities.shape == (3, len(LABELS))
    assert torch.allclose(probabilities, torch.sigmoid(logits))
    assert embedding.shape == (3, embedding_dim) == (3, model.embedding_dim)
    branches = int(use_frames) + int(use_audio)
    assert torch.allclose(embedding.norm(dim=1), torch.full((3,), branches**0.5), atol=1e-5)
    model.eval()
    together = model.predict_and_embed(frames_in, audio_in)
    assert torch.allclose(together[0], model.predict_proba(frames_in, audio_in))
    assert torch.allclose(together[1], model.embed(frames_in, audio_in))


def test_fused_logits_are_the_mean_of_the_branch_logits(
    inputs: tuple[torch.Tensor, torch.Tensor],
) -> None:
    frames, audio = inputs
    model = make_model()
    assert model.frame_encoder is not None and model.frame_head is not None
    assert model.audio_encoder is not None and model.audio_head is not None
    with torch.no_grad():
        per_frame = model.frame_encoder(frames.flatten(0, 1)).view(3, 2, -1)
        frame_logits = model.frame_head(per_frame.mean(dim=1))
        audio_logits = model.audio_head(model.audio_encoder(audio))
        fused = model(frames, audio)
    assert torch.allclose(fused, (frame_logits + audio_logits) / 2, atol=1e-6)


def test_embed_available_zeros_the_part_of_a_missing_input(
    inputs: tuple[torch.Tensor, torch.Tensor],
) -> None:
    frames, audio = inputs
    model = make_model()
    full = model.embed(frames, audio)
    picture = model.embed_available(frames, None)  # a still image: no sound
    sound = model.embed_available(None, audio)  # a music track: no pictures
    assert picture.shape == sound.shape == full.shape == (3, 64 + 128)
    assert torch.allclose(picture[:, :64], full[:, :64], atol=1e-6)
    assert torch.equal(picture[:, 64:], torch.zeros(3, 128))
    assert torch.allclose(sound[:, 64:], full[:, 64:], atol=1e-6)
    assert torch.equal(sound[:, :64], torch.zeros(3, 64))
    assert torch.allclose(model.embed_available(frames, audio), full, atol=1e-6)
    with pytest.raises(ValueError, match="needs frames, audio or both"):
        model.embed_available(None, None)
    with pytest.raises(ValueError, match="audio branch is off"):
        make_model(use_audio=False).embed_available(None, audio)


def test_a_disabled_branch_has_no_weights() -> None:
    keys = make_model(use_audio=False).state_dict().keys()
    assert any(key.startswith("frame_encoder.") for key in keys)
    assert not any(key.startswith("audio_") for key in keys)


def test_no_branch_at_all_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one branch"):
        make_model(use_frames=False, use_audio=False)


@pytest.mark.parametrize(
    ("labels", "reason"),
    [([], "non-empty"), ("kiss", "sequence"), (["kiss", "kiss"], "unique"), ([""], "strings")],
)
def test_bad_labels_are_refused(labels: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        make_model(labels=labels)


def test_passing_input_to_a_disabled_branch_or_none_to_an_enabled_one_fails(
    inputs: tuple[torch.Tensor, torch.Tensor],
) -> None:
    frames, audio = inputs
    with pytest.raises(ValueError, match=r"audio branch is off.*audio=None"):
        make_model(use_audio=False)(frames, audio)
    with pytest.raises(ValueError, match="frames branch is on"):
        make_model()(None, audio)


@pytest.mark.parametrize(
    ("bad_frames", "message"),
    [
        (torch.zeros(3, 3, 64, 64), r"expected shape \(B, 2, 3, 64, 64\).*got \(3, 3, 64, 64\)"),
        (torch.zeros(3, 2, 3, 112, 112), r"\(B, 2, 3, 64, 64\).*got \(3, 2, 3, 112, 112\)"),
        (torch.zeros(3, 2, 3, 64, 64, dtype=torch.uint8), "float32.*uint8"),
        (torch.zeros(0, 2, 3, 64, 64), "empty"),
    ],
)
def test_frame_contract_errors_name_expected_and_actual(
    inputs: tuple[torch.Tensor, torch.Tensor], bad_frames: torch.Tensor, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make_model()(bad_frames, inputs[1])


def test_audio_contract_error_names_expected_and_actual(
    inputs: tuple[torch.Tensor, torch.Tensor],
) -> None:
    with pytest.raises(ValueError, match=r"\(B, 1, 96, 64\).*got \(3, 96, 64\)"):
        make_model()(inputs[0], torch.zeros(3, 96, 64))
    with pytest.raises(ValueError, match=r"torch\.Tensor.*ndarray"):
        make_model()(inputs[0], inputs[1].numpy())


def test_frames_and_audio_of_different_batch_sizes_fail(
    inputs: tuple[torch.Tensor, torch.Tensor],
) -> None:
    with pytest.raises(ValueError, match=r"same number of segments.*3 and 2"):
        make_model()(inputs[0], inputs[1][:2])


def test_config_survives_json_and_rebuilds_the_same_model() -> None:
    model = make_model(use_audio=False, dropout=0.3)
    config = json.loads(json.dumps(model.config()))
    assert config == model.config()
    rebuilt = SceneClassifier.from_config(config)
    assert rebuilt.config() == model.config()
    assert rebuilt.contract == model.contract
    assert rebuilt.state_dict().keys() == model.state_dict().keys()


def test_config_with_unknown_or_missing_keys_is_refused() -> None:
    config = make_model().config()
    del config["audio_contract"]
    config["colour"] = "blue"
    with pytest.raises(ValueError, match=r"unknown keys \['colour'\].*missing.*audio_contract"):
        SceneClassifier.from_config(config)


def test_save_then_load_gives_identical_outputs_in_eval_mode(
    tmp_path: Path, inputs: tuple[torch.Tensor, torch.Tensor]
) -> None:
    model = make_model()
    model.train()
    with torch.no_grad():  # move the BatchNorm running stats away from their initial values
        model(*inputs)
    model.eval()
    path = tmp_path / "scene.pt"
    model.save(path)
    loaded = SceneClassifier.load(path)
    assert not loaded.training
    assert loaded.config() == model.config()
    assert torch.equal(loaded.predict_proba(*inputs), model.predict_proba(*inputs))
    assert torch.equal(loaded.embed(*inputs), model.embed(*inputs))


def test_loading_something_else_is_refused() -> None:
    buffer = io.BytesIO()
    torch.save({"weights": torch.zeros(1)}, buffer)
    buffer.seek(0)
    with pytest.raises(ValueError, match="not a scene model checkpoint"):
        SceneClassifier.load(buffer)


def test_frame_contract_from_json_normalises_pixels_per_channel() -> None:
    contract = FrameContract(**json.loads('{"frames_per_segment": 1, "mean": [0.5, 0.5, 0.5]}'))
    contract = dataclasses.replace(contract, std=(0.25, 0.5, 1.0))
    assert contract.mean == (0.5, 0.5, 0.5)
    normalised = contract.normalise(torch.ones(1, 1, 3, 2, 2))
    assert normalised[0, 0, :, 0, 0].tolist() == [2.0, 1.0, 0.5]


def test_audio_contract_derives_vggish_stft_settings() -> None:
    assert (AUDIO.hop_length, AUDIO.win_length, AUDIO.n_fft) == (160, 400, 512)
    assert AUDIO.patch_samples == 15_360


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: FrameContract(frames_per_segment=0), "frames_per_segment"),
        (lambda: FrameContract(frames_per_segment=1, mean=(0.5,)), "one value per channel"),
        (lambda: AudioContract(patch_frames=100), "patch_s"),
        (lambda: AudioContract(mel_max_hz=9000.0), "Nyquist"),
    ],
)
def test_inconsistent_contracts_are_refused(factory: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory()
