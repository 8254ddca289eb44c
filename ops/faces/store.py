"""The faces found so far: one table row per face (where it came from, its box, quality
and descriptor) and a thumbnail per face for the curation page.

Layout under ``home/faces``: ``faces.parquet`` (written atomically, so a killed run
leaves the previous table), ``thumbs/<face_id>.jpg``. A face's id is a digest of where it
was found (picture or item, time, box), so adding the same picture twice adds nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from PIL import Image
from tqdm import tqdm

from ops.atomic import atomic_path, write_table
from ops.faces.detect import DESCRIPTOR_DIM, Face, FaceAnalyser
from ops.faces.params import Added
from ops.faces.pictures import PICTURE_SUFFIXES, UnreadablePicture, read_picture
from ops.faces.tracks import TrackSettings, video_face_tracks
from ops.settings import Settings

THUMB_PX = 112
FACES_SCHEMA = pa.schema(
    [
        pa.field("face_id", pa.string(), nullable=False),
        pa.field("origin", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("label", pa.string()),
        pa.field("time_s", pa.float64()),
        pa.field("x0", pa.int32()),
        pa.field("y0", pa.int32()),
        pa.field("x1", pa.int32()),
        pa.field("y1", pa.int32()),
        pa.field("size_px", pa.int32()),
        pa.field("sharpness", pa.float32()),
        pa.field("turn", pa.float32()),
        pa.field("detection_score", pa.float32()),
        pa.field("descriptor", pa.list_(pa.float32(), DESCRIPTOR_DIM)),
        pa.field("added_at", pa.string()),
    ]
)


def faces_dir(settings: Settings) -> Path:
    return settings.home / "faces"


@dataclass(frozen=True)
class Picture:
    """A picture to look for faces in: ``label`` names its person, ``name`` is how a
    refusal names it."""

    path: Path
    label: str | None
    name: str


class FaceStore:
    """The faces table and thumbnails of one data root."""

    def __init__(self, settings: Settings) -> None:
        self.root = faces_dir(settings)
        self.table_path = self.root / "faces.parquet"
        self.thumbs = self.root / "thumbs"

    def faces(self) -> pd.DataFrame:
        """Every face, in the order added."""
        if not self.table_path.is_file():
            return FACES_SCHEMA.empty_table().to_pandas()
        return pd.read_parquet(self.table_path)

    def descriptors(self, face_ids: Iterable[str]) -> np.ndarray:
        """The descriptors of ``face_ids``, in that order."""
        return descriptor_lookup(self.faces())(list(face_ids))

    def thumbnail(self, face_id: str) -> Path | None:
        path = self.thumbs / f"{face_id}.jpg"
        return path if path.is_file() else None

    def add_pictures(
        self, folder: Path, source: str, analyser: FaceAnalyser | None = None
    ) -> Added:
        """Faces of every picture under ``folder``; a sub-folder's name labels its faces
        (a folder per person), and pictures at the top level are unlabelled."""
        if not folder.is_dir():
            raise NotADirectoryError(f"{folder} is not a folder of pictures")
        pictures = sorted(
            path
            for path in folder.rglob("*")
            if path.is_file() and path.suffix.lower() in PICTURE_SUFFIXES
        )
        labelled = []
        for path in pictures:
            relative = path.relative_to(folder)
            label = relative.parts[0] if len(relative.parts) > 1 else None
            labelled.append(Picture(path=path, label=label, name=relative.as_posix()))
        return self._add(labelled, source, analyser or FaceAnalyser())

    def add_face_sets(self, settings: Settings, analyser: FaceAnalyser | None = None) -> Added:
        """Faces of the pictures sources collected for the people they declare
        (ops.ingest.faceset), each labelled with the person's name."""
        from ops.ingest.faceset import face_set_sources, read_face_set
        from ops.ingest.rawstore import RawStore

        raw = RawStore(settings.raw_dir, settings.tmp_dir / "downloads")
        chosen = analyser or FaceAnalyser()
        total = Added()
        for source in face_set_sources(settings):
            pictures = [
                Picture(path=raw.path_for(row.sha256), label=row.person, name=row.url)
                for row in read_face_set(settings, source).itertuples()
            ]
            total = total.plus(self._add(pictures, source, chosen))
        return total

    def _add(self, pictures: list[Picture], source: str, analyser: FaceAnalyser) -> Added:
        known = set(self.faces()["face_id"])
        rows: list[dict[str, object]] = []
        refused: dict[str, int] = {}
        unreadable: dict[str, str] = {}
        already = 0
        for picture_file in tqdm(pictures, desc="faces", unit="picture", leave=False):
            try:
                picture = read_picture(picture_file.path)
            except UnreadablePicture as error:
                unreadable[picture_file.name] = str(error)
                continue
            found = analyser.analyse(picture)
            for reason, count in found.refused.items():
                refused[reason] = refused.get(reason, 0) + count
            origin = str(picture_file.path.resolve())
            for face in found.faces:
                face_id = face_key(origin, None, face)
                if face_id in known:
                    already += 1
                    continue
                known.add(face_id)
                self._write_thumbnail(face_id, picture, face)
                rows.append(_row(face_id, origin, source, picture_file.label, None, face))
        self._append(rows)
        return Added(
            pictures=len(pictures),
            faces_added=len(rows),
            already_known=already,
            refused=refused,
            unreadable=unreadable,
        )

    def add_video(self, video: Path, source: str, settings: TrackSettings | None = None) -> Added:
        """The best face of each face track of ``video`` (see ops.faces.tracks)."""
        import av

        found = video_face_tracks(video, settings)
        known = set(self.faces()["face_id"])
        best = {track.best_frame: track for track in found.tracks if track.descriptor}
        refused: dict[str, int] = {}
        for track in found.tracks:
            if track.refused:
                refused[track.refused] = refused.get(track.refused, 0) + 1
        rows: list[dict[str, object]] = []
        already = 0
        origin = str(video.resolve())
        with av.open(str(video)) as container:
            for number, frame in enumerate(container.decode(video=0)):
                chosen = best.get(number)
                if chosen is None:
                    continue
                box = next(b.box for b in chosen.boxes if b.frame == number)
                face = Face(
                    box=box,
                    landmarks=[],
                    size_px=min(box[2] - box[0], box[3] - box[1]),
                    sharpness=0.0,
                    turn=0.0,
                    detection_score=0.0,
                    descriptor=chosen.descriptor,
                )
                time_s = round(number / found.fps, 3)
                face_id = face_key(origin, time_s, face)
                if face_id in known:
                    already += 1
                    continue
                self._write_thumbnail(face_id, frame.to_ndarray(format="rgb24"), face)
                # a track's face is an average over several: no one sharpness, turn or score
                unmeasured = {"sharpness": None, "turn": None, "detection_score": None}
                rows.append(_row(face_id, origin, source, None, time_s, face) | unmeasured)
        self._append(rows)
        return Added(pictures=1, faces_added=len(rows), already_known=already, refused=refused)

    def _append(self, rows: list[dict[str, object]]) -> None:
        if not rows:
            return
        added = pa.Table.from_pylist(rows, schema=FACES_SCHEMA)
        if self.table_path.is_file():
            added = pa.concat_tables(
                [
                    pa.Table.from_pandas(self.faces(), schema=FACES_SCHEMA, preserve_index=False),
                    added,
                ]
            )
        write_table(added, self.table_path)

    def _write_thumbnail(self, face_id: str, picture: np.ndarray, face: Face) -> None:
        x0, y0, x1, y1 = face.box
        margin = (x1 - x0) // 4
        height, width = picture.shape[:2]
        crop = picture[
            max(0, y0 - margin) : min(height, y1 + margin),
            max(0, x0 - margin) : min(width, x1 + margin),
        ]
        self.thumbs.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.thumbs / f"{face_id}.jpg") as tmp:
            Image.fromarray(crop).resize((THUMB_PX, THUMB_PX)).save(tmp, format="JPEG")


def descriptor_lookup(faces: pd.DataFrame) -> Callable[[list[str]], np.ndarray]:
    """Descriptors by face id from one read of the face table (a clustering run asks for
    several sets of them)."""
    rows = {face: row for row, face in enumerate(faces["face_id"])}
    matrix = np.asarray(faces["descriptor"].tolist(), dtype=np.float32)
    matrix = matrix.reshape(len(faces), DESCRIPTOR_DIM)
    return lambda face_ids: matrix[[rows[face] for face in face_ids]]


def face_key(origin: str, time_s: float | None, face: Face) -> str:
    """A face's id: where it was found, when, and its box."""
    text = f"{origin}|{time_s}|{face.box}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _row(
    face_id: str, origin: str, source: str, label: str | None, time_s: float | None, face: Face
) -> dict[str, object]:
    where = {"face_id": face_id, "origin": origin, "source": source, "label": label}
    added = {"added_at": datetime.now(UTC).isoformat(timespec="seconds")}
    return where | {"time_s": time_s} | face.columns() | added
