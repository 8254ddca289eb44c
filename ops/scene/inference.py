"""Scoring one media file with a scene model: streamed 1-s segments, batched forward passes.

The one inference loop of the platform: the refresh's ``scene`` task and the inference
benchmark both call it, so the benchmark measures what ships. Segments are decoded
lazily and scored a batch at a time, so memory stays flat however long the file; only
the per-segment scores and embeddings (a few floats per second of media) are kept.

Images and audio tracks get a content vector from the same model's own branches
(``SceneClassifier.embed_available``), in the space of the video vectors, until models
made for them (genre, mood) arrive: an image through the frame branch, a track through
the audio branch, one 1-s patch at a time and averaged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models.scene import SceneClassifier
from ops.media.decode import MediaDecodeError, iter_frames
from ops.scene.evaluate import model_inputs
from ops.scene.features import Segment, frames_to_tensor, iter_segments, to_tensors

SEGMENTS_PER_BATCH = 32


@dataclass(frozen=True)
class ScoredSegments:
    """A file's segments: ``times`` (S, 2) start/end seconds, ``scores`` (S, L) label
    probabilities, ``vectors`` (S, D) content embeddings."""

    times: np.ndarray
    scores: np.ndarray
    vectors: np.ndarray

    def __len__(self) -> int:
        return int(self.times.shape[0])


def score_file(
    model: SceneClassifier, path: Path, *, batch_size: int = SEGMENTS_PER_BATCH
) -> ScoredSegments:
    """Score every 1-s segment of ``path`` (on the model's device; ``eval()`` it first).

    Decoding errors propagate as ``MediaDecodeError``; a file too short for one segment
    gives zero segments.
    """
    contract = model.contract
    times = _Rows(2, np.float64)
    scores = _Rows(len(model.labels), np.float32)
    vectors = _Rows(model.embedding_dim, np.float32)
    batch: list[Segment] = []

    def flush() -> None:
        device = next(model.parameters()).device
        inputs = model_inputs(model, *to_tensors(batch, contract.frames), device)
        probabilities, embeddings = model.predict_and_embed(*inputs)
        scores.extend(probabilities.float().cpu().numpy())
        vectors.extend(embeddings.float().cpu().numpy())
        times.extend(np.array([(segment.start_s, segment.end_s) for segment in batch]))
        batch.clear()

    with torch.inference_mode():
        for segment in iter_segments(path, contract.frames, contract.audio):
            batch.append(segment)
            if len(batch) == batch_size:
                flush()
        if batch:
            flush()
    return ScoredSegments(times=times.view(), scores=scores.view(), vectors=vectors.view())


@dataclass(frozen=True)
class ContentVector:
    """One item-level content vector (D,) and how many pictures or 1-s patches made it."""

    vector: np.ndarray
    parts: int


def embed_image(model: SceneClassifier, path: Path) -> ContentVector:
    """The frame branch's vector of a still image (its first picture, scaled as video frames
    are), repeated to the frames a segment holds; ``eval()`` the model first."""
    contract = model.contract.frames
    pictures = iter_frames(path, width=contract.width, height=contract.height, interpolation="AREA")
    try:
        first = next(pictures, None)
    finally:
        pictures.close()  # type: ignore[attr-defined]
    if first is None:
        raise MediaDecodeError(f"{path}: no picture could be decoded")
    pixels = np.repeat(first.image[None, None], contract.frames_per_segment, axis=1)
    device = next(model.parameters()).device
    frames = frames_to_tensor(pixels, contract).to(device, memory_format=torch.contiguous_format)
    with torch.inference_mode():
        vector = model.embed_available(frames, None)[0]
    return ContentVector(vector.float().cpu().numpy(), 1)


def embed_audio(
    model: SceneClassifier, path: Path, *, batch_size: int = SEGMENTS_PER_BATCH
) -> ContentVector:
    """The mean of the audio branch's vectors of every 1-s patch of ``path`` (zero parts when
    it is shorter than half a second); ``eval()`` the model first."""
    contract = model.contract
    device = next(model.parameters()).device
    total = np.zeros(model.embedding_dim, dtype=np.float64)
    count = 0
    batch: list[np.ndarray] = []

    def flush() -> None:
        nonlocal total, count
        audio = torch.from_numpy(np.stack(batch)).unsqueeze(1).to(device)
        vectors = model.embed_available(None, audio).double().cpu().numpy()
        total, count = total + vectors.sum(axis=0), count + len(batch)
        batch.clear()

    with torch.inference_mode():
        segments = iter_segments(path, contract.frames, contract.audio, require_frames=False)
        for segment in segments:
            batch.append(segment.logmel)
            if len(batch) == batch_size:
                flush()
        if batch:
            flush()
    mean = total / count if count else total
    return ContentVector(mean.astype(np.float32), count)


class _Rows:
    """Rows appended to one array that doubles when full: a few large blocks, not one
    small array per batch kept between the decoder's large transient frames (which
    fragments the heap: +80 MB of resident memory over an hour of 720p video)."""

    def __init__(self, width: int, dtype: type[np.floating]) -> None:
        self._data = np.empty((256, width), dtype=dtype)
        self._size = 0

    def extend(self, rows: np.ndarray) -> None:
        needed = self._size + len(rows)
        if needed > len(self._data):
            grown = np.empty(
                (max(needed, 2 * len(self._data)), self._data.shape[1]), self._data.dtype
            )
            grown[: self._size] = self._data[: self._size]
            self._data = grown
        self._data[self._size : needed] = rows
        self._size = needed

    def view(self) -> np.ndarray:
        return self._data[: self._size]
