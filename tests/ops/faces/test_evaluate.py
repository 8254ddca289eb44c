"""``cinescope faces evaluate DIR --json`` on real faces (the exact interface)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ops.cli import app

runner = CliRunner()
KEYS = {
    "algorithm",
    "images",
    "faces_detected",
    "identities",
    "clusters",
    "purity",
    "compactness",
    "pairwise_f",
    "bcubed_f",
}


@pytest.fixture
def identities(shared_data: Path, tmp_path: Path) -> Path:
    """Three ORL identities of three pictures, a broken file and one group photo."""
    folder = tmp_path / "people"
    for person in ("s1", "s2", "s3"):
        (folder / person).mkdir(parents=True)
        for number in (1, 3, 4):
            source = shared_data / "faces" / "orl_dev" / person / f"{number}.pgm"
            shutil.copy(source, folder / person / f"{number}.pgm")
    (folder / "s3" / "broken.jpg").write_bytes(b"\xff\xd8 not a picture")
    (folder / "_multi").mkdir()
    group = shared_data / "faces" / "color_people" / "_multi" / "obama_and_biden.jpg"
    shutil.copy(group, folder / "_multi" / group.name)
    return folder


def test_each_algorithm_prints_one_json_line_with_the_agreed_keys(identities: Path) -> None:
    result = runner.invoke(app, ["faces", "evaluate", str(identities), "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["algorithm"] for line in lines] == ["chinese_whispers", "agglomerative"]
    for line in lines:
        assert set(line) >= KEYS
        assert line["images"] == 9 and line["identities"] == 3
        assert line["faces_detected"] <= 9
        assert line["purity"] == 1.0
        assert line["compactness"] == round(line["clusters"] / 9, 4)
        assert line["unreadable"] == {"s3/broken.jpg": line["unreadable"]["s3/broken.jpg"]}
        # Biden, Obama and, in the lower right, a girl: three faces, checked by eye
        assert line["group_photos"] == {"_multi/obama_and_biden.jpg": 3}


def test_one_algorithm_can_be_asked_for(identities: Path) -> None:
    result = runner.invoke(
        app, ["faces", "evaluate", str(identities), "--algorithm", "agglomerative", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["algorithm"] for line in result.stdout.splitlines()] == [
        "agglomerative"
    ]


def test_bad_arguments_are_refused_with_the_reason(tmp_path: Path) -> None:
    unknown = runner.invoke(app, ["faces", "evaluate", str(tmp_path), "--algorithm", "kmeans"])
    assert unknown.exit_code == 2 and "unknown algorithm kmeans" in unknown.stderr
    missing = runner.invoke(app, ["faces", "evaluate", str(tmp_path / "nope"), "--json"])
    assert missing.exit_code == 2 and "is not a folder" in missing.stderr
    empty = runner.invoke(app, ["faces", "evaluate", str(tmp_path), "--json"])
    assert empty.exit_code == 2 and "holds no pictures" in empty.stderr
