"""The one walk from a GX-shaped result dict to failed checks and their rows."""

from __future__ import annotations

from typing import Any

from ops.validation.failures import FailedCheck, failed_checks


def entry(
    column: str,
    *,
    success: bool,
    rows: list[dict[str, Any]] | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """One ``results`` entry as GX's ``to_json_dict()`` writes it (COMPLETE result format)."""
    result = {} if rows is None else {"unexpected_count": len(rows), "unexpected_index_list": rows}
    return {
        "success": success,
        "expectation_config": {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": column},
            "meta": {"reason": "{item_id}: no " + column},
        },
        "result": result,
        "exception_info": {"raised_exception": error is not None, "exception_message": error},
    }


def test_only_failed_or_broken_checks_come_back_in_suite_order_with_their_rows() -> None:
    result = {
        "results": [
            entry("title", success=True, rows=[]),
            entry("url", success=False, rows=[{"item_id": "b", "url": None}]),
            entry("bytes", success=False, error="values and bounds differ in type"),
        ]
    }
    url, size = failed_checks(result)
    assert isinstance(url, FailedCheck)
    assert (url.name, url.count, url.errors) == ("expect_column_values_to_not_be_null(url)", 1, ())
    assert url.rows == ({"item_id": "b", "url": None},)
    assert url.reason(item_id="b") == "b: no url"
    assert size.errors == ("values and bounds differ in type",)
    assert (size.rows, size.count) == ((), 0)


def test_a_passing_result_has_no_failed_checks() -> None:
    assert failed_checks({"results": [entry("title", success=True, rows=[])]}) == []
