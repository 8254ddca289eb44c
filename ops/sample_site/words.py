"""Words in the sample catalog: a clip that says a sentence, and one that shows a caption.

The spoken clip's voice is synthesised by Debian's espeak-ng (``make demo`` installs it
when missing); without it the site has no spoken clip, and says so. The caption is drawn
with Pillow's own font over a slow gradient, at the bottom of the frame as subtitles are,
for the middle seconds of the clip.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ops.sample_site.media import AUDIO_SAMPLE_RATE, mux

SPOKEN_SENTENCE = "The lighthouse keeper waves at the passing ships every evening."
SPOKEN_WORD = "lighthouse"
CAPTION = "GRAND OPENING TONIGHT"
CAPTION_WORD = "opening"
CAPTION_SPAN_S = (1.0, 3.0)
"""When the caption is on screen, in seconds from the start of its 4-second clip."""
SIZE = (320, 180)
FPS = 12


class NoSpeechSynthesiser(RuntimeError):
    """espeak-ng is not installed: no spoken clip can be made."""


def synthesise(sentence: str, voice: str = "en-us") -> np.ndarray:
    """``sentence`` spoken by espeak-ng, as mono float samples at AUDIO_SAMPLE_RATE."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise NoSpeechSynthesiser("espeak-ng is not installed (make demo installs it)")
    with tempfile.TemporaryDirectory(prefix="speech-") as folder:
        path = Path(folder) / "speech.wav"
        subprocess.run([binary, "-v", voice, "-w", str(path), sentence], check=True)
        with wave.open(str(path)) as recording:
            rate = recording.getframerate()
            pcm = np.frombuffer(recording.readframes(recording.getnframes()), dtype=np.int16)
    samples = pcm.astype(np.float32) / 32768.0
    times = np.arange(round(len(samples) * AUDIO_SAMPLE_RATE / rate)) / AUDIO_SAMPLE_RATE
    return np.interp(times, np.arange(len(samples)) / rate, samples).astype(np.float32)


def _background(step: int) -> np.ndarray:
    width, height = SIZE
    shade = np.linspace(40, 120, width, dtype=np.float32)[None, :] + 2 * step
    frame = np.stack([shade, shade * 0.8, np.full_like(shade, 90)], axis=-1)
    return np.clip(np.repeat(frame, height, axis=0), 0, 255).astype(np.uint8)


def spoken_clip(sentence: str = SPOKEN_SENTENCE) -> bytes:
    """An MP4 of a plain picture while ``sentence`` is spoken, with half a second of
    quiet before and after."""
    voice = synthesise(sentence)
    pad = np.zeros(AUDIO_SAMPLE_RATE // 2, dtype=np.float32)
    audio = np.concatenate([pad, voice, pad])
    frames = [_background(step) for step in range(int(len(audio) / AUDIO_SAMPLE_RATE * FPS))]
    return mux("mp4", frames, size=SIZE, fps=FPS, audio=audio)


def captioned_clip(caption: str = CAPTION, seconds: float = 4.0) -> bytes:
    """An MP4 whose frames show ``caption`` during :data:`CAPTION_SPAN_S`, over a quiet tone."""
    font = ImageFont.load_default(size=22)
    frames = []
    for step in range(round(seconds * FPS)):
        picture = Image.fromarray(_background(step))
        if CAPTION_SPAN_S[0] <= step / FPS < CAPTION_SPAN_S[1]:
            draw = ImageDraw.Draw(picture)
            left, top, right, bottom = draw.textbbox((0, 0), caption, font=font)
            x = (SIZE[0] - (right - left)) // 2
            y = SIZE[1] - (bottom - top) - 18
            draw.rectangle((x - 6, y - 4, x + right - left + 6, y + bottom + 2), fill=(0, 0, 0))
            draw.text((x, y - top // 2), caption, font=font, fill=(255, 255, 255))
        frames.append(np.asarray(picture))
    times = np.arange(round(seconds * AUDIO_SAMPLE_RATE)) / AUDIO_SAMPLE_RATE
    return mux("mp4", frames, size=SIZE, fps=FPS, audio=0.05 * np.sin(2 * np.pi * 330 * times))
