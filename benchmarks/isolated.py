"""Measurements in a process of their own, so each peak memory figure is its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def run_isolated(module: str, *arguments: str) -> dict[str, float]:
    """``python -m module --child ARGUMENTS`` and the JSON line it ends with."""
    out = subprocess.run(
        [sys.executable, "-m", module, "--child", *arguments],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB since it started its program: VmHWM,
    not getrusage's ru_maxrss, which Linux carries over exec from the parent that spawned
    it (a child of a 2 GB parent reported 2 GB whatever it used)."""
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status: peak memory needs Linux")


def print_with_peak(result: dict[str, float]) -> None:
    """What a ``--child`` run prints: its result and this process's peak RSS in MiB."""
    print(json.dumps({**result, "peak_rss_mb": peak_rss_mb()}))
