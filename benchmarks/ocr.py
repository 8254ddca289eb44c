"""OCR benchmark: known captions rendered over real pictures, read back.

``python -m benchmarks.ocr`` from the repository root, on 2 threads. It reads frames of
the videos in ``../shared/data/video`` and photos in ``../shared/data/faces/color_people``
and exits with a message when they are absent.

* **captions**: every picture (scaled to at most 1280 pixels a side, as video frames are
  read) gets a caption (DejaVu Sans Bold, bottom centre) at several text heights (a share
  of the picture's height, less where the caption would not fit its width) and
  contrasts: white with a black outline (subtitles), plain white, and mid grey (low
  contrast). Per condition: the share of captions found at all (a read box overlapping
  the caption's) and the character error rate (jiwer) of what was read there, with
  spaces and without them (the recogniser's word spacing comes from a word model).
* **clean pictures**: boxes read on the same pictures without a caption (real text in
  them, or false alarms), and the reading speed at 640x360 and 1280x720.
* **caption merging on real footage**: a caption rendered over two seconds of
  ``short_hamilton_clip.mp4`` and the whole clip read as ``cinescope ocr`` does: how many
  boxes that caption became, and their time spans.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ops.atomic import atomic_open
from ops.settings import REPO_ROOT

SHARED = REPO_ROOT.parent / "shared" / "data"
VIDEO_DIR = SHARED / "video"
PHOTO_DIR = SHARED / "faces" / "color_people"
RESULTS = Path(__file__).resolve().parent / "results"
THREADS = 2
FRAMES_PER_VIDEO = 2
MAX_SIDE = 1280
HEIGHTS = (0.02, 0.03, 0.05, 0.08)  # text size as a share of the picture's height
CONTRASTS: dict[str, dict[str, Any]] = {
    "outlined": {"colour": (255, 255, 255), "outline": 2},
    "white": {"colour": (255, 255, 255), "outline": 0},
    "grey": {"colour": (150, 150, 150), "outline": 0},
}
CAPTIONS = (
    "Welcome to the harbour",
    "Breaking news from the city",
    "Chapter two: the long night",
    "Live at the concert hall",
    "Tickets on sale from Friday",
    "The orchestra plays tonight",
    "Episode 4 - Return home",
    "Thank you for watching",
)
MERGE_CLIP = VIDEO_DIR / "short_hamilton_clip.mp4"
MERGE_SHOWN = (3.0, 5.0)


def pictures() -> list[tuple[str, np.ndarray]]:
    """Evenly spaced frames of each shared video, then every shared photo, at most
    :data:`MAX_SIDE` pixels a side, upright RGB."""
    from PIL import Image

    from ops.faces.pictures import PICTURE_SUFFIXES, read_picture
    from ops.media.decode import open_video
    from ops.ocr.params import OcrSettings
    from ops.ocr.read import sampled_frames

    found: list[tuple[str, np.ndarray]] = []
    for video in sorted(VIDEO_DIR.glob("*.mp4")):
        info = open_video(video)
        interval = (info.duration_s or 10.0) / (FRAMES_PER_VIDEO + 1)
        settings = OcrSettings(interval_s=interval, max_side=MAX_SIDE)
        frames = list(sampled_frames(info, settings))[1 : FRAMES_PER_VIDEO + 1]
        found += [(f"{video.name}@{time_s:.1f}s", image) for time_s, _end, image in frames]
    for photo in sorted(PHOTO_DIR.rglob("*")):
        if photo.suffix.lower() in PICTURE_SUFFIXES:
            image = Image.fromarray(read_picture(photo))
            image.thumbnail((MAX_SIDE, MAX_SIDE))
            found.append((photo.name, np.asarray(image)))
    return found


def caption_reading(
    reader: Any, named: list[tuple[str, np.ndarray]], clean: dict[str, list[Any]]
) -> list[dict[str, Any]]:
    """Per text height and contrast: captions found, and the error of what was read.

    A caption goes at the bottom, or at the top where the picture has text of its own at
    the bottom (``clean``: the lines read on it), so it is not read together with that."""
    import jiwer

    from ops.faces.tracks import iou
    from tests.ops.ocr.synth import caption

    rows = []
    for height in HEIGHTS:
        for contrast, style in CONTRASTS.items():
            found, references, readings, sizes = 0, [], [], []
            for number, (name, picture) in enumerate(named):
                text = CAPTIONS[number % len(CAPTIONS)]
                size = _fitting_size(text, round(height * picture.shape[0]), picture.shape[1])
                sizes.append(size)
                bottom = 0.88 * picture.shape[0] - size
                taken = any(line.box[3] > bottom for line in clean[name])
                at = (0.5, 0.12 if taken else 0.88)
                drawn, box = caption(picture, text, size=size, at=at, **style)
                overlapping = [
                    line
                    for line in sorted(reader.read(drawn), key=lambda line: line.box[0])
                    if iou(line.box, box) > 0.1
                ]
                found += bool(overlapping)
                references.append(text)
                readings.append(" ".join(line.text for line in overlapping))
            squeeze = [reference.replace(" ", "") for reference in references]
            rows.append(
                {
                    "text_height": height,
                    "contrast": contrast,
                    "captions": len(named),
                    "median_font_px": int(np.median(sizes)),
                    "found": round(found / len(named), 4),
                    "cer": round(jiwer.cer(references, readings), 4),
                    "cer_without_spaces": round(
                        jiwer.cer(squeeze, [r.replace(" ", "") for r in readings]), 4
                    ),
                    "exact": round(
                        sum(r == t for r, t in zip(readings, references, strict=True)) / len(named),
                        4,
                    ),
                }
            )
            rows[-1]["misread"] = [
                [reference, reading]
                for reference, reading in zip(references, readings, strict=True)
                if reference != reading
            ][:4]
            print(json.dumps(rows[-1]), flush=True)
    return rows


def _fitting_size(text: str, wanted: int, width: int) -> int:
    """``wanted`` font pixels, less where the caption would not fit in 90% of the width
    (a small photo), and at least 8."""
    from PIL import ImageFont

    from tests.ops.ocr.synth import LATIN_FONT

    size = max(8, wanted)
    while size > 8 and ImageFont.truetype(str(LATIN_FONT), size).getlength(text) > 0.9 * width:
        size -= 1
    return size


def clean_pictures(
    reader: Any, named: list[tuple[str, np.ndarray]]
) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Boxes read on the pictures as they are, and seconds per picture at two sizes; and
    the lines read, by picture."""
    import cv2

    boxes = {name: reader.read(picture) for name, picture in named}
    speed = {}
    for width, height in ((640, 360), (1280, 720)):
        sized = [cv2.resize(picture, (width, height)) for _name, picture in named[:10]]
        started = time.perf_counter()
        for picture in sized:
            reader.read(picture)
        speed[f"{width}x{height}"] = round((time.perf_counter() - started) / len(sized), 3)
    summary = {
        "pictures": len(named),
        "pictures_with_boxes": sum(bool(lines) for lines in boxes.values()),
        "boxes": sum(len(lines) for lines in boxes.values()),
        "read": {name: [line.text for line in lines] for name, lines in boxes.items() if lines},
        "seconds_per_picture": speed,
    }
    return summary, boxes


def merging_on_footage(reader: Any) -> dict[str, Any]:
    """A caption shown over real footage for two seconds, read as the command reads it."""
    from ops.media.decode import iter_frames, open_video
    from ops.ocr.params import OcrSettings
    from ops.ocr.read import read_video
    from ops.sample_site.media import mux
    from tests.ops.ocr.synth import caption

    info = open_video(MERGE_CLIP)
    fps = round(float(info.fps or 30))
    text = "Live at the concert hall"
    frames = []
    for frame in iter_frames(MERGE_CLIP):
        picture = frame.image
        if MERGE_SHOWN[0] <= frame.time_s < MERGE_SHOWN[1]:
            picture = caption(picture, text, size=24, at=(0.5, 0.88), outline=2)[0]
        frames.append(picture)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "captioned.mp4"
        path.write_bytes(mux("mp4", frames, size=(info.width, info.height), fps=fps))
        started = time.perf_counter()
        boxes = read_video(open_video(path), OcrSettings(), reader).boxes
        seconds = time.perf_counter() - started
    ours = [box for box in boxes if box.text.replace(" ", "") == text.replace(" ", "")]
    return {
        "clip": MERGE_CLIP.name,
        "shown_s": list(MERGE_SHOWN),
        "caption_boxes": len(ours),
        "spans": [[box.time_s, box.end_s] for box in ours],
        "other_boxes": [box.text for box in boxes if box not in ours],
        "seconds": round(seconds, 2),
        "video_s": round(len(frames) / fps, 2),
    }


def main() -> None:
    from ops.ocr.params import OcrSettings
    from ops.ocr.readers import RapidOcrReader

    if not VIDEO_DIR.is_dir() or not PHOTO_DIR.is_dir():
        print(f"shared pictures not found under {SHARED}: nothing to benchmark (skipped)")
        return
    reader = RapidOcrReader(OcrSettings(threads=THREADS))
    named = pictures()
    print(f"{len(named)} pictures: {sum('@' in n for n, _ in named)} video frames, the rest photos")
    clean, lines = clean_pictures(reader, named)
    print(json.dumps({k: v for k, v in clean.items() if k != "read"}), flush=True)
    captions = caption_reading(reader, named, lines)
    merging = merging_on_footage(reader)
    print(json.dumps(merging), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    with atomic_open(RESULTS / "ocr.json") as handle:
        json.dump(
            {
                "machine": {
                    "python": platform.python_version(),
                    "cpus": len(os.sched_getaffinity(0)),
                    "threads": THREADS,
                },
                "clean_pictures": clean,
                "captions": captions,
                "merging": merging,
            },
            handle,
            indent=2,
            ensure_ascii=False,
        )
    print(f"wrote {RESULTS / 'ocr.json'}")


if __name__ == "__main__":
    main()
