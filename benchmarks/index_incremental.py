"""Incremental index build: a refresh of 100 changed items of a 100k-item index against a
full rebuild, in time and bytes written, in one run.

``python -m benchmarks.index_incremental [--items 100000] [--changed 100] [--verify]``.

A temporary home gets a generated catalog (70% videos, 15% tracks, 15% pictures; titles,
descriptions, tags and credited people drawn from word lists) and a published
predictions version as a refresh leaves it: per video six 1-s ``kiss`` scores with their
32-d embeddings and an item vector, two shots with keyframes; per track a genre and a
mood; per picture a mood. Then, each in a fresh process that reports its time, peak
memory and the bytes it wrote (``/proc/self/io`` ``write_bytes``, temporary files
included), with the new bytes of its version folder (files not hard-linked from another
version) and how long publishing it takes (verification reads what it must):

- ``full``: a full build of the index (build_index_version(full=True), what
  ``cinescope index rebuild`` runs), published: the live index;
- ``incremental``: one refresh later, build_index_version derived from it. The refresh
  changes ``--changed`` items: 90% get new media (new sha256, every task inferred again:
  new rows), 5% a new title only, 5% leave the catalog. Its plan is written as
  plan_refresh writes one, its shards as inference does (generated outputs), and the
  real merge makes the predictions version it is built over.

``--verify`` also rebuilds in full over the refreshed data (another full build's time)
and checks that both versions hold the same documents and answer a query mix with the
same totals and facets. Prints JSON; writes ``benchmarks/results/index_incremental.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from benchmarks.isolated import print_with_peak, run_isolated
from ops.settings import Settings
from ops.versioned import Version

RESULTS = Path(__file__).resolve().parent / "results"
MODULE = "benchmarks.index_incremental"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
SCENE_MODEL = {"model_name": "scene", "model_version": "1", "dataset_rev": "labels/scene/v1"}
GENRE_MODEL = {"model_name": "genre", "model_version": "1", "dataset_rev": "labels/genre/v1"}
MOOD_MODEL = {"model_name": "mood", "model_version": "1", "dataset_rev": "labels/mood/v1"}
GENRES = ("baroque", "classical", "ragtime", "jazz", "blues", "rock")
MOODS = ("joyful", "excited", "tense", "angry", "sad", "gloomy", "calm", "serene")
SECONDS = 6
EMBEDDING_DIM = 32
WORDS = [
    "harbour",
    "light",
    "keeper",
    "sea",
    "storm",
    "night",
    "city",
    "train",
    "river",
    "forest",
    "snow",
    "desert",
    "dawn",
    "dusk",
    "kiss",
    "dance",
    "song",
    "story",
    "journey",
    "winter",
    "summer",
    "garden",
    "island",
    "bridge",
    "road",
    "mountain",
    "letter",
    "window",
    "mirror",
    "shadow",
    "silver",
    "golden",
    "quiet",
    "distant",
    "lost",
    "found",
    "first",
    "last",
]


def item_id(number: int) -> str:
    return f"item-{number:07d}"


SHARES = (0.7, 0.15, 0.15)
"""Of the catalog: videos, tracks, pictures."""


def generate_catalog(
    numbers: np.ndarray, seed: int, shares: tuple[float, float, float] = SHARES
) -> pd.DataFrame:
    """Catalog rows (the Item contract's indexed columns) of the given item numbers."""
    rng = np.random.default_rng(seed)
    count = len(numbers)
    kind = rng.choice(["video", "audio", "image"], size=count, p=list(shares))
    words = np.asarray(WORDS)

    def phrases(low: int, high: int) -> list[str]:
        lengths = rng.integers(low, high, size=count)
        picks = rng.integers(0, len(words), size=(count, high))
        return [" ".join(words[row[:length]]) for row, length in zip(picks, lengths, strict=True)]

    tags = rng.integers(0, 200, size=(count, 3))
    people = rng.integers(0, 2_000, size=(count, 2))
    credited = rng.integers(0, 3, size=count)
    return pd.DataFrame(
        {
            "item_id": [item_id(number) for number in numbers],
            "source": "bench",
            "url": [f"https://bench.example/{number}" for number in numbers],
            "kind": kind,
            "sha256": [f"{number:064x}" for number in numbers],
            "bytes": 1_000_000,
            "title": [p.title() for p in phrases(2, 5)],
            "description": phrases(8, 16),
            "year": rng.integers(1950, 2026, size=count).astype(np.int32),
            "duration_s": np.where(kind == "image", np.nan, float(SECONDS)),
            "tags": [[f"tag{t}" for t in row[: 1 + n % 3]] for n, row in enumerate(tags)],
            "people": [
                [f"Person {p}" for p in row[:n]] for row, n in zip(people, credited, strict=True)
            ],
            "first_seen": NOW,
            "last_seen": NOW,
            "status": "ok",
        }
    )


def _list_array(matrix: np.ndarray) -> pa.Array:
    offsets = np.arange(0, matrix.size + 1, matrix.shape[1], dtype=np.int32)
    return pa.ListArray.from_arrays(offsets, pa.array(matrix.reshape(-1), pa.float32()))


def generate_outputs(
    catalog: pd.DataFrame, seed: int, shots_model: dict[str, str]
) -> dict[str, pa.Table]:
    """What inference writes for the catalog's rows: per task its predictions and
    embeddings tables, and the ledger (the file names of a predictions folder)."""
    from ops.predictions.schema import EMBEDDING_SCHEMA, LEDGER_SCHEMA, PREDICTION_SCHEMA

    rng = np.random.default_rng(seed)
    videos = catalog.loc[catalog["kind"] == "video", "item_id"].to_numpy()
    tracks = catalog.loc[catalog["kind"] == "audio", "item_id"].to_numpy()
    pictures = catalog.loc[catalog["kind"] == "image", "item_id"].to_numpy()
    tables: dict[str, pa.Table] = {}

    def predictions(
        items: np.ndarray,
        starts: np.ndarray,
        ends: np.ndarray,
        labels: Any,
        scores: np.ndarray,
        model: dict[str, str],
        task: str,
    ) -> pa.Table:
        return pa.table(
            {
                "item_id": pa.array(items, pa.string()),
                "start_s": pa.array(starts, pa.float64(), from_pandas=True),
                "end_s": pa.array(ends, pa.float64(), from_pandas=True),
                "task": pa.array(np.full(len(items), task), pa.string()),
                "label": pa.array(labels, pa.string()),
                "score": pa.array(scores, pa.float32()),
                **{
                    key: pa.array(np.full(len(items), value), pa.string())
                    for key, value in model.items()
                },
                "created_at": pa.array(
                    [NOW] * len(items), PREDICTION_SCHEMA.field("created_at").type
                ),
            },
            schema=PREDICTION_SCHEMA,
        )

    # scene: six 1-s kiss scores (a scene where three in a row pass 0.5) and an item score
    seconds = np.tile(np.arange(SECONDS, dtype=np.float64), len(videos))
    scores = rng.uniform(0.0, 0.4, size=(len(videos), SECONDS))
    kissing = rng.uniform(size=len(videos)) < 0.3
    scores[kissing, 2:5] = rng.uniform(0.6, 1.0, size=(int(kissing.sum()), 3))
    timed_items = np.repeat(videos, SECONDS)
    whole = predictions(
        videos,
        np.full(len(videos), np.nan),
        np.full(len(videos), np.nan),
        np.full(len(videos), "kiss"),
        np.where(kissing, 0.9, 0.1),
        SCENE_MODEL,
        "scene",
    )
    timed = predictions(
        timed_items,
        seconds,
        seconds + 1,
        np.full(len(timed_items), "kiss"),
        scores.reshape(-1),
        SCENE_MODEL,
        "scene",
    )
    tables["scene.parquet"] = pa.concat_tables([timed, whole]).sort_by(
        [("item_id", "ascending"), ("start_s", "ascending")]
    )
    vectors = rng.normal(size=(len(videos) * (SECONDS + 1), EMBEDDING_DIM))
    embedding_items = np.concatenate([timed_items, videos])
    tables["scene.embeddings.parquet"] = pa.table(
        {
            "item_id": pa.array(embedding_items, pa.string()),
            "start_s": pa.array(
                np.concatenate([seconds, np.full(len(videos), np.nan)]),
                pa.float64(),
                from_pandas=True,
            ),
            "end_s": pa.array(
                np.concatenate([seconds + 1, np.full(len(videos), np.nan)]),
                pa.float64(),
                from_pandas=True,
            ),
            "task": pa.array(np.full(len(embedding_items), "scene"), pa.string()),
            "model_name": pa.array(np.full(len(embedding_items), "scene"), pa.string()),
            "model_version": pa.array(np.full(len(embedding_items), "1"), pa.string()),
            "vector": _list_array(vectors),
        },
        schema=EMBEDDING_SCHEMA,
    ).sort_by([("item_id", "ascending"), ("start_s", "ascending")])
    # shots: two shots and their keyframes per video
    shot_items = np.repeat(videos, 4)
    starts = np.tile([0.0, 3.0, 1.0, 4.0], len(videos))
    ends = np.tile([3.0, 6.0, 1.0, 4.0], len(videos))
    labels = np.tile(["shot", "shot", "keyframe", "keyframe"], len(videos))
    tables["shots.parquet"] = predictions(
        shot_items, starts, ends, labels, np.ones(len(shot_items)), shots_model, "shots"
    )
    # genre of tracks, mood of tracks and pictures
    tables["genre.parquet"] = predictions(
        tracks,
        np.full(len(tracks), np.nan),
        np.full(len(tracks), np.nan),
        rng.choice(GENRES, size=len(tracks)),
        np.full(len(tracks), 0.8),
        GENRE_MODEL,
        "genre",
    )
    moody = np.concatenate([tracks, pictures])
    tables["mood.parquet"] = predictions(
        moody,
        np.full(len(moody), np.nan),
        np.full(len(moody), np.nan),
        rng.choice(MOODS, size=len(moody)),
        np.full(len(moody), 0.8),
        MOOD_MODEL,
        "mood",
    )
    for task in ("shots", "genre", "mood"):
        tables[f"{task}.embeddings.parquet"] = EMBEDDING_SCHEMA.empty_table()
    sha = dict(zip(catalog["item_id"], catalog["sha256"], strict=True))
    ledgers = []
    for task, items, model in (
        ("scene", videos, SCENE_MODEL),
        ("shots", videos, shots_model),
        ("genre", tracks, GENRE_MODEL),
        ("mood", moody, MOOD_MODEL),
    ):
        ledgers.append(
            pa.table(
                {
                    "item_id": pa.array(items, pa.string()),
                    "task": pa.array(np.full(len(items), task), pa.string()),
                    "sha256": pa.array([sha[item] for item in items], pa.string()),
                    **{
                        key: pa.array(np.full(len(items), value), pa.string())
                        for key, value in model.items()
                    },
                    "status": pa.array(np.full(len(items), "ok"), pa.string()),
                    "reason": pa.nulls(len(items), pa.string()),
                    "segments": pa.array(np.full(len(items), SECONDS), pa.int32()),
                    "processed_at": pa.array(
                        [NOW] * len(items), LEDGER_SCHEMA.field("processed_at").type
                    ),
                },
                schema=LEDGER_SCHEMA,
            )
        )
    tables["ledger.parquet"] = pa.concat_tables(ledgers).sort_by(
        [("task", "ascending"), ("item_id", "ascending")]
    )
    return tables


def write_tables(folder: Path, tables: dict[str, pa.Table]) -> None:
    from ops.atomic import write_table

    folder.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        write_table(table, folder / name)


def shots_model(settings: Settings) -> dict[str, str]:
    """The shot detector's model reference, as the shots task names it today."""
    import dataclasses

    from ops.refresh.registry import get_task

    model = get_task("shots").current_model(settings)
    assert model is not None
    return dataclasses.asdict(model)


def make_world(
    settings: Settings, items: int, seed: int = 0, shares: tuple[float, float, float] = SHARES
) -> None:
    """The catalog and a published predictions version over all of it."""
    from ops.catalog.store import write_catalog
    from ops.predictions.store import PredictionsStore

    catalog = generate_catalog(np.arange(items), seed, shares)
    write_catalog(catalog, settings.catalog_path)
    store = PredictionsStore(settings).store
    version = store.create()
    write_tables(version.path, generate_outputs(catalog, seed, shots_model(settings)))
    models = {
        "scene": SCENE_MODEL,
        "shots": shots_model(settings),
        "genre": GENRE_MODEL,
        "mood": MOOD_MODEL,
    }
    store.seal(version, {"tasks": models})
    store.publish(version.name)


def refresh_changes(settings: Settings, changed: int, seed: int) -> dict[str, list[str]]:
    """Change the catalog as a crawl would: 90% new media, 5% a new title, 5% gone."""
    from ops.catalog.store import read_catalog, write_catalog

    rng = np.random.default_rng(seed)
    catalog = read_catalog(settings.catalog_path)
    picked = rng.choice(len(catalog), size=changed, replace=False)
    media, retitled, gone = np.split(picked, [int(changed * 0.9), int(changed * 0.95)])
    catalog.loc[media, "sha256"] = [f"{seed:08x}{number:056x}" for number in media]
    catalog.loc[retitled, "title"] = "Retitled " + catalog.loc[retitled, "title"]
    ids = {
        "media": catalog.loc[media, "item_id"].tolist(),
        "retitled": catalog.loc[retitled, "item_id"].tolist(),
        "gone": catalog.loc[gone, "item_id"].tolist(),
    }
    write_catalog(catalog.drop(index=gone).reset_index(drop=True), settings.catalog_path)
    return ids


def infer_synthetically(settings: Settings, run_id: str, seed: int) -> None:
    """Write every planned shard of ``run_id`` as infer_shard would (generated outputs)."""
    from ops.catalog.store import read_catalog
    from ops.refresh.plan import SHARDS_DIR, load_plan, run_folder, shard_name

    plan = load_plan(settings, run_id)
    catalog = read_catalog(settings.catalog_path).set_index("item_id", drop=False)
    model = shots_model(settings)
    for shard in plan.shards:
        rows = catalog.loc[shard["items"]].reset_index(drop=True)
        tables = generate_outputs(rows, seed + shard["index"], model)
        task = shard["task"]
        mine = {name: table for name, table in tables.items() if name.startswith(f"{task}.")}
        ledger = tables["ledger.parquet"]
        mine["ledger.parquet"] = ledger.filter(pa.compute.equal(ledger["task"], task))
        write_tables(
            run_folder(settings, run_id) / SHARDS_DIR / shard_name(task, shard["index"]), mine
        )


def write_plan(settings: Settings, run_id: str, changes: dict[str, list[str]]) -> None:
    """The plan plan_refresh would write for ``changes`` with every task's model current
    (this benchmark registers no models: plan_refresh itself is timed by
    benchmarks.planning, with the shots task)."""
    from ops.catalog.store import read_catalog
    from ops.predictions.store import PredictionsStore
    from ops.refresh.plan import (
        PLAN_FILE,
        RefreshPlan,
        catalog_digest,
        pack_by_duration,
        run_folder,
    )

    catalog = read_catalog(settings.catalog_path).set_index("item_id", drop=False)
    store = PredictionsStore(settings)
    folder = run_folder(settings, run_id)
    kinds = {
        "scene": ("video",),
        "shots": ("video",),
        "genre": ("audio",),
        "mood": ("audio", "image"),
    }
    models = {
        "scene": SCENE_MODEL,
        "shots": shots_model(settings),
        "genre": GENRE_MODEL,
        "mood": MOOD_MODEL,
    }
    shards = []
    for task, wanted in kinds.items():
        items = [item for item in changes["media"] if catalog.at[item, "kind"] in wanted]
        for index, packed in enumerate(
            pack_by_duration(
                {item: float(SECONDS) for item in items}, settings.refresh_shard_seconds
            )
        ):
            shards.append(
                {"task": task, "index": index, "items": packed, "seconds": SECONDS * len(packed)}
            )
    base = store.store.current()
    plan = RefreshPlan(
        run_id=run_id,
        created_at=datetime.now(UTC).isoformat(),
        catalog_digest=catalog_digest(catalog.reset_index(drop=True)),
        base_version=base.name if base else None,
        models=models,
        skipped={},
        up_to_date={},
        removed=sorted(changes["gone"]),
        without_media=[],
        media={},
        shards=shards,
        summary=f"{len(changes['media'])} items with new media",
        path=folder / PLAN_FILE,
    )
    plan.save()


def bench_settings(home: Path) -> Settings:
    """The settings of a benchmark home (stand-in labels published: no registry knows the
    generated models)."""
    return Settings(home=home, publish_standin_labels=True)


def measured(module: str, step: str, settings: Settings, *arguments: str) -> dict[str, Any]:
    """A step of ``module`` run by its ``--child STEP HOME ARGUMENTS`` in a process of its
    own (benchmarks.isolated): its result, seconds, bytes written and peak memory."""
    return dict(run_isolated(module, step, str(settings.home), *arguments))


def run_child(steps: dict[str, Callable[..., Any]], step: str, home: str, *arguments: str) -> None:
    """A ``--child`` run: the step's result, its seconds, the bytes the process wrote
    (``/proc/self/io``) and (benchmarks.isolated) its peak memory, as a JSON line."""
    written = _write_bytes()
    started = time.perf_counter()
    result = steps[step](bench_settings(Path(home)), *arguments)
    print_with_peak(
        {
            "result": result,
            "seconds": round(time.perf_counter() - started, 2),
            "write_mb": round((_write_bytes() - written) / 1e6, 1),
        }
    )


def _write_bytes() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0


def new_megabytes(folder: Path) -> float:
    """What a version folder holds that no other version shares (files linked once)."""
    return round(
        sum(
            path.stat().st_size
            for path in folder.rglob("*")
            if path.is_file() and path.stat().st_nlink == 1
        )
        / 1e6,
        1,
    )


def build(settings: Settings, predictions: str, how: str) -> dict[str, Any]:
    """A build (``how``: ``full`` or ``derived``) over predictions version ``predictions``
    (``-``: the live one); what its manifest says."""
    from ops.index.build import build_index_version

    version = build_index_version(
        settings, None if predictions == "-" else predictions, full=how == "full"
    )
    manifest = version.manifest()
    return {
        "version": version.name,
        "build": manifest["build"],
        "documents": manifest["documents"],
        "vectors": manifest["vectors"],
        "layers": manifest["layers"],
    }


def publish(settings: Settings, version: str) -> None:
    from ops.index.build import publish_index

    publish_index(settings, version)


STEPS: dict[str, Callable[..., Any]] = {"build": build, "publish": publish}


QUERIES = ("harbour", "night train", "kiss", "sto*")


def compare(settings: Settings, one: str, other: str) -> dict[str, Any]:
    """Whether two versions hold the same documents and give the same totals and facets;
    and the median latency of a few queries on each."""
    from ops.index.build import index_store
    from ops.index.layers import Layers
    from ops.index.query import SearchQuery
    from ops.index.reader import PublishedIndex

    store = index_store(settings)
    documents = [
        Layers.of(store.get(name))
        .documents()
        .drop(columns="vector_row")
        .sort_values("doc_id")
        .reset_index(drop=True)
        for name in (one, other)
    ]
    queries = [SearchQuery(q=q) for q in QUERIES] + [
        SearchQuery(level="item", kind=["audio"]),
        SearchQuery(page=50),
    ]
    answers, latency = [], {}
    for name in (one, other):
        reader = PublishedIndex.open(settings, name)
        try:
            found, seconds = [], []
            for query in queries:
                started = time.perf_counter()
                page = reader.search(query)
                seconds.append(time.perf_counter() - started)
                found.append((page.total, page.facets))
            answers.append(found)
            latency[name] = round(float(np.median(seconds)) * 1000, 1)
        finally:
            reader.close()
    return {
        "same_documents": documents[0].equals(documents[1]),
        "same_totals_and_facets": answers[0] == answers[1],
        "query_ms_median": latency,
    }


def run(items: int, changed: int, verify: bool) -> dict[str, Any]:
    from ops.index.build import index_store
    from ops.refresh.merge import merge_shards

    with tempfile.TemporaryDirectory(prefix="index-incremental-") as tmp:
        settings = bench_settings(Path(tmp) / "home")
        started = time.perf_counter()
        make_world(settings, items)
        generate_s = time.perf_counter() - started
        store = index_store(settings)
        full = measured(MODULE, "build", settings, "-", "full")
        full_version = store.get(full["result"]["version"])
        full_figures = _figures(full, full_version)  # before anything shares its files
        full_figures["publish_s"] = measured(MODULE, "publish", settings, full_version.name)[
            "seconds"
        ]
        changes = refresh_changes(settings, changed, seed=1)
        write_plan(settings, "bench-refresh", changes)
        infer_synthetically(settings, "bench-refresh", seed=2)
        started = time.perf_counter()
        predictions = merge_shards(settings, "bench-refresh").name
        merge_s = time.perf_counter() - started
        incremental = measured(MODULE, "build", settings, predictions, "derived")
        derived = store.get(incremental["result"]["version"])
        figures = {"full": full_figures, "incremental": _figures(incremental, derived)}
        figures["incremental"]["publish_s"] = measured(MODULE, "publish", settings, derived.name)[
            "seconds"
        ]
        if verify:
            rebuilt = measured(MODULE, "build", settings, predictions, "full")
            figures["full_after_refresh"] = {
                "seconds": rebuilt["seconds"],
                "peak_rss_mb": round(rebuilt["peak_rss_mb"]),
                "process_write_mb": rebuilt["write_mb"],
                **compare(settings, derived.name, rebuilt["result"]["version"]),
            }
        return {
            "items": items,
            "changed": {key: len(value) for key, value in changes.items()},
            "cpus": len(os.sched_getaffinity(0)),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "generate_s": round(generate_s, 1),
            "merge_s": round(merge_s, 2),
            **figures,
            "time_ratio": round(full["seconds"] / max(incremental["seconds"], 1e-9), 1),
            "bytes_ratio": round(
                full_figures["new_bytes_in_version_mb"]
                / max(figures["incremental"]["new_bytes_in_version_mb"], 1e-9),
                1,
            ),
        }


def _figures(measured: dict[str, Any], version: Version) -> dict[str, Any]:
    return {
        "build": measured["result"]["build"],
        "seconds": measured["seconds"],
        "peak_rss_mb": round(measured["peak_rss_mb"]),
        "process_write_mb": measured["write_mb"],
        "new_bytes_in_version_mb": new_megabytes(version.path),
        "version_mb": round(
            sum(path.stat().st_size for path in version.path.rglob("*") if path.is_file()) / 1e6,
            1,
        ),
        "documents": measured["result"]["documents"],
        "layers": measured["result"]["layers"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--changed", type=int, default=100)
    parser.add_argument(
        "--verify",
        action="store_true",
        help="also rebuild in full over the refreshed data and compare the two versions",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(STEPS, *args.child)
        return
    figures = run(args.items, args.changed, args.verify)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "index_incremental.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
