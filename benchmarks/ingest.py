"""Ingest benchmark: a generated 1,000-item catalog over loopback, then a re-run.

``python -m benchmarks.ingest [--items 1000]``. Reports items per second for
the first ingest (crawl + download + probe + merge + validate + version) and,
for a second run with nothing changed, its duration and the bytes downloaded
(counted by the crawler and, independently, by the server).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from ops.catalog.job import run_ingest_job
from ops.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"


def _sources_file(folder: Path, port: int) -> Path:
    base = f"http://127.0.0.1:{port}"
    path = folder / "sources.yaml"
    path.write_text(
        "sources:\n"
        "  - name: bench-site\n    kind: http\n"
        f"    start_urls: ['{base}/index.html']\n    sitemaps: ['{base}/sitemap.xml']\n"
        f"    feeds: ['{base}/feed.json']\n    allow_private: ['127.0.0.1:{port}']\n"
        "    rate_per_s: 10000\n    concurrency: 8\n",
        encoding="utf-8",
    )
    return path


def run(items: int) -> dict[str, float | int]:
    from ops.sample_site.generate import generate_site
    from ops.sample_site.server import SampleSiteServer

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        generate_site(folder / "site", items=items, traps=False)
        generated_s = time.perf_counter() - started
        with SampleSiteServer(folder / "site") as server:
            os.environ["CINESCOPE_HOME"] = str(folder / "home")
            os.environ["CINESCOPE_SOURCES_FILE"] = str(_sources_file(folder, server.port))
            settings = Settings()
            figures: dict[str, float | int] = {"items": items, "generate_s": round(generated_s, 2)}
            for label in ("first", "second"):
                server.reset_counters()
                started = time.perf_counter()
                result = run_ingest_job(settings=settings)
                took = time.perf_counter() - started
                assert result.summary.merge is not None
                stats = result.summary.merge.sources["bench-site"]
                figures |= {
                    f"{label}_s": round(took, 2),
                    f"{label}_items_per_s": round(stats.discovered / took, 1),
                    f"{label}_new": stats.new,
                    f"{label}_not_modified": stats.not_modified,
                    f"{label}_bytes_downloaded": stats.downloaded_bytes,
                    f"{label}_bytes_served": server.bytes_sent,
                    f"{label}_catalog_items": result.items,
                }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=1000)
    figures = run(parser.parse_args().items)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    for key, value in figures.items():
        print(f"{key:>28}: {value}")


if __name__ == "__main__":
    main()
