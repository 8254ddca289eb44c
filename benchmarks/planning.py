"""Planning past this machine: plan, merge and incremental index build of a 0.1% change
on generated catalogs and ledgers, and what they predict for 100M items.

``python -m benchmarks.planning [--sizes 1000000 10000000] [--index-sizes 100000 1000000]
[--change 0.001]``.

Per size, a temporary home gets a generated catalog and a published predictions version
(benchmarks.index_incremental's generator, here with 10% videos, 5% tracks and 85%
pictures: an archive's mix). Then ``--change`` of the items get new media (a new sha256)
and each step of the refresh runs in a fresh process, which reports its time, peak memory
(max RSS) and bytes written:

- ``plan``: ops.refresh.plan.plan_refresh for the shots task (its model is code, so no
  registry is needed), which reads the whole catalog and ledger as every refresh does;
- ``merge``: ops.refresh.merge.merge_shards over shards written as inference writes
  them (generated outputs; inference itself is benchmarks.refresh's);
- ``build`` (the ``--index-sizes`` only): ops.index.build.build_index_version, derived
  from the live index (the pictures that changed are indexed again from the catalog:
  their predictions are not re-run by a shots-only plan).

The build needs a live index to derive from: before the change, a full build whose
similar-item lists are left empty, since listing every item against every other is
O(n^2) and, in Python, took most of a 100k-item full build; it is a full build's cost,
not the refresh's (benchmarks.index_incremental times a whole one). The rest of the base
is real (documents, Tantivy, content and item vectors, the metadata model, the music
lists), and the measured build runs the real code, lists included. That base is why the
build is measured at smaller sizes than plan and merge: Tantivy takes documents at a few
thousand a second through Python, so a 10M-item base would take this machine hours.

A least-squares line through the sizes (each figure against items) predicts 100M items;
its slope per million items is printed with it. Prints JSON lines, then the whole;
writes ``benchmarks/results/planning.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.index_incremental import (
    bench_settings,
    infer_synthetically,
    make_world,
    measured,
    new_megabytes,
    run_child,
)
from ops.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"
MODULE = "benchmarks.planning"
TARGET_ITEMS = 100_000_000
SHARES = (0.10, 0.05, 0.85)
STEPS = ("plan", "merge", "build")
FIGURES = {"s": "seconds", "peak_rss_mb": "peak_rss_mb", "write_mb": "write_mb"}


def build_base(settings: Settings) -> str:
    """The live index: a full build with empty similar-item lists (see the docstring)."""
    import ops.recommend.build as recommend
    from ops.index.build import build_index_version, publish_index

    recommend._scoped_rows = lambda *args, **kwargs: []
    return publish_index(settings, build_index_version(settings, full=True).name).name


def change_media(settings: Settings, share: float) -> int:
    """New media (a new sha256) for ``share`` of the items, as a crawl finds it."""
    from ops.catalog.store import read_catalog, write_catalog

    catalog = read_catalog(settings.catalog_path)
    rng = np.random.default_rng(7)
    picked = rng.choice(len(catalog), size=max(1, round(len(catalog) * share)), replace=False)
    catalog.loc[picked, "sha256"] = [f"{0xBEEF:08x}{number:056x}" for number in picked]
    write_catalog(catalog, settings.catalog_path)
    return len(picked)


def plan(settings: Settings, run_id: str) -> int:
    from ops.refresh.plan import plan_refresh
    from ops.refresh.results import RefreshParams

    return plan_refresh(settings, run_id, RefreshParams(tasks=["shots"])).items_planned


def merge(settings: Settings, run_id: str) -> str:
    from ops.refresh.merge import merge_shards

    return merge_shards(settings, run_id).name


def build(settings: Settings, predictions: str) -> dict[str, Any]:
    from ops.index.build import build_index_version

    version = build_index_version(settings, predictions)
    return {"version": version.name, "build": version.manifest()["build"]}


CHILD_STEPS: dict[str, Callable[..., Any]] = {
    "base": build_base,
    "plan": plan,
    "merge": merge,
    "build": build,
}


def run(items: int, share: float, with_index: bool) -> dict[str, Any]:
    from ops.index.build import index_store

    with tempfile.TemporaryDirectory(prefix="planning-") as tmp:
        settings = bench_settings(Path(tmp) / "home")
        started = time.perf_counter()
        make_world(settings, items, shares=SHARES)
        found: dict[str, Any] = {"items": items}
        if with_index:
            base = measured(MODULE, "base", settings)
            found |= {
                "base_full_build_s": base["seconds"],
                "base_peak_rss_mb": round(base["peak_rss_mb"]),
            }
        found["setup_s"] = round(time.perf_counter() - started, 1)
        found["changed"] = change_media(settings, share)
        steps = {"plan": measured(MODULE, "plan", settings, "bench")}
        infer_synthetically(settings, "bench", seed=3)
        steps["merge"] = measured(MODULE, "merge", settings, "bench")
        found["planned"] = steps["plan"]["result"]
        if with_index:
            steps["build"] = measured(MODULE, "build", settings, steps["merge"]["result"])
            version = index_store(settings).get(steps["build"]["result"]["version"])
            found["build"] = steps["build"]["result"]["build"]
            found["build_new_bytes_mb"] = new_megabytes(version.path)
        for step, figures in steps.items():
            found |= {f"{step}_{figure}": round(figures[key], 1) for figure, key in FIGURES.items()}
        return found | {
            "cpus": len(os.sched_getaffinity(0)),
            "load_average_1min": round(os.getloadavg()[0], 2),
        }


def predict(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A least-squares line through each figure against items (over the sizes that
    measured it), at TARGET_ITEMS."""
    found: dict[str, Any] = {"items": TARGET_ITEMS}
    for step in STEPS:
        for figure in FIGURES:
            name = f"{step}_{figure}"
            measured_at = [row for row in rows if name in row]
            if not measured_at:
                continue
            sizes = np.asarray([row["items"] for row in measured_at], dtype=float)
            values = np.asarray([row[name] for row in measured_at], dtype=float)
            if len(measured_at) > 1:
                slope, intercept = np.polyfit(sizes, values, 1)
            else:
                slope, intercept = values[0] / sizes[0], 0.0
            found[name] = round(float(intercept + slope * TARGET_ITEMS), 1)
            found[f"{name}_per_million_items"] = round(float(slope * 1e6), 3)
            found[f"{name}_from_sizes"] = [row["items"] for row in measured_at]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--index-sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--change", type=float, default=0.001)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(CHILD_STEPS, *args.child)
        return
    rows = []
    for items in sorted(set(args.sizes) | set(args.index_sizes)):
        rows.append(run(items, args.change, with_index=items in args.index_sizes))
        print(json.dumps(rows[-1]), flush=True)
    figures = {"sizes": rows, "predicted": predict(rows)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "planning.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
