"""``make bench``: every benchmark in one go; results land in ``benchmarks/results/``."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = (
    "benchmarks.ingest",
    "benchmarks.decompression",
    "benchmarks.shots",
    "benchmarks.scene_inference",
    "benchmarks.refresh",
    "benchmarks.search",
    "benchmarks.index_incremental",
    "benchmarks.planning",
    "benchmarks.faces",
    "benchmarks.genre",
    "benchmarks.mood",
    "benchmarks.speech",
    "benchmarks.ocr",
    "benchmarks.words_long",
)


def main() -> None:
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            print(f"skipped: {exc}")
            continue
        sys.argv = [name]
        module.main()


if __name__ == "__main__":
    main()
