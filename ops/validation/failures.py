"""Great Expectations results walked once: each check that failed or could not run.

Every suite (catalog, annotations, predictions) turns a result into per-row failures the
same way; only what it does with them differs (quarantine rows, refuse lines, report
examples). Works on the plain ``to_json_dict()`` form, so nothing here imports GX.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ops.validation.report import check_name, exception_messages


@dataclass(frozen=True)
class FailedCheck:
    """One check that failed (``rows`` are its failing rows) or could not run (``errors``)."""

    config: Mapping[str, Any]
    """The expectation's configuration: ``type``, ``kwargs``, ``meta``."""
    errors: tuple[str, ...]
    """Why it could not run; empty when it ran and rows failed it."""
    rows: tuple[Mapping[str, Any], ...]
    """Each failing row as GX names it: the index column(s) and the failing value."""
    count: int
    """Failing rows in all (``rows`` may be a partial list)."""

    @property
    def name(self) -> str:
        """``expectation_type(column)``, as reports and quarantine rows name the check."""
        return check_name(self.config)

    def reason(self, **values: Any) -> str:
        """The check's ``meta["reason"]`` with ``{placeholders}`` filled from ``values``."""
        return str(self.config["meta"]["reason"]).format(**values)


def failed_checks(result: Mapping[str, Any]) -> list[FailedCheck]:
    """The checks of ``result`` (a JSON-ready validation result) that did not hold, in
    suite order."""
    failed = []
    for entry in result["results"]:
        errors = tuple(exception_messages(entry))
        if entry["success"] and not errors:
            continue
        outcome = entry.get("result") or {}
        rows = tuple(outcome.get("unexpected_index_list") or ())
        failed.append(
            FailedCheck(
                config=entry["expectation_config"],
                errors=errors,
                rows=rows,
                count=int(outcome.get("unexpected_count") or len(rows)),
            )
        )
    return failed
