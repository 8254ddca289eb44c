"""Transcripts of synthesised speech: the right words at about the right times."""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import soundfile

from ops.genre.audio import UnreadableAudio
from ops.sample_site.media import mux
from ops.speech.transcribe import Transcriber
from ops.speech.vad import Span
from tests.ops.speech.conftest import ENGLISH
from tests.ops.speech.synth import RATE, Spoken

HANGUL = re.compile(r"[\uac00-\ud7a3]")


def test_english_is_transcribed_with_word_times(english: Spoken) -> None:
    transcript = Transcriber("en").transcribe_file(english.path)
    assert transcript.language == "en"
    heard = [word.word for word in transcript.words]
    wanted = ENGLISH.split()
    assert len(set(heard) & set(wanted)) >= len(wanted) - 2, heard
    assert len(transcript.segments) == 1
    segment = transcript.segments[0]
    assert segment.text == " ".join(heard)
    assert english.start_s - 0.3 <= segment.start_s <= english.start_s + 0.1
    assert english.end_s - 0.1 <= segment.end_s <= english.end_s + 0.4
    words = transcript.words
    assert abs(words[0].start_s - english.start_s) < 0.3  # "please" starts with the voice
    assert abs(words[-1].end_s - english.end_s) < 0.3  # "light" ends with it
    assert all(a.end_s <= b.start_s + 1e-6 for a, b in pairwise(words))
    assert all(word.start_s < word.end_s for word in words)
    door = next(word for word in words if word.word == "door")
    # the voice reads at a steady pace: "door" is the fourth of nine words
    assert (
        english.start_s + 0.2
        < door.start_s
        < english.start_s + 0.5 * (english.end_s - english.start_s)
    )


def test_korean_goes_through_vosk(korean: Spoken) -> None:
    free = Transcriber("ko").transcribe_file(korean.path)
    assert free.language == "ko"
    assert free.words, "the Korean model heard nothing"
    assert all(HANGUL.search(word.word) for word in free.words), free.words
    assert all(
        korean.start_s - 0.3 <= w.start_s < w.end_s <= korean.end_s + 0.4 for w in free.words
    )
    # espeak-ng's Korean voice is far from the small model's training speech; with the
    # vocabulary known, the words and their order come out right
    phrases = ("안녕하세요", "감사합니다", "서울", "음악", "학교", "영화")
    known = Transcriber("ko", phrases=phrases).transcribe_file(korean.path)
    assert [word.word for word in known.words] == ["안녕하세요", "감사합니다"]
    hello, thanks = known.words
    assert korean.start_s - 0.3 <= hello.start_s < hello.end_s <= thanks.start_s + 0.05
    assert thanks.end_s <= korean.end_s + 0.4


def test_silence_and_a_tone_give_no_words(tmp_path: Path) -> None:
    seconds = np.arange(3 * RATE) / RATE
    audio = np.concatenate([np.zeros(RATE), 0.3 * np.sin(2 * np.pi * 440 * seconds)])
    path = tmp_path / "tone.wav"
    soundfile.write(path, audio.astype(np.float32), RATE)
    transcript = Transcriber("en").transcribe_file(path)
    assert transcript.segments == [] and transcript.words == []


def test_given_spans_are_the_only_ones_read(english: Spoken) -> None:
    from ops.genre.audio import load_audio

    audio = load_audio(english.path, 16_000)
    transcriber = Transcriber("en")
    assert transcriber.transcribe(audio, spans=[]).words == []
    head = transcriber.transcribe(audio, spans=[Span(start_s=0.0, end_s=english.start_s)])
    assert head.words == []  # the silence before the voice


def test_a_video_without_sound_has_an_empty_transcript(tmp_path: Path) -> None:
    frames = [np.full((64, 64, 3), 90, np.uint8)] * 12
    path = tmp_path / "silent.mp4"
    path.write_bytes(mux("mp4", frames, size=(64, 64)))
    assert Transcriber("en").transcribe_file(path).words == []


def test_a_corrupt_file_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "broken.mp3"
    path.write_bytes(b"ID3 this is not audio")
    with pytest.raises(UnreadableAudio, match=r"broken\.mp3"):
        Transcriber("en").transcribe_file(path)


def test_a_video_soundtrack_is_transcribed(english: Spoken, tmp_path: Path) -> None:
    samples, _ = soundfile.read(english.path, dtype="float32")
    frames = [np.full((64, 64, 3), 90, np.uint8)] * round(samples.size / RATE * 12)
    path = tmp_path / "talk.mp4"
    path.write_bytes(mux("mp4", frames, size=(64, 64), audio=samples))
    heard = {word.word for word in Transcriber("en").transcribe_file(path).words}
    assert len(heard & set(ENGLISH.split())) >= 5, heard


def test_a_long_file_is_read_in_chunks_and_speech_across_a_chunk_end_is_kept_whole(
    english: Spoken, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ops.speech.transcribe as transcribe

    whole = Transcriber("en").transcribe_file(english.path)
    # the sentence runs across the end of the first chunk: it is carried into the second
    # (the voice detector, seeing less audio at once, may place the span a little apart)
    for chunk_s in (english.start_s + 0.8, english.start_s / 2):
        monkeypatch.setattr(transcribe, "CHUNK_S", chunk_s)
        chunked = Transcriber("en").transcribe_file(english.path)
        assert len(chunked.segments) == 1
        assert abs(chunked.segments[0].start_s - whole.segments[0].start_s) < 0.15
        pairs = list(zip(chunked.words, whole.words, strict=True))  # one word for one
        assert sum(part.word == full.word for part, full in pairs) >= len(pairs) - 2
        assert all(abs(part.start_s - full.start_s) < 0.15 for part, full in pairs)  # file times


def test_a_files_transcript_does_not_depend_on_the_files_before_it(
    english: Spoken, tmp_path: Path
) -> None:
    from ops.sample_site.media import make_music

    music = tmp_path / "music.wav"
    music.write_bytes(make_music(1, genre="jazz", seconds=20.0, container="wav"))
    alone = Transcriber("en").transcribe_file(english.path)
    transcriber = Transcriber("en")
    transcriber.transcribe_file(music)
    transcriber.transcribe_file(english.path)
    assert transcriber.transcribe_file(english.path) == alone
