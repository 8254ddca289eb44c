"""Refresh throughput: plan -> infer every shard -> merge, on a generated catalog of short videos.

``python -m benchmarks.refresh [--items 120] [--threads 1 2]``. A catalog of short
H.264 + AAC clips (4 to 12 s, 160 x 120) is written to a temporary home with its files
in the raw store, and an untrained scene model shaped like the CPU demo's (``params.yaml``)
is registered as ``scene@champion`` in a SQLite MLflow store. The timed part is one full
refresh as the DAG runs it, but in one process: both tasks (scene, shots), every shard in
turn. Reports items per hour and media seconds per second, per-phase times, and how long
the next plan takes to find nothing to do. Prints JSON; writes benchmarks/results/refresh.json.

``--threads`` lists the values of ``CINESCOPE_INFERENCE_THREADS`` (torch's intra-op
threads in the shard worker) to compare in one run, each on a fresh home: decoding runs
alongside the model, and OpenMP threads that spin against it can make the small scene
model slower with more threads.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.isolated import peak_rss_mb
from ops.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"
SECONDS = (4.0, 6.0, 8.0, 10.0, 12.0)


def make_catalog(settings: Settings, items: int) -> float:
    """Write ``items`` generated clips to the raw store and the catalog; returns media seconds."""
    from ops.catalog.store import write_catalog
    from ops.ingest.probe import probe_file
    from ops.ingest.rawstore import RawStore
    from ops.sample_site.media import make_video

    raw = RawStore(settings.raw_dir, settings.tmp_dir)
    now = datetime.now(UTC)
    rows = []
    for index in range(items):
        data = make_video(index, seconds=SECONDS[index % len(SECONDS)], size=(160, 120), fps=12)
        sha256, size = raw.put_stream(io.BytesIO(data), max_bytes=settings.max_download_bytes)
        probed = probe_file(raw.path_for(sha256), max_pixels=settings.image_max_pixels)
        rows.append(
            probed.columns()
            | {
                "item_id": f"clip-{index:05d}",
                "source": "bench",
                "url": f"http://bench/clip-{index:05d}",
                "sha256": sha256,
                "bytes": size,
                "title": f"Generated clip {index}",
                "first_seen": now,
                "last_seen": now,
                "status": "ok",
            }
        )
    catalog = pd.DataFrame(rows)
    write_catalog(catalog, settings.catalog_path)
    return float(catalog["duration_s"].sum())


def register_champion(settings: Settings) -> str:
    """An untrained scene model shaped like the CPU demo's, registered as the champion."""
    from models.contracts import AudioContract, FrameContract
    from models.scene import SceneClassifier
    from ops.scene.params import TrainParams
    from ops.scene.tracking import register_scene_model

    params = TrainParams.from_yaml(settings.scene_params_file)
    frames = FrameContract(params.frames_per_segment, params.image_size, params.image_size)
    model = SceneClassifier(
        params.labels, frames, AudioContract(), width_multiplier=params.width_multiplier
    ).eval()
    settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    return register_scene_model(
        model,
        dataset_rev="bench",
        training_data="generated",
        tracking_uri=settings.tracking_uri,
        champion=True,
    )


def _timed(action: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    value = action()
    return value, time.perf_counter() - started


def run(items: int, threads: int) -> dict[str, Any]:
    from ops.predictions.store import PredictionsStore
    from ops.refresh.infer import infer_shard
    from ops.refresh.merge import merge_shards
    from ops.refresh.plan import plan_refresh

    with tempfile.TemporaryDirectory(prefix="refresh-bench-") as tmp:
        settings = Settings(home=Path(tmp) / "home", inference_threads=threads)
        media_s, generate_s = _timed(lambda: make_catalog(settings, items))
        register_champion(settings)
        plan, plan_s = _timed(lambda: plan_refresh(settings, "bench-1"))
        infer_s, rows, failed = 0.0, 0, 0
        per_task: dict[str, float] = {}
        for shard in plan.shards:
            task, index = shard["task"], shard["index"]
            result, took = _timed(lambda t=task, i=index: infer_shard(settings, "bench-1", t, i))
            infer_s += took
            per_task[task] = per_task.get(task, 0.0) + took
            rows, failed = rows + result.rows, failed + result.failed
        version, merge_s = _timed(lambda: merge_shards(settings, "bench-1"))
        PredictionsStore(settings).store.publish(version.name)
        again, replan_s = _timed(lambda: plan_refresh(settings, "bench-2"))
        total_s = plan_s + infer_s + merge_s
        return {
            "items": items,
            "media_s": round(media_s, 1),
            "shards": len(plan.shards),
            "cpus": len(os.sched_getaffinity(0)),
            "inference_threads": threads,
            "load_average_1min": round(os.getloadavg()[0], 2),
            "generate_s": round(generate_s, 2),
            "plan_s": round(plan_s, 2),
            "infer_s": round(infer_s, 2),
            **{f"infer_{task}_s": round(seconds, 2) for task, seconds in per_task.items()},
            "merge_s": round(merge_s, 2),
            "total_s": round(total_s, 2),
            "items_per_hour": round(items * 3600 / total_s),
            "media_s_per_s": round(media_s / total_s, 1),
            "prediction_rows": rows,
            "failed_items": failed,
            "replan_s": round(replan_s, 2),
            "replan_items": again.items_planned,
            "peak_rss_mb": round(peak_rss_mb()),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=120)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    figures = [run(args.items, threads) for threads in args.threads]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "refresh.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
