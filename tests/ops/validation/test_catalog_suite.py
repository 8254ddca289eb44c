"""Real Great Expectations runs of the catalog suite on small hand-made catalogs."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from ops.catalog.schema import ITEM_COLUMNS, ITEM_SCHEMA, QUARANTINE_SCHEMA
from ops.settings import Settings
from ops.validation.catalog_suite import (
    CatalogSchemaError,
    ValidationOutcome,
    build_catalog_suite,
    validate_catalog,
)

SEEN = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
NEXT_YEAR = dt.datetime.now(dt.UTC).year + 1
MAX_BYTES = 10_000_000


def video(item_id: str, **changes: object) -> dict[str, object]:
    """A catalog row of a healthy video with sound; ``changes`` break one thing."""
    row: dict[str, object] = {
        "item_id": item_id,
        "source": "archive",
        "url": f"https://archive.example/{item_id}.mp4",
        "kind": "video",
        "sha256": "0123456789abcdef" * 4,
        "bytes": 1_000_000,
        "version": 1,
        "mime": "video/mp4",
        "file_name": f"{item_id}.mp4",
        "duration_s": 12.5,
        "fps": 25.0,
        "width": 640,
        "height": 360,
        "audio_sample_rate": 48_000,
        "audio_channels": 2,
        "video_codec": "h264",
        "audio_codec": "aac",
        "frames_decoded": 312,
        "probe_error": None,
        "title": f"Film {item_id}",
        "description": None,
        "year": 1999,
        "tags": ["drama"],
        "people": [],
        "licence": "CC-BY",
        "expects_audio": True,
        "etag": None,
        "last_modified": None,
        "first_seen": SEEN,
        "last_seen": SEEN,
        "status": "ok",
        "status_reason": None,
    }
    row.update(changes)
    return row


def audio(item_id: str, **changes: object) -> dict[str, object]:
    """A healthy music track (no picture)."""
    track = {
        "kind": "audio",
        "mime": "audio/ogg",
        "duration_s": 30.0,
        "fps": None,
        "width": None,
        "height": None,
        "video_codec": None,
        "audio_codec": "vorbis",
        "audio_sample_rate": 22_050,
        "audio_channels": 1,
        "frames_decoded": None,
        "expects_audio": None,
    }
    return video(item_id, **{**track, **changes})


def image(item_id: str, **changes: object) -> dict[str, object]:
    """A healthy image, as small as the default settings allow."""
    picture = {
        "kind": "image",
        "mime": "image/png",
        "duration_s": None,
        "fps": None,
        "width": 32,
        "height": 32,
        "video_codec": None,
        "audio_codec": None,
        "audio_sample_rate": None,
        "audio_channels": None,
        "frames_decoded": None,
        "expects_audio": None,
    }
    return video(item_id, **{**picture, **changes})


def catalog_of(*rows: dict[str, object]) -> pd.DataFrame:
    """The DataFrame the pipeline gets from reading the catalog Parquet file."""
    return pa.Table.from_pylist(list(rows), schema=ITEM_SCHEMA).to_pandas()


def settings_for(home: Path) -> Settings:
    return Settings(home=home, max_download_bytes=MAX_BYTES)


def rows_by_id(outcome: ValidationOutcome) -> dict[object, pd.Series]:
    return {row["item_id"]: row for _, row in outcome.catalog.iterrows()}


HEALTHY = [
    video("clean-video"),
    video("silent-film", expects_audio=False, audio_channels=None, audio_sample_rate=None),
    audio("clean-track"),
    image("small-image"),
]

# item, the one defect, the check it must fail, a word the reason must contain
DEFECTS: list[tuple[dict[str, object], str, str]] = [
    (video("no-sha", sha256=None), "expect_column_values_to_not_be_null(sha256)", "missing"),
    (video("bad-sha", sha256="ABC"), "expect_column_values_to_match_regex(sha256)", "sha256"),
    (video("no-kind", kind=None), "expect_column_values_to_not_be_null(kind)", "missing kind"),
    (video("bad-kind", kind="text"), "expect_column_values_to_be_in_set(kind)", "unknown kind"),
    (video("empty-file", bytes=0), "expect_column_values_to_be_between(bytes)", "size"),
    (video("huge-file", bytes=MAX_BYTES + 1), "expect_column_values_to_be_between(bytes)", "size"),
    (video("no-title", title=None), "expect_column_values_to_not_be_null(title)", "missing title"),
    (video("blank-title", title="  \t"), "expect_column_values_to_match_regex(title)", "blank"),
    (video("too-old", year=1850), "expect_column_values_to_be_between(year)", "1850"),
    (video("future", year=NEXT_YEAR + 1), "expect_column_values_to_be_between(year)", "year"),
    (
        video("no-scheme", url="archive.example/x"),
        "expect_column_values_to_match_regex(url)",
        "url",
    ),
    (
        video("broken", probe_error="moov atom not found", frames_decoded=0, fps=None, width=None),
        "expect_column_values_to_be_null(probe_error)",
        "not decodable: moov atom not found",
    ),
    (
        image("bomb", probe_error="over the pixel cap", width=None, height=None),
        "expect_column_values_to_be_null(probe_error)",
        "not decodable: over the pixel cap",
    ),
    (
        video("no-frames", frames_decoded=0),
        "expect_column_values_to_be_between(frames_decoded)",
        "no frames",
    ),
    (video("no-fps", fps=None), "expect_column_values_to_not_be_null(fps)", "missing fps"),
    (video("fast", fps=1000.0), "expect_column_values_to_be_between(fps)", "frame rate"),
    (video("blip", duration_s=0.01), "expect_column_values_to_be_between(duration_s)", "duration"),
    (video("narrow", width=16), "expect_column_values_to_be_between(width)", "too small"),
    (video("flat", height=8), "expect_column_values_to_be_between(height)", "too small"),
    (video("no-picture", width=None), "expect_column_values_to_not_be_null(width)", "width"),
    (
        video("mute", audio_channels=None, audio_sample_rate=None),
        "expect_column_values_to_not_be_null(audio_channels)",
        "no audio",
    ),
    (
        video("zero-channels", audio_channels=0),
        "expect_column_values_to_be_between(audio_channels)",
        "no audio",
    ),
    (
        audio("streamless", audio_channels=None),
        "expect_column_values_to_not_be_null(audio_channels)",
        "no audio",
    ),
    (
        audio("empty-track", duration_s=0.0),
        "expect_column_values_to_be_between(duration_s)",
        "empty",
    ),
    (
        audio("low-rate", audio_sample_rate=4_000),
        "expect_column_values_to_be_between(audio_sample_rate)",
        "sample rate",
    ),
    (image("zero-width", width=0), "expect_column_values_to_be_between(width)", "too small"),
    (
        image("narrow-image", width=4),
        "expect_column_values_to_be_between(width)",
        "too small: image is 4 px wide, images need at least 32",
    ),
    (
        image("sliver", height=4),
        "expect_column_values_to_be_between(height)",
        "too small: image is 4 px high, images need at least 32",
    ),
]
VANISHED = video("gone", status="vanished", sha256="nope", width=1, title=None)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> ValidationOutcome:
    """One run over healthy rows, one row per defect and a broken vanished row."""
    catalog = catalog_of(*HEALTHY, *(row for row, _, _ in DEFECTS), VANISHED)
    home = tmp_path_factory.mktemp("home")
    return validate_catalog(catalog, settings_for(home), run_name="mixed")


@pytest.mark.parametrize(
    ("row", "check", "keyword"), DEFECTS, ids=[str(row["item_id"]) for row, _, _ in DEFECTS]
)
def test_each_defect_quarantines_exactly_its_row(
    mixed: ValidationOutcome, row: dict[str, object], check: str, keyword: str
) -> None:
    item_id = row["item_id"]
    records = mixed.quarantine[mixed.quarantine["item_id"] == item_id]
    assert records["check"].tolist() == [check]
    assert keyword in records["reason"].iloc[0]
    assert set(mixed.quarantine.loc[mixed.quarantine["check"] == check, "item_id"]) <= {
        str(defect["item_id"]) for defect, defect_check, _ in DEFECTS if defect_check == check
    }
    updated = rows_by_id(mixed)[item_id]
    assert updated["status"] == "quarantined"
    assert updated["status_reason"] == f"{check}: {records['reason'].iloc[0]}"


def test_healthy_and_vanished_rows_are_left_alone(mixed: ValidationOutcome) -> None:
    rows = rows_by_id(mixed)
    for healthy in HEALTHY:
        assert rows[healthy["item_id"]]["status"] == "ok"
        assert pd.isna(rows[healthy["item_id"]]["status_reason"])
    assert rows["gone"]["status"] == "vanished"
    assert "gone" not in set(mixed.quarantine["item_id"])
    assert len(mixed.catalog) == len(HEALTHY) + len(DEFECTS) + 1


def test_outcome_statistics_and_quarantine_contract(mixed: ValidationOutcome) -> None:
    assert not mixed.success
    assert mixed.statistics["rows_checked"] == len(HEALTHY) + len(DEFECTS)
    assert mixed.statistics["rows_failing_checks"] == len(DEFECTS)
    assert mixed.statistics["unsuccessful_expectations"] > 0
    assert (
        mixed.statistics["successful_expectations"] + mixed.statistics["unsuccessful_expectations"]
        == mixed.statistics["evaluated_expectations"]
    )
    assert list(mixed.quarantine.columns) == QUARANTINE_SCHEMA.names
    assert set(mixed.quarantine["stage"]) == {"validate"}
    assert set(mixed.quarantine["source"]) == {"archive"}
    pa.Table.from_pandas(mixed.quarantine, schema=QUARANTINE_SCHEMA, preserve_index=False)


def test_reports_name_failed_items_and_reasons(mixed: ValidationOutcome) -> None:
    page = mixed.report_html.read_text()
    assert mixed.report_html.name == "mixed.html"
    assert (mixed.report_html.parent / "latest.html").read_text() == page
    for item_id in ("broken", "narrow", "mute"):
        assert f"<td>{item_id}</td>" in page
    assert "not decodable: moov atom not found" in page
    assert "too small: 16 px wide, videos need at least 32" in page
    raw = json.loads(mixed.report_json.read_text())
    assert raw["suite_name"] == "catalog"
    assert raw["success"] is False
    failing = [r for r in raw["results"] if not r["success"]]
    assert all("unexpected_index_list" in r["result"] for r in failing)


def test_one_pixel_image_is_quarantined_for_its_size(tmp_path: Path) -> None:
    outcome = validate_catalog(
        catalog_of(image("pixel", width=1, height=1)), settings_for(tmp_path), run_name="pixel"
    )
    assert outcome.catalog["status"].tolist() == ["quarantined"]
    assert outcome.quarantine["reason"].tolist() == [
        "too small: image is 1 px wide, images need at least 32",
        "too small: image is 1 px high, images need at least 32",
    ]


def test_clean_catalog_passes(tmp_path: Path) -> None:
    outcome = validate_catalog(catalog_of(*HEALTHY), settings_for(tmp_path), run_name="clean")
    assert outcome.success
    assert outcome.quarantine.empty
    assert list(outcome.quarantine.columns) == QUARANTINE_SCHEMA.names
    assert set(outcome.catalog["status"]) == {"ok"}
    assert outcome.statistics["unsuccessful_expectations"] == 0
    assert outcome.report_json.exists()
    assert "No items quarantined" in outcome.report_html.read_text()


def test_quarantined_rows_are_released_or_requarantined(tmp_path: Path) -> None:
    stale = (
        "expect_column_values_to_be_between(width): too small: 8 px wide, videos need at least 32"
    )
    catalog = catalog_of(
        video("fixed", status="quarantined", status_reason=stale),
        video("crawl-refused", status="quarantined", status_reason="download refused: too big"),
        video(
            "still-bad", status="quarantined", status_reason=f"download refused; {stale}", fps=0.5
        ),
    )
    outcome = validate_catalog(catalog, settings_for(tmp_path), run_name="recheck")
    rows = rows_by_id(outcome)
    assert rows["fixed"]["status"] == "ok"
    assert pd.isna(rows["fixed"]["status_reason"])
    assert rows["crawl-refused"]["status"] == "quarantined"
    assert rows["crawl-refused"]["status_reason"] == "download refused: too big"
    assert rows["still-bad"]["status"] == "quarantined"
    assert rows["still-bad"]["status_reason"].startswith(
        "download refused; expect_column_values_to_be_between(fps): implausible frame rate: 0.5"
    )
    assert "width" not in rows["still-bad"]["status_reason"]
    assert outcome.statistics["rows_released"] == 1
    assert outcome.quarantine["item_id"].tolist() == ["still-bad"]


def test_duplicated_item_id_quarantines_both_rows_and_only_the_bad_copy_for_its_defect(
    tmp_path: Path,
) -> None:
    catalog = catalog_of(video("twin"), video("twin", width=10), video("single"))
    outcome = validate_catalog(catalog, settings_for(tmp_path), run_name="twins")
    assert outcome.catalog["status"].tolist() == ["quarantined", "quarantined", "ok"]
    unique_check = "expect_column_values_to_be_unique(item_id)"
    assert outcome.quarantine["check"].tolist().count(unique_check) == 2
    assert "duplicate item_id: twin" in outcome.catalog["status_reason"].iloc[0]
    assert "width" not in outcome.catalog["status_reason"].iloc[0]
    assert "too small" in outcome.catalog["status_reason"].iloc[1]


def test_missing_item_id_is_quarantined(tmp_path: Path) -> None:
    catalog = catalog_of(video("named"), video("unnamed"))
    catalog.loc[1, "item_id"] = None
    outcome = validate_catalog(catalog, settings_for(tmp_path), run_name="unnamed")
    assert outcome.catalog["status"].tolist() == ["ok", "quarantined"]
    assert outcome.quarantine["check"].tolist() == ["expect_column_values_to_not_be_null(item_id)"]
    assert outcome.quarantine["url"].tolist() == ["https://archive.example/unnamed.mp4"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda frame: frame.drop(columns=["etag"]), "missing ['etag']"),
        (lambda frame: frame.assign(score=1.0), "unexpected ['score']"),
        (lambda frame: frame.assign(bytes=frame["bytes"].astype(str)), "between(bytes)"),
    ],
    ids=["missing-column", "extra-column", "wrong-type"],
)
def test_malformed_table_raises_schema_error(
    tmp_path: Path, change: Callable[[pd.DataFrame], pd.DataFrame], message: str
) -> None:
    catalog = change(catalog_of(*HEALTHY))
    with pytest.raises(CatalogSchemaError, match=re.escape(message)):
        validate_catalog(catalog, settings_for(tmp_path), run_name="malformed")
    assert not (tmp_path / "reports" / "validation" / "malformed.html").exists()


def test_catalog_of_only_vanished_rows_passes(tmp_path: Path) -> None:
    outcome = validate_catalog(catalog_of(VANISHED), settings_for(tmp_path), run_name="empty")
    assert outcome.success
    assert outcome.statistics["rows_checked"] == 0
    assert outcome.catalog["status"].tolist() == ["vanished"]


def test_validation_keeps_great_expectations_quiet(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gx_logger = logging.getLogger("great_expectations")
    level_before = gx_logger.level
    caplog.set_level(logging.INFO)
    validate_catalog(catalog_of(*HEALTHY), settings_for(tmp_path), run_name="quiet")
    chatter = [
        r for r in caplog.records if r.name.startswith("great_expectations") and r.levelno < 30
    ]
    assert chatter == []
    assert gx_logger.level == level_before


def test_bad_run_name_is_refused_before_validating(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="run name"):
        validate_catalog(catalog_of(*HEALTHY), settings_for(tmp_path), run_name="../escape")


def test_suite_takes_thresholds_from_settings(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path, min_video_width=100, min_image_height=20, max_duration_s=60.0
    )
    suite = build_catalog_suite(settings)
    assert suite.name == "catalog"
    configs = [e.configuration for e in suite.expectations]
    bounds = {
        (c.type, c.kwargs["column"], c.kwargs.get("min_value"), c.kwargs.get("max_value"))
        for c in configs
        if "column" in c.kwargs
    }
    assert ("expect_column_values_to_be_between", "width", 100, None) in bounds
    assert ("expect_column_values_to_be_between", "height", 20, None) in bounds
    assert ("expect_column_values_to_be_between", "duration_s", 0.04, 60.0) in bounds
    table = next(c for c in configs if c.type == "expect_table_columns_to_match_set")
    assert set(table.kwargs["column_set"]) == set(ITEM_COLUMNS)


def test_only_the_named_rows_are_checked_and_none_named_runs_nothing(tmp_path: Path) -> None:
    catalog = catalog_of(video("untouched", width=8), video("merged", fps=0.5), video("fine"))
    outcome = validate_catalog(
        catalog, settings_for(tmp_path), run_name="delta", only={"merged", "fine"}
    )
    assert rows_by_id(outcome)["untouched"]["status"] == "ok"  # not looked at again
    assert rows_by_id(outcome)["merged"]["status"] == "quarantined"
    assert outcome.quarantine["item_id"].tolist() == ["merged"]
    assert outcome.statistics["rows_checked"] == 2

    nothing = validate_catalog(catalog, settings_for(tmp_path), run_name="idle", only=set())
    assert nothing.success and nothing.statistics["rows_checked"] == 0
    assert nothing.report_html is None and nothing.quarantine.empty
    assert nothing.catalog is catalog
    assert not (tmp_path / "reports" / "validation" / "idle.html").exists()
