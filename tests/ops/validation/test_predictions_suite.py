"""Real Great Expectations runs of the predictions suite on small hand-made predictions."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from ops.catalog.schema import ITEM_SCHEMA
from ops.predictions.schema import PREDICTION_SCHEMA
from ops.validation.predictions_suite import (
    PredictionCheck,
    build_predictions_suite,
    check_predictions,
)

CREATED = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
VOCABULARY = {"scene": ["kiss", "fight", "dialogue"], "shots": ["shot"]}


def catalog_row(item_id: str, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "item_id": item_id,
        "source": "archive",
        "url": f"https://archive.example/{item_id}",
        "kind": "video",
        "duration_s": 10.0,
        "status": "ok",
    }
    row.update(changes)
    return row


CATALOG = pa.Table.from_pylist(
    [
        catalog_row("film"),
        catalog_row("banned", status="quarantined"),
        catalog_row("poster", kind="image", duration_s=None),
    ],
    schema=ITEM_SCHEMA,
).to_pandas()


def prediction(**changes: object) -> dict[str, object]:
    """A healthy scene segment prediction of ``film``; ``changes`` break one thing."""
    row: dict[str, object] = {
        "item_id": "film",
        "start_s": 3.0,
        "end_s": 4.0,
        "task": "scene",
        "label": "kiss",
        "score": 0.8,
        "model_name": "scene",
        "model_version": "7",
        "dataset_rev": "a1b2c3",
        "created_at": CREATED,
    }
    row.update(changes)
    return row


def frame_of(*rows: dict[str, object]) -> pd.DataFrame:
    return pa.Table.from_pylist(list(rows), schema=PREDICTION_SCHEMA).to_pandas()


GOOD = [
    prediction(),
    prediction(start_s=None, end_s=None, label="fight", score=1.0),  # whole-item row
    prediction(start_s=9.0, end_s=10.0, score=0.0),
    prediction(start_s=9.5, end_s=10.5),  # last bucket, within the tolerance
    prediction(task="shots", label="shot", start_s=0.0, end_s=6.2, score=1.0),
    prediction(item_id="poster", start_s=None, end_s=None, label="dialogue"),
]

# a bad row, the expectation that must catch it, a word its reason must contain
BAD: list[tuple[dict[str, object], str, str]] = [
    (prediction(score=1.5), "expect_column_values_to_be_between(score)", "[0, 1]"),
    (prediction(score=-0.1), "expect_column_values_to_be_between(score)", "[0, 1]"),
    (prediction(score=None), "expect_column_values_to_not_be_null(score)", "missing score"),
    (prediction(start_s=-1.0), "expect_column_values_to_be_between(start_s)", "negative"),
    (
        prediction(start_s=5.0, end_s=4.0),
        "expect_column_pair_values_a_to_be_greater_than_b(end_s, start_s)",
        "start_s after end_s",
    ),
    (
        prediction(start_s=11.0, end_s=12.0),
        "expect_column_pair_values_a_to_be_greater_than_b(time_limit_s, end_s)",
        "duration",
    ),
    (prediction(end_s=None), "expect_column_values_to_not_be_null(end_s)", "start_s without"),
    (prediction(start_s=None), "expect_column_values_to_not_be_null(start_s)", "end_s without"),
    (prediction(item_id="ghost"), "expect_column_values_to_be_in_set(catalog_item)", "orphan"),
    (prediction(item_id="banned"), "expect_column_values_to_be_in_set(catalog_item)", "orphan"),
    (prediction(label="dog"), "expect_column_values_to_be_in_set(label)", "scene vocabulary"),
    (
        prediction(task="shots", label="kiss"),
        "expect_column_values_to_be_in_set(label)",
        "shots vocabulary",
    ),
    (prediction(task="faces"), "expect_column_values_to_be_in_set(task)", "unknown task"),
    (
        prediction(model_name=None),
        "expect_column_values_to_not_be_null(model_name)",
        "missing model_name",
    ),
    (
        prediction(model_version=None),
        "expect_column_values_to_not_be_null(model_version)",
        "missing model_version",
    ),
    (
        prediction(model_version=" "),
        "expect_column_values_to_match_regex(model_version)",
        "blank model_version",
    ),
    (
        prediction(dataset_rev=None),
        "expect_column_values_to_not_be_null(dataset_rev)",
        "missing dataset_rev",
    ),
]


def to_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """Bad rows break the schema's non-null fields, so build them without it."""
    return pd.DataFrame(rows, columns=PREDICTION_SCHEMA.names).astype(
        {"start_s": "float64", "end_s": "float64", "score": "float32"}
    )


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> tuple[PredictionCheck, Path]:
    """One run over the good rows followed by one row per defect."""
    reports = tmp_path_factory.mktemp("reports")
    rows = [*GOOD, *(row for row, _, _ in BAD)]
    check = check_predictions(
        to_frame(rows), CATALOG, VOCABULARY, reports_dir=reports, run_name="mixed"
    )
    return check, reports


@pytest.mark.parametrize(
    ("position", "check_name", "keyword"),
    [(len(GOOD) + n, check, word) for n, (_, check, word) in enumerate(BAD)],
    ids=[f"{n}-{check.split('(')[1].rstrip(')')}" for n, (_, check, _) in enumerate(BAD)],
)
def test_each_bad_prediction_is_caught_with_a_reason(
    mixed: tuple[PredictionCheck, Path], position: int, check_name: str, keyword: str
) -> None:
    check, _ = mixed
    failures = [f for f in check.failures if f.expectation == check_name]
    assert failures, f"{check_name} did not fail"
    caught = [f for f in failures if position in {example["row"] for example in f.examples}]
    assert len(caught) == 1
    assert keyword in caught[0].reason


def test_good_rows_are_never_blamed(mixed: tuple[PredictionCheck, Path]) -> None:
    check, _ = mixed
    assert not check.passed
    blamed = {example["row"] for failure in check.failures for example in failure.examples}
    assert blamed.isdisjoint(range(len(GOOD)))
    assert check.rows == len(GOOD) + len(BAD)
    orphans = next(f for f in check.failures if f.expectation.endswith("(catalog_item)"))
    assert orphans.count == 2
    assert {e["item_id"] for e in orphans.examples} == {"ghost", "banned"}


def test_summary_and_reports_name_the_failures(mixed: tuple[PredictionCheck, Path]) -> None:
    check, reports = mixed
    assert check.summary.startswith(f"predictions check FAILED on {len(GOOD) + len(BAD)} rows")
    assert "orphan item" in check.summary
    assert "\n" not in check.summary
    assert check.report_html == reports / "predictions" / "mixed.html"
    assert check.report_json == reports / "predictions" / "mixed.json"
    page = check.report_html.read_text()
    assert "label not in the scene vocabulary" in page
    assert "<td>ghost</td>" in page
    assert (reports / "predictions" / "latest.html").read_text() == page
    raw = json.loads(check.report_json.read_text())
    assert raw["suite_name"] == "predictions"
    assert raw["success"] is False


def test_good_predictions_pass(tmp_path: Path) -> None:
    check = check_predictions(frame_of(*GOOD), CATALOG, VOCABULARY, reports_dir=tmp_path)
    assert check.passed, check.summary
    assert check.failures == ()
    assert check.summary.startswith(f"predictions check passed: {len(GOOD)} rows")
    assert check.report_json is not None and check.report_json.is_file()
    assert "PASSED" in (tmp_path / "predictions" / "latest.html").read_text()


def test_no_predictions_pass_without_reports() -> None:
    check = check_predictions(frame_of(), CATALOG, VOCABULARY)
    assert check.passed
    assert check.rows == 0
    assert check.report_html is None and check.report_json is None


def test_a_table_without_the_prediction_columns_is_refused() -> None:
    with pytest.raises(
        ValueError, match=r"lack the PREDICTION_SCHEMA column\(s\) \['dataset_rev'\]"
    ):
        check_predictions(frame_of(*GOOD).drop(columns=["dataset_rev"]), CATALOG, VOCABULARY)


def test_suite_has_one_label_check_per_task() -> None:
    suite = build_predictions_suite(VOCABULARY, time_tolerance_s=0.5)
    label_checks = [
        e.configuration.kwargs
        for e in suite.expectations
        if e.configuration.kwargs.get("column") == "label"
        and e.configuration.type == "expect_column_values_to_be_in_set"
    ]
    assert sorted(kwargs["value_set"] for kwargs in label_checks) == [
        ["dialogue", "fight", "kiss"],
        ["shot"],
    ]
    descriptions = [e.description for e in suite.expectations]
    assert "end_s is within the item's duration (+0.5 s)" in descriptions
