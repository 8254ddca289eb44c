"""Scene inference throughput and memory: features + model on a long 720p video.

``python -m benchmarks.scene_inference [--minutes 10 60]``. For each duration a 720p
H.264 + AAC video is generated (cached under benchmarks/results/media), then, each in
its own process so peak memory is its own: decoding alone with PyAV (the speed limit),
and segment features + scene-model inference (``ops.scene.inference.score_file``, as the
refresh runs it: scores and embeddings). Reports seconds of video per second, the ratio
to decoding alone, and peak RSS, which must not grow with the duration.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import av
import numpy as np

from benchmarks.isolated import print_with_peak, run_isolated

RESULTS = Path(__file__).resolve().parent / "results"
FPS, SIZE, RATE = 25, (1280, 720), 16000


def make_long_video(path: Path, minutes: int) -> Path:
    """A moving gradient with a tone, streamed to the encoder (flat memory here too)."""
    if path.is_file():
        return path
    partial = path.with_suffix(".part.mp4")
    with av.open(str(partial), "w") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = *SIZE, "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "32"}
        sound = container.add_stream("aac", rate=RATE)
        sound.layout = "mono"
        base = np.linspace(0, 255, SIZE[0], dtype=np.float32)[None, :, None]
        for second in range(minutes * 60):
            for k in range(FPS):
                shift = (second * FPS + k) * 3 % 256
                picture = ((base + shift) % 256).astype(np.uint8).repeat(SIZE[1], 0).repeat(3, 2)
                container.mux(video.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
            t = np.arange(RATE, dtype=np.float32) / RATE
            tone = (0.2 * np.sin(2 * np.pi * (220 + second % 7 * 40) * t)).reshape(1, -1)
            block = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            block.sample_rate, block.pts = RATE, second * RATE
            container.mux(sound.encode(block))
        container.mux(video.encode())
        container.mux(sound.encode())
    partial.rename(path)
    return path


def _decode(path: Path) -> dict[str, float]:
    from ops.media.decode import decode_only

    started = time.perf_counter()
    frames = decode_only(path)
    return {"seconds": time.perf_counter() - started, "frames": frames}


def _infer(path: Path) -> dict[str, float]:
    """What the refresh's scene task runs per file: ``score_file`` (scores + embeddings)."""
    from models.contracts import AudioContract, FrameContract
    from models.scene import SceneClassifier
    from ops.scene.inference import score_file

    frames = FrameContract(frames_per_segment=2, height=64, width=64)
    model = SceneClassifier(["kiss"], frames, AudioContract(), width_multiplier=0.25).eval()
    started = time.perf_counter()
    segments = len(score_file(model, path))
    return {"seconds": time.perf_counter() - started, "segments": segments}


def _measure(mode: str, path: Path) -> dict[str, float]:
    return run_isolated("benchmarks.scene_inference", mode, str(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=int, nargs="+", default=[10, 60])
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, path = args.child[0], Path(args.child[1])
        print_with_peak((_decode if mode == "decode" else _infer)(path))
        return
    (RESULTS / "media").mkdir(parents=True, exist_ok=True)
    rows = []
    for minutes in args.minutes:
        path = make_long_video(RESULTS / "media" / f"long-{minutes}min-720p.mp4", minutes)
        decode, infer = _measure("decode", path), _measure("infer", path)
        rows.append(
            {
                "minutes": minutes,
                "decode_video_s_per_s": round(minutes * 60 / decode["seconds"], 1),
                "infer_video_s_per_s": round(minutes * 60 / infer["seconds"], 1),
                "infer_vs_decode": round(decode["seconds"] / infer["seconds"], 3),
                "decode_peak_rss_mb": round(decode["peak_rss_mb"]),
                "infer_peak_rss_mb": round(infer["peak_rss_mb"]),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    (RESULTS / "scene_inference.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
