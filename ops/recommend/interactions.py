"""Read a (user, item, event, time) interactions CSV, refusing bad rows with their line number.

Every row is checked on its own: a missing field, a time that does not parse, an event type
not in :data:`EVENT_WEIGHTS`, or an item that is not an ok catalog item refuses that row
(with why), and the rest of the file is kept. Refused rows go to a CSV beside the outputs
and to the log, so nothing is dropped silently; a file with no valid row is an error.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ops.atomic import atomic_open

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("user", "item", "event", "time")
INTERACTION_COLUMNS = ("user", "item", "event", "weight", "time")

EVENT_WEIGHTS: Mapping[str, float] = {
    "view": 1.0,
    "like": 3.0,
    "complete": 5.0,
    "purchase": 5.0,
}
"""Accepted event types and how strongly each says "this user wants this item"."""

REFUSED_COLUMNS = ("line", "reason", "row")
_LOGGED_REFUSALS = 20


class InteractionsError(ValueError):
    """The interactions file as a whole is unusable (missing, no header, no valid row)."""


@dataclass(frozen=True)
class RefusedRow:
    """One refused CSV row: its 1-based line in the file, why, and its raw text."""

    line: int
    reason: str
    row: str


@dataclass(frozen=True)
class Interactions:
    """The valid rows (:data:`INTERACTION_COLUMNS`, time as UTC) and what was refused."""

    frame: pd.DataFrame
    refused: tuple[RefusedRow, ...]
    refused_path: Path | None


def read_interactions(
    path: Path,
    catalog_item_ids: Collection[str],
    *,
    refused_path: Path,
    event_weights: Mapping[str, float] = EVENT_WEIGHTS,
) -> Interactions:
    """Read and validate ``path``; refused rows are written to ``refused_path`` (if any).

    The header must name the columns ``user, item, event, time`` (any order, extra columns
    ignored). Events are matched case-insensitively; ``time`` is ISO 8601 (times without a
    zone are read as UTC) or Unix seconds.
    """
    if not path.is_file():
        raise InteractionsError(f"{path}: interactions file not found")
    known_items = frozenset(catalog_item_ids)
    records: list[dict[str, object]] = []
    refused: list[RefusedRow] = []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = _header(path, next(reader, None))
        line = reader.line_num
        for fields in reader:
            start, line = line + 1, reader.line_num
            if not fields:
                continue
            record, reason = _parse_row(fields, header, known_items, event_weights)
            if reason is not None:
                refused.append(RefusedRow(line=start, reason=reason, row=",".join(fields)))
            else:
                records.append(record)
    written = _report_refused(path, refused, refused_path)
    if not records:
        raise InteractionsError(
            f"{path}: no valid interaction rows ({len(refused)} refused"
            + (f", reasons in {written})" if written else ", the file has no data rows)")
        )
    frame = pd.DataFrame.from_records(records, columns=list(INTERACTION_COLUMNS))
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return Interactions(frame=frame, refused=tuple(refused), refused_path=written)


def _header(path: Path, fields: list[str] | None) -> dict[str, int]:
    """Column name -> position; the four required names must all be there."""
    if fields is None:
        raise InteractionsError(f"{path}: empty file (expected a header {REQUIRED_COLUMNS})")
    positions = {name.strip().lower(): index for index, name in enumerate(fields)}
    missing = [name for name in REQUIRED_COLUMNS if name not in positions]
    if missing:
        raise InteractionsError(
            f"{path}: header {fields} lacks column(s) {missing}"
            f" (expected {', '.join(REQUIRED_COLUMNS)})"
        )
    return {name: positions[name] for name in REQUIRED_COLUMNS}


def _parse_row(
    fields: list[str],
    header: Mapping[str, int],
    known_items: frozenset[str],
    event_weights: Mapping[str, float],
) -> tuple[dict[str, object], str | None]:
    """The row as a record, or the reason it is refused."""
    values = {
        name: fields[index].strip() if index < len(fields) else "" for name, index in header.items()
    }
    missing = [name for name, value in values.items() if not value]
    if missing:
        return {}, f"missing {', '.join(missing)}"
    event = values["event"].lower()
    if event not in event_weights:
        return {}, f"unknown event {values['event']!r} (accepted: {', '.join(event_weights)})"
    time = _parse_time(values["time"])
    if time is None:
        return {}, f"unparsable time {values['time']!r} (expected ISO 8601 or Unix seconds)"
    if values["item"] not in known_items:
        return {}, f"item {values['item']!r} is not an ok catalog item"
    record = {
        "user": values["user"],
        "item": values["item"],
        "event": event,
        "weight": float(event_weights[event]),
        "time": time,
    }
    return record, None


def _parse_time(text: str) -> dt.datetime | None:
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        try:
            return dt.datetime.fromtimestamp(seconds, dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def _report_refused(source: Path, refused: list[RefusedRow], target: Path) -> Path | None:
    """Write the refused rows as CSV and log them; nothing is written when none was refused."""
    if not refused:
        return None
    with atomic_open(target) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(REFUSED_COLUMNS)
        writer.writerows((row.line, row.reason, row.row) for row in refused)
    for row in refused[:_LOGGED_REFUSALS]:
        log.warning("%s line %d refused: %s", source, row.line, row.reason)
    if len(refused) > _LOGGED_REFUSALS:
        log.warning("%s: %d more rows refused", source, len(refused) - _LOGGED_REFUSALS)
    log.warning("%s: %d row(s) refused, listed in %s", source, len(refused), target)
    return target
