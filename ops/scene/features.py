"""1-second scene segments (still frames + a log-mel patch), and their on-disk cache.

A file is streamed once: video frames come from :mod:`ops.media.decode` (scaled inside
FFmpeg to the frame contract) while a second, concurrent stream reads its audio, so
memory stays flat whatever the duration. Segment ``i`` covers ``[i, i+1)`` seconds from
the first video frame; its N frames are the pictures on screen at ``i + (k + 0.5) / N``,
its audio patch the first 0.96 s of the segment. The cache keeps one folder per file
content, feature version and contracts, written aside and renamed into place, so a
re-run or a second DAG task reads it instead of decoding again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from models.contracts import AudioContract, FrameContract
from ops.atomic import atomic_open
from ops.media.decode import MediaDecodeError, iter_frames, open_container, open_video
from ops.scene.audio import iter_windows, log_mel_patches, silent_patch

log = logging.getLogger(__name__)

FEATURE_VERSION = "scene-seg-v1"
SEGMENT_S = 1.0
MIN_LAST_SEGMENT = 0.5  # a last segment shorter than this fraction of segment_s is dropped
LOGMEL_BATCH = 32  # segments per librosa call
CACHE_CHUNK = 64  # segments buffered in memory before they go to disk
CACHE_ARRAYS = ("frames", "logmel", "times")
META_NAME = "meta.json"
PARTIAL_SUFFIX = ".partial"
STALE_PARTIAL_S = 6 * 3600
_SHA256 = re.compile(r"[0-9a-f]{64}")

# index, start_s, end_s, frames (N, H, W, 3), the segment's audio samples (None: none left)
_Entry = tuple[int, float, float, np.ndarray, np.ndarray | None]


@dataclass(frozen=True)
class Segment:
    """One segment: ``frames`` (N, H, W, 3) uint8 (N = 0 for audio-only files) and
    ``logmel`` (patch_frames, n_mels) float32; ``has_audio`` is False when the file has no
    audio stream and ``logmel`` is silence."""

    index: int
    start_s: float
    end_s: float
    frames: np.ndarray
    logmel: np.ndarray
    has_audio: bool = True


@dataclass(frozen=True)
class CachedFeatures:
    """A file's cached segments, memory-mapped so training reads only what it indexes."""

    folder: Path
    frames: np.ndarray  # (S, N, H, W, 3) uint8
    logmel: np.ndarray  # (S, patch_frames, n_mels) float32
    times: np.ndarray  # (S, 2) float64: start_s, end_s
    has_audio: bool

    def __len__(self) -> int:
        return int(self.times.shape[0])


def iter_segments(
    path: Path,
    frames: FrameContract,
    audio: AudioContract,
    *,
    segment_s: float = SEGMENT_S,
    require_frames: bool = True,
) -> Iterator[Segment]:
    """Stream the segments of a file, in order.

    A video without sound gets silent patches (``has_audio=False``); an audio-only file
    is refused unless ``require_frames`` is False, and then its segments hold no frames.
    """
    window = round(segment_s * audio.sample_rate)
    needed = (audio.patch_frames - 1) * audio.hop_length + audio.n_fft
    if window < needed:
        raise ValueError(
            f"segment_s={segment_s:g} s holds {window} samples; a {audio.patch_frames}-frame "
            f"log-mel patch needs {needed}"
        )
    has_video, has_audio = _stream_kinds(path)
    entries: Iterator[_Entry]
    if has_video:
        info = open_video(path)
        windows = (
            iter_windows(
                path, sample_rate=audio.sample_rate, window=window, origin_s=info.start_time_s
            )
            if has_audio
            else iter(())
        )
        entries = (
            (*timed, next(windows, None))
            for timed in _video_timeline(path, frames, segment_s, info.fps)
        )
    elif require_frames:
        raise MediaDecodeError(
            f"{path}: no video stream, and scene segments need frames "
            "(pass require_frames=False for audio-only features)"
        )
    elif has_audio:
        entries = _audio_timeline(path, frames, audio, segment_s)
    else:
        raise MediaDecodeError(f"{path}: neither a video nor an audio stream")
    batch: list[_Entry] = []
    for entry in entries:
        batch.append(entry)
        if len(batch) == LOGMEL_BATCH:
            yield from _with_audio(batch, window, audio, has_audio)
            batch = []
    if batch:
        yield from _with_audio(batch, window, audio, has_audio)


def to_tensors(
    segments: Sequence[Segment], frames: FrameContract
) -> tuple[torch.Tensor, torch.Tensor]:
    """A model batch: frames ``(B, N, 3, H, W)`` normalised, audio ``(B, 1, 96, 64)``."""
    if not segments:
        raise ValueError("to_tensors needs at least one segment")
    expected = (frames.frames_per_segment, frames.height, frames.width, frames.channels)
    for segment in segments:
        if segment.frames.shape != expected:
            raise ValueError(
                f"segment {segment.index} holds frames of shape {segment.frames.shape}, "
                f"the contract wants {expected} (an audio-only file has no frames)"
            )
    pixels = frames_to_tensor(np.stack([segment.frames for segment in segments]), frames)
    logmel = torch.from_numpy(np.stack([segment.logmel for segment in segments]))
    return pixels, logmel.unsqueeze(1)


def frames_to_tensor(pixels: np.ndarray, contract: FrameContract) -> torch.Tensor:
    """uint8 ``(..., H, W, 3)`` pixels -> float32 ``(..., 3, H, W)`` normalised network input."""
    tensor = torch.from_numpy(np.array(pixels, dtype=np.float32, copy=True)) / 255.0
    return contract.normalise(tensor.movedim(-1, -3))


# -- cache ----------------------------------------------------------------------------------


def contract_key(frames: FrameContract, audio: AudioContract) -> str:
    """Short digest of everything besides the code version that changes the features."""
    description = {
        "frames": dataclasses.asdict(frames),
        "audio": dataclasses.asdict(audio),
        "segment_s": SEGMENT_S,
    }
    canonical = json.dumps(description, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def cache_folder(
    cache_root: Path, sha256: str, frames: FrameContract, audio: AudioContract
) -> Path:
    """Where :func:`extract_to_cache` puts (or finds) a file's features."""
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a sha256 digest: {sha256!r}")
    return cache_root / f"{FEATURE_VERSION}-{contract_key(frames, audio)}" / sha256


def extract_to_cache(
    path: Path, sha256: str, cache_root: Path, frames: FrameContract, audio: AudioContract
) -> Path:
    """Extract a file's segments into the cache once; later calls return the folder at once.

    The folder is assembled under a temporary name and renamed into place only when
    complete, so a killed or failed extraction never leaves a folder that looks cached.
    """
    target = cache_folder(cache_root, sha256, frames, audio)
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep_stale_partials(target.parent)
    scratch = target.parent / f".{sha256}.{os.getpid()}-{uuid.uuid4().hex}{PARTIAL_SUFFIX}"
    scratch.mkdir()
    try:
        started = time.perf_counter()
        count, has_audio = _write_segments(path, scratch, frames, audio)
        meta = {
            "feature_version": FEATURE_VERSION,
            "sha256": sha256,
            "source": str(path),
            "segments": count,
            "has_audio": has_audio,
            "segment_s": SEGMENT_S,
            "frames_contract": dataclasses.asdict(frames),
            "audio_contract": dataclasses.asdict(audio),
            "extract_s": round(time.perf_counter() - started, 3),
        }
        with atomic_open(scratch / META_NAME) as handle:
            json.dump(meta, handle, indent=2)
        try:
            scratch.rename(target)
        except OSError:
            if not target.is_dir():
                raise
            log.info("%s was cached by another worker meanwhile", sha256)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def load_cached(folder: Path) -> CachedFeatures:
    """Open a cache folder's arrays read-only and memory-mapped."""
    meta_path = folder / META_NAME
    if not meta_path.is_file():
        raise FileNotFoundError(f"{folder} is not a feature cache folder (no {META_NAME})")
    meta = json.loads(meta_path.read_text())
    arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in CACHE_ARRAYS}
    return CachedFeatures(folder=folder, has_audio=bool(meta["has_audio"]), **arrays)


class _ChunkedArray:
    """Rows appended one by one, spilled to chunk files, assembled into one ``.npy``.

    The row count is only known at the end of a stream; chunks keep memory flat until
    then, and assembling copies one chunk at a time behind the final header.
    """

    def __init__(self, folder: Path, name: str, row_shape: tuple[int, ...], dtype: str) -> None:
        self.folder, self.name = folder, name
        self.row_shape, self.dtype = row_shape, np.dtype(dtype)
        self.rows: list[np.ndarray] = []
        self.chunks: list[Path] = []
        self.count = 0

    def append(self, row: np.ndarray) -> None:
        self.rows.append(np.asarray(row, dtype=self.dtype).reshape(self.row_shape))
        self.count += 1
        if len(self.rows) == CACHE_CHUNK:
            self._spill()

    def _spill(self) -> None:
        chunk = self.folder / f"{self.name}.{len(self.chunks):06d}.chunk.npy"
        np.save(chunk, np.stack(self.rows))
        self.chunks.append(chunk)
        self.rows = []

    def finish(self) -> None:
        """Write ``<name>.npy``: a header for the final shape, then each chunk's rows."""
        if self.rows:
            self._spill()
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": (self.count, *self.row_shape),
        }
        with open(self.folder / f"{self.name}.npy", "wb") as handle:
            np.lib.format.write_array_header_1_0(handle, header)
            for chunk in self.chunks:
                handle.write(np.load(chunk).tobytes())
                chunk.unlink()
            handle.flush()
            os.fsync(handle.fileno())


def _write_segments(
    path: Path, folder: Path, frames: FrameContract, audio: AudioContract
) -> tuple[int, bool]:
    """Stream every segment of ``path`` into the three arrays; returns (count, has_audio)."""
    arrays = {
        "frames": _ChunkedArray(
            folder,
            "frames",
            (frames.frames_per_segment, frames.height, frames.width, frames.channels),
            "uint8",
        ),
        "logmel": _ChunkedArray(folder, "logmel", (audio.patch_frames, audio.n_mels), "float32"),
        "times": _ChunkedArray(folder, "times", (2,), "float64"),
    }
    for segment in iter_segments(path, frames, audio):
        arrays["frames"].append(segment.frames)
        arrays["logmel"].append(segment.logmel)
        arrays["times"].append(np.array([segment.start_s, segment.end_s]))
    for array in arrays.values():
        array.finish()
    return arrays["times"].count, _stream_kinds(path)[1]


def _sweep_stale_partials(folder: Path) -> None:
    """Remove scratch folders that killed extractions left behind long ago."""
    now = time.time()
    for partial in folder.glob(f".*{PARTIAL_SUFFIX}"):
        try:
            if now - partial.stat().st_mtime > STALE_PARTIAL_S:
                shutil.rmtree(partial, ignore_errors=True)
        except FileNotFoundError:
            continue


# -- streaming internals ----------------------------------------------------------------------


def _stream_kinds(path: Path) -> tuple[bool, bool]:
    """(has a real video stream, has an audio stream); cover pictures are not video."""
    with open_container(path) as container:
        has_video = any(
            stream.codec_context is not None
            and not stream.disposition & av.stream.Disposition.attached_pic
            for stream in container.streams.video
        )
        return has_video, bool(container.streams.audio)


def _video_timeline(
    path: Path, contract: FrameContract, segment_s: float, fps: Fraction | None
) -> Iterator[tuple[int, float, float, np.ndarray]]:
    """Yield ``(index, start_s, end_s, frames)`` per segment from one pass over the frames.

    The frame for target time t is the last frame whose time is <= t (the one on
    screen). A segment is yielded once a frame at or after its end proves it complete,
    or at the end of the stream, clipped to the video's end (last frame + one frame
    period); a last segment shorter than half a segment is dropped, and one that runs
    out of frames repeats the last one.
    """
    per_segment = contract.frames_per_segment
    offsets = (np.arange(per_segment) + 0.5) / per_segment * segment_s
    picked: list[np.ndarray] = []  # frames of the segment being sampled
    done: tuple[int, list[np.ndarray]] | None = None  # sampled, waiting for its end
    segment = 0
    previous_time, shown_time, shown_image = 0.0, 0.0, None
    for frame in iter_frames(
        path, width=contract.width, height=contract.height, interpolation="AREA"
    ):
        if done is not None and frame.time_s >= (done[0] + 1) * segment_s:
            yield done[0], done[0] * segment_s, (done[0] + 1) * segment_s, np.stack(done[1])
            done = None
        while shown_image is not None and segment * segment_s + offsets[len(picked)] < frame.time_s:
            picked.append(shown_image)
            if len(picked) == per_segment:
                end_s = (segment + 1) * segment_s
                if frame.time_s >= end_s:  # a gap in the stream: this one is complete too
                    yield segment, segment * segment_s, end_s, np.stack(picked)
                else:
                    done = (segment, picked)
                picked, segment = [], segment + 1
        previous_time, shown_time, shown_image = shown_time, frame.time_s, frame.image
    if shown_image is None:
        return
    # The last frame stays on screen one period of the average rate (or of the last step).
    period = 1 / float(fps) if fps else max(shown_time - previous_time, 0.0)
    video_end = shown_time + period
    if done is not None:
        yield (
            done[0],
            done[0] * segment_s,
            min((done[0] + 1) * segment_s, video_end),
            np.stack(done[1]),
        )
    start = segment * segment_s
    if video_end - start >= MIN_LAST_SEGMENT * segment_s:
        picked += [shown_image] * (per_segment - len(picked))
        yield segment, start, min(start + segment_s, video_end), np.stack(picked)


def _audio_timeline(
    path: Path, contract: FrameContract, audio: AudioContract, segment_s: float
) -> Iterator[_Entry]:
    """Segments of an audio-only file: its length decides, and they hold no frames."""
    window = round(segment_s * audio.sample_rate)
    no_frames = np.zeros((0, contract.height, contract.width, contract.channels), np.uint8)
    for index, samples in enumerate(
        iter_windows(path, sample_rate=audio.sample_rate, window=window)
    ):
        length_s = samples.size / audio.sample_rate
        if length_s < MIN_LAST_SEGMENT * segment_s:
            return
        start_s = index * segment_s
        yield index, start_s, start_s + min(length_s, segment_s), no_frames, samples


def _with_audio(
    batch: list[_Entry], window: int, contract: AudioContract, has_audio: bool
) -> Iterator[Segment]:
    """Segments of a batch, their patches computed in one go (zero-padded windows)."""
    if has_audio:
        padded = np.zeros((len(batch), window), dtype=np.float32)
        for row, (*_, samples) in enumerate(batch):
            if samples is not None:
                padded[row, : samples.size] = samples
        patches = log_mel_patches(padded, contract)
    else:
        patches = np.repeat(silent_patch(contract)[None], len(batch), axis=0)
    for (index, start_s, end_s, pixels, _), patch in zip(batch, patches, strict=True):
        yield Segment(index, start_s, end_s, pixels, patch, has_audio)
