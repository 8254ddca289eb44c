"""Search benchmark: the SQLite backend + FAISS at 100k and 1M generated segment documents.

``python -m benchmarks.search [--sizes 100000 1000000]`` from the repository root.

Per size it generates segment documents (titles, descriptions, labels, tags and credited
people drawn from word lists; years, durations, kinds) with 128-d unit vectors, writes
them as a real index version, and measures:

- build time of the text index (SqliteSearchBackend.build) and of the vector index
  (VectorIndex.build + save) separately, and their sizes on disk;
- search latency p50/p99 through PublishedIndex over ``--queries`` queries, a third each
  of text, text + filters and filters only (also per shape), and the share of answers
  whose facets count only part of the matches (SearchPage.facets_exact false);
- similar-documents latency p50/p99 (``like=``: FAISS top candidates, then the backend
  fetch and filters), the path the API's "more like this" takes;
- FAISS recall@10 of the index built (IVF above ``EXACT_MAX_VECTORS``) against a
  brute-force ``IndexFlatIP`` on 200 fresh query vectors;
- the recall/latency dial of an IVF index (``nprobe_table``): recall@10 on both
  distributions and similar-documents latency (a reader opened with
  ``Settings.vector_nprobe``, after the measurements above have paged the index in) at
  each of ``NPROBES`` and the automatic value.

Vectors are random unit vectors drawn around topic centres, as content embeddings
cluster by what the media shows (uniformly random 128-d vectors have no meaningful
neighbours: every approximate index scores poorly on them). Recall depends on how tight
the clusters are, so it is measured twice: ``clustered`` (about 100 documents per topic,
noise as large as the centre: the documents indexed and searched above) and
``diffuse`` (about 20 per topic, noise 1.5 times the centre: a hard case, its own IVF
index). The machine is shared, so figures are indicative. Results print as JSON lines
and go to ``benchmarks/results/search.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ops.atomic import atomic_open, write_table
from ops.index.build import SQLITE_FILE
from ops.index.query import SearchQuery
from ops.index.reader import PublishedIndex
from ops.index.schema import DOCUMENT_COLUMNS
from ops.index.sqlite_backend import SqliteSearchBackend
from ops.index.vectors import VectorIndex, recall_by_nprobe, unit_rows
from ops.recommend.build import SIMILAR_FILE, SIMILAR_SCHEMA
from ops.settings import Settings
from ops.versioned import VersionedStore

RESULTS = Path(__file__).resolve().parent / "results"
DIM = 128
DOCS_PER_TOPIC = {"clustered": 100, "diffuse": 20}
NOISE = {"clustered": 1.0, "diffuse": 1.5}
RECALL_QUERIES = 200
NPROBES = (32, 125, 250, 1000)
"""IVF lists scanned per query in the nprobe table, besides the automatic value."""
SEGMENTS_PER_ITEM = 20

ADJECTIVES = [
    "silent",
    "dark",
    "golden",
    "lost",
    "last",
    "hidden",
    "broken",
    "distant",
    "crimson",
    "frozen",
    "wild",
    "quiet",
    "burning",
    "endless",
    "northern",
    "bitter",
    "secret",
    "electric",
    "fading",
    "restless",
    "hollow",
    "bright",
]
NOUNS = [
    "harbour",
    "river",
    "city",
    "night",
    "summer",
    "road",
    "garden",
    "storm",
    "mountain",
    "island",
    "winter",
    "letter",
    "train",
    "mirror",
    "forest",
    "desert",
    "voice",
    "shadow",
    "empire",
    "station",
    "kingdom",
    "ocean",
    "bridge",
    "dream",
]
WORDS = [
    "love",
    "war",
    "family",
    "journey",
    "escape",
    "revenge",
    "friendship",
    "betrayal",
    "music",
    "sea",
    "police",
    "country",
    "memory",
    "childhood",
    "prison",
    "ghost",
    "village",
    "wedding",
    "heist",
    "survival",
    "detective",
]
LABELS = [
    "kiss",
    "hug",
    "fight",
    "chase",
    "dance",
    "dialogue",
    "crowd",
    "car",
    "explosion",
    "rain",
    "party",
]
TAGS = [
    "drama",
    "comedy",
    "documentary",
    "thriller",
    "romance",
    "western",
    "animation",
    "noir",
    "musical",
]
FIRST = [
    "Ann",
    "Ben",
    "Clara",
    "David",
    "Elena",
    "Felix",
    "Grace",
    "Hugo",
    "Iris",
    "Jonas",
    "Karin",
    "Leo",
    "Maya",
    "Nils",
]
LAST = [
    "Lee",
    "Novak",
    "Berg",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Haas",
    "Ito",
    "Jansen",
    "Kowalski",
]
KINDS = np.array(["video", "video", "video", "audio", "image"])


def generate(count: int, seed: int) -> pd.DataFrame:
    """Segment documents with generated metadata; ``vector_row`` is the row number."""
    rng = np.random.default_rng(seed)
    items = max(1, count // SEGMENTS_PER_ITEM)
    item_of = rng.integers(0, items, count)
    pick = rng.integers
    titles = np.array(
        [
            f"The {ADJECTIVES[a]} {NOUNS[n]}"
            for a, n in zip(
                pick(0, len(ADJECTIVES), items), pick(0, len(NOUNS), items), strict=True
            )
        ]
    )
    people = [
        [f"{FIRST[f]} {LAST[s]}" for f, s in zip(firsts, lasts, strict=True)]
        for firsts, lasts in zip(
            pick(0, len(FIRST), (items, 2)), pick(0, len(LAST), (items, 2)), strict=True
        )
    ]
    words = np.array(WORDS)[pick(0, len(WORDS), (items, 3))]
    descriptions = np.array([f"A story of {a}, {b} and {c}." for a, b, c in words])
    years = pick(1920, 2025, items)
    durations = rng.uniform(60, 7200, items).round(1)
    kinds = KINDS[pick(0, len(KINDS), items)]
    tags = np.array(TAGS)[pick(0, len(TAGS), items)]
    labels = np.array(LABELS)[pick(0, len(LABELS), count)]
    starts = rng.uniform(0, durations[item_of] - 30).round()
    ends = starts + pick(2, 30, count)
    frame = pd.DataFrame(
        {
            "doc_id": [
                f"item-{i}/scene/{label}/{s:g}-{e:g}/{row}"
                for row, (i, label, s, e) in enumerate(
                    zip(item_of, labels, starts, ends, strict=True)
                )
            ],
            "level": "segment",
            "item_id": [f"item-{i}" for i in item_of],
            "kind": kinds[item_of],
            "source": "bench",
            "url": None,
            "title": titles[item_of],
            "description": descriptions[item_of],
            "year": years[item_of].astype(np.int32),
            "duration_s": durations[item_of],
            "tags": [[tag] for tag in tags[item_of]],
            "people": [people[i] for i in item_of],
            "labels": [[label] for label in labels],
            "genres": [[] for _ in range(count)],
            "moods": [[] for _ in range(count)],
            "start_s": starts,
            "end_s": ends,
            "score": rng.uniform(0.5, 1.0, count).astype(np.float32),
            "lineage": "[]",
            "vector_row": np.arange(count),
        },
        columns=list(DOCUMENT_COLUMNS),
    )
    return frame


class TopicVectors:
    """Random unit vectors around random topic centres (one regime of NOISE)."""

    def __init__(self, count: int, regime: str, rng: np.random.Generator) -> None:
        topics = max(1, count // DOCS_PER_TOPIC[regime])
        self.centres = unit_rows(rng.normal(size=(topics, DIM)))
        self.noise = np.float32(NOISE[regime] / np.sqrt(DIM))
        self.rng = rng

    def draw(self, count: int) -> np.ndarray:
        topics = self.rng.integers(0, len(self.centres), count)
        noise = self.rng.normal(size=(count, DIM)).astype(np.float32)
        return unit_rows(self.centres[topics] + noise * self.noise)


def recall(
    vectors: TopicVectors,
    index: VectorIndex,
    base: np.ndarray,
    doc_ids: list[str],
    nprobes: list[int | None],
) -> dict[int | None, float]:
    """recall@10 of ``index`` at each of ``nprobes`` against brute force over the same vectors."""
    exact = VectorIndex.build(base, doc_ids, exact_max=len(base))
    return recall_by_nprobe(index, exact, vectors.draw(RECALL_QUERIES), 10, nprobes)


def nprobe_dials(index: VectorIndex) -> list[int | None]:
    """None (automatic) first, then the ``NPROBES`` an IVF index has lists for."""
    return [None, *(nprobe for nprobe in NPROBES if nprobe < (index.nlist or 0))]


def nprobe_table(
    index: VectorIndex,
    recalls: dict[str, dict[int | None, float]],
    similar: dict[int | None, dict[str, float]],
) -> list[dict[str, Any]]:
    """One row per nprobe dial, fewest lists first; empty for an exact index."""
    if index.exact:
        return []
    rows = [
        {
            "nprobe": dial or index.nprobe,
            "automatic": dial is None,
            "recall_at_10": {regime: round(values[dial], 4) for regime, values in recalls.items()},
            "similar": latency,
        }
        for dial, latency in similar.items()
    ]
    return sorted(rows, key=lambda row: int(row["nprobe"]))


def similar_latency(settings: Settings, version: str, like: np.ndarray) -> dict[str, float]:
    """Similar-documents latency through a reader opened with ``settings``."""
    reader = PublishedIndex.open(settings, version)
    try:
        return percentiles(
            [timed(partial(reader.search, SearchQuery(like=str(doc)))) for doc in like]
        )
    finally:
        reader.close()


SHAPES = ("text", "text_filters", "filters")


def queries(count: int, seed: int) -> list[SearchQuery]:
    """A third text, a third text + filters, a third filters only (SHAPES, in turn)."""
    rng = np.random.default_rng(seed)
    made: list[SearchQuery] = []
    for index in range(count):
        text = " ".join(rng.choice(NOUNS + WORDS + ADJECTIVES, size=rng.integers(1, 3)))
        year = int(rng.integers(1920, 2010))
        options: list[dict[str, Any]] = [
            {"kind": ["video"]},
            {"year_min": year, "year_max": year + 15},
            {"label": [str(rng.choice(LABELS))]},
            {"person": [f"{rng.choice(FIRST)} {rng.choice(LAST)}"]},
            {"kind": ["video"], "label": [str(rng.choice(LABELS))], "min_duration_s": 600},
        ]
        filters = options[int(rng.integers(len(options)))]
        shape = index % 3
        if shape == 0:
            made.append(SearchQuery(q=text))
        elif shape == 1:
            made.append(SearchQuery(q=text, **filters))
        else:
            made.append(SearchQuery(**filters))
    return made


def search_figures(reader: PublishedIndex, count: int, seed: int) -> dict[str, Any]:
    """Latency of the query mix, overall and per shape, and how often facets were cut."""
    seconds: dict[str, list[float]] = {shape: [] for shape in SHAPES}
    inexact = 0
    for index, query in enumerate(queries(count, seed)):
        start = time.perf_counter()
        page = reader.search(query)
        seconds[SHAPES[index % len(SHAPES)]].append(time.perf_counter() - start)
        inexact += not page.facets_exact
    return {
        "search": percentiles([value for values in seconds.values() for value in values]),
        "search_by_shape": {shape: percentiles(values) for shape, values in seconds.items()},
        "facets_inexact_share": round(inexact / count, 3),
    }


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def percentiles(seconds: list[float]) -> dict[str, float]:
    millis = np.array(seconds) * 1000
    return {
        "p50_ms": round(float(np.percentile(millis, 50)), 2),
        "p99_ms": round(float(np.percentile(millis, 99)), 2),
    }


def megabytes(*paths: Path) -> float:
    return round(sum(path.stat().st_size for path in paths) / 1e6, 1)


def bench_size(count: int, query_count: int, seed: int, workdir: Path) -> dict[str, Any]:
    started = time.perf_counter()
    rng = np.random.default_rng(seed + 1)
    documents = generate(count, seed)
    topic_vectors = TopicVectors(count, "clustered", rng)
    vectors = topic_vectors.draw(count)
    generated_s = time.perf_counter() - started
    settings = Settings(home=workdir)
    store = VersionedStore(settings.index_dir)
    version = store.create()
    text_s = timed(lambda: SqliteSearchBackend.build(version.path / SQLITE_FILE, documents))
    doc_ids = documents["doc_id"].tolist()
    holder: dict[str, VectorIndex] = {}

    def build_vectors() -> None:
        holder["index"] = VectorIndex.build(vectors, doc_ids)
        holder["index"].save(version.path)

    vector_s = timed(build_vectors)
    write_table(SIMILAR_SCHEMA.empty_table(), version.path / SIMILAR_FILE)
    store.seal(version, {"backend": "sqlite", "postgres_schema": None})

    dials = nprobe_dials(holder["index"])
    recalls = {"clustered": recall(topic_vectors, holder["index"], vectors, doc_ids, dials)}
    diffuse = TopicVectors(count, "diffuse", rng)
    diffuse_base = diffuse.draw(count)
    diffuse_index = VectorIndex.build(diffuse_base, doc_ids)
    recalls["diffuse"] = recall(diffuse, diffuse_index, diffuse_base, doc_ids, dials)
    del diffuse_index, diffuse_base

    reader = PublishedIndex.open(settings, version.name)
    try:
        searched = search_figures(reader, query_count, seed)
        like = rng.choice(doc_ids, size=min(query_count, count), replace=False)
        similar_s = [timed(partial(reader.search, SearchQuery(like=str(doc)))) for doc in like]
    finally:
        reader.close()
    similar_by_nprobe = {  # pages already warm, so the dials compare like with like
        nprobe: similar_latency(Settings(home=workdir, vector_nprobe=nprobe), version.name, like)
        for nprobe in dials
    }
    return {
        "documents": count,
        "dim": DIM,
        "generate_s": round(generated_s, 1),
        "text_build_s": round(text_s, 1),
        "vector_build_s": round(vector_s, 1),
        "vector_index": "exact" if holder["index"].exact else "ivf",
        "text_index_mb": megabytes(version.path / SQLITE_FILE),
        "vector_index_mb": megabytes(
            version.path / "vectors.faiss", version.path / "vectors.ids.parquet"
        ),
        **searched,
        "similar": percentiles(similar_s),
        "queries": query_count,
        "recall_at_10": {regime: round(value[None], 4) for regime, value in recalls.items()},
        "recall_queries": RECALL_QUERIES,
        "vector_nlist": holder["index"].nlist,
        "vector_nprobe": holder["index"].nprobe,
        "nprobe_table": nprobe_table(holder["index"], recalls, similar_by_nprobe),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Search and similar-items benchmark.")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=500, help="timed queries per kind")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for count in args.sizes:
        workdir = Path(tempfile.mkdtemp(prefix=f"search-bench-{count}-"))
        try:
            rows.append(bench_size(count, args.queries, args.seed, workdir))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        print(json.dumps(rows[-1]), flush=True)
        write_results(rows)  # after every size, so a long run keeps what it measured
    print(f"wrote {RESULTS / 'search.json'}")


def write_results(rows: list[dict[str, Any]]) -> None:
    output = {
        "machine": {"python": platform.python_version(), "cpus": len(os.sched_getaffinity(0))},
        "versions": {"pyarrow": pa.__version__, "faiss": _faiss_version()},
        "sizes": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    with atomic_open(RESULTS / "search.json") as handle:
        json.dump(output, handle, indent=2)


def _faiss_version() -> str:
    import faiss

    return str(faiss.__version__)


if __name__ == "__main__":
    main()
