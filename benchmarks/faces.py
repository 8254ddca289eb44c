"""Faces benchmark: faces per second (detect + align + embed) at 640x360 and 1280x720 on
real frames; the video pass (face tracks) against a naive every-frame pass on the same
clip, in one run (speed as a multiple of real time, and the share of the naive faces the
tracks cover); and clustering time and peak memory at 10k and 100k descriptors per
algorithm, each clustering in a fresh process so its peak RSS is its own.

``python -m benchmarks.faces [--sizes 10000 100000]`` from the repository root. The
frames come from ``../shared/data/video/short_hamilton_clip.mp4`` (skipped when absent);
the descriptors are generated (people 1.0 apart, their faces 0.2 from their centre, as
dlib's descriptors of strangers and of one person are), with their identities, so the
clusterings are scored too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.isolated import peak_rss_mb
from benchmarks.shots import VIDEO_DIR
from ops.atomic import atomic_open

RESULTS = Path(__file__).resolve().parent / "results"
CLIP_FILE = VIDEO_DIR / "short_hamilton_clip.mp4"
FRAMES = 30
FACES_PER_PERSON = 10
RESOLUTIONS = ((640, 360), (1280, 720))


def descriptors(count: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """``count`` generated descriptors of ``count / FACES_PER_PERSON`` people."""
    rng = np.random.default_rng(seed)
    people = max(1, count // FACES_PER_PERSON)
    centres = rng.normal(size=(people, 128)) / np.sqrt(2 * 128)
    rows = rng.integers(0, people, count)
    noise = rng.normal(size=(count, 128)) * 0.2 / np.sqrt(2 * 128)
    return (centres[rows] + noise).astype(np.float32), [f"p{row}" for row in rows]


def cluster_once(count: int, algorithm: str) -> dict[str, Any]:
    """Cluster ``count`` generated descriptors once; the figures of this process."""
    from ops.faces.cluster import cluster_faces
    from ops.faces.metrics import clustering_scores

    matrix, identities = descriptors(count)
    baseline = _current_rss_kib()
    started = time.perf_counter()
    labels = cluster_faces(matrix, algorithm)  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    peak = peak_rss_mb() * 1024
    scores = clustering_scores(identities, labels.tolist())
    return {
        "algorithm": algorithm,
        "descriptors": count,
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(peak / 1024, 1),
        "peak_above_before_mib": round((peak - baseline) / 1024, 1),
        "clusters": scores.clusters,
        "identities": scores.identities,
        "purity": round(scores.purity, 4),
        "bcubed_f": round(scores.bcubed_f, 4),
    }


def _current_rss_kib() -> int:
    """This process's resident memory now (ru_maxrss is the peak so far, which the
    generated descriptors already raised)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def faces_per_second() -> list[dict[str, Any]]:
    """Detect + align + embed on the clip's first FRAMES frames at each resolution."""
    import av
    import cv2

    from ops.faces.detect import FaceAnalyser

    if not CLIP_FILE.is_file():
        print(f"skipped faces per second: {CLIP_FILE} not found (shared media absent)")
        return []
    with av.open(str(CLIP_FILE)) as container:
        frames = [
            frame.to_ndarray(format="rgb24")
            for _, frame in zip(range(FRAMES), container.decode(video=0), strict=False)
        ]
    analyser = FaceAnalyser()
    analyser.analyse(frames[0])  # load the models outside the timing
    rows = []
    for width, height in RESOLUTIONS:
        sized = [cv2.resize(frame, (width, height)) for frame in frames]
        started = time.perf_counter()
        faces = sum(len(analyser.analyse(frame).faces) for frame in sized)
        seconds = time.perf_counter() - started
        rows.append(
            {
                "resolution": f"{width}x{height}",
                "frames": len(sized),
                "faces": faces,
                "frames_per_s": round(len(sized) / seconds, 2),
                "faces_per_s": round(faces / seconds, 2),
            }
        )
    return rows


def video_tracks(iou_needed: float = 0.3) -> dict[str, Any]:
    """The platform's video pass against a naive one (HOG with one upsample on every
    frame, every face aligned and described), on the same clip in one run: speed as a
    multiple of real time, and the share of the naive pass's faces that a track covers
    (a track box on that frame overlapping it by ``iou_needed``)."""
    import av

    from ops.faces.detect import FaceAnalyser
    from ops.faces.tracks import iou, video_face_tracks

    if not CLIP_FILE.is_file():
        print(f"skipped video tracks: {CLIP_FILE} not found (shared media absent)")
        return {}
    analyser = FaceAnalyser()
    naive: list[tuple[int, tuple[int, int, int, int]]] = []
    started = time.perf_counter()
    with av.open(str(CLIP_FILE)) as container:
        for number, frame in enumerate(container.decode(video=0)):
            found = analyser.analyse(frame.to_ndarray(format="rgb24"))
            naive += [(number, face.box) for face in found.faces]
    naive_s = time.perf_counter() - started
    tracked = video_face_tracks(CLIP_FILE)
    duration = tracked.frames / tracked.fps
    boxes: dict[int, list[tuple[int, int, int, int]]] = {}
    for track in tracked.tracks:
        for box in track.boxes:
            boxes.setdefault(box.frame, []).append(box.box)
    covered = sum(
        any(iou(box, other) >= iou_needed for other in boxes.get(frame, [])) for frame, box in naive
    )
    return {
        "clip": CLIP_FILE.name,
        "seconds_of_video": round(duration, 2),
        "naive": {
            "seconds": round(naive_s, 2),
            "times_real_time": round(duration / naive_s, 2),
            "faces": len(naive),
        },
        "tracks": {
            "seconds": tracked.seconds,
            "times_real_time": round(duration / tracked.seconds, 2),
            "tracks": len(tracked.tracks),
            "keyframes": tracked.keyframes,
            "covers_naive_faces": round(covered / max(len(naive), 1), 4),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Face analysis and clustering benchmark.")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--one", nargs=2, metavar=("COUNT", "ALGORITHM"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(cluster_once(int(args.one[0]), args.one[1])))
        return
    from ops.faces.cluster import ALGORITHMS

    speed = faces_per_second()
    for row in speed:
        print(json.dumps(row), flush=True)
    video = video_tracks()
    print(json.dumps(video), flush=True)
    clustering = []
    for count in args.sizes:
        for algorithm in ALGORITHMS:
            command = [sys.executable, "-m", "benchmarks.faces", "--one", str(count), algorithm]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            clustering.append(json.loads(output.strip().splitlines()[-1]))
            print(json.dumps(clustering[-1]), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    with atomic_open(RESULTS / "faces.json") as handle:
        json.dump(
            {
                "machine": {
                    "python": platform.python_version(),
                    "cpus": len(os.sched_getaffinity(0)),
                },
                "faces_per_second": speed,
                "video_tracks": video,
                "clustering": clustering,
            },
            handle,
            indent=2,
        )
    print(f"wrote {RESULTS / 'faces.json'}")


if __name__ == "__main__":
    main()
