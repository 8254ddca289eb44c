"""Readable terminal output of the catalog, its quarantine and dataset versions."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import pandas as pd
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from ops.catalog.schema import PROBE_COLUMNS

if TYPE_CHECKING:
    from ops.catalog.counts import CatalogCounts
    from ops.index.query import SearchPage, SimilarItem
    from ops.versioned import Version

console = Console()
error_console = Console(stderr=True)
"""Errors go to stderr, so a command's stdout holds only its answer (one JSON document
with ``--json``)."""


def progress_bar(*extra: ProgressColumn, terminal_only: bool = True) -> Progress:
    """The platform's progress bar (description, bar, n/total, elapsed, ``extra``).

    With ``terminal_only`` it stays silent off a terminal (logs, CI, Airflow), where
    the steps' own log lines tell the progress.
    """
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        *extra,
        console=console,
        transient=True,
        disable=terminal_only and not console.is_terminal,
    )


def _missing(value: Any) -> bool:
    """None, NaN, NaT or pd.NA; a list cell (people, labels) is never missing."""
    return value is None or (pd.api.types.is_scalar(value) and pd.isna(value))


def _fmt(value: Any) -> str:
    if _missing(value):
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _shown_size(row: Any) -> str:
    """The size a player shows, and why it differs from the stored pixels when it does."""
    if pd.isna(row.width) or pd.isna(row.height):
        return "-"
    if pd.isna(row.display_width) or pd.isna(row.display_height):
        return f"{row.width}x{row.height}"
    notes = []
    if pd.notna(row.rotation) and row.rotation:
        notes.append(f"rotated {row.rotation}°")
    if pd.notna(row.sample_aspect_ratio) and row.sample_aspect_ratio != 1:
        notes.append(f"{row.width}x{row.height} pixels of aspect {row.sample_aspect_ratio:g}")
    shown = f"{row.display_width}x{row.display_height}"
    return f"{shown} ({', '.join(notes)})" if notes else shown


def _frame_rate(row: Any) -> str:
    if pd.isna(row.fps):
        return "-"
    if pd.notna(row.vfr) and row.vfr:
        return f"{row.fps:.2f} (variable {row.min_fps:.2f}-{row.max_fps:.2f})"
    return f"{row.fps:.2f}"


def catalog_table(catalog: pd.DataFrame, limit: int = 40) -> Table:
    table = Table(title=f"catalog: {len(catalog)} items", title_justify="left")
    for column in ("item_id", "kind", "title", "year", "duration", "size", "fps", "status"):
        table.add_column(column)
    for row in catalog.head(limit).itertuples():
        table.add_row(
            row.item_id,
            _fmt(row.kind),
            _fmt(row.title)[:40],
            _fmt(row.year),
            f"{row.duration_s:.1f}s" if pd.notna(row.duration_s) else "-",
            _shown_size(row),
            _frame_rate(row),
            row.status if row.status == "ok" else f"[yellow]{row.status}[/]",
        )
    if len(catalog) > limit:
        table.caption = f"... {len(catalog) - limit} more"
    return table


# What the probe measured, in the catalog's order, then the file size.
MEDIA_FIELDS = (
    *(name for name in PROBE_COLUMNS if name not in ("frames_decoded", "probe_error")),
    "bytes",
)


def media_table(item: pd.Series | None) -> Table:
    """What the probe measured of one catalog item (fields it did not measure left out)."""
    if item is None:
        return Table(title="media: the item is no longer in the catalog", title_justify="left")
    table = Table(title="media", title_justify="left", show_header=False)
    for field in MEDIA_FIELDS:
        value = item.get(field)
        if not _missing(value):
            table.add_row(field, f"{value:g}" if isinstance(value, float) else str(value))
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


def quarantine_table(view: pd.DataFrame, counts: CatalogCounts) -> Table:
    """Every item that is not ok, then every URL refused before cataloguing, with why."""
    table = Table(title=f"quarantine: {counts.describe()}", title_justify="left")
    for column in ("status", "source", "item_id", "url", "reason"):
        table.add_column(column, overflow="fold")
    for row in view.itertuples():
        item_id = "-" if pd.isna(row.item_id) else str(row.item_id)
        table.add_row(row.status, row.source, item_id, row.url, row.reason)
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
        number = isinstance(value, int) and not isinstance(value, bool)
        table.add_row(key, f"{value:,}" if number else str(value))
    return table


def search_table(page: SearchPage) -> Table:
    """One page of search hits, best first."""
    first = (page.page - 1) * page.page_size + 1
    shown = f"{first}-{first + len(page.hits) - 1}" if page.hits else "none"
    table = Table(
        title=f"search: {page.total} matches, showing {shown} (index {page.index_version})",
        title_justify="left",
    )
    matched = any(hit.snippet for hit in page.hits)  # a text query: show where it matched
    columns = ("score", "level", "item_id", "kind", "title", "year", "span", "labels")
    for column in (*columns, "matched") if matched else columns:
        table.add_column(column, overflow="fold")
    for hit in page.hits:
        span = f"{hit.start_s:.1f}-{hit.end_s:.1f}s" if hit.start_s is not None else "-"
        row: list[str | Text] = [
            f"{hit.score:.3f}",
            hit.level,
            hit.item_id,
            hit.kind,
            _fmt(hit.title)[:40],
            _fmt(hit.year),
            span,
            ", ".join(hit.labels) or "-",
        ]
        if matched:
            row.append(_highlighted(hit.snippet or ""))
        table.add_row(*row)
    return table


def _highlighted(snippet: str) -> Text:
    """A snippet's ``<b>`` words in bold (the rest printed as it is, never as markup)."""
    text = Text()
    for number, part in enumerate(re.split(r"</?b>", snippet)):
        text.append(part, style="bold" if number % 2 else "")
    return text


def facets_table(page: SearchPage, limit: int = 8) -> Table:
    """Facet counts, most frequent values first; says when they cover only part of the
    matches (broad queries count the best-ranked or an even sample of them)."""
    title = (
        "facets"
        if page.facets_exact
        else (f"facets (over {page.facets_counted:,} of {page.total:,} matches)")
    )
    table = Table(title=title, title_justify="left")
    table.add_column("facet")
    table.add_column("values (count)", overflow="fold")
    for facet, counts in page.facets.items():
        ranked = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
        more = f", ... {len(ranked) - limit} more" if len(ranked) > limit else ""
        shown = ", ".join(f"{value} ({count})" for value, count in ranked[:limit])
        table.add_row(facet, (shown + more) or "-")
    return table


def document_table(title: str, document: dict[str, Any], fields: Iterable[str]) -> Table:
    """Chosen fields of an index document, lists joined."""
    table = Table(title=title, title_justify="left", show_header=False)
    for field in fields:
        value = document.get(field)
        table.add_row(field, ", ".join(value) or "-" if isinstance(value, list) else _fmt(value))
    return table


def segments_table(segments: Iterable[dict[str, Any]]) -> Table:
    """An item's segment documents (scenes) by start time."""
    table = Table(title="segments", title_justify="left")
    for column in ("start", "end", "labels", "score"):
        table.add_column(column)
    for segment in segments:
        table.add_row(
            _fmt(segment.get("start_s")),
            _fmt(segment.get("end_s")),
            ", ".join(segment.get("labels") or []) or "-",
            f"{segment['score']:.3f}" if segment.get("score") is not None else "-",
        )
    return table


def shots_table(shots: Iterable[dict[str, Any]]) -> Table:
    """An item's shots by start time, each with the time of its keyframe (seconds)."""
    table = Table(title="shots", title_justify="left")
    for column in ("shot", "start", "end", "keyframe"):
        table.add_column(column, justify="right")
    for number, shot in enumerate(shots, start=1):
        times = (shot.get(key) for key in ("start_s", "end_s", "keyframe_s"))
        table.add_row(str(number), *("-" if time is None else f"{time:.2f}" for time in times))
    return table


def timed_text_table(title: str, texts: Iterable[dict[str, Any]]) -> Table:
    """Phrases said or captions shown, by time."""
    table = Table(title=title, title_justify="left")
    for column in ("start", "end", "text"):
        table.add_column(column, justify="left" if column == "text" else "right")
    for text in texts:
        table.add_row(f"{text['start_s']:.2f}", f"{text['end_s']:.2f}", str(text["text"]))
    return table


def lineage_table(lineage: Iterable[dict[str, Any]]) -> Table:
    """Which model version (trained on which data) produced an item's predictions."""
    table = Table(title="lineage", title_justify="left")
    entries = list(lineage)
    columns: tuple[str, ...] = ("task", "model_name", "model_version", "dataset_rev")
    extra = ("training_data", "labels", "status", "reason", "rows")
    columns += tuple(
        column for column in extra if any(entry.get(column) is not None for entry in entries)
    )
    for column in columns:
        table.add_column(column, overflow="fold")
    for entry in entries:
        table.add_row(*(_fmt(entry.get(column)) for column in columns))
    return table


def similar_table(item_id: str, similar: Iterable[SimilarItem]) -> Table:
    table = Table(title=f"items similar to {item_id}", title_justify="left")
    for column in ("rank", "item_id", "kind", "title", "score", "reason"):
        table.add_column(column, overflow="fold")
    for entry in similar:
        table.add_row(
            str(entry.rank),
            entry.item_id,
            _fmt(entry.kind),
            _fmt(entry.title)[:40],
            f"{entry.score:.3f}",
            entry.reason,
        )
    return table


def index_versions_table(versions: Iterable[Version], live: str | None) -> Table:
    """Kept index versions, oldest first, with the live one marked."""
    table = Table(title="index versions", title_justify="left")
    columns = ("documents", "segments", "predictions_version", "backend", "built_at")
    for column in ("version", "live", "build", *columns):
        table.add_column(column)
    for version in versions:
        manifest = version.manifest()
        table.add_row(
            version.name,
            "[bold green]live[/]" if version.name == live else "",
            _build_kind(manifest.get("build")),
            *(_fmt(manifest.get(column))[:19] for column in columns),  # built_at to the second
        )
    return table


def _build_kind(build: dict[str, Any] | None) -> str:
    """'full', or what an incremental build changed on top of which version."""
    if build is None:
        return "-"
    if build["kind"] != "incremental":
        return "full"
    return f"{build['from']} +{build['changed_items']} -{build['removed_items']}"


AsJson = Annotated[
    bool, typer.Option("--json", help="print one JSON document to stdout instead of tables")
]
"""The ``--json`` option every command with an answer takes."""


def fail(message: str, code: int = 1) -> NoReturn:
    """Say what went wrong on stderr (stdout keeps only answers) and exit with ``code``."""
    error_console.print(message, style="red", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)
