"""The catalog's counts and its quarantine view, both derived from the stored tables only.

Every place that reports how many items are ok, quarantined or vanished (the ingest run,
``validate``, the dataset revision's message, ``cinescope quarantine``) uses
:func:`catalog_counts`, so the numbers agree. The item's ``status`` in the catalog is the
truth for items; the quarantine table adds the URLs refused before they became items.
"""

from __future__ import annotations

import pandas as pd

from ops.catalog.results import CatalogCounts

VIEW_COLUMNS = ["status", "source", "item_id", "url", "reason"]
REFUSED = "refused"
"""The view's status of a URL refused before it became an item (no item_id)."""


def _refusals(quarantine: pd.DataFrame) -> pd.DataFrame:
    """Quarantine records that name no item: what the crawl refused before cataloguing."""
    return quarantine[quarantine["item_id"].isna()]


def catalog_counts(catalog: pd.DataFrame, quarantine: pd.DataFrame) -> CatalogCounts:
    status = catalog["status"]
    return CatalogCounts(
        items=len(catalog),
        ok=int((status == "ok").sum()),
        quarantined=int((status == "quarantined").sum()),
        vanished=int((status == "vanished").sum()),
        refused_urls=len(_refusals(quarantine)),
    )


def quarantine_view(catalog: pd.DataFrame, quarantine: pd.DataFrame) -> pd.DataFrame:
    """One row per item that is not ``ok`` (with its status and reason), then one per refused
    URL: so an item missing from search is always listed here with the reason why."""
    items = catalog.loc[catalog["status"] != "ok", ["status", "source", "item_id", "url"]]
    items = items.assign(reason=catalog.loc[items.index, "status_reason"].fillna(""))
    refused = _refusals(quarantine)
    refused = refused.assign(status=REFUSED)[VIEW_COLUMNS]
    parts = [p for p in (items[VIEW_COLUMNS], refused) if len(p)]
    if not parts:
        return pd.DataFrame(columns=VIEW_COLUMNS)
    view = pd.concat(parts, ignore_index=True)
    order = {"quarantined": 0, "vanished": 1, REFUSED: 2}
    return view.sort_values(
        ["status", "source", "url"], key=lambda c: c.map(order) if c.name == "status" else c
    ).reset_index(drop=True)
