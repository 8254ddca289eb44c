"""The Great Expectations suite over new predictions: what must hold before an index is published.

Checks every PREDICTION_SCHEMA row (all tasks together): scores in [0, 1] and present;
segment times within the item's duration (a small tolerance for the last 1-s bucket) with
``start_s <= end_s``; every item an ok catalog item; every label from its task's vocabulary;
the lineage columns filled in. Columns the checks need are joined from the catalog first
(``catalog_item``, ``time_limit_s``), and a ``row`` column names each failing row by its
position in the input. Each expectation's ``meta`` carries the reason a person reads.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ops.predictions.schema import PREDICTION_SCHEMA
from ops.validation.catalog_suite import NON_BLANK_PATTERN
from ops.validation.failures import failed_checks
from ops.validation.report import report_paths, write_validation_report
from ops.validation.runner import quiet_great_expectations, run_suite

if TYPE_CHECKING:
    import great_expectations as gx
    from great_expectations.expectations.expectation import Expectation

SUITE_NAME = "predictions"
REPORT_SUBDIR = "predictions"
ROW = "row"
DEFAULT_TIME_TOLERANCE_S = 1.0
"""Slack past the item's duration: the last 1-s bucket may end after the media does."""
EXAMPLE_ROWS = 5
EXAMPLE_COLUMNS = ("item_id", "task", "label", "start_s", "end_s", "score", "time_limit_s")
LINEAGE_COLUMNS = ("model_name", "model_version", "dataset_rev")


@dataclass(frozen=True)
class PredictionFailure:
    """One expectation that did not hold: how many rows broke it, and a few of them."""

    expectation: str
    reason: str
    count: int
    examples: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class PredictionCheck:
    """The verdict on a batch of predictions; ``summary`` is one line for task logs."""

    passed: bool
    rows: int
    failures: tuple[PredictionFailure, ...]
    report_html: Path | None
    report_json: Path | None
    summary: str


def build_predictions_suite(
    vocabulary: Mapping[str, Sequence[str] | None],
    time_tolerance_s: float = DEFAULT_TIME_TOLERANCE_S,
) -> gx.ExpectationSuite:
    """Every check a prediction row must pass; one label check per task of ``vocabulary``
    (None: the task's labels are open text, which must only not be blank)."""
    import great_expectations as gx
    from great_expectations.expectations.row_conditions import Column

    expect = gx.expectations

    def present(column: str) -> Expectation:
        return expect.ExpectColumnValuesToNotBeNull(
            column=column, description=f"{column} is present", meta={"reason": f"missing {column}"}
        )

    def not_blank(column: str) -> Expectation:
        return expect.ExpectColumnValuesToMatchRegex(
            column=column,
            regex=NON_BLANK_PATTERN,
            description=f"{column} is not blank",
            meta={"reason": f"blank {column}"},
        )

    tasks = sorted(vocabulary)
    expectations: list[Expectation] = [
        *(present(column) for column in ("item_id", "task", "label", "score", *LINEAGE_COLUMNS)),
        *(not_blank(column) for column in LINEAGE_COLUMNS),
        expect.ExpectColumnValuesToBeBetween(
            column="score",
            min_value=0.0,
            max_value=1.0,
            description="score is a probability in [0, 1]",
            meta={"reason": "score outside [0, 1]"},
        ),
        expect.ExpectColumnValuesToBeInSet(
            column="catalog_item",
            value_set=[True],
            description="item_id is an ok catalog item",
            meta={"reason": "orphan item: item_id is not an ok catalog item"},
        ),
        expect.ExpectColumnValuesToNotBeNull(
            column="end_s",
            row_condition=Column("start_s").is_not_null(),
            description="a segment has both start_s and end_s",
            meta={"reason": "start_s without end_s"},
        ),
        expect.ExpectColumnValuesToNotBeNull(
            column="start_s",
            row_condition=Column("end_s").is_not_null(),
            description="a segment has both start_s and end_s",
            meta={"reason": "end_s without start_s"},
        ),
        expect.ExpectColumnValuesToBeBetween(
            column="start_s",
            min_value=0.0,
            description="start_s is not negative",
            meta={"reason": "negative start_s"},
        ),
        expect.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="end_s",
            column_B="start_s",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
            description="start_s <= end_s",
            meta={"reason": "start_s after end_s"},
        ),
        expect.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="time_limit_s",
            column_B="end_s",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
            description=f"end_s is within the item's duration (+{time_tolerance_s:g} s)",
            meta={
                "reason": f"end_s beyond the item's duration (+{time_tolerance_s:g} s tolerance)"
            },
        ),
        expect.ExpectColumnValuesToBeInSet(
            column="task",
            value_set=tasks,
            description=f"task has a known vocabulary ({', '.join(tasks)})",
            meta={"reason": f"unknown task (known: {', '.join(tasks)})"},
        ),
    ]
    for task in tasks:
        known = vocabulary[task]
        if known is None:  # free text (a transcript, a caption): any label but a blank one
            expectations.append(
                expect.ExpectColumnValuesToMatchRegex(
                    column="label",
                    regex=NON_BLANK_PATTERN,
                    row_condition=Column("task") == task,
                    description=f"{task}: label is text, not blank",
                    meta={"reason": f"blank {task} text"},
                )
            )
            continue
        labels = sorted(set(known))
        expectations.append(
            expect.ExpectColumnValuesToBeInSet(
                column="label",
                value_set=labels,
                row_condition=Column("task") == task,
                description=f"{task}: label is one of {len(labels)} known labels",
                meta={"reason": f"label not in the {task} vocabulary"},
            )
        )
    return gx.ExpectationSuite(name=SUITE_NAME, expectations=expectations)


def check_predictions(
    predictions: pd.DataFrame,
    catalog: pd.DataFrame,
    vocabulary: Mapping[str, Sequence[str] | None],
    *,
    reports_dir: Path | None = None,
    run_name: str | None = None,
    time_tolerance_s: float = DEFAULT_TIME_TOLERANCE_S,
) -> PredictionCheck:
    """Validate ``predictions`` (PREDICTION_SCHEMA rows) against the ok rows of ``catalog``.

    ``vocabulary`` maps each task to its labels. With ``reports_dir`` (e.g.
    ``settings.reports_dir``), the JSON and HTML reports go to
    ``reports_dir/predictions/<run_name>.{json,html}`` (run_name defaults to the UTC time).
    A malformed table (missing columns) raises ValueError: that is a pipeline bug.
    """
    run_time = dt.datetime.now(dt.UTC)
    run_name = run_name or run_time.strftime("%Y%m%dT%H%M%S.%fZ")
    paths = report_paths(reports_dir / REPORT_SUBDIR, run_name) if reports_dir else None
    frame = _checked_frame(predictions, catalog, time_tolerance_s)
    with quiet_great_expectations():
        result = run_suite(
            frame,
            build_predictions_suite(vocabulary, time_tolerance_s),
            index_column=ROW,
            run_name=run_name,
            run_time=run_time,
        )
    failures = tuple(_failures(frame, result))
    if paths is not None:
        write_validation_report(paths, result=result, quarantined=_report_records(failures))
    passed = bool(result["success"]) and not failures
    return PredictionCheck(
        passed=passed,
        rows=len(frame),
        failures=failures,
        report_html=paths.html if paths else None,
        report_json=paths.json if paths else None,
        summary=_summary(passed, len(frame), failures, result, paths.html if paths else None),
    )


def _checked_frame(
    predictions: pd.DataFrame, catalog: pd.DataFrame, time_tolerance_s: float
) -> pd.DataFrame:
    """The predictions plus the joined columns the checks read, indexed by ``row``."""
    missing = [name for name in PREDICTION_SCHEMA.names if name not in predictions.columns]
    if missing:
        raise ValueError(f"predictions lack the PREDICTION_SCHEMA column(s) {missing}")
    missing = [name for name in ("item_id", "status", "duration_s") if name not in catalog.columns]
    if missing:
        raise ValueError(f"catalog lacks the column(s) {missing}")
    ok = catalog[catalog["status"] == "ok"]
    durations = pd.Series(
        ok["duration_s"].to_numpy(dtype="float64", na_value=0.0), index=ok["item_id"]
    )
    durations = durations[~durations.index.duplicated()]
    frame = predictions[list(PREDICTION_SCHEMA.names)].reset_index(drop=True)
    limits = frame["item_id"].map(durations).astype("float64") + time_tolerance_s
    return frame.assign(
        **{
            ROW: range(len(frame)),
            "catalog_item": frame["item_id"].isin(durations.index),
            "time_limit_s": limits,
        }
    )


def _failures(frame: pd.DataFrame, result: Mapping[str, Any]) -> list[PredictionFailure]:
    failures: list[PredictionFailure] = []
    for check in failed_checks(result):
        if check.errors:
            failures.append(
                PredictionFailure(
                    expectation=check.name,
                    reason="could not run (a column of the wrong type?): "
                    + "; ".join(check.errors),
                    count=len(frame),
                    examples=(),
                )
            )
        else:
            rows = [index[ROW] for index in check.rows[:EXAMPLE_ROWS]]
            failures.append(
                PredictionFailure(
                    expectation=check.name,
                    reason=str(check.config["meta"]["reason"]),
                    count=check.count,
                    examples=tuple(_example(frame, row) for row in rows),
                )
            )
    return failures


def _example(frame: pd.DataFrame, row: int) -> dict[str, Any]:
    """One failing row as plain values (None for missing), with its input position."""
    values = frame.iloc[row]
    return {ROW: row, **{name: _plain(values[name]) for name in EXAMPLE_COLUMNS}}


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    return value.item() if hasattr(value, "item") else value


def _report_records(failures: Sequence[PredictionFailure]) -> list[dict[str, Any]]:
    """The example rows of each failure, in the report's failing-rows table."""
    return [
        {
            "item_id": example["item_id"],
            "url": None,
            "check": failure.expectation,
            "reason": f"{failure.reason} (row {example[ROW]}: {_describe(example)})",
        }
        for failure in failures
        for example in failure.examples
    ]


def _describe(example: Mapping[str, Any]) -> str:
    shown = ("task", "label", "start_s", "end_s", "score")
    return ", ".join(f"{name}={example[name]}" for name in shown)


def _summary(
    passed: bool,
    rows: int,
    failures: Sequence[PredictionFailure],
    result: Mapping[str, Any],
    report: Path | None,
) -> str:
    where = f"; report {report}" if report else ""
    if passed:
        held = result["statistics"]["successful_expectations"]
        return f"predictions check passed: {rows} rows, {held} expectations held{where}"
    broken = "; ".join(
        f"{failure.expectation}: {failure.reason} ({failure.count} row(s))" for failure in failures
    )
    return f"predictions check FAILED on {rows} rows: {broken}{where}"
