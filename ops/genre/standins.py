"""Generated stand-in music for the genre model: a labelled folder of WAV tracks.

No labelled music is available here, so the demo and the tests train on tracks made up
on the spot by the sample site's synthesiser (each genre its own tempo, rhythm, timbre
and scale); a model trained on them says so (``training_data: generated``). The folder
has the layout a user's own labelled music comes in (``<genre>/<track>.wav``), so the
real loading path is the one exercised.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from ops.atomic import atomic_path
from ops.datasets.folders import mark_standins
from ops.sample_site.media import GENRES, make_music

STANDIN_GENERATOR = "ops.genre.standins"


def write_standin_folder(
    folder: Path,
    per_genre: int,
    *,
    seconds: float = 15.0,
    seed: int = 0,
    genres: Sequence[str] = GENRES,
) -> Path:
    """Write ``per_genre`` tracks of ``seconds`` for every genre (same arguments, same
    bytes) as ``<genre>/<genre>-<n>.wav``, and mark the folder as stand-ins."""
    if per_genre < 1 or len(genres) < 2:
        raise ValueError(f"stand-ins need at least one track of two genres, got {per_genre}")
    tracks = [(genre, index) for genre in genres for index in range(per_genre)]
    for genre, index in tqdm(tracks, desc="stand-in music", unit="track", leave=False):
        audio = make_music(index, seed=seed, genre=genre, seconds=seconds, container="wav")
        with atomic_path(folder / genre / f"{genre}-{index}.wav") as tmp:
            tmp.write_bytes(audio)
    mark_standins(
        folder,
        {
            "generator": STANDIN_GENERATOR,
            "genres": list(genres),
            "per_genre": per_genre,
            "seconds": seconds,
            "seed": seed,
        },
    )
    return folder
