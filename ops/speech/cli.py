"""``cinescope speech transcribe|detect|register``.

``speech_app`` is mounted as the ``speech`` group of the ``cinescope`` CLI. Heavy imports
(torch, the engines, MLflow) happen inside the commands, so ``--help`` stays fast. Errors
go to stderr, so with ``--json`` stdout holds only the answer; a file that cannot be read
exits with 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ops.console import AsJson, console, fail, stats_table
from ops.settings import get_settings

speech_app = typer.Typer(
    help="Speech: where it is (voice activity) and what is said (time-coded transcripts).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

Language = Annotated[
    str | None,
    typer.Option(
        "--lang",
        metavar="CODE",
        help="language code: en, ko, or one added with CINESCOPE_SPEECH_LANGUAGES "
        "(default: CINESCOPE_SPEECH_DEFAULT_LANGUAGE, else en)",
    ),
]
MediaFile = Annotated[Path, typer.Argument(help="an audio or video file")]


@speech_app.command("transcribe")
def transcribe(file: MediaFile, lang: Language = None, as_json: AsJson = False) -> None:
    """The speech of FILE as text: segments (speech spans) and every word with its time."""
    from ops.genre.audio import UnreadableAudio
    from ops.speech.params import RecognizerUnavailable, UnknownLanguage
    from ops.speech.transcribe import Transcriber

    if not file.is_file():
        fail(f"{file} is not a file", 2)
    try:
        transcript = Transcriber(lang).transcribe_file(file)
    except (UnreadableAudio, UnknownLanguage) as error:
        fail(str(error), 2)
    except RecognizerUnavailable as error:
        fail(str(error))
    if as_json:
        print(transcript.model_dump_json(indent=2))
        return
    table = Table(
        title=f"{file.name}: {len(transcript.words)} words ({transcript.language})",
        title_justify="left",
    )
    for column in ("start", "end", "text"):
        table.add_column(column, justify="left" if column == "text" else "right")
    for segment in transcript.segments:
        table.add_row(f"{segment.start_s:.2f}", f"{segment.end_s:.2f}", segment.text)
    console.print(table)


@speech_app.command("detect")
def detect(file: MediaFile, as_json: AsJson = False) -> None:
    """Where FILE has speech: voice-activity spans, the 1-s segments they make speech, and
    the shares of speech, music and other sound."""
    from ops.genre.audio import UnreadableAudio
    from ops.speech.vad import detect_speech

    if not file.is_file():
        fail(f"{file} is not a file", 2)
    try:
        activity = detect_speech(file)
    except UnreadableAudio as error:
        fail(str(error), 2)
    if as_json:
        print(activity.model_dump_json(indent=2))
        return
    shares = activity.shares
    summary = {
        "duration": f"{activity.duration_s:.1f} s",
        "speech spans": len(activity.spans),
        "speech segments (1 s)": len(activity.segments),
        "speech / music / other": f"{shares.speech:.0%} / {shares.music:.0%} / {shares.other:.0%}",
    }
    console.print(stats_table(file.name, summary))
    for span in activity.spans:
        console.print(f"  speech {span.start_s:8.2f} - {span.end_s:8.2f} s")


@speech_app.command("register")
def register(lang: Language = None) -> None:
    """Register the language's pretrained recogniser in MLflow as ``speech-<lang>`` (once
    per installed model; a changed model or setting makes a new version)."""
    from ops.speech.params import RecognizerUnavailable, UnknownLanguage
    from ops.speech.tracking import ensure_speech_model

    try:
        name, version = ensure_speech_model(get_settings().tracking_uri, lang)
    except UnknownLanguage as error:
        fail(str(error), 2)
    except RecognizerUnavailable as error:
        fail(str(error))
    console.print(f"{name} version {version} (pretrained)")
