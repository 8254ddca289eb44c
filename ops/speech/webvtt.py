"""A transcript as WebVTT subtitles (what a browser's ``<track>`` element plays).

Cues follow the usual subtitle rules: at most two lines of ``line_chars`` characters and
at most ``max_cue_s`` seconds each, cut between words (timed by the words), never across
two speech segments.
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Iterable, Iterator

from ops.speech.recognizers import Word
from ops.speech.transcribe import Transcript

LINE_CHARS = 42
MAX_CUE_S = 7.0


def to_webvtt(
    transcript: Transcript, *, line_chars: int = LINE_CHARS, max_cue_s: float = MAX_CUE_S
) -> str:
    """The transcript's WebVTT document."""
    if line_chars < 1 or max_cue_s <= 0:
        raise ValueError("line_chars and max_cue_s must be positive")
    cues = (
        (start_s, end_s, " ".join(words))
        for start_s, end_s, words in _cues(transcript, 2 * line_chars, max_cue_s)
    )
    return phrases_webvtt(cues, line_chars=line_chars)


def phrases_webvtt(
    phrases: Iterable[tuple[float, float, str]], *, line_chars: int = LINE_CHARS
) -> str:
    """Timed phrases (a refresh's stored transcript) as a WebVTT document, a cue each."""
    blocks = ["WEBVTT"]
    for start_s, end_s, said in phrases:
        lines = textwrap.wrap(said, width=line_chars, break_long_words=False)
        text = "\n".join(html.escape(line, quote=False) for line in lines)
        blocks.append(f"{_timestamp(start_s)} --> {_timestamp(end_s)}\n{text}")
    return "\n\n".join(blocks) + "\n"


def _cues(
    transcript: Transcript, max_chars: int, max_cue_s: float
) -> Iterator[tuple[float, float, list[str]]]:
    """``(start, end, words)`` of each cue, in order."""
    for segment in transcript.segments:
        inside = [
            word for word in transcript.words if segment.start_s <= word.start_s < segment.end_s
        ]
        cue: list[Word] = []
        for word in inside:
            text = " ".join(w.word for w in [*cue, word])
            if cue and (len(text) > max_chars or word.end_s - cue[0].start_s > max_cue_s):
                yield cue[0].start_s, cue[-1].end_s, [w.word for w in cue]
                cue = []
            cue.append(word)
        if cue:
            yield cue[0].start_s, cue[-1].end_s, [w.word for w in cue]


def _timestamp(seconds: float) -> str:
    """``HH:MM:SS.mmm``, the WebVTT cue time format."""
    millis = round(max(seconds, 0.0) * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"
