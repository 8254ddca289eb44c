"""The catalog tables on disk: damage is a clear error, the lock dies with its holder, the
rows awaiting validation are remembered."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from ops.catalog.store import (
    TableUnreadable,
    catalog_lock,
    mark_unvalidated,
    mark_validated,
    needs_validation,
    read_catalog,
    rows_to_validate,
    write_catalog,
)
from ops.cli import app
from ops.settings import Settings

runner = CliRunner()


def one_item() -> pd.DataFrame:
    return pd.DataFrame(
        [{"item_id": "a", "source": "inbox", "url": "file:///a.png", "status": "ok"}]
    )


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:40])


def test_truncated_catalog_names_the_file_and_the_repair(home: Settings) -> None:
    write_catalog(one_item(), home.catalog_path)
    truncate(home.catalog_path)

    with pytest.raises(TableUnreadable) as raised:
        read_catalog(home.catalog_path)

    message = str(raised.value)
    assert str(home.catalog_path) in message
    assert "cinescope datasets restore catalog/vN" in message


@pytest.mark.parametrize("command", [["catalog"], ["quarantine"], ["ingest"], ["refresh"]])
def test_commands_report_a_truncated_catalog_without_a_traceback(
    home: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text(f"sources:\n  - {{name: inbox, kind: local, path: '{tmp_path}'}}\n")
    monkeypatch.setenv("CINESCOPE_SOURCES_FILE", str(sources))
    write_catalog(one_item(), home.catalog_path)
    truncate(home.catalog_path)

    result = runner.invoke(app, command)

    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # a message, not an uncaught error
    assert "cinescope datasets restore catalog/vN" in result.output
    assert "catalog.parquet" in result.output


def test_a_restored_revision_is_readable_without_its_volatile_columns(home: Settings) -> None:
    """The repair copies a revision's catalog.parquet, which has no last_seen column."""
    write_catalog(one_item(), home.catalog_path)
    table = pq.read_table(home.catalog_path)
    pq.write_table(table.drop_columns(["last_seen"]), home.catalog_path)

    restored = read_catalog(home.catalog_path)

    assert restored["item_id"].tolist() == ["a"] and restored["last_seen"].isna().all()


HOLD_LOCK = """
import sys, time
from ops.catalog.store import catalog_lock
from ops.settings import Settings
with catalog_lock(Settings(home=sys.argv[1])):
    print("locked", flush=True)
    time.sleep(600)
"""


def test_catalog_lock_waits_for_a_live_holder_and_is_free_once_it_is_killed(
    home: Settings,
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(home.home)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    waits: list[str] = []

    def kill_holder(message: str) -> None:
        waits.append(message)
        holder.kill()  # kill -9 while it holds the lock: no clean-up runs
        holder.wait()

    with catalog_lock(home, on_wait=kill_holder):
        acquired = True

    assert acquired and len(waits) == 1 and f"pid {holder.pid}" in waits[0]
    assert holder.stdout.read() == ""


def test_rows_awaiting_validation_add_up_until_a_validation(home: Settings) -> None:
    assert rows_to_validate(home) is None  # nothing merged: a validation checks every row
    mark_unvalidated(home, ["a"])
    mark_unvalidated(home, ["b"])  # a second merge before any validation
    assert rows_to_validate(home) == {"a", "b"}
    mark_unvalidated(home, None)
    mark_unvalidated(home, ["c"])
    assert rows_to_validate(home) is None
    mark_validated(home)
    mark_unvalidated(home, [])
    assert rows_to_validate(home) == frozenset() and needs_validation(home)
    (home.tables_dir / "catalog.unvalidated").write_text("merged rows await validation\n")
    assert rows_to_validate(home) is None  # a mark an older version left: every row
