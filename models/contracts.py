"""Input contracts of the scene-type networks: what a 1-second segment looks like as tensors.

The feature extractor (``ops``) and the networks (``models``) are written by different
hands and run at different times; these frozen objects are the one place both read the
shapes, sample rate and normalisation from, and the checks turn a mismatch into an error
that names the expected and the actual shape instead of a matmul failure deep inside.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _shape_text(shape: tuple[int | str, ...]) -> str:
    return "(" + ", ".join(str(dim) for dim in shape) + ")"


def _check_tensor(
    name: str, tensor: object, expected: tuple[int | str, ...], what: str
) -> torch.Tensor:
    """Raise ValueError unless ``tensor`` is a floating tensor of ``expected`` shape.

    ``expected`` holds ints for fixed dimensions and a name (``"B"``) for free ones.
    """
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor of {what}, got {type(tensor).__name__}")
    actual = tuple(tensor.shape)
    fixed_match = len(actual) == len(expected) and all(
        isinstance(want, str) or want == got for want, got in zip(expected, actual, strict=True)
    )
    if not fixed_match:
        raise ValueError(
            f"{name}: expected shape {_shape_text(expected)} ({what}), got {_shape_text(actual)}"
        )
    if actual[0] == 0:
        raise ValueError(f"{name}: the batch is empty, shape {_shape_text(actual)}")
    if not tensor.is_floating_point():
        raise ValueError(f"{name}: expected a float32 tensor ({what}), got dtype {tensor.dtype}")
    return tensor


@dataclass(frozen=True)
class FrameContract:
    """Still frames of one segment: ``(B, N, C, H, W)`` float, normalised per channel.

    ``mean``/``std`` are applied to pixels scaled to [0, 1]; the ImageNet defaults keep
    the door open for ImageNet-initialised ResNet weights.
    """

    frames_per_segment: int
    height: int = 112
    width: int = 112
    channels: int = 3
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def __post_init__(self) -> None:
        for field_name in ("frames_per_segment", "height", "width", "channels"):
            value = getattr(self, field_name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(
                    f"FrameContract.{field_name} must be a positive int, got {value!r}"
                )
        # Lists arrive from JSON configs; tuples keep the contract hashable and comparable.
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        for field_name in ("mean", "std"):
            values = getattr(self, field_name)
            if len(values) != self.channels:
                raise ValueError(
                    f"FrameContract.{field_name} needs one value per channel "
                    f"({self.channels}), got {len(values)}"
                )
        if not all(math.isfinite(v) and v > 0 for v in self.std):
            raise ValueError(f"FrameContract.std must be finite and positive, got {self.std}")

    def shape(self, batch: int) -> tuple[int, ...]:
        """The frames tensor shape for ``batch`` segments."""
        return (batch, self.frames_per_segment, self.channels, self.height, self.width)

    def normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        """Turn float pixels in [0, 1], channels at dim -3, into the network's input."""
        mean = torch.tensor(self.mean, dtype=pixels.dtype, device=pixels.device)
        std = torch.tensor(self.std, dtype=pixels.dtype, device=pixels.device)
        return (pixels - mean[:, None, None]) / std[:, None, None]

    def check_frames(self, frames: object) -> torch.Tensor:
        """Return ``frames`` if it meets the contract, else raise a ValueError saying why."""
        return _check_tensor(
            "frames", frames, ("B", *self.shape(1)[1:]), "B segments x N normalised frames"
        )


@dataclass(frozen=True)
class AudioContract:
    """One VGGish log-mel patch per segment: ``(B, 1, patch_frames, n_mels)`` float.

    The defaults are VGGish's own: 16 kHz mono, 25 ms window, 10 ms hop, 64 mel bands
    between 125 and 7500 Hz, ``log(mel + 0.01)``, 96 frames = 0.96 s per patch.
    """

    sample_rate: int = 16000
    n_mels: int = 64
    patch_frames: int = 96
    hop_s: float = 0.010
    window_s: float = 0.025
    patch_s: float = 0.96
    mel_min_hz: float = 125.0
    mel_max_hz: float = 7500.0
    log_offset: float = 0.01

    def __post_init__(self) -> None:
        for field_name in ("sample_rate", "n_mels", "patch_frames"):
            value = getattr(self, field_name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(
                    f"AudioContract.{field_name} must be a positive int, got {value!r}"
                )
        for field_name in ("hop_s", "window_s", "patch_s", "log_offset"):
            value = getattr(self, field_name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"AudioContract.{field_name} must be positive, got {value!r}")
        if not math.isclose(self.patch_frames * self.hop_s, self.patch_s, rel_tol=1e-6):
            raise ValueError(
                f"AudioContract: patch_frames x hop_s = {self.patch_frames * self.hop_s:g} s "
                f"must equal patch_s = {self.patch_s:g} s"
            )
        if not 0 <= self.mel_min_hz < self.mel_max_hz <= self.sample_rate / 2:
            raise ValueError(
                f"AudioContract: need 0 <= mel_min_hz < mel_max_hz <= Nyquist "
                f"({self.sample_rate / 2:g} Hz), got {self.mel_min_hz:g}..{self.mel_max_hz:g}"
            )

    @property
    def hop_length(self) -> int:
        """STFT hop in samples (160 at the defaults)."""
        return round(self.hop_s * self.sample_rate)

    @property
    def win_length(self) -> int:
        """STFT window in samples (400 at the defaults)."""
        return round(self.window_s * self.sample_rate)

    @property
    def n_fft(self) -> int:
        """FFT size: the next power of two above the window, as VGGish does (512)."""
        return 1 << (self.win_length - 1).bit_length()

    @property
    def patch_samples(self) -> int:
        """Audio samples that one patch covers (15360 at the defaults)."""
        return round(self.patch_s * self.sample_rate)

    def shape(self, batch: int) -> tuple[int, ...]:
        """The audio tensor shape for ``batch`` segments."""
        return (batch, 1, self.patch_frames, self.n_mels)

    def check_audio(self, audio: object) -> torch.Tensor:
        """Return ``audio`` if it meets the contract, else raise a ValueError saying why."""
        return _check_tensor(
            "audio", audio, ("B", *self.shape(1)[1:]), "B segments x 1 log-mel patch"
        )


@dataclass(frozen=True)
class SceneInput:
    """Both inputs of a scene-type model, for callers that build batches or examples."""

    frames: FrameContract
    audio: AudioContract

    def example(self, batch: int = 1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Random tensors of the right shapes: an input example for model signatures and tests."""
        generator = torch.Generator().manual_seed(seed)
        frames = torch.randn(self.frames.shape(batch), generator=generator)
        audio = torch.randn(self.audio.shape(batch), generator=generator)
        return frames, audio
