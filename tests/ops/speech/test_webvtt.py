"""Transcripts as WebVTT: header, cue times, two short lines per cue, escaped text."""

from __future__ import annotations

import pytest

from ops.speech.recognizers import Word
from ops.speech.transcribe import Transcript, TranscriptSegment
from ops.speech.webvtt import to_webvtt


def _transcript(
    words: list[tuple[str, float, float]], spans: list[tuple[float, float]]
) -> Transcript:
    timed = [Word(word=w, start_s=s, end_s=e) for w, s, e in words]
    segments = [
        TranscriptSegment(
            start_s=start,
            end_s=end,
            text=" ".join(w.word for w in timed if start <= w.start_s < end),
        )
        for start, end in spans
    ]
    return Transcript(language="en", segments=segments, words=timed)


def test_cues_follow_the_words() -> None:
    transcript = _transcript(
        [("fish", 1.0, 1.4), ("&", 1.5, 1.6), ("chips", 1.7, 2.2), ("again", 3661.25, 3662.0)],
        [(0.9, 2.3), (3661.0, 3662.5)],
    )
    assert to_webvtt(transcript) == (
        "WEBVTT\n\n"
        "00:00:01.000 --> 00:00:02.200\nfish &amp; chips\n\n"
        "01:01:01.250 --> 01:01:02.000\nagain\n"
    )


def test_long_speech_is_cut_into_short_two_line_cues() -> None:
    words = [(f"word{n:02d}", n * 0.4, n * 0.4 + 0.3) for n in range(40)]
    vtt = to_webvtt(_transcript(words, [(0.0, 16.0)]), line_chars=20, max_cue_s=5.0)
    cues = vtt.split("\n\n")[1:]
    assert len(cues) > 1
    spoken = []
    for cue in cues:
        timing, *lines = cue.strip().split("\n")
        start, end = (_seconds(t) for t in timing.split(" --> "))
        assert 0 < end - start <= 5.0
        assert 1 <= len(lines) <= 2 and all(len(line) <= 20 for line in lines)
        spoken += " ".join(lines).split()
    assert spoken == [w for w, _, _ in words]  # every word once, in order


def test_an_empty_transcript_is_a_valid_document() -> None:
    assert to_webvtt(Transcript(language="ko", segments=[], words=[])) == "WEBVTT\n"
    with pytest.raises(ValueError, match="positive"):
        to_webvtt(Transcript(language="ko", segments=[], words=[]), line_chars=0)


def _seconds(stamp: str) -> float:
    hours, minutes, seconds = stamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
