"""``cinescope ocr``: the JSON answer's exact shape, and clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from ops.ocr.cli import ocr_app
from tests.ops.ocr.synth import backdrop, caption, captioned_video

runner = CliRunner()
BOX_KEYS = {"time_s", "end_s", "text", "confidence", "box"}


def test_a_picture(tmp_path: Path) -> None:
    path = tmp_path / "poster.jpg"
    Image.fromarray(caption(backdrop(), "Now showing")[0]).save(path, quality=95)
    result = runner.invoke(ocr_app, [str(path), "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert set(answer) == {"boxes"}
    (box,) = answer["boxes"]
    assert set(box) == BOX_KEYS
    assert box["time_s"] is None and box["text"] == "Now showing"
    assert isinstance(box["confidence"], float)
    assert len(box["box"]) == 4 and all(isinstance(v, int) for v in box["box"])


def test_a_video_and_its_table(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    captioned_video(path, "The end", shown=(1.0, 2.0), seconds=3.0)
    result = runner.invoke(ocr_app, [str(path), "--json"])
    assert result.exit_code == 0, result.output
    boxes = json.loads(result.stdout)["boxes"]
    assert [(b["text"], b["time_s"], b["end_s"]) for b in boxes] == [("The end", 1.0, 2.0)]
    table = runner.invoke(ocr_app, [str(path), "--sampling", "shots"])
    assert table.exit_code == 0, table.output
    assert "The end" in table.stdout


def test_unreadable_files_and_bad_options_exit_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    for arguments in (
        [str(broken), "--json"],
        [str(tmp_path / "missing.mp4")],
        [str(broken), "--engine", "nonsense"],
    ):
        result = runner.invoke(ocr_app, arguments)
        assert result.exit_code == 2, (arguments, result.output)
        assert result.stdout == "" and result.stderr.strip()
    assert "broken.png" in runner.invoke(ocr_app, [str(broken)]).stderr
