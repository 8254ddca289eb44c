from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from ops.catalog.merge import merge_rows
from ops.catalog.schema import ITEM_SCHEMA
from ops.catalog.store import empty_frame
from ops.ingest.pipeline import StagedSource

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def row(item_id: str, sha: str | None, status: str = "new", **extra: Any) -> dict[str, Any]:
    return {
        "item_id": item_id,
        "source": "web",
        "url": f"http://h/{item_id}",
        "sha256": sha,
        "bytes": 10,
        "title": f"title {item_id}",
        "tags": ["a"],
        "fetch_status": status,
        **extra,
    }


def staged(rows: list[dict[str, Any]], complete: bool = True) -> tuple[StagedSource, list]:
    ids = [r["item_id"] for r in rows]
    ref = StagedSource(
        source="web",
        run_id="run",
        items_path="",
        refusals_path="",
        complete=complete,
        seen_item_ids=ids,
    )
    return ref, rows


def test_lifecycle_new_unchanged_changed_vanished_reappeared() -> None:
    sha_a, sha_b, sha_a2 = "a" * 64, "b" * 64, "c" * 64
    first, _, stats = merge_rows(
        empty_frame(ITEM_SCHEMA), [staged([row("A", sha_a), row("B", sha_b)])], T0
    )
    assert sorted(stats.new) == ["A", "B"]
    assert set(first["version"]) == {1}

    t1 = T0 + timedelta(hours=1)
    second, _, stats = merge_rows(
        first, [staged([row("A", None, "not_modified"), row("B", sha_b)])], t1
    )
    assert stats.unchanged == 2 and not stats.new and not stats.changed
    assert (second["first_seen"] == T0).all() and (second["last_seen"] == t1).all()

    third, _, stats = merge_rows(second, [staged([row("A", sha_a2)])], t1)
    by_id = third.set_index("item_id")
    assert stats.changed == ["A"] and by_id.loc["A", "version"] == 2
    assert by_id.loc["A", "sha256"] == sha_a2
    assert stats.vanished == ["B"] and by_id.loc["B", "status"] == "vanished"
    assert len(third) == 2  # vanished items are kept

    fourth, _, stats = merge_rows(
        third, [staged([row("A", None, "not_modified"), row("B", sha_b)])], t1
    )
    assert stats.reappeared == ["B"]
    assert fourth.set_index("item_id").loc["B", "status"] == "ok"


def test_incomplete_crawl_marks_nothing_vanished() -> None:
    first, _, _ = merge_rows(empty_frame(ITEM_SCHEMA), [staged([row("A", "a" * 64)])], T0)
    after, _, stats = merge_rows(first, [staged([], complete=False)], T0)
    assert not stats.vanished and after["status"].tolist() == ["ok"]


def test_same_content_under_two_urls_is_a_duplicate() -> None:
    catalog, duplicates, stats = merge_rows(
        empty_frame(ITEM_SCHEMA), [staged([row("A", "a" * 64), row("B", "a" * 64)])], T0
    )
    status = catalog.set_index("item_id")["status"].to_dict()
    assert status == {"A": "ok", "B": "quarantined"}
    assert stats.duplicates == 1
    assert duplicates[0]["url"] == "http://h/B"
    assert "duplicate of item A" in duplicates[0]["reason"]


def test_metadata_change_updates_in_place_without_new_version() -> None:
    first, _, _ = merge_rows(empty_frame(ITEM_SCHEMA), [staged([row("A", "a" * 64)])], T0)
    after, _, stats = merge_rows(
        first, [staged([row("A", None, "not_modified", title="Renamed")])], T0
    )
    item = after.set_index("item_id").loc["A"]
    assert item["title"] == "Renamed" and item["version"] == 1
    assert stats.metadata_updated == 1


def bare(item_id: str, sha: str | None, status: str = "new") -> dict[str, Any]:
    """A copy with no metadata beyond what the file name gives (no sidecar, no page)."""
    return row(item_id, sha, status, title=None, tags=[])


def test_duplicate_keeps_the_copy_with_the_most_metadata() -> None:
    rich = row("B", "a" * 64, year=2016, people=["Barack Obama"], description="speech")
    catalog, duplicates, stats = merge_rows(
        empty_frame(ITEM_SCHEMA), [staged([bare("A", "a" * 64), rich])], T0
    )
    by_id = catalog.set_index("item_id")
    assert by_id.loc["B", "status"] == "ok" and by_id.loc["B", "year"] == 2016
    assert by_id.loc["A", "status"] == "quarantined"
    assert by_id.loc["A", "status_reason"].startswith("duplicate of item B")
    assert [d["item_id"] for d in duplicates] == ["A"] and stats.duplicates == 1


def test_a_richer_copy_arriving_later_takes_over() -> None:
    first, _, _ = merge_rows(empty_frame(ITEM_SCHEMA), [staged([bare("A", "a" * 64)])], T0)
    rich = row("B", "a" * 64, year=2016, people=["Barack Obama"])
    later = T0 + timedelta(hours=1)
    after, _, _ = merge_rows(first, [staged([bare("A", None, "not_modified"), rich])], later)
    status = after.set_index("item_id")["status"].to_dict()
    assert status == {"A": "quarantined", "B": "ok"}


def test_equal_metadata_keeps_the_first_seen_copy() -> None:
    first, _, _ = merge_rows(empty_frame(ITEM_SCHEMA), [staged([row("B", "a" * 64)])], T0)
    later = T0 + timedelta(hours=1)
    after, _, _ = merge_rows(
        first, [staged([row("A", "a" * 64), row("B", None, "not_modified")])], later
    )
    assert after.set_index("item_id")["status"].to_dict() == {"A": "quarantined", "B": "ok"}


def test_duplicate_is_released_when_its_kept_copy_vanishes() -> None:
    rich = row("B", "a" * 64, year=2016)
    first, _, _ = merge_rows(empty_frame(ITEM_SCHEMA), [staged([bare("A", "a" * 64), rich])], T0)
    assert first.set_index("item_id").loc["A", "status"] == "quarantined"
    later = T0 + timedelta(hours=1)
    after, duplicates, stats = merge_rows(first, [staged([bare("A", None, "not_modified")])], later)
    by_id = after.set_index("item_id")
    assert by_id.loc["B", "status"] == "vanished"
    assert by_id.loc["A", "status"] == "ok" and pd.isna(by_id.loc["A", "status_reason"])
    assert stats.duplicates_released == ["A"] and duplicates == []


def test_released_duplicate_keeps_the_reasons_of_other_stages() -> None:
    first, _, _ = merge_rows(
        empty_frame(ITEM_SCHEMA), [staged([bare("A", "a" * 64), row("B", "a" * 64)])], T0
    )
    first.loc[first["item_id"] == "A", "status_reason"] += "; expect_x(title): missing title"
    after, _, _ = merge_rows(first, [staged([bare("A", None, "not_modified")])], T0)
    item = after.set_index("item_id").loc["A"]
    assert item["status"] == "quarantined"
    assert item["status_reason"] == "expect_x(title): missing title"


def test_only_rows_that_changed_are_sent_to_validation() -> None:
    sha_a, sha_b = "a" * 64, "b" * 64
    rows = [row("A", sha_a), row("B", sha_b), bare("C", sha_a)]  # C: a duplicate of A
    first, _, stats = merge_rows(empty_frame(ITEM_SCHEMA), [staged(rows)], T0)
    assert stats.touched == {"A", "B", "C"}

    later = T0 + timedelta(hours=1)
    same = [
        row("A", None, "unchanged"),
        row("B", None, "not_modified"),
        bare("C", None, "unchanged"),
    ]
    second, _, stats = merge_rows(first, [staged(same)], later)
    assert stats.touched == set() and stats.duplicates == 1  # still a duplicate: unchanged
    assert (second["last_seen"] == later).all()

    changed = [row("A", None, "unchanged", title="Renamed"), row("B", "c" * 64)]
    _, _, stats = merge_rows(second, [staged(changed)], later)
    assert stats.touched == {"A", "B", "C"}  # renamed, new content, vanished
