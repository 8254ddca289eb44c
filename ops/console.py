"""Readable terminal output of the catalog, its quarantine and dataset versions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

console = Console()


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def catalog_table(catalog: pd.DataFrame, limit: int = 40) -> Table:
    table = Table(title=f"catalog: {len(catalog)} items", title_justify="left")
    for column in ("item_id", "kind", "title", "year", "duration", "size", "status"):
        table.add_column(column)
    for row in catalog.head(limit).itertuples():
        size = f"{row.width}x{row.height}" if pd.notna(row.width) else "-"
        table.add_row(
            row.item_id,
            _fmt(row.kind),
            _fmt(row.title)[:40],
            _fmt(row.year),
            f"{row.duration_s:.1f}s" if pd.notna(row.duration_s) else "-",
            size,
            row.status if row.status == "ok" else f"[yellow]{row.status}[/]",
        )
    if len(catalog) > limit:
        table.caption = f"... {len(catalog) - limit} more"
    return table


def kinds_table(catalog: pd.DataFrame) -> Table:
    table = Table(title="by kind", title_justify="left")
    for column in ("kind", "items", "ok", "total duration", "bytes"):
        table.add_column(column)
    for kind, group in catalog.groupby(catalog["kind"].fillna("unknown")):
        table.add_row(
            str(kind),
            str(len(group)),
            str(int((group["status"] == "ok").sum())),
            f"{group['duration_s'].fillna(0).sum():.1f}s",
            f"{int(group['bytes'].fillna(0).sum()):,}",
        )
    return table


def quarantine_table(quarantine: pd.DataFrame) -> Table:
    table = Table(title=f"quarantine: {len(quarantine)} refused", title_justify="left")
    for column in ("stage", "check", "url", "reason"):
        table.add_column(column, overflow="fold")
    for row in quarantine.itertuples():
        table.add_row(row.stage, row.check, row.url, row.reason)
    return table


def versions_table(versions: Iterable[Any]) -> Table:
    table = Table(title="dataset versions", title_justify="left")
    for column in ("tag", "commit", "created", "message"):
        table.add_column(column)
    for version in versions:
        table.add_row(
            version.tag,
            version.commit[:10],
            f"{version.created_at:%Y-%m-%d %H:%M}",
            version.message,
        )
    return table


def stats_table(title: str, stats: dict[str, Any]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    for key, value in stats.items():
        table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    return table
