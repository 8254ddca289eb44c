"""Generated faces in a face store: descriptors around a few people's centres, with
plain thumbnails, so clustering and curation run without pictures of real people."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
from PIL import Image

from ops.atomic import write_table
from ops.faces.store import FACES_SCHEMA, THUMB_PX, FaceStore
from ops.settings import Settings

CENTRES = np.random.default_rng(7).normal(size=(6, 128)) / np.sqrt(2 * 128)
"""Six people's descriptor centres, about 1.0 apart (as dlib's descriptors of strangers)."""


def face_id(seed: int, person: int, number: int) -> str:
    """A 16-hex-digit face id, as the store makes them, that says whose face it is."""
    return f"{seed:04x}{person:04x}{number:08x}"


def add_faces(settings: Settings, people: dict[int, int], seed: int) -> list[str]:
    """Append ``people`` (centre -> how many faces) to the face table, each face 0.15
    from its centre, with a thumbnail tinted by person."""
    rng = np.random.default_rng(seed)
    store = FaceStore(settings)
    store.thumbs.mkdir(parents=True, exist_ok=True)
    rows = []
    for person, count in people.items():
        for number in range(count):
            noise = rng.normal(size=128) * 0.15 / np.sqrt(128)
            key = face_id(seed, person, number)
            colour = (40 * person % 256, 120, 200 - 30 * person % 200)
            Image.new("RGB", (THUMB_PX, THUMB_PX), colour).save(store.thumbs / f"{key}.jpg")
            rows.append(
                {
                    "face_id": key,
                    "origin": f"picture-{seed}-{person}-{number}.jpg",
                    "source": "generated",
                    "label": f"p{person}",
                    "descriptor": (CENTRES[person] + noise).astype(np.float32).tolist(),
                    "added_at": datetime.now(UTC).isoformat(),
                }
            )
    old = pa.Table.from_pandas(store.faces(), schema=FACES_SCHEMA, preserve_index=False)
    added = pa.Table.from_pylist(rows, schema=FACES_SCHEMA)
    write_table(pa.concat_tables([old, added]), store.table_path)
    return [row["face_id"] for row in rows]
