"""Audio for scene features: streamed 16 kHz mono windows and VGGish-framed log-mel patches.

FFmpeg resamples and downmixes (``av.AudioResampler``), so Python only ever holds one
decoded block and one window. Windows are aligned to a time origin chosen by the caller
(the first video frame), because a film's audio and video streams rarely start together.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from models.contracts import AudioContract
from ops.media.decode import MediaDecodeError, open_container


def iter_windows(
    path: Path, *, sample_rate: int, window: int, origin_s: float | None = None
) -> Iterator[np.ndarray]:
    """Consecutive float32 mono windows of ``window`` samples starting at ``origin_s``.

    ``origin_s`` is a time on the file's clock (the first video frame's, say); audio that
    starts after it is preceded by silence, audio before it is skipped; None starts at
    the first sample. The last window is shorter when the stream ends inside it; none is
    empty, and a file without audio yields nothing.
    """
    if window < 1:
        raise ValueError(f"window must be at least one sample, got {window}")
    # decoded blocks are collected and joined once a window is full: joining each small
    # block onto the pending samples would copy a long window over and over
    pending: list[np.ndarray] = []
    held = 0
    for block in _resampled_blocks(path, sample_rate, origin_s):
        pending.append(block)
        held += block.size
        if held < window:
            continue
        joined = np.concatenate(pending)
        start = 0
        while joined.size - start >= window:
            yield joined[start : start + window]
            start += window
        pending, held = [joined[start:]], joined.size - start
    if held:
        yield np.concatenate(pending)


def log_mel_patches(windows: np.ndarray, contract: AudioContract) -> np.ndarray:
    """``(K, samples)`` windows -> ``(K, patch_frames, n_mels)`` float32 log-mel patches.

    VGGish framing: 25 ms Hann window in a 512-point FFT, 10 ms hop, no centring padding,
    the first ``patch_frames`` frames of each window. Power spectrum on VGGish's own mel
    scale (HTK formula, triangles of peak 1), then ``log(mel + log_offset)``, so silence
    reads exactly ``log(log_offset)``. One librosa call for the whole batch: per-window
    calls cost ten times more.
    """
    import librosa  # slow to import; only feature extraction needs it

    needed = (contract.patch_frames - 1) * contract.hop_length + contract.n_fft
    if windows.ndim != 2 or windows.shape[1] < needed:
        raise ValueError(
            f"log-mel patches need (K, >= {needed}) samples for {contract.patch_frames} frames, "
            f"got shape {windows.shape}"
        )
    mel = librosa.feature.melspectrogram(
        y=np.ascontiguousarray(windows, dtype=np.float32),
        sr=contract.sample_rate,
        n_fft=contract.n_fft,
        hop_length=contract.hop_length,
        win_length=contract.win_length,
        center=False,
        power=2.0,
        n_mels=contract.n_mels,
        fmin=contract.mel_min_hz,
        fmax=contract.mel_max_hz,
        htk=True,
        norm=None,
    )
    patches = mel[:, :, : contract.patch_frames].transpose(0, 2, 1)
    return np.log(patches + contract.log_offset).astype(np.float32)


def silent_patch(contract: AudioContract) -> np.ndarray:
    """The patch of a segment without sound: what :func:`log_mel_patches` gives for zeros."""
    return np.full(
        (contract.patch_frames, contract.n_mels), np.log(contract.log_offset), dtype=np.float32
    )


def _resampled_blocks(path: Path, sample_rate: int, origin_s: float | None) -> Iterator[np.ndarray]:
    """Mono float32 blocks at ``sample_rate``, trimmed or padded so sample 0 is ``origin_s``."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    to_skip: int | None = None
    with open_container(path) as container:
        if not container.streams.audio:
            return
        stream = container.streams.audio[0]
        stream.thread_type = "AUTO"
        # A final None flushes the samples the resampler still holds.
        for frame in itertools.chain(_decoded(container, stream, path), [None]):
            for converted in resampler.resample(frame):
                block = converted.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                if to_skip is None:
                    start_s = float(converted.time) if converted.time is not None else 0.0
                    to_skip = 0 if origin_s is None else round((origin_s - start_s) * sample_rate)
                    if to_skip < 0:
                        yield np.zeros(-to_skip, dtype=np.float32)
                        to_skip = 0
                if to_skip:
                    dropped = min(to_skip, block.size)
                    block, to_skip = block[dropped:], to_skip - dropped
                if block.size:
                    yield block


def _decoded(
    container: av.container.InputContainer, stream: av.AudioStream, path: Path
) -> Iterator[av.AudioFrame]:
    try:
        yield from container.decode(stream)
    except av.error.FFmpegError as exc:
        raise MediaDecodeError(f"{path}: audio decoding failed: {exc}") from exc
