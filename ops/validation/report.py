"""Validation reports: the raw result as JSON for machines and one HTML page for people.

Everything here renders from plain dicts (a Great Expectations ``to_json_dict()`` result and
quarantine records), so every suite (catalog, predictions) shares one report format and this
module never imports Great Expectations.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from ops.atomic import atomic_open

LATEST_NAME = "latest"
QUARANTINE_COLUMNS = ("item_id", "url", "check", "reason")
_RUN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:+-]*")

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.pass { color: #176117; }
.fail, .error { color: #a31515; font-weight: bold; }
tr.fail td, tr.error td { background: #fff3f3; }
code { font-size: 0.9em; }
"""


@dataclass(frozen=True)
class ReportPaths:
    """Where one run's reports go; ``latest_html`` is overwritten by every run."""

    run_name: str
    html: Path
    json: Path
    latest_html: Path


def report_paths(report_dir: Path, run_name: str) -> ReportPaths:
    """Name the report files of a run, refusing run names that are not plain file names."""
    if not _RUN_NAME.fullmatch(run_name) or run_name == LATEST_NAME:
        raise ValueError(
            f"run name {run_name!r} cannot name a report file: use letters, digits and _ . : + -"
            f" (not starting with . or -), and not {LATEST_NAME!r}"
        )
    return ReportPaths(
        run_name=run_name,
        html=report_dir / f"{run_name}.html",
        json=report_dir / f"{run_name}.json",
        latest_html=report_dir / f"{LATEST_NAME}.html",
    )


def write_validation_report(
    paths: ReportPaths, *, result: Mapping[str, Any], quarantined: Sequence[Mapping[str, Any]]
) -> None:
    """Write the raw result JSON, the run's HTML page and ``latest.html``, each atomically."""
    with atomic_open(paths.json) as handle:
        json.dump(result, handle, indent=2)
    page = render_html(run_name=paths.run_name, result=result, quarantined=quarantined)
    for target in (paths.html, paths.latest_html):
        with atomic_open(target) as handle:
            handle.write(page)


def render_html(
    *, run_name: str, result: Mapping[str, Any], quarantined: Sequence[Mapping[str, Any]]
) -> str:
    """One self-contained page: verdict and counts, every expectation, every quarantined item."""
    suite = str(result.get("suite_name", "?"))
    title = f"Validation of {suite}: {run_name}"
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
            f"<h1>{escape(title)}</h1>",
            _summary(run_name, result, quarantined),
            "<h2>Expectations</h2>",
            _expectations_table(result.get("results", [])),
            "<h2>Quarantined items</h2>",
            _quarantine_table(quarantined),
            "</body></html>",
        ]
    )


def _summary(
    run_name: str, result: Mapping[str, Any], quarantined: Sequence[Mapping[str, Any]]
) -> str:
    statistics = result.get("statistics", {})
    meta = result.get("meta", {})
    passed = bool(result.get("success"))
    items = {record.get("item_id") for record in quarantined}
    verdict = (
        '<p class="pass">PASSED: every expectation held.</p>'
        if passed
        else f'<p class="fail">FAILED: {statistics.get("unsuccessful_expectations", "?")}'
        f" expectation(s) did not hold; {len(items)} item(s) quarantined.</p>"
    )
    rows = [
        ("Suite", result.get("suite_name")),
        ("Run", run_name),
        ("Validated at", meta.get("validation_time")),
        ("Expectations evaluated", statistics.get("evaluated_expectations")),
        ("Expectations held", statistics.get("successful_expectations")),
        ("Expectations failed", statistics.get("unsuccessful_expectations")),
        ("Items quarantined", len(items)),
        ("Quarantine records (item × check)", len(quarantined)),
        ("Great Expectations version", meta.get("great_expectations_version")),
    ]
    return verdict + _table(("Measure", "Value"), [(name, _text(value)) for name, value in rows])


def _expectations_table(results: Sequence[Mapping[str, Any]]) -> str:
    header = ("Check", "What it means", "Applies to", "Result", "Rows checked", "Unexpected")
    rows: list[tuple[str, ...]] = []
    verdicts: list[str] = []
    for entry in results:
        config = entry.get("expectation_config", {})
        kwargs = config.get("kwargs", {})
        outcome = entry.get("result", {})
        errors = exception_messages(entry)
        if errors:
            verdict = "error"
            detail = escape("; ".join(errors))
        else:
            verdict = "pass" if entry.get("success") else "fail"
            detail = _text(outcome.get("unexpected_count"))
        verdicts.append(verdict)
        rows.append(
            (
                f"<code>{escape(check_name(config))}</code>",
                escape(str(config.get("description") or "")),
                escape(describe_condition(kwargs.get("row_condition"))),
                f'<span class="{verdict}">{verdict}</span>',
                _text(outcome.get("element_count")),
                detail,
            )
        )
    return _table(header, rows, verdicts)


def _quarantine_table(quarantined: Sequence[Mapping[str, Any]]) -> str:
    if not quarantined:
        return "<p>No items quarantined.</p>"
    rows = [
        tuple(_text(record.get(column)) for column in QUARANTINE_COLUMNS) for record in quarantined
    ]
    return _table(QUARANTINE_COLUMNS, rows)


def check_name(expectation_config: Mapping[str, Any]) -> str:
    """``expectation_type(column)``, or ``expectation_type(column_A, column_B)`` for a
    column-pair check: the name a check goes by in reports and quarantine rows."""
    kwargs = expectation_config.get("kwargs", {})
    kind = str(expectation_config.get("type"))
    if "column_A" in kwargs:
        return f"{kind}({kwargs['column_A']}, {kwargs['column_B']})"
    column = kwargs.get("column")
    return f"{kind}({column})" if column else kind


def exception_messages(entry: Mapping[str, Any]) -> list[str]:
    """Why an expectation could not run; empty when it ran.

    GX reports either one ``exception_info`` or, when a metric failed, one per metric id.
    """
    info = entry.get("exception_info") or {}
    per_metric = [info] if "raised_exception" in info else list(info.values())
    return [
        str(part.get("exception_message")) for part in per_metric if part.get("raised_exception")
    ]


def describe_condition(condition: Mapping[str, Any] | None) -> str:
    """Read a serialized GX row condition back as text, e.g. ``kind == 'video' and ...``."""
    if not condition:
        return "all rows"
    kind = condition.get("type")
    if kind == "comparison":
        column = condition["column"]["name"]
        return f"{column} {condition['operator']} {condition['parameter']!r}"
    if kind == "nullity":
        return f"{condition['column']['name']} is {'null' if condition['is_null'] else 'not null'}"
    if kind == "pass_through":
        return str(condition["pass_through_filter"])
    if kind in ("and", "or"):
        parts = [
            f"({describe_condition(part)})"
            if part.get("type") in ("and", "or")
            else describe_condition(part)
            for part in condition["conditions"]
        ]
        return f" {kind} ".join(parts)
    return json.dumps(condition)


def _text(value: object) -> str:
    return "—" if value is None else escape(str(value))


def _table(
    header: Sequence[str], rows: Sequence[Sequence[str]], row_classes: Sequence[str] = ()
) -> str:
    """An HTML table from already-escaped cells."""
    head = "".join(f"<th>{escape(name)}</th>" for name in header)
    lines = [f"<table><thead><tr>{head}</tr></thead><tbody>"]
    for index, cells in enumerate(rows):
        css = f' class="{row_classes[index]}"' if index < len(row_classes) else ""
        lines.append(f"<tr{css}>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)
