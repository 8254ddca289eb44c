"""The scene dataset's first training step: media + annotations -> a split segment table.

It resolves every item's media file, validates the annotations, extracts (or finds in
the cache) each file's 1-second segments, labels each segment from the annotations and
splits by title, so no film lends its look and sound to both sides. The output folder is
what training reads: ``segments.parquet``, ``prepared.json`` and ``refused.csv``; the
pixels and patches stay in the feature cache and are memory-mapped from there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import torch
from torch.utils.data import Dataset

from models.contracts import AudioContract, FrameContract
from ops.atomic import atomic_open, write_table
from ops.catalog.store import read_catalog
from ops.ingest.rawstore import RawStore
from ops.media.decode import MediaDecodeError, open_video
from ops.scene.features import (
    FEATURE_VERSION,
    SEGMENT_S,
    CachedFeatures,
    extract_to_cache,
    frames_to_tensor,
    load_cached,
)
from ops.scene.labels import (
    ANNOTATIONS_NAME,
    COLUMNS,
    GENERATED,
    LINE,
    MEDIA_NAME,
    TrainingData,
    matching_version,
    read_annotations,
    training_data_origin,
)
from ops.settings import Settings

log = logging.getLogger(__name__)

SEGMENTS_NAME = "segments.parquet"
PREPARED_NAME = "prepared.json"
REFUSED_NAME = "refused.csv"
FEATURES_SUBDIR = "features"
SPLITS = ("train", "val")
MIN_OVERLAP_S = 0.5  # a segment is positive when it overlaps a scene by at least this
SEGMENT_COLUMNS = (
    "item_id",
    "title",
    "start_s",
    "end_s",
    "split",
    "feature_dir",
    "segment_index",
)
REFUSED_COLUMNS = (LINE, *COLUMNS, "reason")


@dataclass(frozen=True)
class MediaItem:
    """One item's media file, as the media list or the catalog names it."""

    item_id: str
    title: str
    path: Path
    sha256: str | None = None  # known from the catalog; hashed from the file otherwise
    duration_s: float | None = None


@dataclass(frozen=True, eq=False)
class PreparedDataset:
    """The segment table with everything needed to read it back as tensors.

    ``training_data`` says whether the media are a generated stand-in or real labelled
    footage; when it was not recorded, the dataset counts as a stand-in (its model's
    labels are then withheld rather than published as findings).
    """

    root: Path
    segments: pd.DataFrame
    labels: tuple[str, ...]
    frames: FrameContract
    audio: AudioContract
    dataset_rev: str | None = None
    training_data: TrainingData = GENERATED

    @classmethod
    def load(cls, out_dir: Path) -> PreparedDataset:
        """Read what :func:`prepare_dataset` wrote to ``out_dir``."""
        summary_path = out_dir / PREPARED_NAME
        if not summary_path.is_file():
            raise FileNotFoundError(f"{out_dir} holds no prepared dataset (no {PREPARED_NAME})")
        summary = json.loads(summary_path.read_text())
        return cls(
            root=out_dir,
            segments=pd.read_parquet(out_dir / SEGMENTS_NAME),
            labels=tuple(summary["labels"]),
            frames=FrameContract(**summary["frames_contract"]),
            audio=AudioContract(**summary["audio_contract"]),
            dataset_rev=summary.get("dataset_rev"),
            training_data=summary.get("training_data", GENERATED),
        )


class SegmentTensorDataset(Dataset[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]):
    """One split as ``(frames (N, 3, H, W), audio (1, 96, 64), target (L,))`` float32 items.

    Items are read from the memory-mapped cache on demand, so memory stays bounded
    however large the dataset; the maps are opened lazily in each DataLoader worker.
    """

    def __init__(self, prepared: PreparedDataset, split: str) -> None:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        rows = prepared.segments[prepared.segments["split"] == split]
        if rows.empty:
            raise ValueError(f"the {split} split of {prepared.root} holds no segment")
        self.frames_contract = prepared.frames
        self.labels = prepared.labels
        self.feature_dirs = rows["feature_dir"].tolist()
        self.segment_indices = rows["segment_index"].to_numpy(dtype=np.int64)
        self.targets = rows[list(prepared.labels)].to_numpy(dtype=np.float32)
        self._opened: dict[str, CachedFeatures] = {}

    def __len__(self) -> int:
        return len(self.feature_dirs)

    def __getitem__(self, position: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cached = self._cached(self.feature_dirs[position])
        index = int(self.segment_indices[position])
        frames = frames_to_tensor(cached.frames[index], self.frames_contract)
        audio = torch.from_numpy(np.array(cached.logmel[index], dtype=np.float32)).unsqueeze(0)
        return frames, audio, torch.from_numpy(self.targets[position].copy())

    def __getstate__(self) -> dict[str, Any]:
        """Pickled for DataLoader workers without the maps (pickling one copies its data)."""
        return {**self.__dict__, "_opened": {}}

    def _cached(self, feature_dir: str) -> CachedFeatures:
        cached = self._opened.get(feature_dir)
        if cached is None:
            cached = load_cached(Path(feature_dir))
            contract = self.frames_contract
            expected = (contract.frames_per_segment, contract.height, contract.width, 3)
            if cached.frames.shape[1:] != expected:
                raise ValueError(
                    f"{feature_dir} holds frames of shape {cached.frames.shape[1:]}, "
                    f"the prepared dataset's contract wants {expected}"
                )
            self._opened[feature_dir] = cached
        return cached


def prepare_dataset(
    dataset_dir: Path,
    out_dir: Path,
    settings: Settings,
    *,
    labels: Sequence[str],
    frames: FrameContract,
    audio: AudioContract,
    val_fraction: float = 0.25,
    seed: int = 0,
) -> PreparedDataset:
    """Build ``out_dir`` from the labelled folder ``dataset_dir``; see the module docstring.

    With a ``media.csv``, every listed item is used (unannotated items are negatives);
    without one, the items are the annotated ones, found through the catalog.
    """
    labels = _checked_labels(labels)
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    refusals: list[dict[str, Any]] = []
    media_list = dataset_dir / MEDIA_NAME
    annotations_path = dataset_dir / ANNOTATIONS_NAME
    if media_list.is_file():
        items = read_media_list(dataset_dir)
    else:
        items = catalog_media(settings, _annotated_items(annotations_path))
    items, durations = _probed(items, refusals)
    check = read_annotations(annotations_path, known_labels=labels, durations=durations)
    refusals += check.refused.to_dict("records")
    annotations = check.valid

    feature_dirs: dict[str, Path] = {}
    cache_root = settings.home / FEATURES_SUBDIR
    for item in items.values():
        try:
            sha256 = item.sha256 or _file_sha256(item.path)
            feature_dirs[item.item_id] = extract_to_cache(
                item.path, sha256, cache_root, frames, audio
            )
        except (MediaDecodeError, OSError) as exc:
            log.warning("item %s refused: features could not be extracted: %s", item.item_id, exc)
            refusals.append(_item_refusal(item.item_id, f"features could not be extracted: {exc}"))
    unusable = ~annotations["item_id"].isin(list(feature_dirs))
    for row in annotations[unusable].to_dict("records"):
        row["reason"] = (
            f"no usable media for item {row['item_id']}"
            if row["item_id"] not in items
            else "the item's features could not be extracted"
        )
        refusals.append(row)
    annotations = annotations[~unusable]

    segments = _segment_table(items, feature_dirs, annotations, labels)
    split_of = split_by_title(segments, labels, val_fraction=val_fraction, seed=seed)
    segments["split"] = segments["title"].map(split_of)
    segments = segments[[*SEGMENT_COLUMNS, *labels]]
    version = matching_version(dataset_dir, settings)
    dataset_rev = version.tag if version else None
    training_data = training_data_origin(dataset_dir)

    out_dir.mkdir(parents=True, exist_ok=True)
    _write_refused(out_dir / REFUSED_NAME, refusals)
    write_table(pa.Table.from_pandas(segments, preserve_index=False), out_dir / SEGMENTS_NAME)
    summary = {
        "labels": list(labels),
        "feature_version": FEATURE_VERSION,
        "segment_s": SEGMENT_S,
        "frames_contract": dataclasses.asdict(frames),
        "audio_contract": dataclasses.asdict(audio),
        "val_fraction": val_fraction,
        "seed": seed,
        "dataset_dir": str(dataset_dir),
        "dataset_rev": dataset_rev,
        "dataset_commit": version.commit if version else None,
        "training_data": training_data,
        "annotations": check.report,
        "refused_rows": len(refusals),
        "counts": _counts(segments, labels),
    }
    with atomic_open(out_dir / PREPARED_NAME) as handle:
        json.dump(summary, handle, indent=2)
    log.info("prepared %d segments of %d items in %s", len(segments), len(feature_dirs), out_dir)
    return PreparedDataset(out_dir, segments, labels, frames, audio, dataset_rev, training_data)


def read_media_list(dataset_dir: Path) -> dict[str, MediaItem]:
    """``media.csv`` (``item_id,path,title``; paths relative to the folder) by item_id."""
    media = pd.read_csv(dataset_dir / MEDIA_NAME, dtype=str, keep_default_na=False)
    missing = {"item_id", "path", "title"} - set(media.columns)
    if missing:
        raise ValueError(
            f"{dataset_dir / MEDIA_NAME}: missing column(s) {', '.join(sorted(missing))}"
        )
    duplicated = media.loc[media["item_id"].duplicated(), "item_id"].tolist()
    if duplicated:
        raise ValueError(f"{dataset_dir / MEDIA_NAME}: item_id listed twice: {duplicated[:5]}")
    return {
        row.item_id: MediaItem(row.item_id, row.title or row.item_id, dataset_dir / row.path)
        for row in media.itertuples(index=False)
    }


def catalog_media(settings: Settings, item_ids: Sequence[str]) -> dict[str, MediaItem]:
    """The catalog's healthy copies of ``item_ids`` in the raw store (missing ones left out)."""
    catalog = read_catalog(settings.catalog_path)
    wanted = catalog[catalog["item_id"].isin(list(item_ids)) & (catalog["status"] == "ok")]
    store = RawStore(settings.raw_dir, settings.tmp_dir)
    items = {}
    for row in wanted.to_dict("records"):
        if not isinstance(row["sha256"], str):
            continue
        duration = row["duration_s"]
        items[row["item_id"]] = MediaItem(
            item_id=row["item_id"],
            title=row["title"]
            if isinstance(row["title"], str) and row["title"]
            else row["item_id"],
            path=store.path_for(row["sha256"]),
            sha256=row["sha256"],
            duration_s=None if pd.isna(duration) else float(duration),
        )
    return items


def split_by_title(
    segments: pd.DataFrame, labels: Sequence[str], *, val_fraction: float, seed: int
) -> dict[str, str]:
    """Title -> ``train`` or ``val``; deterministic in ``seed``.

    Titles are grouped by which labels they hold positives of, and about ``val_fraction``
    of each group goes to val; then every label with positives in two titles or more is
    made to have positives on both sides.
    """
    titles = sorted(segments["title"].unique())
    if len(titles) < 2:
        raise ValueError(f"a split by title needs at least two titles, got {len(titles)}")
    positive = segments.groupby("title")[list(labels)].max().astype(bool)
    rng = np.random.default_rng(seed)
    order = [titles[i] for i in rng.permutation(len(titles))]
    groups: dict[tuple[bool, ...], list[str]] = {}
    for title in order:
        groups.setdefault(tuple(positive.loc[title]), []).append(title)
    val: set[str] = set()
    for signature in sorted(groups):
        members = groups[signature]
        val.update(members[: math.floor(val_fraction * len(members) + 0.5)])
    for label in labels:
        holders = [title for title in order if positive.loc[title, label]]
        if len(holders) < 2:
            continue
        if not val.intersection(holders):
            val.add(holders[0])
        elif val.issuperset(holders):
            val.discard(holders[0])
    if not val:
        val.add(order[0])
    if len(val) == len(titles):
        val.discard(order[-1])
    return {title: "val" if title in val else "train" for title in titles}


# -- internals ------------------------------------------------------------------------------


def _checked_labels(labels: Sequence[str]) -> tuple[str, ...]:
    if isinstance(labels, str) or not labels:
        raise ValueError(f"labels must be a non-empty sequence of label names, got {labels!r}")
    clashes = set(labels) & {*SEGMENT_COLUMNS}
    if len(set(labels)) != len(labels) or clashes or not all(labels):
        raise ValueError(f"labels must be unique, non-empty and not column names, got {labels!r}")
    return tuple(labels)


def _annotated_items(annotations_path: Path) -> list[str]:
    """The item ids an annotation file mentions (validation comes later, with durations)."""
    try:
        frame = pd.read_csv(annotations_path, dtype=str, usecols=["item_id"])
    except (OSError, ValueError, UnicodeDecodeError):
        return []  # read_annotations then says what is wrong with the file
    return sorted(frame["item_id"].dropna().unique())


def _probed(
    items: Mapping[str, MediaItem], refusals: list[dict[str, Any]]
) -> tuple[dict[str, MediaItem], dict[str, float]]:
    """Items whose media opens as video, and their durations; the others are refused."""
    usable, durations = {}, {}
    for item in items.values():
        try:
            duration = item.duration_s or open_video(item.path).duration_s
        except MediaDecodeError as exc:
            log.warning("item %s refused: %s", item.item_id, exc)
            refusals.append(_item_refusal(item.item_id, f"media not usable: {exc}"))
            continue
        usable[item.item_id] = item
        if duration:
            durations[item.item_id] = float(duration)
    return usable, durations


def _item_refusal(item_id: str, reason: str) -> dict[str, Any]:
    return {
        LINE: None,
        "item_id": item_id,
        "start_s": None,
        "end_s": None,
        "label": None,
        "reason": reason,
    }


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _segment_table(
    items: Mapping[str, MediaItem],
    feature_dirs: Mapping[str, Path],
    annotations: pd.DataFrame,
    labels: Sequence[str],
) -> pd.DataFrame:
    """One row per cached segment, with a 0/1 column per label."""
    parts = []
    for item_id, folder in sorted(feature_dirs.items()):
        times = np.asarray(load_cached(folder).times)
        if not len(times):
            log.warning("item %s has no segment (shorter than half a second)", item_id)
            continue
        part = pd.DataFrame(
            {
                "item_id": item_id,
                "title": items[item_id].title,
                "start_s": times[:, 0],
                "end_s": times[:, 1],
                "feature_dir": str(folder),
                "segment_index": np.arange(len(times), dtype=np.int64),
            }
        )
        own = annotations[annotations["item_id"] == item_id]
        for label in labels:
            scenes = own.loc[own["label"] == label, ["start_s", "end_s"]].to_numpy(dtype=float)
            part[label] = _covered(times, scenes).astype(np.int8)
        parts.append(part)
    if not parts:
        raise ValueError("no item has usable segments; see refused.csv for why")
    return pd.concat(parts, ignore_index=True)


def _covered(times: np.ndarray, scenes: np.ndarray) -> np.ndarray:
    """Per segment: does it overlap the scenes by at least MIN_OVERLAP_S (summed)?"""
    if not len(scenes):
        return np.zeros(len(times), dtype=bool)
    starts = np.maximum(times[:, :1], scenes[None, :, 0])
    ends = np.minimum(times[:, 1:], scenes[None, :, 1])
    overlap = np.clip(ends - starts, 0, None).sum(axis=1)
    return overlap >= MIN_OVERLAP_S - 1e-9


def _counts(segments: pd.DataFrame, labels: Sequence[str]) -> dict[str, Any]:
    counts = {}
    for split in SPLITS:
        rows = segments[segments["split"] == split]
        counts[split] = {
            "segments": len(rows),
            "items": int(rows["item_id"].nunique()),
            "titles": int(rows["title"].nunique()),
            "positives": {label: int(rows[label].sum()) for label in labels},
        }
    return counts


def _write_refused(path: Path, refusals: list[dict[str, Any]]) -> None:
    frame = pd.DataFrame.from_records(refusals, columns=list(REFUSED_COLUMNS))
    frame[LINE] = frame[LINE].astype("Int64")
    with atomic_open(path) as handle:
        frame.to_csv(handle, index=False)
