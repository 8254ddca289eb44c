"""Mood benchmark: mood-video render speed, image-mood accuracy, music mood of real tracks.

``python -m benchmarks.mood [--seconds 20] [--per-mood 60] [--folds 10]`` from the
repository root.

- Render speed: seconds of video made per second of wall time at the default output
  (1280x720, 25 fps, H.264 + AAC), six generated pictures over a generated piano-like
  piece, and the read-back check of the result (fade correlation, sync, largest jump).
- Image mood: k-fold cross-validation (Cho et al. report 72.4 % in 10 folds on real
  photos) of each classifier on **generated stand-ins** (no real mood-labelled pictures
  exist here), accuracy and adjacent accuracy (within one step on the circle); then a
  model trained on all of them scored on the sample site's pictures, another generator
  with its own palettes: how much the stand-in model owes to its own generator.
- Music mood: every track under ``../shared/data/music/librosa_examples`` (skipped when
  absent), printed with its cues.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ops.atomic import atomic_open
from ops.settings import REPO_ROOT

RESULTS = Path(__file__).resolve().parent / "results"
EXAMPLES = REPO_ROOT.parent / "shared" / "data" / "music" / "librosa_examples"


def render_speed(seconds: float) -> dict[str, Any]:
    """Render a ``seconds``-long mood video at the default settings and read it back."""
    from ops.mood.check import check_render
    from ops.mood.render import RenderSettings, render_mood_video
    from ops.mood.standins import standin_image
    from ops.sample_site.media import make_music

    settings = RenderSettings()
    with tempfile.TemporaryDirectory(prefix="mood-bench-") as folder:
        root = Path(folder)
        pictures = []
        for index, mood in enumerate(("joyful", "excited", "serene", "calm", "sad", "tense")):
            path = root / f"{index}.png"
            Image.fromarray(standin_image(mood, index, size=(640, 480))).save(path)
            pictures.append(path)
        track = root / "music.wav"
        track.write_bytes(make_music(0, genre="classical", seconds=seconds, container="wav"))
        started = time.perf_counter()
        rendered = render_mood_video(
            pictures, track, root / "mood.mp4", duration_s=seconds, settings=settings
        )
        wall = time.perf_counter() - started
        check = check_render(rendered)
        size = (root / "mood.mp4").stat().st_size
    return {
        "output": f"{settings.width}x{settings.height} @ {settings.fps} fps",
        "video_seconds": seconds,
        "pictures": len(pictures),
        "wall_seconds": round(wall, 2),
        "video_seconds_per_wall_second": round(seconds / wall, 2),
        "megabytes": round(size / 1e6, 2),
        "check": {
            "problems": list(check.problems),
            "correlation": check.correlation,
            "max_sync_offset_frames": check.max_sync_offset_frames,
            "lag_frames": check.lag_frames,
            "max_jump": check.max_jump,
        },
    }


def image_mood(per_mood: int, folds: int) -> dict[str, Any]:
    """Cross-validation on generated stand-ins per classifier, then transfer to the sample
    site's generated pictures."""
    from ops.mood.circle import MOODS, circle_distance
    from ops.mood.dataset import generated_dataset
    from ops.mood.model import MoodModel, MoodModelSettings, cross_validate
    from ops.sample_site.media import make_image

    started = time.perf_counter()
    dataset = generated_dataset(per_mood)
    features_s = time.perf_counter() - started
    rows = []
    for classifier in ("forest", "logistic"):
        settings = MoodModelSettings(classifier=classifier)
        started = time.perf_counter()
        evaluation = cross_validate(dataset, settings, folds=folds)
        rows.append(
            {
                "classifier": classifier,
                "seconds": round(time.perf_counter() - started, 2),
                **evaluation.model_dump(
                    include={
                        "folds",
                        "images",
                        "accuracy",
                        "accuracy_std",
                        "adjacent_accuracy",
                        "mean_steps",
                        "chance_accuracy",
                        "per_mood_recall",
                    }
                ),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    model = MoodModel().fit(dataset)
    truth, pictures = [], []
    for mood in MOODS:
        for index in range(20):
            data = make_image(index, seed=1, mood=mood, image_format="png")
            pictures.append(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
            truth.append(mood)
    steps = np.array(
        [
            circle_distance(mood, found.mood)
            for mood, found in zip(truth, model.predict(pictures), strict=True)
        ]
    )
    return {
        "data": "generated stand-ins (ops.mood.standins), not real photos",
        "trained_on": dataset.source,
        "feature_seconds": round(features_s, 2),
        "cross_validation": rows,
        "transfer_to_sample_site_pictures": {
            "data": "generated (ops.sample_site.media.make_image palettes)",
            "images": len(truth),
            "accuracy": round(float((steps == 0).mean()), 4),
            "adjacent_accuracy": round(float((steps <= 1).mean()), 4),
        },
    }


def music_moods() -> list[dict[str, Any]]:
    """The mood of every track of the librosa examples, printed as it is measured."""
    from ops.mood.music import analyse_tracks

    if not EXAMPLES.is_dir():
        print(f"skipped music mood: {EXAMPLES} not found (shared media absent)")
        return []
    tracks = [
        (path.relative_to(EXAMPLES).as_posix(), path)
        for path in sorted(EXAMPLES.glob("*/*"))
        if path.suffix in (".ogg", ".wav", ".mp3", ".flac") and path.parent.name != "attribution"
    ]
    started = time.perf_counter()
    result = analyse_tracks(tracks)
    seconds = time.perf_counter() - started
    rows = []
    for track in result.tracks:
        row = track.model_dump(
            mode="json",
            include={
                "track_id",
                "mood",
                "valence",
                "arousal",
                "tempo_bpm",
                "key",
                "mode_clarity",
                "loudness_db",
                "brightness_hz",
                "seconds",
            },
        )
        rows.append(row)
        print(
            f"{track.track_id:60s} {track.mood:8s} valence {track.valence:+.2f} "
            f"arousal {track.arousal:+.2f}  {track.tempo_bpm:5.1f} bpm  {track.key:9s} "
            f"{track.loudness_db:6.1f} dB  {track.brightness_hz:6.0f} Hz",
            flush=True,
        )
    for track_id, reason in result.skipped.items():
        print(f"{track_id:60s} skipped: {reason}")
        rows.append({"track_id": track_id, "skipped": reason})
    print(f"music mood: {len(result.tracks)} tracks in {seconds:.1f} s")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="Mood video, image mood and music mood.")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the video")
    parser.add_argument("--per-mood", type=int, default=60, help="stand-ins per mood")
    parser.add_argument("--folds", type=int, default=10)
    args = parser.parse_args()
    render = render_speed(args.seconds)
    print(json.dumps(render), flush=True)
    images = image_mood(args.per_mood, args.folds)
    print(json.dumps(images["transfer_to_sample_site_pictures"]), flush=True)
    music = music_moods()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with atomic_open(RESULTS / "mood.json") as handle:
        json.dump(
            {
                "machine": {
                    "python": platform.python_version(),
                    "cpus": len(os.sched_getaffinity(0)),
                },
                "render": render,
                "image_mood": images,
                "music_mood": music,
            },
            handle,
            indent=2,
        )
    print(f"wrote {RESULTS / 'mood.json'}")


if __name__ == "__main__":
    main()
