"""Face clustering measured on a folder of known identities (``cinescope faces evaluate``).

The folder holds one sub-folder per identity with its pictures. Every picture is
analysed once; its largest kept face stands for the identity (other faces in it are
counted as ``extra_faces``, not clustered); each algorithm then clusters the same
descriptors. A picture whose face is not found counts against detection
(``faces_detected`` < ``images``), not against purity. Sub-folders whose name starts with
``_`` hold group photos: their faces are only counted, per photo (``group_photos``).

Compactness is clusters produced / input pictures (ETRI's definition; ideal: identities
/ pictures).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict
from tqdm import tqdm

from ops.faces.cluster import Algorithm, ClusterSettings, cluster_faces
from ops.faces.detect import FaceAnalyser, FaceSettings
from ops.faces.metrics import clustering_scores
from ops.faces.pictures import PICTURE_SUFFIXES, UnreadablePicture, read_picture


class FaceEvaluation(BaseModel):
    """One algorithm's clustering of a labelled folder (one JSON line of the command)."""

    model_config = ConfigDict(frozen=True)

    algorithm: str
    images: int
    faces_detected: int
    identities: int
    clusters: int
    purity: float
    compactness: float
    pairwise_f: float
    bcubed_f: float
    pairwise_precision: float
    pairwise_recall: float
    bcubed_precision: float
    bcubed_recall: float
    detection_rate: float
    clusters_per_identity: float
    extra_faces: int
    refused: dict[str, int]
    unreadable: dict[str, str]
    group_photos: dict[str, int]
    detector: str
    threshold: float
    neighbours: int
    detect_seconds: float
    cluster_seconds: float


class _Analysed(BaseModel):
    """The descriptors of the folder's pictures, before any clustering."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    images: int
    identities: list[str]
    descriptors: np.ndarray
    extra_faces: int
    refused: dict[str, int]
    unreadable: dict[str, str]
    group_photos: dict[str, int]
    seconds: float


def identity_pictures(folder: Path) -> Iterator[tuple[str, Path]]:
    """(identity, picture) for every picture of every identity sub-folder, sorted."""
    for sub in sorted(path for path in folder.iterdir() if path.is_dir()):
        for picture in sorted(sub.iterdir()):
            if picture.is_file() and picture.suffix.lower() in PICTURE_SUFFIXES:
                yield sub.name, picture


def analyse_folder(folder: Path, analyser: FaceAnalyser) -> _Analysed:
    """Detect and describe every picture of ``folder`` once (a progress bar on stderr)."""
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder of identity sub-folders")
    started = time.perf_counter()
    pictures = list(identity_pictures(folder))
    identities: list[str] = []
    descriptors: list[list[float]] = []
    refused: dict[str, int] = {}
    unreadable: dict[str, str] = {}
    groups: dict[str, int] = {}
    extra = images = 0
    for identity, path in tqdm(pictures, desc="faces", unit="picture", leave=False):
        try:
            found = analyser.analyse(read_picture(path))
        except UnreadablePicture as error:
            unreadable[path.relative_to(folder).as_posix()] = str(error)
            continue
        for reason, count in found.refused.items():
            refused[reason] = refused.get(reason, 0) + count
        if identity.startswith("_"):
            groups[path.relative_to(folder).as_posix()] = len(found.faces)
            continue
        images += 1
        if found.faces:
            identities.append(identity)
            descriptors.append(found.faces[0].descriptor)
            extra += len(found.faces) - 1
    if not images and not unreadable:
        raise ValueError(f"{folder} holds no pictures in identity sub-folders")
    return _Analysed(
        images=images,
        identities=identities,
        descriptors=np.asarray(descriptors, dtype=np.float32).reshape(len(descriptors), -1),
        extra_faces=extra,
        refused=refused,
        unreadable=unreadable,
        group_photos=groups,
        seconds=time.perf_counter() - started,
    )


def evaluate_faces(
    folder: Path,
    algorithms: Sequence[Algorithm],
    face_settings: FaceSettings | None = None,
    cluster_settings: ClusterSettings | None = None,
) -> list[FaceEvaluation]:
    """Detect, describe and cluster every picture of ``folder``, once per algorithm."""
    faces = face_settings or FaceSettings()
    clustering = cluster_settings or ClusterSettings()
    analysed = analyse_folder(folder, FaceAnalyser(faces))
    known = len(set(analysed.identities)) or 1
    results = []
    for algorithm in algorithms:
        started = time.perf_counter()
        labels = cluster_faces(analysed.descriptors, algorithm, clustering)
        seconds = time.perf_counter() - started
        scores = clustering_scores(analysed.identities, labels.tolist())
        results.append(
            FaceEvaluation(
                algorithm=algorithm,
                images=analysed.images,
                faces_detected=len(analysed.identities),
                identities=scores.identities,
                clusters=scores.clusters,
                purity=round(scores.purity, 4),
                compactness=round(scores.clusters / max(analysed.images, 1), 4),
                pairwise_f=round(scores.pairwise_f, 4),
                bcubed_f=round(scores.bcubed_f, 4),
                pairwise_precision=round(scores.pairwise_precision, 4),
                pairwise_recall=round(scores.pairwise_recall, 4),
                bcubed_precision=round(scores.bcubed_precision, 4),
                bcubed_recall=round(scores.bcubed_recall, 4),
                detection_rate=round(len(analysed.identities) / max(analysed.images, 1), 4),
                clusters_per_identity=round(scores.clusters / known, 3),
                extra_faces=analysed.extra_faces,
                refused=analysed.refused,
                unreadable=analysed.unreadable,
                group_photos=analysed.group_photos,
                detector=faces.detector,
                threshold=clustering.threshold_for(algorithm),
                neighbours=clustering.neighbours,
                detect_seconds=round(analysed.seconds, 2),
                cluster_seconds=round(seconds, 3),
            )
        )
    return results
