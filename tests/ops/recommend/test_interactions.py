"""Reading interactions CSVs: bad rows refused with line and reason, the rest kept."""

from __future__ import annotations

import csv
import datetime as dt
import logging
from pathlib import Path

import pytest

from ops.recommend.interactions import (
    EVENT_WEIGHTS,
    INTERACTION_COLUMNS,
    InteractionsError,
    read_interactions,
)

CATALOG = {"film-a", "film-b", "track-c"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "interactions.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_rows_are_read_with_weights_and_utc_times(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "time,event,item,user,device\n"  # any column order; extra columns ignored
        "2024-05-01T10:00:00+02:00,view,film-a,ann,tv\n"
        "2024-05-01 09:00:00,LIKE,film-b,ann,phone\n"  # no zone: UTC; event case-insensitive
        "1714557600,complete,track-c,bob,web\n",  # Unix seconds
    )
    result = read_interactions(path, CATALOG, refused_path=tmp_path / "refused.csv")
    frame = result.frame
    assert list(frame.columns) == list(INTERACTION_COLUMNS)
    assert frame["event"].tolist() == ["view", "like", "complete"]
    assert frame["weight"].tolist() == [EVENT_WEIGHTS[e] for e in ("view", "like", "complete")]
    assert frame["time"].tolist() == [
        dt.datetime(2024, 5, 1, 8, tzinfo=dt.UTC),
        dt.datetime(2024, 5, 1, 9, tzinfo=dt.UTC),
        dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC),
    ]
    assert result.refused == ()
    assert result.refused_path is None
    assert not (tmp_path / "refused.csv").exists()


def test_malformed_rows_are_refused_with_line_numbers_and_the_rest_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(
        tmp_path,
        "user,item,event,time\n"
        "ann,film-a,view,2024-05-01T10:00:00Z\n"  # line 2: fine
        ",film-a,view,2024-05-01T10:00:00Z\n"  # 3: missing user
        "ann,film-b,dance,2024-05-01T10:00:00Z\n"  # 4: unknown event
        "ann,film-b,view,yesterday\n"  # 5: unparsable time
        "ann,film-z,view,2024-05-01T10:00:00Z\n"  # 6: not in the catalog
        "\n"  # 7: blank, skipped
        "bob,film-b,like\n"  # 8: too few fields
        "bob,film-b,like,2024-05-02T00:00:00Z\n",  # 9: fine
    )
    refused_path = tmp_path / "out" / "refused.csv"
    with caplog.at_level(logging.WARNING):
        result = read_interactions(path, CATALOG, refused_path=refused_path)
    assert result.frame[["user", "item"]].values.tolist() == [["ann", "film-a"], ["bob", "film-b"]]
    reasons = {row.line: row.reason for row in result.refused}
    assert reasons == {
        3: "missing user",
        4: "unknown event 'dance' (accepted: view, like, complete, purchase)",
        5: "unparsable time 'yesterday' (expected ISO 8601 or Unix seconds)",
        6: "item 'film-z' is not an ok catalog item",
        8: "missing time",
    }
    assert result.refused_path == refused_path
    with open(refused_path, newline="", encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert [(int(r["line"]), r["reason"]) for r in written] == sorted(reasons.items())
    assert written[0]["row"] == ",film-a,view,2024-05-01T10:00:00Z"
    logged = caplog.text
    assert "line 6 refused: item 'film-z' is not an ok catalog item" in logged
    assert "5 row(s) refused" in logged


def test_a_file_with_no_valid_row_is_an_error_naming_the_refusals(tmp_path: Path) -> None:
    path = write(tmp_path, "user,item,event,time\nann,film-z,view,2024-05-01\n")
    refused = tmp_path / "refused.csv"
    with pytest.raises(InteractionsError, match=r"no valid interaction rows \(1 refused"):
        read_interactions(path, CATALOG, refused_path=refused)
    assert "film-z" in refused.read_text()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("user,item,when\nann,film-a,2024-05-01\n", r"lacks column\(s\) \['event', 'time'\]"),
        ("user,item,event,time\n", r"no valid interaction rows \(0 refused, the file has no"),
    ],
    ids=["empty", "bad-header", "header-only"],
)
def test_unusable_files_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InteractionsError, match=message):
        read_interactions(write(tmp_path, text), CATALOG, refused_path=tmp_path / "r.csv")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InteractionsError, match="not found"):
        read_interactions(tmp_path / "nope.csv", CATALOG, refused_path=tmp_path / "r.csv")
