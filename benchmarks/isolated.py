"""Measurements in a process of their own, so each peak memory figure is its own."""

from __future__ import annotations

import json
import resource
import subprocess
import sys


def run_isolated(module: str, *arguments: str) -> dict[str, float]:
    """``python -m module --child ARGUMENTS`` and the JSON line it ends with."""
    out = subprocess.run(
        [sys.executable, "-m", module, "--child", *arguments],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def print_with_peak(result: dict[str, float]) -> None:
    """What a ``--child`` run prints: its result and this process's peak RSS in MiB."""
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({**result, "peak_rss_mb": peak_mb}))
