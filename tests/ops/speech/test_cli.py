"""``cinescope speech``: the JSON answers' exact shape, and clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ops.speech.cli import speech_app
from tests.ops.speech.conftest import ENGLISH
from tests.ops.speech.synth import Spoken

runner = CliRunner()


def test_transcribe_prints_segments_and_words(english: Spoken) -> None:
    result = runner.invoke(speech_app, ["transcribe", str(english.path), "--lang", "en", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert set(answer) == {"language", "segments", "words"}
    assert answer["language"] == "en"
    assert [set(segment) for segment in answer["segments"]] == [{"start_s", "end_s", "text"}]
    assert answer["words"] and all(set(w) == {"word", "start_s", "end_s"} for w in answer["words"])
    assert {w["word"] for w in answer["words"]} & set(ENGLISH.split())
    assert all(isinstance(w["start_s"], float) for w in answer["words"])


def test_transcribe_as_a_table(english: Spoken) -> None:
    result = runner.invoke(speech_app, ["transcribe", str(english.path)])
    assert result.exit_code == 0, result.output
    assert "words (en)" in result.stdout and "door" in result.stdout


def test_detect_prints_spans_segments_and_shares(english: Spoken) -> None:
    result = runner.invoke(speech_app, ["detect", str(english.path), "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert set(answer) == {"duration_s", "spans", "segments", "shares"}
    assert set(answer["shares"]) == {"speech", "music", "other"}
    assert len(answer["spans"]) == 1 and answer["segments"]


def test_unreadable_files_and_unknown_languages_exit_2(tmp_path: Path, english: Spoken) -> None:
    broken = tmp_path / "broken.ogg"
    broken.write_bytes(b"OggS but not really")
    for arguments in (
        ["transcribe", str(broken), "--json"],
        ["detect", str(broken), "--json"],
        ["transcribe", str(tmp_path / "missing.wav")],
        ["transcribe", str(english.path), "--lang", "xx"],
    ):
        result = runner.invoke(speech_app, arguments)
        assert result.exit_code == 2, (arguments, result.output)
        assert result.stdout == ""  # the reason goes to stderr
        assert result.stderr.strip()
    assert "broken.ogg" in runner.invoke(speech_app, ["transcribe", str(broken)]).stderr
