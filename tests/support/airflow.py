"""Reading what a DAG run left in the Airflow metadata DB."""

from __future__ import annotations

import json
from typing import Any


def asset_event_extras(asset_name: str) -> list[dict[str, Any]]:
    """The ``extra`` of every event of the Asset named ``asset_name``, oldest first."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        events = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.name == asset_name)
            .order_by(AssetEvent.id)
            .all()
        )
        return [json.loads(e.extra) if isinstance(e.extra, str) else e.extra for e in events]
