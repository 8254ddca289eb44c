"""The Great Expectations suite of the catalog table, and the quarantine it decides.

Each expectation carries a ``reason`` template in its ``meta``, so the suite itself says how a
failure reads to a person; validation turns every failing row (traced by ``item_id``) into a
quarantine record and a ``status_reason``. Vanished items are kept but not validated.
Great Expectations is imported inside the functions: it takes seconds to import and logs at
INFO while doing so, which must happen inside :func:`quiet_great_expectations`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from ops.catalog.schema import ITEM_COLUMNS, KINDS, QUARANTINE_SCHEMA
from ops.settings import Settings
from ops.validation.failures import FailedCheck, failed_checks
from ops.validation.report import report_paths, write_validation_report
from ops.validation.runner import quiet_great_expectations, run_suite

if TYPE_CHECKING:
    import great_expectations as gx
    from great_expectations.expectations.expectation import Expectation

SUITE_NAME = "catalog"
STAGE = "validate"
REPORT_SUBDIR = "validation"

EARLIEST_YEAR = 1870  # the first motion pictures
MIN_FPS, MAX_FPS = 1, 240
MIN_VIDEO_DURATION_S = 0.04  # one frame at 25 fps
MIN_SAMPLE_RATE_HZ, MAX_SAMPLE_RATE_HZ = 8_000, 192_000
SHA256_PATTERN = r"^[0-9a-f]{64}$"
URL_PATTERN = r"^(?:https?|file|[a-z0-9+.-]+)://"  # non-capturing: GX warns on groups
NON_BLANK_PATTERN = r"\S"

TABLE_CHECK = "expect_table_columns_to_match_set"
_EXPECTATION_COUNTS = (
    "evaluated_expectations",
    "successful_expectations",
    "unsuccessful_expectations",
)
REASON_SEPARATOR = "; "
# A status_reason part written by this module starts with its check name: expect_...(column)
_OWN_REASON_PART = re.compile(r"expect_[a-z_]+\(")
_REASON_PARTS = re.compile(rf"{REASON_SEPARATOR}(?={_OWN_REASON_PART.pattern})")


class CatalogSchemaError(ValueError):
    """The catalog's columns or types are not ITEM_SCHEMA's: a pipeline bug, not bad items."""


@dataclass(frozen=True)
class ValidationOutcome:
    """What one validation run decided, and where its reports are."""

    catalog: pd.DataFrame
    quarantine: pd.DataFrame
    success: bool
    statistics: dict[str, int]
    report_html: Path | None
    """None when no row was to be checked (no suite ran, no report was written)."""
    report_json: Path | None


def build_catalog_suite(settings: Settings) -> gx.ExpectationSuite:
    """Every check an item must pass to stay ``ok``; media checks only run on decodable items."""
    import great_expectations as gx
    from great_expectations.expectations.row_conditions import Column

    expect = gx.expectations
    decodable = Column("probe_error").is_null()
    video = (Column("kind") == "video") & decodable
    audio = (Column("kind") == "audio") & decodable
    image = (Column("kind") == "image") & decodable
    # Audio items and items whose source promised sound must carry an audio stream.
    sound_expected = audio | ((Column("expects_audio") == True) & decodable)  # noqa: E712
    next_year = dt.datetime.now(dt.UTC).year + 1
    max_bytes = settings.max_download_bytes
    max_duration = settings.max_duration_s
    min_width, min_height = settings.min_video_width, settings.min_video_height
    min_image_width, min_image_height = settings.min_image_width, settings.min_image_height

    def missing(column: str, condition: Any = None, why: str = "") -> Expectation:
        return expect.ExpectColumnValuesToNotBeNull(
            column=column,
            row_condition=condition,
            description=f"{column} is present",
            meta={"reason": f"missing {column}{why}"},
        )

    def measured(column: str, condition: Any) -> Expectation:
        return missing(column, condition, ": the media probe did not measure it")

    expectations: list[Expectation] = [
        expect.ExpectTableColumnsToMatchSet(
            column_set=list(ITEM_COLUMNS),
            exact_match=True,
            description="the table has exactly the ITEM_SCHEMA columns",
        ),
        # identity and metadata
        expect.ExpectColumnValuesToBeUnique(
            column="item_id",
            description="item_id names one item",
            meta={"reason": "duplicate item_id: {value} appears more than once"},
        ),
        missing("item_id"),
        missing("kind"),
        expect.ExpectColumnValuesToBeInSet(
            column="kind",
            value_set=list(KINDS),
            description=f"kind is one of {', '.join(KINDS)}",
            meta={"reason": f"unknown kind: {{value}} (expected one of {', '.join(KINDS)})"},
        ),
        missing("sha256", why=": the content was never hashed"),
        expect.ExpectColumnValuesToMatchRegex(
            column="sha256",
            regex=SHA256_PATTERN,
            description="sha256 is 64 lowercase hex digits",
            meta={"reason": "malformed sha256: {value}"},
        ),
        missing("bytes"),
        expect.ExpectColumnValuesToBeBetween(
            column="bytes",
            min_value=1,
            max_value=max_bytes,
            description=f"size is 1 to {max_bytes} bytes",
            meta={"reason": f"size out of range: {{value}} bytes (allowed 1 to {max_bytes})"},
        ),
        missing("title"),
        expect.ExpectColumnValuesToMatchRegex(
            column="title",
            regex=NON_BLANK_PATTERN,
            description="title is not blank",
            meta={"reason": "blank title"},
        ),
        expect.ExpectColumnValuesToBeBetween(
            column="year",
            min_value=EARLIEST_YEAR,
            max_value=next_year,
            description=f"year, when known, is {EARLIEST_YEAR} to {next_year}",
            meta={
                "reason": f"implausible year: {{value}} (allowed {EARLIEST_YEAR} to {next_year})"
            },
        ),
        expect.ExpectColumnValuesToMatchRegex(
            column="url",
            regex=URL_PATTERN,
            description="url starts with a scheme such as https://",
            meta={"reason": "url has no scheme: {value}"},
        ),
        # media: decodable first; the per-kind checks below only look at decodable items
        expect.ExpectColumnValuesToBeNull(
            column="probe_error",
            description="the media probe decoded the file",
            meta={"reason": "not decodable: {value}"},
        ),
        measured("frames_decoded", video),
        expect.ExpectColumnValuesToBeBetween(
            column="frames_decoded",
            min_value=1,
            row_condition=video,
            description="videos: at least one frame decodes",
            meta={"reason": "no frames decoded: {value} frames"},
        ),
        measured("fps", video),
        expect.ExpectColumnValuesToBeBetween(
            column="fps",
            min_value=MIN_FPS,
            max_value=MAX_FPS,
            row_condition=video,
            description=f"videos: {MIN_FPS} to {MAX_FPS} frames per second",
            meta={
                "reason": f"implausible frame rate: {{value}} fps (allowed {MIN_FPS} to {MAX_FPS})"
            },
        ),
        measured("duration_s", video),
        expect.ExpectColumnValuesToBeBetween(
            column="duration_s",
            min_value=MIN_VIDEO_DURATION_S,
            max_value=max_duration,
            row_condition=video,
            description=f"videos: {MIN_VIDEO_DURATION_S} to {max_duration:g} seconds long",
            meta={
                "reason": f"duration out of range: {{value}} s"
                f" (allowed {MIN_VIDEO_DURATION_S} to {max_duration:g})"
            },
        ),
        measured("width", video),
        expect.ExpectColumnValuesToBeBetween(
            column="width",
            min_value=min_width,
            row_condition=video,
            description=f"videos: at least {min_width} px wide",
            meta={"reason": f"too small: {{value}} px wide, videos need at least {min_width}"},
        ),
        measured("height", video),
        expect.ExpectColumnValuesToBeBetween(
            column="height",
            min_value=min_height,
            row_condition=video,
            description=f"videos: at least {min_height} px high",
            meta={"reason": f"too small: {{value}} px high, videos need at least {min_height}"},
        ),
        measured("duration_s", audio),
        expect.ExpectColumnValuesToBeBetween(
            column="duration_s",
            min_value=0,
            strict_min=True,
            row_condition=audio,
            description="audio: lasts longer than 0 seconds",
            meta={"reason": "empty audio: lasts {value} s"},
        ),
        measured("audio_sample_rate", audio),
        expect.ExpectColumnValuesToBeBetween(
            column="audio_sample_rate",
            min_value=MIN_SAMPLE_RATE_HZ,
            max_value=MAX_SAMPLE_RATE_HZ,
            row_condition=audio,
            description=f"audio: sampled at {MIN_SAMPLE_RATE_HZ} to {MAX_SAMPLE_RATE_HZ} Hz",
            meta={
                "reason": f"implausible sample rate: {{value}} Hz"
                f" (allowed {MIN_SAMPLE_RATE_HZ} to {MAX_SAMPLE_RATE_HZ})"
            },
        ),
        expect.ExpectColumnValuesToNotBeNull(
            column="audio_channels",
            row_condition=sound_expected,
            description="audio, and items whose source says they have sound: an audio stream",
            meta={"reason": "no audio: the file has no audio stream"},
        ),
        expect.ExpectColumnValuesToBeBetween(
            column="audio_channels",
            min_value=1,
            row_condition=sound_expected,
            description="audio, and items whose source says they have sound: ≥ 1 channel",
            meta={"reason": "no audio: {value} audio channels"},
        ),
        measured("width", image),
        expect.ExpectColumnValuesToBeBetween(
            column="width",
            min_value=min_image_width,
            row_condition=image,
            description=f"images: at least {min_image_width} px wide",
            meta={
                "reason": f"too small: image is {{value}} px wide,"
                f" images need at least {min_image_width}"
            },
        ),
        measured("height", image),
        expect.ExpectColumnValuesToBeBetween(
            column="height",
            min_value=min_image_height,
            row_condition=image,
            description=f"images: at least {min_image_height} px high",
            meta={
                "reason": f"too small: image is {{value}} px high,"
                f" images need at least {min_image_height}"
            },
        ),
    ]
    return gx.ExpectationSuite(name=SUITE_NAME, expectations=expectations)


def validate_catalog(
    catalog: pd.DataFrame,
    settings: Settings,
    *,
    run_name: str,
    only: Collection[str] | None = None,
) -> ValidationOutcome:
    """Validate every item not vanished (or those of them named in ``only``); quarantine
    failing rows, release rows that now pass. Other rows are left as they are, and when
    ``only`` names none to check, no suite runs and no report is written.

    Raises :class:`CatalogSchemaError` when the table itself is malformed (columns or types),
    since quarantining every item for a pipeline bug would hide it.
    """
    paths = report_paths(settings.reports_dir / REPORT_SUBDIR, run_name)
    run_time = dt.datetime.now(dt.UTC)
    wanted = catalog["status"] != "vanished"
    if only is not None:
        wanted &= catalog["item_id"].isin(list(only))
    checked_positions: list[int] = wanted.to_numpy().nonzero()[0].tolist()
    if only is not None and not checked_positions:
        return _nothing_checked(catalog)
    checked = catalog.iloc[checked_positions].reset_index(drop=True)
    with quiet_great_expectations():
        result = run_suite(
            checked,
            build_catalog_suite(settings),
            index_column="item_id",
            run_name=run_name,
            run_time=run_time,
        )
    failed = failed_checks(result)
    _raise_for_broken_table(catalog, failed)

    failures = _failures_by_row(checked, failed)
    row_failures = {checked_positions[row]: reasons for row, reasons in failures.items()}
    updated, released = _with_statuses(catalog, checked_positions, row_failures)
    quarantine_records = _quarantine_records(catalog, row_failures, run_time)
    write_validation_report(paths, result=result, quarantined=quarantine_records)
    return ValidationOutcome(
        catalog=updated,
        quarantine=pa.Table.from_pylist(quarantine_records, schema=QUARANTINE_SCHEMA).to_pandas(),
        success=bool(result["success"]),
        statistics=_statistics(
            result["statistics"], len(checked_positions), len(row_failures), released
        ),
        report_html=paths.html,
        report_json=paths.json,
    )


def _statistics(
    expectations: Mapping[str, Any], checked: int, failing: int, released: int
) -> dict[str, int]:
    """GX's counts of expectations, and this module's counts of rows."""
    counts = {name: int(expectations[name]) for name in _EXPECTATION_COUNTS}
    return counts | {
        "rows_checked": checked,
        "rows_failing_checks": failing,
        "rows_released": released,
    }


def _nothing_checked(catalog: pd.DataFrame) -> ValidationOutcome:
    return ValidationOutcome(
        catalog=catalog,
        quarantine=pa.Table.from_pylist([], schema=QUARANTINE_SCHEMA).to_pandas(),
        success=True,
        statistics=_statistics(dict.fromkeys(_EXPECTATION_COUNTS, 0), 0, 0, 0),
        report_html=None,
        report_json=None,
    )


def _raise_for_broken_table(catalog: pd.DataFrame, failed: Sequence[FailedCheck]) -> None:
    """Wrong columns, or a check that could not even run (a type mismatch), is a pipeline bug."""
    if any(check.config["type"] == TABLE_CHECK for check in failed):
        missing = sorted(set(ITEM_COLUMNS) - set(catalog.columns))
        unexpected = sorted(set(catalog.columns) - set(ITEM_COLUMNS))
        raise CatalogSchemaError(
            f"catalog columns do not match ITEM_SCHEMA: missing {missing}, unexpected {unexpected}"
        )
    for check in failed:
        if check.errors:
            raise CatalogSchemaError(
                f"{check.name} could not run on the catalog"
                f" (a column of the wrong type?): {'; '.join(check.errors)}"
            )


def _failures_by_row(
    checked: pd.DataFrame, failed: Sequence[FailedCheck]
) -> dict[int, dict[str, str]]:
    """Row position in ``checked`` -> {check: reason}, checks in GX's result order.

    GX names each failing row by its item_id; where an item_id is duplicated, the failing
    value picks out the rows that hold it.
    """
    positions_by_id: dict[object, list[int]] = {}
    for position, item_id in enumerate(checked["item_id"]):
        positions_by_id.setdefault(None if pd.isna(item_id) else item_id, []).append(position)
    failures: dict[int, dict[str, str]] = {}
    for check in failed:
        column = check.config["kwargs"]["column"]
        for unexpected in check.rows:
            value = unexpected.get(column)
            positions = positions_by_id.get(unexpected["item_id"], [])
            if len(positions) > 1:
                cells = checked[column]
                positions = [p for p in positions if _same_value(cells.iloc[p], value)]
            reason = check.reason(value=_display(value))
            for position in positions:
                failures.setdefault(position, {}).setdefault(check.name, reason)
    return failures


def _same_value(cell: Any, value: Any) -> bool:
    """Equal, counting every missing marker (None, NaN, NA) as the same value."""
    cell_missing, value_missing = bool(pd.isna(cell)), bool(pd.isna(value))
    if cell_missing or value_missing:
        return cell_missing and value_missing
    return bool(cell == value)


def _display(value: object) -> str:
    """Integral floats (ints widened by nulls in pandas) read as ints in reasons."""
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _with_statuses(
    catalog: pd.DataFrame,
    checked_positions: list[int],
    row_failures: Mapping[int, Mapping[str, str]],
) -> tuple[pd.DataFrame, int]:
    """Quarantine failing rows; release rows that only validation had quarantined.

    Reasons written by other stages (e.g. the crawler) are kept in front of this stage's own.
    Returns the updated catalog and the number of rows released back to ``ok``.
    """
    status = catalog["status"].to_list()
    reasons = catalog["status_reason"].to_list()
    released = 0
    for position in checked_positions:
        own = row_failures.get(position)
        if not own and status[position] != "quarantined":
            continue
        foreign = _foreign_reason_parts(reasons[position])
        if own:
            status[position] = "quarantined"
            checks = [f"{check}: {reason}" for check, reason in own.items()]
            reasons[position] = REASON_SEPARATOR.join([*foreign, *checks])
        elif foreign:
            reasons[position] = REASON_SEPARATOR.join(foreign)
        else:
            status[position], reasons[position] = "ok", None
            released += 1
    updated = catalog.copy()
    updated["status"] = pd.Series(status, index=catalog.index, dtype=catalog["status"].dtype)
    updated["status_reason"] = pd.Series(
        reasons, index=catalog.index, dtype=catalog["status_reason"].dtype
    )
    return updated, released


def _foreign_reason_parts(status_reason: object) -> list[str]:
    """The parts of a status_reason that another stage wrote (so this one must keep them)."""
    if not isinstance(status_reason, str) or not status_reason:
        return []
    parts = _REASON_PARTS.split(status_reason)
    return [part for part in parts if not _OWN_REASON_PART.match(part)]


def _quarantine_records(
    catalog: pd.DataFrame, row_failures: Mapping[int, Mapping[str, str]], at: dt.datetime
) -> list[dict[str, Any]]:
    """One QUARANTINE_SCHEMA record per (item, failed check)."""
    records: list[dict[str, Any]] = []
    for position, checks in sorted(row_failures.items()):
        row = catalog.iloc[position]
        for check, reason in checks.items():
            records.append(
                {
                    "source": _text_or_none(row["source"]),
                    "url": _text_or_none(row["url"]),
                    "item_id": _text_or_none(row["item_id"]),
                    "stage": STAGE,
                    "check": check,
                    "reason": reason,
                    "at": at,
                }
            )
    return records


def _text_or_none(value: object) -> str | None:
    """A string cell, with pandas' missing markers (None, NaN, NA) as None."""
    return value if isinstance(value, str) else None
