"""Shot boundary benchmark: ours against PySceneDetect 0.7.2 on real footage.

``python -m benchmarks.shots [--repeats 3]`` from the repository root; it reads
``../shared/data/video`` and exits with a message when that folder is absent.

For every video it runs, interleaved and ``--repeats`` times (best time kept,
because the machine is shared): PyAV decoding alone (``decode_only``, the speed
limit), our :func:`ops.media.shots.detect_shots`, and PySceneDetect's
``detect(path, ContentDetector())`` and ``detect(path, AdaptiveDetector())``
with their defaults and their default OpenCV backend. Speed is frames per
second and the ratio to ``decode_only`` measured in the same run.

Convention: a cut is the first frame of a new shot, its time measured from
the first frame. PySceneDetect returns scenes as (start, end) timecodes; the
starts after the first are its cuts (its ``frame_num``, and ``seconds`` which
also counts from the first frame).

Ground truth, transcribed from ``../shared/data/README.md``:

* ``pyscenedetect_testvideo.mp4``: shots joined by fades through black; mean
  brightness is below 12 in frames 0-29 (fade-in), 180-215 and 356-396 (the two
  transitions) and 690-719 (fade-out). The two inner transitions are the true
  cuts: one boundary anywhere inside one (plus or minus 2 frames) matches it.
  The opening fade-in and closing fade-out separate no shots, so they are not
  cuts, yet a boundary inside them (plus or minus 2 frames) is not counted as
  wrong either: where a fade "ends" is a matter of convention.
* ``pyscenedetect_goldeneye-vfr-drop3.mp4`` (variable frame rate) and
  ``pyscenedetect_issue-134-rotate.mp4`` (the same footage stored rotated):
  hard cuts at 3.754 s and 8.759 s, matched by time within 2 frames at the
  nominal rate (24000/1001 fps), since frame numbers drift with dropped frames.

A detection matches at most one true cut and the other way round. Two more
videos without ground truth (``short_hamilton_clip.mp4``,
``pyscenedetect_issue-195-aspect-ratio.mp4``) are timed and their cuts counted.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops.atomic import atomic_open
from ops.media.decode import decode_only
from ops.media.shots import detect_shots
from ops.settings import REPO_ROOT

VIDEO_DIR = REPO_ROOT.parent / "shared" / "data" / "video"
RESULTS = Path(__file__).resolve().parent / "results"
TOLERANCE_FRAMES = 2
GOLDENEYE_FPS = 24000 / 1001


@dataclass(frozen=True)
class Truth:
    """True cuts as frame intervals or times, and frame intervals where detections are free."""

    cut_intervals: tuple[tuple[int, int], ...] = ()
    cut_times_s: tuple[float, ...] = ()
    nominal_fps: float = 0.0
    free_intervals: tuple[tuple[int, int], ...] = ()


TRUTH: dict[str, Truth | None] = {
    "pyscenedetect_testvideo.mp4": Truth(
        cut_intervals=((180, 215), (356, 396)), free_intervals=((0, 29), (690, 719))
    ),
    "pyscenedetect_goldeneye-vfr-drop3.mp4": Truth(
        cut_times_s=(3.754, 8.759), nominal_fps=GOLDENEYE_FPS
    ),
    "pyscenedetect_issue-134-rotate.mp4": Truth(
        cut_times_s=(3.754, 8.759), nominal_fps=GOLDENEYE_FPS
    ),
    "short_hamilton_clip.mp4": None,
    "pyscenedetect_issue-195-aspect-ratio.mp4": None,
}

Detection = tuple[int, float]  # (first frame of the new shot, its time from the first frame)
METHODS = ("decode_only", "ours", "psd_content", "psd_adaptive")


def _ours(path: Path) -> list[Detection]:
    return [(shot.start_frame, shot.start_s) for shot in detect_shots(path)[1:]]


def _pyscenedetect(detector_name: str) -> Callable[[Path], list[Detection]]:
    def run(path: Path) -> list[Detection]:
        import scenedetect

        detector = getattr(scenedetect, detector_name)()
        scenes = scenedetect.detect(str(path), detector)
        return [(start.frame_num, start.seconds) for start, _end in scenes[1:]]

    return run


def _decode(path: Path) -> list[Detection]:
    decode_only(path)
    return []


RUNNERS: dict[str, Callable[[Path], list[Detection]]] = {
    "decode_only": _decode,
    "ours": _ours,
    "psd_content": _pyscenedetect("ContentDetector"),
    "psd_adaptive": _pyscenedetect("AdaptiveDetector"),
}


def _in_interval(interval: tuple[int, int], detection: Detection) -> bool:
    first, last = interval
    return first - TOLERANCE_FRAMES <= detection[0] <= last + TOLERANCE_FRAMES


def _near_time(time_s: float, tolerance_s: float, detection: Detection) -> bool:
    return abs(detection[1] - time_s) <= tolerance_s


def score(detections: list[Detection], truth: Truth) -> dict[str, float | int]:
    """Precision, recall and F1 of cut positions, one-to-one matching in time order."""
    tolerance_s = TOLERANCE_FRAMES / truth.nominal_fps if truth.nominal_fps else 0.0
    targets: list[Callable[[Detection], bool]] = [
        functools.partial(_in_interval, interval) for interval in truth.cut_intervals
    ]
    targets += [functools.partial(_near_time, t, tolerance_s) for t in truth.cut_times_s]
    unmatched = [
        detection
        for detection in detections
        if not any(_in_interval(interval, detection) for interval in truth.free_intervals)
    ]
    hits = 0
    for target in targets:
        match = next((d for d in unmatched if target(d)), None)
        if match is not None:
            unmatched.remove(match)
            hits += 1
    precision = hits / (hits + len(unmatched)) if hits + len(unmatched) else 1.0
    recall = hits / len(targets) if targets else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "true_positives": hits,
        "false_positives": len(unmatched),
        "false_negatives": len(targets) - hits,
        "precision": round(precision, 3),
        "recall": round(recall, 3),
        "f1": round(f1, 3),
    }


def benchmark(video_dir: Path, repeats: int) -> dict[str, Any]:
    """Detections from one untimed warm-up run, then the best of ``repeats`` timed runs."""
    report: dict[str, Any] = {}
    for name, truth in TRUTH.items():
        path = video_dir / name
        if not path.is_file():
            print(f"skipping {name}: not found in {video_dir}")
            continue
        frames = decode_only(path)
        detections = {method: RUNNERS[method](path) for method in METHODS}
        best = dict.fromkeys(METHODS, float("inf"))
        for _ in range(repeats):
            for method in METHODS:
                started = time.perf_counter()
                RUNNERS[method](path)
                best[method] = min(best[method], time.perf_counter() - started)
        limit_fps = frames / best["decode_only"]
        entry: dict[str, Any] = {"frames": frames, "methods": {}}
        for method in METHODS:
            fps = frames / best[method]
            figures: dict[str, Any] = {
                "best_s": round(best[method], 4),
                "fps": round(fps, 1),
                "speed_vs_decode": round(fps / limit_fps, 3),
            }
            if method != "decode_only":
                figures["cuts"] = [[frame, round(t, 3)] for frame, t in detections[method]]
                if truth is not None:
                    figures |= score(detections[method], truth)
            entry["methods"][method] = figures
        report[name] = entry
    return report


def print_table(report: dict[str, Any]) -> None:
    header = f"{'video':<42}{'method':<14}{'cuts':>5}{'P':>7}{'R':>7}{'F1':>7}{'fps':>9}{'xdec':>7}"
    print(header)
    print("-" * len(header))
    for name, entry in report.items():
        for method, figures in entry["methods"].items():
            cuts = len(figures["cuts"]) if "cuts" in figures else "-"
            quality = [
                f"{figures[key]:.2f}" if key in figures else "-"
                for key in ("precision", "recall", "f1")
            ]
            print(
                f"{name:<42}{method:<14}{cuts:>5}{quality[0]:>7}{quality[1]:>7}{quality[2]:>7}"
                f"{figures['fps']:>9.0f}{figures['speed_vs_decode']:>7.2f}"
            )
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description="Shot boundaries: ours vs PySceneDetect.")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per method (best kept)")
    args = parser.parse_args()
    if not VIDEO_DIR.is_dir():
        print(f"shared videos not found at {VIDEO_DIR}: nothing to benchmark (skipped)")
        return
    logging.getLogger("pyscenedetect").setLevel(logging.ERROR)
    import av
    import cv2
    import scenedetect

    report = benchmark(VIDEO_DIR, args.repeats)
    print_table(report)
    output = {
        "repeats": args.repeats,
        "machine": {"python": platform.python_version(), "cpus": len(os.sched_getaffinity(0))},
        "versions": {
            "av": av.__version__,
            "scenedetect": scenedetect.__version__,
            "opencv": cv2.__version__,
        },
        "videos": report,
    }
    with atomic_open(RESULTS / "shots.json") as handle:
        json.dump(output, handle, indent=2)
    print(f"wrote {RESULTS / 'shots.json'}")


if __name__ == "__main__":
    main()
