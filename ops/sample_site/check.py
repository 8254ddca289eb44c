"""Did an ingest handle every trap of a generated site as its manifest expects?

Used by the demo (a checklist a person reads) and by the tests (assertions).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin

import pandas as pd
from rich.table import Table

from ops.sample_site.generate import SiteManifest, SiteTrap


@dataclass(frozen=True)
class TrapResult:
    name: str
    expected: str
    outcome: str
    ok: bool


def _urls(trap: SiteTrap, base_url: str) -> set[str]:
    return {urljoin(base_url + "/", path) for path in (trap.url_path, *trap.also_url_paths)}


def check_trap(
    trap: SiteTrap, catalog: pd.DataFrame, quarantine: pd.DataFrame, base_url: str
) -> TrapResult:
    urls = _urls(trap, base_url)
    refused = quarantine[quarantine["url"].isin(urls)]
    items = catalog[catalog["url"].isin(urls)]
    if trap.expect == "quarantined":
        keyword = (trap.reason or "").lower()
        matching = refused[refused["reason"].str.lower().str.contains(keyword, regex=False)]
        outcome = "; ".join(refused["reason"]) if len(refused) else "not in the quarantine"
        expected = f"quarantined: {trap.reason}"
        return TrapResult(trap.name, expected, outcome, len(matching) > 0)
    ok_items = items[items["status"] == "ok"]
    mismatches = [
        f"{column}={ok_items.iloc[0][column]!r}"
        for column, value in trap.check.items()
        if len(ok_items) and ok_items.iloc[0][column] != value
    ]
    if not len(ok_items):
        outcome = "; ".join(refused["reason"]) or "not in the catalog"
    else:
        outcome = "ingested" + (f" but {', '.join(mismatches)}" if mismatches else "")
        outcome += "".join(f", {k}={v!r}" for k, v in trap.check.items()) if not mismatches else ""
    expected = "ingested" + "".join(f", {k}={v!r}" for k, v in trap.check.items())
    return TrapResult(trap.name, expected, outcome, len(ok_items) > 0 and not mismatches)


def check_traps(
    manifest: SiteManifest, catalog: pd.DataFrame, quarantine: pd.DataFrame, base_url: str
) -> list[TrapResult]:
    return [check_trap(t, catalog, quarantine, base_url) for t in manifest.traps]


def traps_table(results: list[TrapResult]) -> Table:
    table = Table(title="sample-site traps", title_justify="left")
    for column in ("", "trap", "expected", "what happened"):
        table.add_column(column, overflow="fold")
    for result in results:
        mark = "[green]✔[/]" if result.ok else "[red]✘[/]"
        table.add_row(mark, result.name, result.expected, result.outcome)
    return table
