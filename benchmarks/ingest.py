"""Ingest benchmark: a generated 1,000-item catalog over loopback, crawled, then re-crawled.

``python -m benchmarks.ingest [--items 1000] [--changed 0.01]``. In one run, each a whole
ingest job (crawl + download + probe + merge + validate + version):

- ``first``: the first crawl, which fetches everything;
- ``unchanged``: a re-crawl with nothing changed (three of them: the median is reported,
  and every run's seconds as ``unchanged_runs_s``, a run this short being the noisier);
- ``changed``: a re-crawl after the site replaced the media of 1% of its items and dated
  the change (sitemap lastmod, feed date_modified);
- ``full``: a re-crawl as the periodic full revalidation does it (conditional GET of
  every page and item, validation of every row).

For each: seconds (in all; the crawl with its downloads and probes; merge, validation and
versioning), requests and bytes (counted by the crawler and, independently, by the
server), items downloaded, answered 304, or not asked about, and rows validated. The
site says its item pages and media stay fresh for a day (``Cache-Control: max-age``): the
items its index pages alone list have no date, and a site that replaces a file it said
was fresh must date the change in its listing, so the changed items are among those the
sitemap and the feed date.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops.catalog.job import run_ingest_job
from ops.sample_site.generate import PUBLIC_DIR, SiteManifest, publish_changes
from ops.sample_site.media import padded_mp4
from ops.sample_site.server import SampleSiteServer
from ops.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"
SOURCE = "bench-site"
FRESH_FOR = {"/items/": "max-age=86400", "/media/": "max-age=86400"}


def _sources_file(folder: Path, port: int) -> Path:
    base = f"http://127.0.0.1:{port}"
    path = folder / "sources.yaml"
    path.write_text(
        "sources:\n"
        f"  - name: {SOURCE}\n    kind: http\n"
        f"    start_urls: ['{base}/index.html']\n    sitemaps: ['{base}/sitemap.xml']\n"
        f"    feeds: ['{base}/feed.json']\n    allow_private: ['127.0.0.1:{port}']\n"
        "    rate_per_s: 10000\n    concurrency: 8\n",
        encoding="utf-8",
    )
    return path


def change_items(root: Path, manifest: SiteManifest, fraction: float) -> int:
    """Replace the media of ``fraction`` of the dated items (still valid files, new bytes)
    and date the change in the sitemap and the feed; returns how many changed."""
    dated = [item for item in manifest.items if item.discovered_via != "index"]
    count = max(1, round(len(manifest.items) * fraction))
    chosen = dated[:: max(1, len(dated) // count)][:count]
    for item in chosen:
        path = root / PUBLIC_DIR / item.path.lstrip("/")
        data = path.read_bytes()
        # A trailing ``free`` box keeps an MP4/M4A valid; JPEG, PNG and WAV ignore a tail.
        grown = len(data) + 64
        path.write_bytes(
            padded_mp4(data, grown) if path.suffix in (".mp4", ".m4a") else data + bytes(64)
        )
    publish_changes(root, {item.page for item in chosen}, datetime.now(UTC))
    return len(chosen)


def _crawl(label: str, settings: Settings, server: SampleSiteServer) -> dict[str, Any]:
    server.reset_counters()
    started = time.perf_counter()
    result = run_ingest_job(settings=settings)
    took = time.perf_counter() - started
    merge, validation = result.summary.merge, result.summary.validation
    assert merge is not None and validation is not None
    stats = merge.sources[SOURCE]
    figures: dict[str, Any] = {
        "s": round(took, 2),
        "crawl_s": round(stats.seconds, 2),
        "catalog_s": round(took - stats.seconds, 2),
        "requests": server.requests_received,
        "crawler_requests": stats.requests,
        "bytes_downloaded": stats.downloaded_bytes,
        "bytes_served": server.bytes_sent,
        "new": stats.new,
        "not_modified": stats.not_modified,
        "unchanged": stats.unchanged,
        "pages_fetched": stats.pages_fetched,
        "pages_unchanged": stats.pages_unchanged,
        "rows_validated": validation.statistics["rows_checked"],
        "revision": result.revision if result.changed else None,
        "catalog_items": result.items,
    }
    return {f"{label}_{name}": value for name, value in figures.items()}


def run(items: int, fraction: float) -> dict[str, Any]:
    from ops.sample_site.generate import generate_site

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        manifest = generate_site(folder / "site", items=items, traps=False)
        generated_s = time.perf_counter() - started
        with SampleSiteServer(folder / "site", cache_control=FRESH_FOR) as server:
            os.environ["CINESCOPE_HOME"] = str(folder / "home")
            os.environ["CINESCOPE_SOURCES_FILE"] = str(_sources_file(folder, server.port))
            settings = Settings()
            figures: dict[str, Any] = {
                "items": items,
                "generate_s": round(generated_s, 2),
            }
            figures |= _crawl("first", settings, server)
            unchanged = [_crawl("unchanged", settings, server) for _ in range(3)]
            figures |= sorted(unchanged, key=lambda run: run["unchanged_s"])[1]
            figures["unchanged_runs_s"] = [run["unchanged_s"] for run in unchanged]
            figures["changed_items"] = change_items(folder / "site", manifest, fraction)
            figures |= _crawl("changed", settings, server)
            full = settings.model_copy(update={"ingest_full_revalidation_s": 0.0})
            figures |= _crawl("full", full, server)
    first_s = float(figures["first_s"] or 1)
    for label in ("unchanged", "changed", "full"):
        figures[f"{label}_vs_first"] = round(float(figures[f"{label}_s"] or 0) / first_s, 3)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--changed", type=float, default=0.01, help="share of items changed")
    arguments = parser.parse_args()
    figures = run(arguments.items, arguments.changed)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    for key, value in figures.items():
        print(f"{key:>28}: {value}")


if __name__ == "__main__":
    main()
