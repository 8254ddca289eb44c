"""``cinescope ocr FILE``: the text on a picture or in a video.

:func:`ocr` is mounted as a top-level command of the ``cinescope`` CLI
(``app.command("ocr")(ocr)``); ``ocr_app`` runs it on its own. Heavy imports (onnxruntime,
PyAV) happen inside the command, so ``--help`` stays fast. Errors go to stderr, so with
``--json`` stdout holds only the answer; a file that cannot be read exits with 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ops.console import AsJson, console, fail


def ocr(
    file: Annotated[Path, typer.Argument(help="a picture or a video")],
    engine: Annotated[
        str,
        typer.Option(
            metavar="NAME",
            help="rapidocr (Chinese and Latin script) or tesseract (needs the system's "
            "tesseract and its language data: Korean with tesseract-ocr-kor)",
        ),
    ] = "rapidocr",
    sampling: Annotated[
        str,
        typer.Option(
            metavar="HOW", help="video frames read: interval (one a second) or shots (keyframes)"
        ),
    ] = "interval",
    as_json: AsJson = False,
) -> None:
    """Text boxes of FILE with their position and confidence; in a video, each caption
    once with the time it is on screen."""
    from pydantic import ValidationError

    from ops.ocr.params import OcrSettings
    from ops.ocr.read import UnreadableMedia, read_file
    from ops.ocr.readers import ReaderUnavailable

    if not file.is_file():
        fail(f"{file} is not a file", 2)
    try:
        settings = OcrSettings.model_validate({"engine": engine, "sampling": sampling})
    except ValidationError as error:
        problems = "; ".join(f"--{e['loc'][0]}: {e['msg']}" for e in error.errors())
        fail(f"invalid option ({problems})", 2)
    try:
        result = read_file(file, settings)
    except UnreadableMedia as error:
        fail(str(error), 2)
    except ReaderUnavailable as error:
        fail(str(error))
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    table = Table(title=f"{file.name}: {len(result.boxes)} text boxes", title_justify="left")
    for column in ("time", "text", "confidence", "box"):
        table.add_column(column, justify="left" if column == "text" else "right")
    for box in result.boxes:
        when = "-" if box.time_s is None else f"{box.time_s:.1f}-{box.end_s:.1f}s"
        table.add_row(when, box.text, f"{box.confidence:.2f}", " ".join(map(str, box.box)))
    console.print(table)


ocr_app = typer.Typer(rich_markup_mode=None)
ocr_app.command()(ocr)
