"""The report renders any GX-shaped result dict; no Great Expectations run needed here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ops.validation.report import (
    check_name,
    describe_condition,
    exception_messages,
    render_html,
    report_paths,
    write_validation_report,
)

VIDEO_ONLY = {
    "type": "and",
    "conditions": [
        {"type": "comparison", "column": {"name": "kind"}, "operator": "==", "parameter": "video"},
        {"type": "nullity", "column": {"name": "probe_error"}, "is_null": True},
    ],
}


def expectation_result(
    kind: str,
    column: str | None,
    *,
    success: bool,
    unexpected: int | None = None,
    row_condition: dict[str, Any] | None = None,
    exception_info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One entry of ``results`` shaped like GX's ``to_json_dict()`` output."""
    kwargs: dict[str, Any] = {"batch_id": "catalog-items"}
    if column:
        kwargs["column"] = column
    if row_condition:
        kwargs["row_condition"] = row_condition
    return {
        "success": success,
        "expectation_config": {"type": kind, "kwargs": kwargs, "description": f"{kind} rule"},
        "result": {}
        if unexpected is None
        else {"element_count": 3, "unexpected_count": unexpected},
        "exception_info": exception_info
        or {"raised_exception": False, "exception_message": None, "exception_traceback": None},
    }


RESULT: dict[str, Any] = {
    "success": False,
    "suite_name": "catalog",
    "statistics": {
        "evaluated_expectations": 3,
        "successful_expectations": 2,
        "unsuccessful_expectations": 1,
    },
    "meta": {
        "validation_time": "2024-05-01T00:00:00+00:00",
        "great_expectations_version": "1.24.1",
    },
    "results": [
        expectation_result("expect_table_columns_to_match_set", None, success=True),
        expectation_result(
            "expect_column_values_to_be_between",
            "width",
            success=False,
            unexpected=1,
            row_condition=VIDEO_ONLY,
        ),
        expectation_result(
            "expect_column_values_to_be_null", "probe_error", success=True, unexpected=0
        ),
    ],
}
QUARANTINED = [
    {
        "item_id": "clip<1>",
        "url": "https://example.org/clip?a=1&b=2",
        "check": "expect_column_values_to_be_between(width)",
        "reason": "too small: 16 px wide, videos need at least 32",
    }
]


def test_report_files_are_written_with_latest_copy(tmp_path: Path) -> None:
    paths = report_paths(tmp_path / "validation", "scheduled__2024-05-01T00:00:00+00:00")
    write_validation_report(paths, result=RESULT, quarantined=QUARANTINED)
    assert "scheduled__2024-05-01T00:00:00+00:00" in paths.html.read_text()
    assert json.loads(paths.json.read_text()) == RESULT
    assert paths.html.read_text() == paths.latest_html.read_text()
    assert paths.latest_html.name == "latest.html"
    assert sorted(p.name for p in paths.html.parent.iterdir()) == sorted(
        [paths.html.name, paths.json.name, "latest.html"]
    ), "no temporary files left behind"


def test_html_summarises_and_escapes(tmp_path: Path) -> None:
    page = render_html(run_name="nightly", result=RESULT, quarantined=QUARANTINED)
    assert "FAILED: 1 expectation(s) did not hold; 1 item(s) quarantined." in page
    assert "<td>clip&lt;1&gt;</td>" in page
    assert "https://example.org/clip?a=1&amp;b=2" in page
    assert "too small: 16 px wide, videos need at least 32" in page
    assert '<tr class="fail"><td><code>expect_column_values_to_be_between(width)</code>' in page
    assert "kind == &#x27;video&#x27; and probe_error is null" in page
    assert "<script" not in page and "http://" not in page.split("</style>")[0]


def test_passing_result_reads_as_passed() -> None:
    passed = {**RESULT, "success": True, "results": RESULT["results"][:1]}
    page = render_html(run_name="nightly", result=passed, quarantined=[])
    assert "PASSED" in page
    assert "No items quarantined." in page


def test_errors_are_shown_in_both_gx_shapes() -> None:
    per_metric = {
        "MetricConfigurationID(metric_name='column_values.between.condition')": {
            "raised_exception": True,
            "exception_message": "values and bounds differ in type",
            "exception_traceback": "Traceback ...",
        }
    }
    single = {"raised_exception": True, "exception_message": "no such column"}
    errored = expectation_result("x", "bytes", success=False, exception_info=per_metric)
    assert exception_messages(errored) == ["values and bounds differ in type"]
    assert exception_messages({"exception_info": single}) == ["no such column"]
    assert exception_messages(RESULT["results"][0]) == []
    page = render_html(run_name="r", result={**RESULT, "results": [errored]}, quarantined=[])
    assert '<span class="error">error</span>' in page
    assert "values and bounds differ in type" in page


def test_condition_descriptions() -> None:
    sound = {
        "type": "or",
        "conditions": [
            VIDEO_ONLY,
            {
                "type": "comparison",
                "column": {"name": "expects_audio"},
                "operator": "==",
                "parameter": True,
            },
        ],
    }
    assert describe_condition(None) == "all rows"
    assert describe_condition(sound) == (
        "(kind == 'video' and probe_error is null) or expects_audio == True"
    )
    assert describe_condition({"type": "pass_through", "pass_through_filter": "a > 1"}) == "a > 1"


def test_check_name() -> None:
    assert check_name({"type": "expect_column_values_to_be_null", "kwargs": {"column": "x"}}) == (
        "expect_column_values_to_be_null(x)"
    )
    assert check_name({"type": "expect_table_row_count_to_be_between", "kwargs": {}}) == (
        "expect_table_row_count_to_be_between"
    )


@pytest.mark.parametrize("run_name", ["", "../escape", "a/b", ".hidden", "latest", "two words"])
def test_unsafe_run_names_are_refused(tmp_path: Path, run_name: str) -> None:
    with pytest.raises(ValueError, match="cannot name a report file"):
        report_paths(tmp_path, run_name)
