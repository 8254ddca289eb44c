"""Speech benchmark: word error rates of the recognisers, their speed, and the voice
detector's agreement with what real recordings hold.

``python -m benchmarks.speech`` from the repository root, on 2 threads.

* **English, synthesised**: ten sentences spoken by espeak-ng (its Klatt voice, the one
  the recogniser reads best; see ``tests/ops/speech/synth.py``) into a temporary folder,
  transcribed by ``speech-en`` (pocketsphinx, US English): word error rate (jiwer) against
  the sentences, and the real-time factor (processing seconds per second of audio).
* **English, read speech**: the three LibriSpeech readings in
  ``../shared/data/music/librosa_examples/_non_music``; no reference text ships with
  them, so the transcripts are printed for reading, with the real-time factor.
* **Korean, synthesised**: ten sentences by espeak-ng's Korean voice through ``speech-ko``
  (Vosk's small Korean model): character error rate (spaces ignored: Korean spacing
  varies) and word error rate, free and with the sentences' words given as the
  vocabulary (a grammar).
* **voice activity** on ``librosa_examples``: the three speech clips against the music
  folders and the nature clips (a whale, a robin): the share of each file's 1-s segments
  heard as speech, and the file-level agreement (speech when at least half is).

Sections that need espeak-ng or the shared data print why they are skipped.
"""

from __future__ import annotations

import json
import os
import platform
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ops.atomic import atomic_open
from ops.settings import REPO_ROOT

T = TypeVar("T")
RESULTS = Path(__file__).resolve().parent / "results"
EXAMPLES_DIR = REPO_ROOT.parent / "shared" / "data" / "music" / "librosa_examples"
SPEECH_CLIPS = "_non_music"
THREADS = 2
KOREAN_SPEED = 150
ENGLISH = (
    "please open the door and turn on the light",
    "the quick brown fox jumps over the lazy dog",
    "the weather will be sunny tomorrow morning",
    "she sells sea shells by the sea shore",
    "we will meet at the train station at noon",
    "my favorite film was made in nineteen eighty four",
    "the orchestra played a waltz after the interval",
    "turn left at the next corner and walk straight ahead",
    "the children are reading books in the library",
    "a cup of hot coffee costs two dollars",
)
KOREAN = (
    "안녕하세요 오늘 날씨가 좋습니다",
    "저는 학교에 갑니다",
    "감사합니다",
    "내일 서울에 비가 옵니다",
    "영화가 아주 재미있었어요",
    "음악을 들으면 기분이 좋아요",
    "지하철역이 어디에 있어요",
    "저녁을 같이 먹을까요",
    "이 책은 정말 재미있습니다",
    "주말에 친구를 만났어요",
)


def _normalised(text: str) -> str:
    """Lower case, punctuation dropped."""
    return re.sub(r"[^\w' ]+", " ", text.lower()).strip()


def _timed(run: Callable[..., T], *args: Any) -> tuple[T, float]:
    """``run(*args)`` and the seconds it took."""
    started = time.perf_counter()
    result = run(*args)
    return result, time.perf_counter() - started


def synthesised(
    language: str, sentences: tuple[str, ...], voice: str, speed: int
) -> dict[str, Any]:
    """Speak each sentence, transcribe it, and score the transcripts against the text."""
    import jiwer
    import soundfile

    from ops.speech.transcribe import Transcriber
    from tests.ops.speech.synth import espeak_missing, speak

    reason = espeak_missing()
    if reason:
        print(f"skipped synthesised {language}: {reason}")
        return {}
    transcriber = Transcriber(language)
    vocabulary = sorted({word for sentence in sentences for word in sentence.split()})
    constrained = Transcriber(language, phrases=vocabulary)
    heard, given, seconds, audio_s = [], [], 0.0, 0.0
    with tempfile.TemporaryDirectory() as folder:
        for number, sentence in enumerate(sentences):
            path = Path(folder) / f"{number:02d}.wav"
            speak(sentence, path, name=voice, speed=speed, lead_s=0.5, tail_s=0.5)
            audio_s += soundfile.info(path).duration
            transcript, spent = _timed(transcriber.transcribe_file, path)
            seconds += spent
            heard.append(" ".join(word.word for word in transcript.words))
            given.append(" ".join(w.word for w in constrained.transcribe_file(path).words))
            print(f"  {sentence!r} -> {heard[-1]!r}", flush=True)
    references = [_normalised(sentence) for sentence in sentences]
    row: dict[str, Any] = {
        "language": language,
        "sentences": len(sentences),
        "audio_s": round(audio_s, 1),
        "wer": round(jiwer.wer(references, [_normalised(h) for h in heard]), 4),
        "wer_vocabulary_given": round(jiwer.wer(references, [_normalised(g) for g in given]), 4),
        "real_time_factor": round(seconds / audio_s, 3),
        "transcripts": heard,
    }
    if language == "ko":
        squeezed = [reference.replace(" ", "") for reference in references]
        row["cer"] = round(jiwer.cer(squeezed, [h.replace(" ", "") for h in heard]), 4)
        row["cer_vocabulary_given"] = round(
            jiwer.cer(squeezed, [g.replace(" ", "") for g in given]), 4
        )
    return row


def read_speech() -> list[dict[str, Any]]:
    """Transcripts of the LibriSpeech readings, with the real-time factor."""
    from ops.genre.audio import load_audio
    from ops.speech.transcribe import Transcriber
    from ops.speech.vad import SAMPLE_RATE

    folder = EXAMPLES_DIR / SPEECH_CLIPS
    clips = sorted(folder.glob("librispeech_*")) if folder.is_dir() else []
    if not clips:
        print(f"skipped read speech: no LibriSpeech clips in {folder} (shared data absent)")
        return []
    transcriber = Transcriber("en")
    rows = []
    for clip in clips:
        audio_s = load_audio(clip, SAMPLE_RATE).size / SAMPLE_RATE
        transcript, seconds = _timed(transcriber.transcribe_file, clip)
        text = " ".join(segment.text for segment in transcript.segments)
        rows.append(
            {
                "file": clip.name,
                "audio_s": round(audio_s, 1),
                "segments": len(transcript.segments),
                "words": len(transcript.words),
                "real_time_factor": round(seconds / audio_s, 3),
                "transcript": text,
            }
        )
        print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    return rows


def voice_activity() -> dict[str, Any]:
    """Speech share per file: the speech clips against music and nature sounds."""
    from ops.genre.audio import load_audio
    from ops.speech.vad import SAMPLE_RATE, segment_count, speech_segments, speech_spans

    if not EXAMPLES_DIR.is_dir():
        print(f"skipped voice activity: {EXAMPLES_DIR} not found (shared data absent)")
        return {}
    files = sorted(
        path for path in EXAMPLES_DIR.glob("*/*.ogg") if path.parent.name != "attribution"
    )
    rows: list[dict[str, Any]] = []
    seconds = audio_total = 0.0
    for path in files:
        audio = load_audio(path, SAMPLE_RATE)
        duration = audio.size / SAMPLE_RATE
        spans, spent = _timed(speech_spans, audio)
        seconds += spent
        audio_total += duration
        segments = segment_count(duration)
        share = len(speech_segments(spans, duration)) / max(segments, 1)
        truth = (
            "speech"
            if path.name.startswith("librispeech")
            else ("nature" if path.parent.name == SPEECH_CLIPS else "music")
        )
        rows.append(
            {
                "file": path.name,
                "truth": truth,
                "segments": segments,
                "speech_share": round(share, 4),
                "agrees": (share >= 0.5) == (truth == "speech"),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    speech_rows = [row for row in rows if row["truth"] == "speech"]
    other_rows = [row for row in rows if row["truth"] != "speech"]
    return {
        "files": rows,
        "file_agreement": round(sum(row["agrees"] for row in rows) / len(rows), 4),
        "speech_segments_heard_as_speech": _weighted(speech_rows),
        "other_segments_heard_as_speech": _weighted(other_rows),
        "real_time_factor": round(seconds / audio_total, 4),
    }


def _weighted(rows: list[dict[str, Any]]) -> float:
    """The share of all these files' segments heard as speech."""
    total = sum(row["segments"] for row in rows)
    return round(sum(row["speech_share"] * row["segments"] for row in rows) / max(total, 1), 4)


def main() -> None:
    import torch

    from tests.ops.speech.synth import ENGLISH_SPEED, ENGLISH_VOICE

    torch.set_num_threads(THREADS)
    os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))
    print("English, synthesised:")
    english = synthesised("en", ENGLISH, ENGLISH_VOICE, ENGLISH_SPEED)
    print(json.dumps({k: v for k, v in english.items() if k != "transcripts"}), flush=True)
    print("English, read speech (LibriSpeech, no reference text):")
    librispeech = read_speech()
    print("Korean, synthesised:")
    korean = synthesised("ko", KOREAN, "ko", KOREAN_SPEED)
    print(json.dumps({k: v for k, v in korean.items() if k != "transcripts"}), flush=True)
    print("voice activity:")
    vad = voice_activity()
    print(json.dumps({k: v for k, v in vad.items() if k != "files"}), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    with atomic_open(RESULTS / "speech.json") as handle:
        json.dump(
            {
                "machine": {
                    "python": platform.python_version(),
                    "cpus": len(os.sched_getaffinity(0)),
                    "threads": THREADS,
                },
                "english_synthesised": english,
                "english_read_speech": librispeech,
                "korean_synthesised": korean,
                "voice_activity": vad,
            },
            handle,
            indent=2,
            ensure_ascii=False,
        )
    print(f"wrote {RESULTS / 'speech.json'}")


if __name__ == "__main__":
    main()
