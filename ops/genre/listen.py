"""Live genre: rolling windows of a stream, each answered as soon as it has been heard.

The source is a file played back in real time: window ``k`` (``window_s`` long, every
``hop_s``) is only judged once the playback clock has passed its end, as if its samples
were arriving from a sound card, and each answer records its latency, the time from the
window's end to the answer. The running genre is the mean probabilities of the music
windows among the last few, so one odd window does not flip it.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ops.genre.gate import WindowKind
from ops.genre.predict import GenreClassifier


class ListenSettings(BaseModel):
    """How the stream is paced and how many windows the running answer remembers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    realtime: bool = Field(
        default=True,
        description="play the file at real-time pace (False: as fast as it is judged)",
    )
    running_windows: int = Field(
        default=4, ge=1, description="recent windows the running genre averages"
    )


class ListenUpdate(BaseModel):
    """One window's answer, and the running genre after it."""

    model_config = ConfigDict(frozen=True)

    index: int
    start_s: float
    end_s: float
    kind: WindowKind
    genre: str | None
    confidence: float | None
    running_genre: str | None
    running_confidence: float | None
    latency_s: float


class ListenSummary(BaseModel):
    """Latency over a whole playback: every window's, and how many came within a second."""

    model_config = ConfigDict(frozen=True)

    windows: int
    median_latency_s: float
    max_latency_s: float
    within_one_second: int


def listen_file(
    path: Path,
    classifier: GenreClassifier,
    settings: ListenSettings | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[ListenUpdate]:
    """Play ``path`` and yield one answer per window, in order."""
    chosen = settings or ListenSettings()
    model = classifier.model.settings
    labels = classifier.model.labels
    recent: deque[np.ndarray | None] = deque(maxlen=chosen.running_windows)
    started = clock()
    for index, window in enumerate(classifier.windows(path)):
        start_s = index * model.hop_s
        end_s = start_s + model.window_s
        if chosen.realtime:
            sleep(max(0.0, started + end_s - clock()))
            heard = started + end_s
        else:
            heard = clock()
        verdicts = classifier.judge(window[np.newaxis])
        kind = verdicts.kinds[0]
        probabilities = verdicts.probabilities[0]
        recent.append(probabilities if kind == "music" else None)
        votes = [p for p in recent if p is not None]
        running = np.mean(votes, axis=0) if votes else None
        yield ListenUpdate(
            index=index,
            start_s=round(start_s, 3),
            end_s=round(end_s, 3),
            kind=kind,
            genre=labels[int(probabilities.argmax())] if kind == "music" else None,
            confidence=round(float(probabilities.max()), 4) if kind == "music" else None,
            running_genre=labels[int(running.argmax())] if running is not None else None,
            running_confidence=round(float(running.max()), 4) if running is not None else None,
            latency_s=round(clock() - heard, 4),
        )


def summarise(updates: Sequence[ListenUpdate]) -> ListenSummary:
    """Latency figures of a playback's answers."""
    latencies = [update.latency_s for update in updates]
    return ListenSummary(
        windows=len(updates),
        median_latency_s=round(statistics.median(latencies), 4) if latencies else 0.0,
        max_latency_s=round(max(latencies, default=0.0), 4),
        within_one_second=sum(latency <= 1.0 for latency in latencies),
    )
