"""Generated training data for the scene-type detector, whose label needs picture AND sound.

The paper's Hollywood films are not available here, so the demo and the tests train on
clips made up on the spot. A second is ``kiss`` exactly when a visual motif (two warm-
coloured discs drifting together until they overlap) is on screen *and* a sound cue (a
low chord with a slow tremolo) is playing. Every clip also holds as many seconds of the
motif without the chord, and of the chord without the motif, as it holds positive
seconds, so a model that sees one modality only is right about half the time it fires
(F1 about 0.67 at best), while one that fuses both can be nearly perfect. Set dressing
(moving rectangles, triangles and cool-coloured discs), pixel noise, a noise bed and
random beeps, chirps and bursts keep either cue from being trivially read off.

Each clip is one title, so a split by title keeps a film's look and sound out of the
other side. ``cues.csv`` logs, per second, which cue the generator drew: the ground
truth the annotations are derived from.
"""

from __future__ import annotations

import colorsys
import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw

from ops.atomic import atomic_open
from ops.sample_site.media import AUDIO_SAMPLE_RATE, mux
from ops.sample_site.names import ADJECTIVES, NOUNS, slugify
from ops.scene.dataset_files import ANNOTATIONS_NAME, CUES_NAME, MEDIA_NAME

SCENE_LABEL = "kiss"
FPS = 8
FRAME_WIDTH, FRAME_HEIGHT = 128, 96
CLIPS_DIR = "clips"
RUN_SECONDS = (2, 6)  # inclusive bounds of one run of a cue (and of a positive scene)

RunKind = Literal["both", "visual", "sound"]
PropShape = Literal["rectangle", "triangle", "disc"]
PROP_SHAPES: tuple[PropShape, ...] = ("rectangle", "triangle", "disc")
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class CueRun:
    """Seconds ``[start_s, end_s)`` during which the motif and/or the chord are present."""

    kind: RunKind
    start_s: int
    end_s: int

    @property
    def visual(self) -> bool:
        return self.kind in ("both", "visual")

    @property
    def sound(self) -> bool:
        return self.kind in ("both", "sound")


@dataclass(frozen=True)
class _Prop:
    """A piece of moving set dressing, present for the whole clip."""

    shape: PropShape
    colour: RGB
    size: float
    position: np.ndarray
    velocity: np.ndarray  # pixels per frame


def generate_scene_dataset(
    root: Path, *, titles: int = 24, seconds: tuple[int, int] = (20, 40), seed: int = 0
) -> Path:
    """Write ``titles`` clips with their annotations, media list and cue log under ``root``.

    Deterministic in ``seed``; a re-run overwrites the same files with the same bytes.
    """
    shortest, longest = seconds
    if titles < 1:
        raise ValueError(f"titles must be at least 1, got {titles}")
    minimum = _seconds_needed(runs_per_kind=1, run_s=RUN_SECONDS[0])
    if not minimum <= shortest <= longest:
        raise ValueError(
            f"seconds must be (shortest, longest) with {minimum} <= shortest <= longest, "
            f"got {seconds}: a clip holds a scene, a motif-only and a sound-only run"
        )
    annotations: list[tuple[str, int, int, str]] = []
    media_rows: list[tuple[str, str, str]] = []
    cue_rows: list[tuple[str, int, int, int]] = []
    for index in range(titles):
        rng = np.random.default_rng([seed, index])
        title = _title(index)
        item_id = f"{slugify(title)}-{index:02d}"
        duration = int(rng.integers(shortest, longest + 1))
        rendered = render_scene_clip(rng, duration)
        clip = f"{CLIPS_DIR}/{item_id}.mp4"
        with atomic_open(root / clip, "wb") as handle:
            handle.write(rendered.data)
        media_rows.append((item_id, clip, title))
        annotations += [(item_id, start, end, SCENE_LABEL) for start, end in rendered.scenes]
        visual, sound = cue_timeline(list(rendered.runs), duration)
        cue_rows += [
            (item_id, second, int(visual[second]), int(sound[second])) for second in range(duration)
        ]
    _write_csv(root / ANNOTATIONS_NAME, ("item_id", "start_s", "end_s", "label"), annotations)
    _write_csv(root / MEDIA_NAME, ("item_id", "path", "title"), media_rows)
    _write_csv(root / CUES_NAME, ("item_id", "second", "visual", "sound"), cue_rows)
    return root


@dataclass(frozen=True)
class SceneClip:
    """One rendered MP4 clip and the cue runs drawn into it: its ground truth."""

    data: bytes
    runs: tuple[CueRun, ...]

    @property
    def scenes(self) -> list[tuple[int, int]]:
        """The ``[start_s, end_s)`` spans that are ``kiss``: motif and chord together."""
        return [(run.start_s, run.end_s) for run in self.runs if run.kind == "both"]


def render_scene_clip(rng: np.random.Generator, duration: int) -> SceneClip:
    """Plan the cue runs of a ``duration``-second clip and render it (H.264 + AAC MP4).

    The training clips and the sample site's scene videos are both made here, so the
    site shows the motif the scene model learnt, among the same decoys.
    """
    runs = plan_cue_runs(rng, duration)
    return SceneClip(_render_clip(rng, duration, runs), tuple(runs))


def plan_cue_runs(rng: np.random.Generator, duration: int) -> list[CueRun]:
    """Equal numbers of positive, motif-only and chord-only runs, at least 1 s apart.

    One of each per clip, two of each in clips of 32 s or more; runs are shortened
    (never below 2 s) until they fit. A run may start or end the clip.
    """
    kinds: list[RunKind] = ["both", "visual", "sound"] * (2 if duration >= 32 else 1)
    order = rng.permutation(len(kinds))
    lengths = rng.integers(RUN_SECONDS[0], RUN_SECONDS[1] + 1, size=len(kinds))
    gaps_needed = len(kinds) - 1
    while lengths.sum() + gaps_needed > duration:
        lengths[int(np.argmax(lengths))] -= 1
    spare = duration - int(lengths.sum()) - gaps_needed
    # Spare seconds go to the lead-in, the gaps and the tail alike.
    shares = rng.multinomial(spare, np.full(len(kinds) + 1, 1 / (len(kinds) + 1)))
    runs, start = [], int(shares[0])
    for position, length, share in zip(order, lengths, shares[1:], strict=True):
        runs.append(CueRun(kinds[position], start, start + int(length)))
        start += int(length) + 1 + int(share)
    return runs


def cue_timeline(runs: list[CueRun], duration: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-second booleans: is the motif on screen, is the chord playing."""
    visual = np.zeros(duration, dtype=bool)
    sound = np.zeros(duration, dtype=bool)
    for run in runs:
        visual[run.start_s : run.end_s] |= run.visual
        sound[run.start_s : run.end_s] |= run.sound
    return visual, sound


def _title(index: int) -> str:
    """A distinct film title per index (a split by title must not merge two clips)."""
    pairs = len(ADJECTIVES) * len(NOUNS)
    turn, position = divmod(index, pairs)
    row, column = divmod(position, len(ADJECTIVES))
    # Walking the nouns at a stride coprime with their count varies both words early on.
    noun = NOUNS[(7 * column + row) % len(NOUNS)]
    title = f"The {ADJECTIVES[column]} {noun}"
    return f"{title} {turn + 1}" if turn else title


def _seconds_needed(runs_per_kind: int, run_s: int) -> int:
    runs = 3 * runs_per_kind
    return runs * run_s + runs - 1


def _render_clip(rng: np.random.Generator, duration: int, runs: list[CueRun]) -> bytes:
    frames = _frames(rng, duration, [run for run in runs if run.visual])
    audio = _soundtrack(rng, duration, [run for run in runs if run.sound])
    return mux("mp4", frames, size=(FRAME_WIDTH, FRAME_HEIGHT), fps=FPS, audio=audio)


# -- picture --------------------------------------------------------------------------------


def _hsv(hue_degrees: float, saturation: float, value: float) -> RGB:
    red, green, blue = colorsys.hsv_to_rgb(hue_degrees / 360, saturation, value)
    return round(red * 255), round(green * 255), round(blue * 255)


def _warm(rng: np.random.Generator) -> RGB:
    """Red to yellow, saturated and bright: the motif's colours."""
    return _hsv(rng.uniform(0, 45), rng.uniform(0.75, 1.0), rng.uniform(0.85, 1.0))


def _props(rng: np.random.Generator) -> list[_Prop]:
    """Two to four moving shapes; rectangles and triangles may be warm, discs never are."""
    props = []
    for _ in range(int(rng.integers(2, 5))):
        shape: PropShape = PROP_SHAPES[int(rng.integers(0, len(PROP_SHAPES)))]
        if shape == "disc":
            colour = _hsv(rng.uniform(160, 290), rng.uniform(0.5, 1.0), rng.uniform(0.5, 1.0))
        else:
            colour = _hsv(rng.uniform(0, 360), rng.uniform(0.3, 1.0), rng.uniform(0.4, 1.0))
        props.append(
            _Prop(
                shape=shape,
                colour=colour,
                size=float(rng.uniform(6, 16)),
                position=rng.uniform([0, 0], [FRAME_WIDTH, FRAME_HEIGHT]),
                velocity=rng.uniform(-2.5, 2.5, size=2),
            )
        )
    return props


def _frames(
    rng: np.random.Generator, duration: int, motif_runs: list[CueRun]
) -> Iterator[np.ndarray]:
    """Yield every frame: muted gradient, moving props, the motif during its runs, noise."""
    ys, xs = np.mgrid[0:FRAME_HEIGHT, 0:FRAME_WIDTH].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    ramp = xs * np.cos(angle) + ys * np.sin(angle)
    ramp = ((ramp - ramp.min()) / max(float(np.ptp(ramp)), 1.0))[..., None]
    top, bottom = (
        np.asarray(_hsv(rng.uniform(0, 360), rng.uniform(0, 0.4), rng.uniform(0.2, 0.6)))
        for _ in range(2)
    )
    background = (top * (1 - ramp) + bottom * ramp).astype(np.uint8)
    props = _props(rng)
    motifs = {id(run): _MotifPath(rng, run) for run in motif_runs}
    noise_sigma = rng.uniform(4, 12)
    for frame_index in range(duration * FPS):
        time_s = frame_index / FPS
        image = Image.fromarray(background)
        draw = ImageDraw.Draw(image)
        for prop in props:
            _draw_prop(draw, prop, frame_index)
        for run in motif_runs:
            if run.start_s <= time_s < run.end_s:
                motifs[id(run)].draw(draw, time_s)
        pixels = np.asarray(image, dtype=np.float32)
        pixels += rng.normal(0, noise_sigma, size=pixels.shape).astype(np.float32)
        yield np.clip(pixels, 0, 255).astype(np.uint8)


def _draw_prop(draw: ImageDraw.ImageDraw, prop: _Prop, frame_index: int) -> None:
    """Draw a prop where its bouncing path puts it at ``frame_index``."""
    limits = np.array([FRAME_WIDTH, FRAME_HEIGHT], dtype=np.float64)
    travelled = prop.position + prop.velocity * frame_index
    x, y = limits - np.abs(np.mod(travelled, 2 * limits) - limits)  # reflect at the edges
    size = prop.size
    if prop.shape == "rectangle":
        draw.rectangle((x - size, y - size * 0.6, x + size, y + size * 0.6), fill=prop.colour)
    elif prop.shape == "triangle":
        draw.polygon([(x - size, y + size), (x, y - size), (x + size, y + size)], prop.colour)
    else:
        draw.ellipse((x - size, y - size, x + size, y + size), fill=prop.colour)


class _MotifPath:
    """Two warm discs that start apart and drift together until they overlap."""

    def __init__(self, rng: np.random.Generator, run: CueRun) -> None:
        self.run = run
        self.radius = float(rng.uniform(9, 14))
        self.colours = (_warm(rng), _warm(rng))
        margin = self.radius * 2.5
        self.start = rng.uniform([margin, margin], [FRAME_WIDTH - margin, FRAME_HEIGHT - margin])
        self.drift = rng.uniform(-3, 3, size=2)  # pixels per second, the pair's centre
        self.axis = rng.uniform(0, np.pi)
        self.gap_from, self.gap_to = self.radius * 2.6, self.radius * rng.uniform(0.6, 1.1)

    def draw(self, draw: ImageDraw.ImageDraw, time_s: float) -> None:
        progress = min(1.0, (time_s - self.run.start_s) / 1.5)  # together within 1.5 s
        gap = self.gap_from + (self.gap_to - self.gap_from) * progress
        centre = self.start + self.drift * (time_s - self.run.start_s)
        offset = 0.5 * gap * np.array([np.cos(self.axis), np.sin(self.axis)])
        for colour, (x, y) in zip(self.colours, (centre - offset, centre + offset), strict=True):
            r = self.radius
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)


# -- sound ----------------------------------------------------------------------------------


def _soundtrack(rng: np.random.Generator, duration: int, chord_runs: list[CueRun]) -> np.ndarray:
    """Mono samples at the muxer's rate: noise bed + random events + the chord in its runs."""
    rate = AUDIO_SAMPLE_RATE
    total = duration * rate
    # Room tone: white noise rolled off above 300 Hz, so it is low-heavy like the chord.
    spectrum = np.fft.rfft(rng.normal(0, 1, size=total))
    spectrum /= np.sqrt(1 + (np.fft.rfftfreq(total, 1 / rate) / 300) ** 2)
    bed = np.fft.irfft(spectrum, n=total)
    bed *= rng.uniform(0.01, 0.04) / max(float(np.std(bed)), 1e-9)
    signal = bed
    for second in range(duration):
        if rng.random() < 0.6:
            _add(signal, _event(rng), int((second + rng.uniform(0, 0.8)) * rate))
    for run in chord_runs:
        _add(signal, _chord(rng, run.end_s - run.start_s), run.start_s * rate)
    peak = float(np.max(np.abs(signal)))
    return (signal * (0.9 / peak) if peak > 0.9 else signal).astype(np.float32)


def _add(signal: np.ndarray, sound: np.ndarray, at: int) -> None:
    end = min(len(signal), at + len(sound))
    signal[at:end] += sound[: end - at]


def _chord(rng: np.random.Generator, seconds: int) -> np.ndarray:
    """Root, fifth and octave of a low note, with a 3-5 Hz tremolo and 50 ms fades."""
    rate = AUDIO_SAMPLE_RATE
    t = np.arange(seconds * rate) / rate
    root = rng.uniform(130, 200)
    tone = sum(
        weight * np.sin(2 * np.pi * root * ratio * t + rng.uniform(0, 2 * np.pi))
        for ratio, weight in ((1.0, 1.0), (1.5, 0.6), (2.0, 0.4))
    )
    tremolo = 1 - rng.uniform(0.4, 0.7) * 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(3, 5) * t))
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.05)
    return np.asarray(rng.uniform(0.08, 0.2) * tone * tremolo * fade)


def _event(rng: np.random.Generator) -> np.ndarray:
    """A distractor: a beep, a chirp or a burst of noise, 50-500 ms, with a smooth envelope."""
    rate = AUDIO_SAMPLE_RATE
    seconds = rng.uniform(0.05, 0.5)
    t = np.arange(int(seconds * rate)) / rate
    match int(rng.integers(0, 3)):
        case 0:
            wave = np.sin(2 * np.pi * rng.uniform(350, 3000) * t)
        case 1:
            low, high = rng.uniform(300, 800), rng.uniform(1200, 4000)
            wave = np.sin(2 * np.pi * (low * t + (high - low) * t**2 / (2 * seconds)))
        case _:
            wave = rng.normal(0, 0.5, size=len(t))
    return np.asarray(rng.uniform(0.03, 0.25) * wave * np.hanning(len(t)))


def _write_csv(path: Path, header: tuple[str, ...], rows: Sequence[tuple[object, ...]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    with atomic_open(path) as handle:
        handle.write(buffer.getvalue())
