"""Search benchmark: the search backends and vector indexes, before and after, at 100k
and 1M generated segment documents, in one run.

``python -m benchmarks.search [--sizes 100000 1000000] [--queries 300]`` from the
repository root.

Per size it generates segment documents (titles, descriptions, labels, tags and credited
people drawn from word lists; years, durations, kinds) with 128-d unit vectors and
measures, on the same documents and queries:

- text: the SQLite FTS5 backend (before) and the Tantivy backend (after, the embedded
  default): build time and size on disk; latency p50/p99 over the query mix (a third
  each of text, text + filters and filters only) overall and per shape, plus 3-letter
  prefix queries (``sto*``) as their own shape; and the share of answers whose facets
  count only part of the matches (SearchPage.facets_exact false);
- vectors: an IVF-Flat index (before: 4 sqrt(n) lists, 512 scanned at 1M) and the
  product-quantised scan with exact re-ranking (after, ops.index.vectors): build time,
  recall@10 against brute force on 200 fresh query vectors of two distributions, and
  similar-documents latency p50/p99 (``like=``: vector candidates, then the backend's
  fetch and filters; after through PublishedIndex, before the same steps on the IVF
  index and the SQLite backend);
- the recall/latency dial of the re-ranking (``rerank_table``).

Vectors are random unit vectors drawn around topic centres, as content embeddings
cluster by what the media shows. Recall depends on how tight the clusters are, so it is
measured twice: ``clustered`` (about 100 documents per topic, noise as large as the
centre: the documents indexed and searched) and ``diffuse`` (about 20 per topic, noise
1.5 times the centre: the true top 10 are spread through the whole space, a hard case).
The machine is shared, so figures are indicative; before and after are measured in the
same run. Results print as JSON lines and go to ``benchmarks/results/search.json``.
"""

from __future__ import annotations

import argparse
import json
import math
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
from ops.index.build import SQLITE_FILE, TANTIVY_DIR, TANTIVY_META
from ops.index.query import SearchPage, SearchQuery
from ops.index.reader import MAX_VECTOR_CANDIDATES, VECTOR_CANDIDATES_PER_HIT, PublishedIndex
from ops.index.schema import DOCUMENT_COLUMNS
from ops.index.sqlite_backend import SqliteSearchBackend
from ops.index.tantivy_backend import TantivySearchBackend
from ops.index.vectors import IDS_FILE, INDEX_FILE, VectorIndex, recall_by_rerank, unit_rows
from ops.recommend.build import SIMILAR_FILE, SIMILAR_SCHEMA
from ops.settings import Settings
from ops.versioned import Version, VersionedStore

RESULTS = Path(__file__).resolve().parent / "results"
DIM = 128
DOCS_PER_TOPIC = {"clustered": 100, "diffuse": 20}
NOISE = {"clustered": 1.0, "diffuse": 1.5}
RECALL_QUERIES = 200
RERANKS = (64, 256, 1024, 4096)
"""Candidates re-ranked per query in the rerank table (1,024 is the default)."""
IVF_SCAN_VECTORS = 128_000
"""Vectors the IVF index (before) scanned per query: 512 of 4,000 lists at 1M."""
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


class IvfBefore:
    """The vector index this platform used before (IVF-Flat, 4 sqrt(n) lists, about
    IVF_SCAN_VECTORS scanned per query), kept here only as the benchmark's baseline."""

    def __init__(self, base: np.ndarray, seed: int = 0) -> None:
        import faiss

        count = len(base)
        self.nlist = max(1, min(round(4 * math.sqrt(count)), count // 39))
        self.nprobe = min(self.nlist, max(32, math.ceil(IVF_SCAN_VECTORS * self.nlist / count)))
        self.index = faiss.IndexIVFFlat(
            faiss.IndexFlatIP(DIM), DIM, self.nlist, faiss.METRIC_INNER_PRODUCT
        )
        self.index.cp.max_points_per_centroid = 64
        self.index.cp.seed = seed
        sample = np.random.default_rng(seed).choice(count, min(count, self.nlist * 64), False)
        self.index.train(base[np.sort(sample)])
        self.index.add(base)
        self.params = faiss.SearchParametersIVF(nprobe=self.nprobe)

    def search(self, vector: np.ndarray, k: int) -> list[int]:
        _, rows = self.index.search(unit_rows(vector), k, params=self.params)
        return [row for row in rows[0].tolist() if row >= 0]


def truths(base: np.ndarray, queries: np.ndarray, k: int = 10) -> list[set[int]]:
    """The exact top ``k`` rows of each query (brute force)."""
    import faiss

    flat = faiss.IndexFlatIP(DIM)
    flat.add(base)
    _, rows = flat.search(queries, k)
    return [set(row.tolist()) for row in rows]


def ivf_recall(ivf: IvfBefore, queries: np.ndarray, exact: list[set[int]]) -> float:
    found = [set(ivf.search(query, 10)) for query in queries]
    return float(np.mean([len(a & b) / len(b) for a, b in zip(found, exact, strict=True)]))


SHAPES = ("text", "text_filters", "filters")
PREFIX = "prefix"


def filter_options(rng: np.random.Generator) -> list[dict[str, Any]]:
    year = int(rng.integers(1920, 2010))
    return [
        {"kind": ["video"]},
        {"year_min": year, "year_max": year + 15},
        {"label": [str(rng.choice(LABELS))]},
        {"person": [f"{rng.choice(FIRST)} {rng.choice(LAST)}"]},
        {"kind": ["video"], "label": [str(rng.choice(LABELS))], "min_duration_s": 600},
    ]


def queries(count: int, seed: int) -> list[SearchQuery]:
    """A third text, a third text + filters, a third filters only (SHAPES, in turn)."""
    rng = np.random.default_rng(seed)
    made: list[SearchQuery] = []
    for index in range(count):
        text = " ".join(rng.choice(NOUNS + WORDS + ADJECTIVES, size=rng.integers(1, 3)))
        options = filter_options(rng)
        filters = options[int(rng.integers(len(options)))]
        shape = index % 3
        if shape == 0:
            made.append(SearchQuery(q=text))
        elif shape == 1:
            made.append(SearchQuery(q=text, **filters))
        else:
            made.append(SearchQuery(**filters))
    return made


def prefix_queries(count: int, seed: int) -> list[SearchQuery]:
    """3-letter prefixes (``sto*``), every other one with filters."""
    rng = np.random.default_rng(seed + 1)
    made: list[SearchQuery] = []
    for index in range(count):
        text = f"{rng.choice(NOUNS + WORDS + ADJECTIVES)[:3]}*"
        options = filter_options(rng)
        filters = options[int(rng.integers(len(options)))] if index % 2 else {}
        made.append(SearchQuery(q=text, **filters))
    return made


def search_figures(reader: PublishedIndex, count: int, seed: int) -> dict[str, Any]:
    """Latency of the query mix, overall and per shape (prefixes apart), and how often
    facets were cut."""
    seconds: dict[str, list[float]] = {shape: [] for shape in (*SHAPES, PREFIX)}
    inexact = 0
    asked = [(SHAPES[n % len(SHAPES)], query) for n, query in enumerate(queries(count, seed))]
    asked += [(PREFIX, query) for query in prefix_queries(count // 3, seed)]
    for shape, query in asked:
        start = time.perf_counter()
        page = reader.search(query)
        seconds[shape].append(time.perf_counter() - start)
        inexact += not page.facets_exact
    mix = [value for shape in SHAPES for value in seconds[shape]]
    return {
        "search": percentiles(mix),
        "search_by_shape": {shape: percentiles(values) for shape, values in seconds.items()},
        "facets_inexact_share": round(inexact / len(asked), 3),
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
    files = [p for path in paths for p in ([path] if path.is_file() else path.rglob("*"))]
    return round(sum(path.stat().st_size for path in files if path.is_file()) / 1e6, 1)


def similar_before(
    ivf: IvfBefore, backend: SqliteSearchBackend, base: np.ndarray, doc_ids: list[str], row: int
) -> SearchPage:
    """PublishedIndex.search(like=...) as it ran before: the IVF index's candidates, then
    the SQLite backend's fetch and filters."""
    wanted = min(SearchQuery().page_size * VECTOR_CANDIDATES_PER_HIT, MAX_VECTOR_CANDIDATES)
    nearest = [doc_ids[found] for found in ivf.search(base[row], wanted + 1) if found != row]
    return backend.search(SearchQuery(), nearest)


def seal(store: VersionedStore, version: Version, backend: str, required: str) -> None:
    write_table(SIMILAR_SCHEMA.empty_table(), version.path / SIMILAR_FILE)
    store.seal(version, {"backend": backend, "postgres_schema": None}, [required, INDEX_FILE])


def similar_latency(settings: Settings, version: str, like: list[str]) -> dict[str, float]:
    """Similar-documents latency through a reader opened with ``settings``."""
    reader = PublishedIndex.open(settings, version)
    try:
        return percentiles([timed(partial(reader.search, SearchQuery(like=doc))) for doc in like])
    finally:
        reader.close()


def bench_size(count: int, query_count: int, seed: int, workdir: Path) -> dict[str, Any]:
    started = time.perf_counter()
    rng = np.random.default_rng(seed + 1)
    documents = generate(count, seed)
    clustered = TopicVectors(count, "clustered", rng)
    base = clustered.draw(count)
    generated_s = time.perf_counter() - started
    settings = Settings(home=workdir)
    store = VersionedStore(settings.index_dir)
    doc_ids = documents["doc_id"].tolist()

    before, after = store.create(), store.create()
    built = {
        "sqlite_s": timed(lambda: SqliteSearchBackend.build(before.path / SQLITE_FILE, documents)),
        "tantivy_s": timed(lambda: TantivySearchBackend.build(after.path / TANTIVY_DIR, documents)),
    }
    holder: dict[str, Any] = {}

    def build_after() -> None:
        holder["after"] = VectorIndex.build(base, doc_ids)
        holder["after"].save(after.path)

    built["vectors_after_s"] = timed(build_after)
    built["vectors_before_s"] = timed(lambda: holder.update(before=IvfBefore(base, seed)))
    for name in (INDEX_FILE, IDS_FILE):  # the readers of both versions share the vectors
        os.link(after.path / name, before.path / name)
    seal(store, before, "sqlite", SQLITE_FILE)
    seal(store, after, "tantivy", TANTIVY_META)
    ivf: IvfBefore = holder.pop("before")

    recall_queries = {"clustered": clustered.draw(RECALL_QUERIES)}
    exact = {"clustered": truths(base, recall_queries["clustered"])}
    recall_before = {"clustered": ivf_recall(ivf, recall_queries["clustered"], exact["clustered"])}
    diffuse = TopicVectors(count, "diffuse", rng)
    diffuse_base = diffuse.draw(count)
    recall_queries["diffuse"] = diffuse.draw(RECALL_QUERIES)
    exact["diffuse"] = truths(diffuse_base, recall_queries["diffuse"])
    recall_before["diffuse"] = ivf_recall(
        IvfBefore(diffuse_base, seed), recall_queries["diffuse"], exact["diffuse"]
    )
    recall_after = {
        regime: recall_by_rerank(
            VectorIndex.build(regime_base, doc_ids),
            VectorIndex.build(regime_base, doc_ids, exact_max=count),
            recall_queries[regime],
            10,
            [None, *RERANKS],
        )
        for regime, regime_base in (("clustered", base), ("diffuse", diffuse_base))
    }
    del diffuse_base

    like_rows = rng.choice(count, size=min(query_count, count), replace=False)
    like = [doc_ids[row] for row in like_rows]
    figures: dict[str, Any] = {}
    for name, version in (("before", before), ("after", after)):
        reader = PublishedIndex.open(settings, version.name)
        try:
            figures[name] = search_figures(reader, query_count, seed)
        finally:
            reader.close()
    sqlite = SqliteSearchBackend.open(before.path / SQLITE_FILE)
    try:
        figures["before"]["similar"] = percentiles(
            [timed(partial(similar_before, ivf, sqlite, base, doc_ids, row)) for row in like_rows]
        )
    finally:
        sqlite.close()
    figures["after"]["similar"] = similar_latency(settings, after.name, like)
    rerank_table = [
        {
            "rerank": rerank,
            "recall_at_10": {
                regime: round(values[rerank], 4) for regime, values in recall_after.items()
            },
            "similar": similar_latency(
                Settings(home=workdir, vector_rerank=rerank), after.name, like
            ),
        }
        for rerank in RERANKS
    ]
    return {
        "documents": count,
        "dim": DIM,
        "queries": query_count,
        "prefix_queries": query_count // 3,
        "generate_s": round(generated_s, 1),
        "before": {
            "text": "sqlite",
            "vectors": f"IVF{ivf.nlist},Flat nprobe {ivf.nprobe}",
            "text_build_s": round(built["sqlite_s"], 1),
            "vector_build_s": round(built["vectors_before_s"], 1),
            "text_index_mb": megabytes(before.path / SQLITE_FILE),
            **figures["before"],
            "recall_at_10": {regime: round(value, 4) for regime, value in recall_before.items()},
        },
        "after": {
            "text": "tantivy",
            "vectors": "exact"
            if holder["after"].exact
            else f"PQ fast scan + rerank {holder['after'].rerank}",
            "text_build_s": round(built["tantivy_s"], 1),
            "vector_build_s": round(built["vectors_after_s"], 1),
            "text_index_mb": megabytes(after.path / TANTIVY_DIR),
            "vector_index_mb": megabytes(after.path / INDEX_FILE, after.path / IDS_FILE),
            **figures["after"],
            "recall_at_10": {
                regime: round(values[None], 4) for regime, values in recall_after.items()
            },
        },
        "recall_queries": RECALL_QUERIES,
        "rerank_table": rerank_table,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Search and similar-items benchmark.")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=300, help="timed queries of the mix")
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
    import faiss
    import tantivy

    output = {
        "machine": {"python": platform.python_version(), "cpus": len(os.sched_getaffinity(0))},
        "versions": {
            "pyarrow": pa.__version__,
            "faiss": str(faiss.__version__),
            "tantivy": str(tantivy.__version__),
        },
        "sizes": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    with atomic_open(RESULTS / "search.json") as handle:
        json.dump(output, handle, indent=2)


if __name__ == "__main__":
    main()
