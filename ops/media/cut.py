"""Cutting spans out of a video into one new video, with its sound (PyAV).

The source is decoded once, front to back; the frames and the audio that fall inside the
spans are re-timed to follow one another and encoded as H.264 + AAC in an MP4 that
appears only once complete. Span times count from the first video frame, as every other
time the platform gives (ops.media.decode), so a container whose video starts later
than its sound cuts both at the same moments.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
from pydantic import BaseModel, ConfigDict

from ops.atomic import atomic_path

Span = tuple[float, float]


class CutResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: Path
    spans: list[Span]
    seconds: float
    video_frames: int
    audio_samples: int


def merged_spans(spans: list[Span]) -> list[Span]:
    """Spans sorted, with overlapping or touching ones joined."""
    joined: list[Span] = []
    for start, end in sorted(spans):
        if end <= start:
            continue
        if joined and start <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], end))
        else:
            joined.append((start, end))
    return joined


def cut_spans(source: Path, spans: list[Span], target: Path) -> CutResult:
    """``source``'s frames and sound inside ``spans``, one after another, as ``target``."""
    wanted = merged_spans(spans)
    if not wanted:
        raise ValueError("no span to cut (every span is empty)")

    with av.open(str(source)) as reader, atomic_path(target) as tmp:
        video_in = reader.streams.video[0]
        audio_in = reader.streams.audio[0] if reader.streams.audio else None
        first, unit = video_in.start_time, video_in.time_base
        origin = float(first * unit) if first is not None and unit is not None else 0.0

        def inside(time_s: float) -> bool:
            return any(start <= time_s - origin < end for start, end in wanted)

        with av.open(str(tmp), "w", format="mp4") as writer:
            rate = Fraction(video_in.average_rate or 25)
            tick = 1 / rate
            video_out = writer.add_stream("libx264", rate=rate)
            video_out.time_base = tick
            video_out.width, video_out.height = video_in.width, video_in.height
            video_out.pix_fmt = "yuv420p"
            video_out.options = {"preset": "veryfast", "crf": "23"}
            audio_out = resampler = None
            if audio_in is not None:
                audio_out = writer.add_stream("aac", rate=audio_in.rate)
                audio_out.layout = audio_in.layout.name
                resampler = av.AudioResampler(
                    format="fltp", layout=audio_in.layout.name, rate=audio_in.rate
                )
            frames = samples = 0
            streams = [video_in] + ([audio_in] if audio_in is not None else [])
            for frame in reader.decode(*streams):
                if not isinstance(frame, av.VideoFrame | av.AudioFrame):
                    continue
                if frame.time is None or not inside(float(frame.time)):
                    continue
                if isinstance(frame, av.VideoFrame):
                    picture = frame.reformat(format="yuv420p")
                    picture.pts = frames
                    picture.time_base = tick
                    writer.mux(video_out.encode(picture))
                    frames += 1
                elif audio_out is not None and resampler is not None:
                    for block in resampler.resample(frame):
                        block.pts = samples
                        samples += block.samples
                        writer.mux(audio_out.encode(block))
            writer.mux(video_out.encode())
            if audio_out is not None:
                writer.mux(audio_out.encode())
    if frames == 0:
        target.unlink(missing_ok=True)
        raise ValueError(f"{source}: no video frame falls inside {wanted}")
    return CutResult(
        path=target,
        spans=wanted,
        seconds=round(frames / float(rate), 3),
        video_frames=frames,
        audio_samples=samples,
    )
