"""Peak memory of a stacked-gzip bomb (``Content-Encoding: gzip, gzip``), as a page and as
a download, each fetched in a fresh process so its peak RSS is its own.

A few KB on the wire inflate to ``--mib`` MiB; the crawler must refuse it at the size cap
with memory bounded by its small decode buffers, whatever the inflated size.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

from benchmarks.isolated import peak_rss_mb

RESULTS = Path(__file__).resolve().parent / "results"
CAP = 512 << 20  # the download cap; pages have their own 8 MiB cap


def double_gzip(mib: int) -> bytes:
    """gzip(gzip(zeros)), the inner layer built a MiB at a time so building costs little."""
    inner = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    layer = b"".join([inner.compress(zeros) for _ in range(mib)] + [inner.flush()])
    return gzip.compress(layer, 9)


def fetch_once(mib: int, mode: str) -> dict[str, object]:
    """Serve the bomb on loopback and fetch it once; the figures of this process."""
    from ops.ingest.fetch import FetchError, HttpFetcher
    from ops.ingest.netguard import NetworkPolicy
    from ops.ingest.rawstore import RawStore
    from tests.support.hostile_site import HostileSite, raw_response

    body = double_gzip(mib)
    baseline = peak_rss_mb()
    site = HostileSite({"/bomb": raw_response(body, headers={"Content-Encoding": "gzip, gzip"})})
    with site, tempfile.TemporaryDirectory() as tmp:
        policy = NetworkPolicy(frozenset({"127.0.0.1"}), frozenset({f"127.0.0.1:{site.port}"}))
        fetcher = HttpFetcher(
            policy, user_agent="bench", timeout_s=30, retries=0, backoff_s=0, rate_per_s=100,
            concurrency=1, download_deadline_s=600, page_deadline_s=600,
        )  # fmt: skip
        with fetcher:
            try:
                if mode == "page":
                    fetcher.get_page(f"{site.base_url}/bomb")
                else:
                    store = RawStore(Path(tmp) / "raw", Path(tmp) / "scratch")
                    fetcher.download(f"{site.base_url}/bomb", store, max_bytes=CAP)
                outcome = "accepted"
            except FetchError as error:
                outcome = f"refused: {error.reason}"
    peak = peak_rss_mb()
    return {
        "mode": mode,
        "inflated_mib": mib,
        "wire_bytes": len(body),
        "baseline_rss_mib": round(baseline),
        "peak_rss_mib": round(peak),
        "outcome": outcome,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=1024, help="inflated size of the bomb")
    parser.add_argument("--one", choices=("page", "download"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # the child process
        print(json.dumps(fetch_once(args.mib, args.one)))
        return
    rows = []
    for mode in ("page", "download"):
        command = [sys.executable, "-m", "benchmarks.decompression", f"--mib={args.mib}"]
        child = subprocess.run([*command, f"--one={mode}"], capture_output=True, text=True)
        if child.returncode != 0:
            raise SystemExit(f"{mode} run failed:\n{child.stderr[-2000:]}")
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "decompression.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
