"""Annotation files through the real Great Expectations suite, and into the real registry."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from ops.datasets.registry import DataRegistry
from ops.scene.labels import (
    AnnotationError,
    matching_version,
    read_annotations,
    version_labels,
)
from ops.settings import REPO_ROOT, Settings

HEADER = "item_id,start_s,end_s,label"
GOOD = "film-a,10,14,kiss"
LABELS = ("kiss", "fight")
DURATIONS = {"film-a": 60.0, "film-b": 30.0}


def annotation_file(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "annotations.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


@pytest.mark.parametrize(
    ("bad_row", "reason"),
    [
        (",1,3,kiss", "missing item_id"),
        ("film-a,1,3,", "missing label"),
        ("film-a,,3,kiss", "missing start_s"),
        ("film-a,1,,kiss", "missing end_s"),
        ("film-a,-2,3,kiss", "start_s is negative: -2"),
        ("film-a,5,5,kiss", "end_s 5 is not after start_s 5"),
        ("film-a,8,3,kiss", "end_s 3 is not after start_s 8"),
        ("film-b,20,31.5,kiss", "end_s 31.5 is past the end of film-b (30 s)"),
        ("film-a,1,3,hug", "unknown label hug (known: fight, kiss)"),
        (GOOD, "exact duplicate of line 2"),
        ("film-a,12,20,kiss", "overlaps the kiss annotation on line 2"),
    ],
)
def test_each_rule_refuses_the_bad_row_with_its_reason_and_keeps_the_good_one(
    tmp_path: Path, bad_row: str, reason: str
) -> None:
    path = annotation_file(tmp_path, GOOD, bad_row)

    check = read_annotations(path, known_labels=LABELS, durations=DURATIONS)

    assert check.valid.to_dict("records") == [
        {"item_id": "film-a", "start_s": 10.0, "end_s": 14.0, "label": "kiss"}
    ]
    assert check.refused["line"].tolist() == [3]
    assert check.refused["reason"].tolist() == [reason]
    assert check.report["rows"] == 2 and check.report["refused"] == 1
    assert not check.report["success"]


def test_good_rows_pass_every_check(tmp_path: Path) -> None:
    path = annotation_file(
        tmp_path,
        GOOD,
        "film-a,14,18,kiss",  # touches the previous scene: not an overlap
        "film-a,12,16,fight",  # overlaps, but another label
        "film-b,0,30,kiss",  # ends exactly at the end of the item
        "film-c,100,120,kiss",  # duration unknown: not checked
    )

    check = read_annotations(path, known_labels=LABELS, durations=DURATIONS)

    assert len(check.valid) == 5 and check.refused.empty
    assert check.report["success"] and check.report["valid"] == 5
    assert all(entry["success"] for entry in check.report["checks"])


def test_without_vocabulary_or_durations_only_the_row_rules_apply(tmp_path: Path) -> None:
    path = annotation_file(tmp_path, GOOD, "film-b,20,500,anything")

    check = read_annotations(path, known_labels=None, durations=None)

    assert len(check.valid) == 2


def test_a_row_can_be_refused_for_several_reasons(tmp_path: Path) -> None:
    path = annotation_file(tmp_path, GOOD, "film-a,-3,-5,hug")

    check = read_annotations(path, known_labels=LABELS, durations=DURATIONS)

    reasons = check.refused.loc[0, "reason"].split("; ")
    assert sorted(reasons) == sorted(
        [
            "start_s is negative: -3",
            "end_s -5 is not after start_s -3",
            "unknown label hug (known: fight, kiss)",
        ]
    )


def test_a_file_whose_every_row_fails_is_refused(tmp_path: Path) -> None:
    path = annotation_file(tmp_path, "film-a,5,1,kiss", ",1,2,kiss")

    with pytest.raises(AnnotationError, match=r"all 2 rows refused.*line 2: end_s 1 is not"):
        read_annotations(path, known_labels=LABELS, durations=DURATIONS)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"item_id,start_s,label\nfilm-a,1,kiss\n", r"line 1: missing column\(s\) end_s"),
        (b"", r"line 1: missing column\(s\) item_id, start_s, end_s, label"),
        (f"{HEADER}\n".encode(), "no annotation rows"),
        (f"{HEADER}\n{GOOD}\nfilm-a,1,2,kiss,extra\n".encode(), "line 3: expected 4 fields, got 5"),
        (f"{HEADER}\nfilm-a,ten,12,kiss\n".encode(), "line 2: start_s is not a number: 'ten'"),
        (f"{HEADER}\nfilm-a,1,inf,kiss\n".encode(), "line 2: end_s is not finite"),
        (f"{HEADER}\n{GOOD}\nfilm-a,1,2\x00,kiss\n".encode(), "line 3: not a text CSV file"),
        (b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x00", "not a text CSV file"),
        (f'{HEADER}\nfilm-a,1,2,"kiss\n'.encode(), "line 2: not valid CSV"),
        (b"item_id,start_s,end_s,label,label\nfilm-a,1,2,kiss,kiss\n", "repeated column"),
    ],
)
def test_a_malformed_file_is_refused_whole_naming_the_problem(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "annotations.csv"
    path.write_bytes(content)

    with pytest.raises(AnnotationError, match=message):
        read_annotations(path, known_labels=LABELS, durations=DURATIONS)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AnnotationError, match="no such annotation file"):
        read_annotations(tmp_path / "nope.csv")


def test_validation_keeps_great_expectations_quiet_and_leaves_logging_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = annotation_file(tmp_path, GOOD)
    gx_logger = logging.getLogger("great_expectations")
    level_before = gx_logger.level

    with caplog.at_level(logging.INFO):
        read_annotations(path, known_labels=LABELS, durations=DURATIONS)

    assert not [r for r in caplog.records if r.name.startswith("great_expectations")]
    assert gx_logger.level == level_before


def test_importing_the_module_does_not_import_great_expectations() -> None:
    probe = "import sys, ops.scene.labels; print('great_expectations' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"


def test_version_labels_commits_the_folder_and_skips_an_unchanged_one(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    folder = tmp_path / "dataset"
    (folder / "clips").mkdir(parents=True)
    (folder / "annotations.csv").write_text(f"{HEADER}\n{GOOD}\n")
    (folder / "media.csv").write_text("item_id,path,title\nfilm-a,clips/film-a.mp4,Film A\n")
    (folder / "clips" / "film-a.mp4").write_bytes(b"not really a film")

    first = version_labels(folder, settings)
    unchanged = version_labels(folder, settings)

    assert first is not None and first.tag == "labels/scene/v1"
    assert first.metadata["annotations"] == 1 and first.metadata["files"] == 3
    assert unchanged is None
    assert matching_version(folder, settings) == first
    restored = DataRegistry.from_settings(settings).restore(first.tag, tmp_path / "restored")
    assert (restored / "clips" / "film-a.mp4").read_bytes() == b"not really a film"

    (folder / "annotations.csv").write_text(f"{HEADER}\n{GOOD}\nfilm-a,20,25,kiss\n")
    assert matching_version(folder, settings) is None
    second = version_labels(folder, settings)
    assert second is not None and second.tag == "labels/scene/v2"


def test_version_labels_needs_annotations_and_a_media_list(tmp_path: Path) -> None:
    (tmp_path / "annotations.csv").write_text(f"{HEADER}\n{GOOD}\n")

    with pytest.raises(FileNotFoundError, match=r"no media\.csv"):
        version_labels(tmp_path, Settings(home=tmp_path / "home"))


def test_version_labels_refuses_a_malformed_annotation_file(tmp_path: Path) -> None:
    (tmp_path / "annotations.csv").write_text("item_id,start\nfilm-a,1\n")
    (tmp_path / "media.csv").write_text("item_id,path,title\n")

    with pytest.raises(AnnotationError, match="missing column"):
        version_labels(tmp_path, Settings(home=tmp_path / "home"))
    assert not (tmp_path / "home" / "registry").exists()
