"""Scene annotations: parse, validate with Great Expectations, and version in the registry.

An annotation file is a CSV of ``item_id,start_s,end_s,label`` rows, one per labelled
scene. A file that is not such a CSV at all (missing columns, binary, a time that is not a
number) is refused whole, naming the line; a well-formed file is checked row by row by a
GX suite, and each failing row is refused with its reason while the good rows are kept,
because one typo must not throw away an afternoon of labelling.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ops.datasets.registry import DataRegistry, DatasetVersion
from ops.scene.dataset_files import ANNOTATIONS_NAME, CUES_NAME, MEDIA_NAME
from ops.settings import Settings
from ops.validation.failures import failed_checks
from ops.validation.report import check_name
from ops.validation.runner import quiet_great_expectations, run_suite

if TYPE_CHECKING:
    import great_expectations as gx

DATASET = "labels/scene"
COLUMNS = ("item_id", "start_s", "end_s", "label")
LINE = "line"  # the file line of a row: how GX results and people find it
SUITE_NAME = "scene-annotations"
REASON_SEPARATOR = "; "


TrainingData = Literal["generated", "real"]
GENERATED: TrainingData = "generated"
REAL: TrainingData = "real"


def training_data_origin(dataset_dir: Path) -> TrainingData:
    """``generated`` for a stand-in made by ``ops.scene.synthetic``, ``real`` otherwise.

    The generator writes ``cues.csv``, the cue log its annotations are derived from; no
    labelled footage has one, so its presence is what marks a dataset as generated.
    """
    return GENERATED if (dataset_dir / CUES_NAME).is_file() else REAL


class AnnotationError(ValueError):
    """The annotation file cannot be used at all; the message names the file, line and why."""


@dataclass(frozen=True)
class AnnotationCheck:
    """Rows kept (``COLUMNS``), rows refused (``line``, ``COLUMNS``, ``reason``), a summary."""

    valid: pd.DataFrame
    refused: pd.DataFrame
    report: dict[str, Any]


def read_annotations(
    path: Path,
    *,
    known_labels: Sequence[str] | None = None,
    durations: Mapping[str, float] | None = None,
) -> AnnotationCheck:
    """Parse and validate an annotation file; raise :class:`AnnotationError` if no row is usable.

    ``known_labels``: the label vocabulary (None: any label). ``durations``: item lengths
    in seconds, for the items whose length is known; an annotation must end within them.
    """
    rows = _parse(path)
    checked = _with_derived_columns(rows, durations or {})
    with quiet_great_expectations():
        result = run_suite(checked, build_annotation_suite(known_labels), index_column=LINE)
    reasons = _reasons_by_line(checked, result)
    refused_mask = checked[LINE].isin(list(reasons))
    valid = checked.loc[~refused_mask, list(COLUMNS)].reset_index(drop=True)
    refused = checked.loc[refused_mask, [LINE, *COLUMNS]].reset_index(drop=True)
    refused["reason"] = [REASON_SEPARATOR.join(reasons[line]) for line in refused[LINE]]
    report = _summary(path, checked, refused, result)
    if valid.empty:
        examples = "; ".join(
            f"line {line}: {reason}"
            for line, reason in zip(refused[LINE], refused["reason"], strict=True)
        )
        raise AnnotationError(
            f"{path}: no valid annotation, all {len(checked)} rows refused ({examples[:500]})"
        )
    return AnnotationCheck(valid=valid, refused=refused, report=report)


def build_annotation_suite(known_labels: Sequence[str] | None) -> gx.ExpectationSuite:
    """The row checks; each ``meta.reason`` is formatted with the failing row's values."""
    import great_expectations as gx

    expect = gx.expectations

    def present(column: str) -> Any:
        return expect.ExpectColumnValuesToNotBeNull(
            column=column,
            description=f"{column} is present",
            meta={"reason": f"missing {column}"},
        )

    expectations = [
        present("item_id"),
        present("label"),
        present("start_s"),
        present("end_s"),
        expect.ExpectColumnValuesToBeBetween(
            column="start_s",
            min_value=0,
            description="scenes start at or after 0 s",
            meta={"reason": "start_s is negative: {start_s}"},
        ),
        expect.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="end_s",
            column_B="start_s",
            or_equal=False,
            ignore_row_if="either_value_is_missing",
            description="scenes end after they start",
            meta={"reason": "end_s {end_s} is not after start_s {start_s}"},
        ),
        expect.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="duration_s",
            column_B="end_s",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
            description="scenes end within their item, when its duration is known",
            meta={"reason": "end_s {end_s} is past the end of {item_id} ({duration_s} s)"},
        ),
        expect.ExpectColumnValuesToBeNull(
            column="duplicate_of",
            description="no row repeats an earlier one exactly",
            meta={"reason": "exact duplicate of line {duplicate_of}"},
        ),
        expect.ExpectColumnValuesToBeNull(
            column="overlaps_line",
            description="annotations of one label on one item do not overlap",
            meta={"reason": "overlaps the {label} annotation on line {overlaps_line}"},
        ),
    ]
    if known_labels is not None:
        vocabulary = sorted(set(known_labels))
        expectations.append(
            expect.ExpectColumnValuesToBeInSet(
                column="label",
                value_set=vocabulary,
                description=f"label is one of {', '.join(vocabulary)}",
                meta={"reason": f"unknown label {{label}} (known: {', '.join(vocabulary)})"},
            )
        )
    return gx.ExpectationSuite(name=SUITE_NAME, expectations=expectations)


def dataset_files(dataset_dir: Path) -> dict[str, Path]:
    """Every visible file under ``dataset_dir`` by its POSIX path relative to it."""
    files = {}
    for path in sorted(dataset_dir.rglob("*")):
        name = path.relative_to(dataset_dir).as_posix()
        if path.is_file() and not any(part.startswith(".") for part in name.split("/")):
            files[name] = path
    return files


def dataset_digest(files: Mapping[str, Path]) -> str:
    """One digest of names and contents: how a folder is matched to a registry version."""
    digests = {}
    for name, path in sorted(files.items()):
        with open(path, "rb") as handle:
            digests[name] = hashlib.file_digest(handle, "sha256").hexdigest()
    canonical = json.dumps(digests, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def version_labels(
    dataset_dir: Path, settings: Settings, *, dataset: str = DATASET
) -> DatasetVersion | None:
    """Commit the whole labelled folder as the next ``<dataset>/vN``; None if unchanged."""
    files = dataset_files(dataset_dir)
    missing = [name for name in (ANNOTATIONS_NAME, MEDIA_NAME) if name not in files]
    if missing:
        raise FileNotFoundError(f"{dataset_dir} is not a labelled dataset: no {', '.join(missing)}")
    annotations = _parse(files[ANNOTATIONS_NAME])  # a malformed file is not worth a version
    media = pd.read_csv(files[MEDIA_NAME])
    metadata = {
        "content_sha256": dataset_digest(files),
        "annotations": len(annotations),
        "items": len(media),
        "files": len(files),
        "training_data": training_data_origin(dataset_dir),
    }
    return DataRegistry.from_settings(settings).commit(
        dataset,
        files,
        message=f"{len(annotations)} annotations on {len(media)} items",
        metadata=metadata,
    )


def matching_version(
    dataset_dir: Path, settings: Settings, *, dataset: str = DATASET
) -> DatasetVersion | None:
    """The newest registry version whose content equals ``dataset_dir``'s, if any."""
    versions = DataRegistry.from_settings(settings).versions(dataset)
    if not versions:
        return None
    digest = dataset_digest(dataset_files(dataset_dir))
    for version in reversed(versions):
        if version.metadata.get("content_sha256") == digest:
            return version
    return None


# -- parsing --------------------------------------------------------------------------------


def _parse(path: Path) -> pd.DataFrame:
    """The file's rows with their line numbers; raise AnnotationError for a malformed file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise AnnotationError(f"{path}: no such annotation file") from None
    except UnicodeDecodeError as exc:
        raise AnnotationError(
            f"{path}: not a text CSV file (byte {exc.start} is not UTF-8)"
        ) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise AnnotationError(f"{path}: line {line}: not a text CSV file (NUL byte)")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [name.strip() for name in next(reader, [])]
        missing = [column for column in COLUMNS if column not in header]
        if missing:
            raise AnnotationError(
                f"{path}: line 1: missing column(s) {', '.join(missing)}; "
                f"expected a header with {','.join(COLUMNS)}, found {','.join(header) or 'nothing'}"
            )
        if len(set(header)) != len(header):
            raise AnnotationError(f"{path}: line 1: repeated column names in {','.join(header)}")
        records = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(header):
                raise AnnotationError(
                    f"{path}: line {reader.line_num}: expected {len(header)} fields, "
                    f"got {len(cells)}"
                )
            records.append(_record(path, reader.line_num, dict(zip(header, cells, strict=True))))
    except csv.Error as exc:
        raise AnnotationError(f"{path}: line {reader.line_num}: not valid CSV: {exc}") from None
    if not records:
        raise AnnotationError(f"{path}: no annotation rows, only a header")
    frame = pd.DataFrame.from_records(records, columns=[LINE, *COLUMNS])
    return frame.astype({"start_s": "float64", "end_s": "float64"})


def _record(path: Path, line: int, cells: Mapping[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = {LINE: line}
    for column in ("item_id", "label"):
        record[column] = cells[column].strip() or None
    for column in ("start_s", "end_s"):
        text = cells[column].strip()
        if not text:
            record[column] = None
            continue
        try:
            value = float(text)
        except ValueError:
            raise AnnotationError(
                f"{path}: line {line}: {column} is not a number: {text!r}"
            ) from None
        if not math.isfinite(value):
            raise AnnotationError(f"{path}: line {line}: {column} is not finite: {text!r}")
        record[column] = value
    return record


def _with_derived_columns(rows: pd.DataFrame, durations: Mapping[str, float]) -> pd.DataFrame:
    """Add the columns the row-wise checks read: item duration, duplicate and overlap lines."""
    checked = rows.copy()
    checked["duration_s"] = [
        float(durations[item]) if item in durations else np.nan for item in checked["item_id"]
    ]
    first_line: dict[tuple[object, ...], int] = {}
    duplicate_of = []
    for record in checked[[LINE, *COLUMNS]].itertuples(index=False):
        key = tuple(record[1:])
        duplicate_of.append(first_line.setdefault(key, record[0]))
    checked["duplicate_of"] = [
        np.nan if first == line else float(first)
        for first, line in zip(duplicate_of, checked[LINE], strict=True)
    ]
    checked["overlaps_line"] = _overlaps(checked)
    return checked


def _overlaps(checked: pd.DataFrame) -> list[float]:
    """Per row, the line of an earlier-starting kept annotation of the same item and label
    that it overlaps (touching ends do not overlap); NaN when none.

    Only rows that could be valid take part, so a duplicate or a reversed interval is
    refused for that and not also reported as an overlap.
    """
    overlaps = pd.Series(np.nan, index=checked.index)
    candidates = checked[
        checked["item_id"].notna()
        & checked["label"].notna()
        & (checked["end_s"] > checked["start_s"])
        & checked["duplicate_of"].isna()
    ]
    ordered = candidates.sort_values(["item_id", "label", "start_s", LINE], kind="stable")
    for _, group in ordered.groupby(["item_id", "label"], sort=False):
        reach_s, reach_line = -math.inf, 0
        for index, row in group.iterrows():
            if row["start_s"] < reach_s:
                overlaps[index] = float(reach_line)
            elif row["end_s"] > reach_s:
                reach_s, reach_line = row["end_s"], row[LINE]
    return overlaps.tolist()


# -- validation -----------------------------------------------------------------------------


def _reasons_by_line(checked: pd.DataFrame, result: Mapping[str, Any]) -> dict[int, list[str]]:
    """Line -> the reasons its row was refused, in suite order."""
    rows_by_line = {int(row[LINE]): row for row in checked.to_dict("records")}
    reasons: dict[int, list[str]] = {}
    for check in failed_checks(result):
        if check.errors:
            raise RuntimeError(f"{check.name} could not run: {'; '.join(check.errors)}")
        for unexpected in check.rows:
            line = int(unexpected[LINE])
            values = {key: _display(value) for key, value in rows_by_line[line].items()}
            reasons.setdefault(line, []).append(check.reason(**values))
    return reasons


def _display(value: object) -> str:
    """Whole seconds and line numbers read as ints, missing values as 'null'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "null"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _summary(
    path: Path, checked: pd.DataFrame, refused: pd.DataFrame, result: Mapping[str, Any]
) -> dict[str, Any]:
    """A JSON-ready account of the run: counts, and each check's verdict."""
    return {
        "path": str(path),
        "suite": SUITE_NAME,
        "rows": len(checked),
        "valid": len(checked) - len(refused),
        "refused": len(refused),
        "success": bool(result["success"]),
        "checks": [
            {
                "check": check_name(entry["expectation_config"]),
                "description": entry["expectation_config"].get("description"),
                "success": bool(entry["success"]),
                "unexpected": int(entry["result"].get("unexpected_count") or 0),
            }
            for entry in result["results"]
        ],
    }
