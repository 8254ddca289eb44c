"""Speech and on-screen text on long files: throughput against decoding alone, and peak
memory, which must not grow with the duration.

``python -m benchmarks.words_long [--minutes 6 60]``. For each duration a 320x180, 2-fps
H.264 + AAC video is generated (cached under benchmarks/results/media): at the start of
every 30 s a sentence is spoken (espeak-ng) and a caption shown for 4 s, over a moving
gradient and a quiet tone. Then, each in its own process so peak memory is its own:
decoding the audio alone and ``Transcriber.transcribe_file`` (speech-en, as the
refresh's ``speech`` task runs it), decoding the video alone and
``ops.ocr.read.read_file`` (PP-OCR on a frame a second, as the ``ocr`` task runs it, and
on a frame every ``--ocr-interval-s`` (default 10 s) for the comparison across
durations: at a frame a second, an hour of video takes half an hour on 2 cores).
Reports seconds of media per second, each task's time as a multiple of its decoding
alone, what it found, and peak RSS. Prints JSON; writes
benchmarks/results/words_long.json. Needs espeak-ng (``make speech-tools``)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from benchmarks.isolated import print_with_peak, run_isolated

RESULTS = Path(__file__).resolve().parent / "results"
FPS, SIZE, RATE = 2, (320, 180), 16000
EVERY_S = 30
SENTENCE = "the lighthouse keeper waves at the passing ships"
CAPTION = "GRAND OPENING TONIGHT"


def make_long_video(path: Path, minutes: int) -> Path:
    """Streamed to the encoder a second at a time (flat memory here too)."""
    from ops.sample_site.media import AUDIO_SAMPLE_RATE
    from ops.sample_site.words import synthesise

    if path.is_file():
        return path
    spoken = synthesise(SENTENCE)
    voice = np.interp(
        np.arange(round(spoken.size * RATE / AUDIO_SAMPLE_RATE)) * AUDIO_SAMPLE_RATE / RATE,
        np.arange(spoken.size),
        spoken,
    ).astype(np.float32)
    font = ImageFont.load_default(size=18)
    base = np.linspace(30, 140, SIZE[0], dtype=np.float32)[None, :, None]
    partial = path.with_suffix(".part.mp4")
    with av.open(str(partial), "w") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = *SIZE, "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "30"}
        sound = container.add_stream("aac", rate=RATE)
        sound.layout = "mono"
        t = np.arange(RATE, dtype=np.float32) / RATE
        for second in range(minutes * 60):
            phase = second % EVERY_S
            for k in range(FPS):
                shift = (second * FPS + k) * 2 % 100
                pixels = (base + shift).astype(np.uint8).repeat(SIZE[1], 0).repeat(3, 2)
                picture = Image.fromarray(pixels)
                if phase < 4:  # from the interval's start, so a sparse sampling sees it too
                    ImageDraw.Draw(picture).text((60, 140), CAPTION, font=font, fill="white")
                frame = av.VideoFrame.from_ndarray(np.asarray(picture), format="rgb24")
                container.mux(video.encode(frame))
            block = 0.01 * np.sin(2 * np.pi * 180 * t)
            if phase < 4:  # the sentence starts with the interval, cut to 4 s
                piece = voice[phase * RATE : (phase + 1) * RATE]
                block[: piece.size] += piece
            audio = av.AudioFrame.from_ndarray(
                block.astype(np.float32).reshape(1, -1), format="fltp", layout="mono"
            )
            audio.sample_rate, audio.pts = RATE, second * RATE
            container.mux(sound.encode(audio))
        container.mux(video.encode())
        container.mux(sound.encode())
    partial.rename(path)
    return path


def _run(mode: str, path: Path, ocr_interval_s: float) -> dict[str, float]:
    """One measurement; its imports (torch, the engines) are not timed."""
    from ops.genre.audio import audio_blocks
    from ops.media.decode import decode_only
    from ops.ocr.params import OcrSettings
    from ops.ocr.read import read_file
    from ops.speech.transcribe import Transcriber

    started = time.perf_counter()
    found: dict[str, float] = {}
    if mode == "decode_audio":
        found["samples"] = sum(block.size for block in audio_blocks(path, RATE, 120.0))
    elif mode == "transcribe":
        transcript = Transcriber("en").transcribe_file(path)  # its model loads on first use
        found["segments"] = len(transcript.segments)
        found["lighthouse"] = sum(word.word == "lighthouse" for word in transcript.words)
    elif mode == "decode_video":
        found["frames"] = decode_only(path)
    else:
        boxes = read_file(path, OcrSettings(interval_s=ocr_interval_s)).boxes
        found["captions"] = sum(box.text == CAPTION for box in boxes)
        found["boxes"] = len(boxes)
    return {"seconds": time.perf_counter() - started, **found}


def _measure(mode: str, path: Path, ocr_interval_s: float = 1.0) -> dict[str, float]:
    return run_isolated(
        "benchmarks.words_long", mode, str(path), "--ocr-interval-s", str(ocr_interval_s)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=int, nargs="+", default=[6, 60])
    parser.add_argument("--ocr-interval-s", type=float, default=10.0)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print_with_peak(_run(args.child[0], Path(args.child[1]), args.ocr_interval_s))
        return
    (RESULTS / "media").mkdir(parents=True, exist_ok=True)
    rows = []
    for minutes in args.minutes:
        path = make_long_video(RESULTS / "media" / f"words-{minutes}min.mp4", minutes)
        seconds = minutes * 60
        row: dict[str, float | int] = {
            "minutes": minutes,
            "spoken_and_shown": seconds // EVERY_S,
            "ocr_interval_s": args.ocr_interval_s,
        }
        for decode, task in (("decode_audio", "transcribe"), ("decode_video", "ocr")):
            alone, done = _measure(decode, path), _measure(task, path, args.ocr_interval_s)
            row[f"{decode}_media_s_per_s"] = round(seconds / alone["seconds"], 1)
            row[f"{task}_media_s_per_s"] = round(seconds / done["seconds"], 1)
            row[f"{task}_vs_{decode}"] = round(done["seconds"] / alone["seconds"], 2)
            row[f"{decode}_peak_rss_mb"] = round(alone["peak_rss_mb"])
            row[f"{task}_peak_rss_mb"] = round(done["peak_rss_mb"])
            row.update(
                {f"{task}_{k}": v for k, v in done.items() if k not in ("seconds", "peak_rss_mb")}
            )
        if minutes == min(args.minutes):  # the refresh's own setting: a frame a second
            every_second = _measure("ocr", path, 1.0)
            row["ocr_every_1s_media_s_per_s"] = round(seconds / every_second["seconds"], 2)
            row["ocr_every_1s_captions"] = every_second["captions"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    (RESULTS / "words_long.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
