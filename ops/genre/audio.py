"""Audio for the genre model: whole files as mono arrays, windows, labelled folders.

Decoding goes through the platform's one seam (PyAV with its bundled FFmpeg, which
resamples and downmixes), so any container and codec FFmpeg reads works, and a file
that cannot be read raises :class:`UnreadableAudio` naming the file and the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ops.media.decode import MediaDecodeError
from ops.scene.audio import iter_windows

AUDIO_SUFFIXES = frozenset(
    {".wav", ".mp3", ".ogg", ".oga", ".opus", ".flac", ".m4a", ".aac", ".aif", ".aiff", ".au"}
)
_BLOCK_S = 10  # seconds per decoded block while a whole file is read


class UnreadableAudio(Exception):
    """A file that holds no decodable audio; the message names the file and the reason."""


class NoAudioStream(UnreadableAudio):
    """A readable file without sound (a silent video): nothing to classify, not an error
    in the file."""


@dataclass(frozen=True)
class LabelledTrack:
    """One audio file of a labelled folder and the genre its sub-folder names."""

    genre: str
    path: Path


def load_audio(path: Path, sample_rate: int) -> np.ndarray:
    """The whole file as float32 mono samples at ``sample_rate``."""
    return np.concatenate(list(audio_blocks(path, sample_rate, _BLOCK_S)))


def audio_blocks(path: Path, sample_rate: int, block_s: float) -> Iterator[np.ndarray]:
    """The file as float32 mono blocks of ``block_s`` seconds (the last one shorter),
    decoded as they are asked for, so a long file never lies in memory whole. Raises
    :class:`NoAudioStream` or :class:`UnreadableAudio`."""
    decoded = False
    try:
        for block in iter_windows(
            path, sample_rate=sample_rate, window=round(block_s * sample_rate)
        ):
            decoded = True
            yield block
    except MediaDecodeError as error:
        raise UnreadableAudio(str(error)) from error
    if not decoded:
        raise NoAudioStream(f"{path}: no audio stream")


def stream_windows(path: Path, sample_rate: int, window: int, hop: int) -> Iterator[np.ndarray]:
    """The windows :func:`frame_windows` cuts from the whole file, yielded while it decodes,
    so memory stays flat however long the file is."""
    pending = np.zeros(0, dtype=np.float32)
    decoded = yielded = False
    try:
        for block in iter_windows(path, sample_rate=sample_rate, window=hop):
            decoded = True
            pending = np.concatenate([pending, block])
            while pending.size >= window:
                yield pending[:window]
                yielded = True
                pending = pending[hop:]
    except MediaDecodeError as error:
        raise UnreadableAudio(str(error)) from error
    if not decoded:
        raise NoAudioStream(f"{path}: no audio stream")
    if not yielded:
        yield np.pad(pending, (0, window - pending.size))


def frame_windows(audio: np.ndarray, window: int, hop: int) -> np.ndarray:
    """``(K, window)`` windows every ``hop`` samples (views, no copy).

    A signal shorter than one window is padded with silence to one window; the tail
    after the last whole window is left out.
    """
    if audio.ndim != 1:
        raise ValueError(f"audio must be one channel of samples, got shape {audio.shape}")
    if audio.size < window:
        audio = np.pad(audio, (0, window - audio.size))
    return np.lib.stride_tricks.sliding_window_view(audio, window)[::hop]


def labelled_tracks(folder: Path) -> Iterator[LabelledTrack]:
    """Every audio file of every genre sub-folder, sorted; sub-folders whose name starts
    with ``_`` (unlabelled or non-music examples) are not genres and are left out."""
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder of genre sub-folders")
    for sub in sorted(path for path in folder.iterdir() if path.is_dir()):
        if sub.name.startswith("_"):
            continue
        for file in sorted(sub.iterdir()):
            if file.is_file() and file.suffix.lower() in AUDIO_SUFFIXES:
                yield LabelledTrack(sub.name, file)
