"""Arrow schemas of the predictions store: the Prediction contract of DESIGN.md.

Three tables per store version:

- predictions (``<task>.parquet``): one row per (item, segment, label); ``start_s`` and
  ``end_s`` are null for whole-item outputs. Every row names the model version and the
  dataset revision it was trained on, so what is indexed can be traced back.
- embeddings (``<task>.embeddings.parquet``): the model's content vectors, per 1-s
  segment and per item (``start_s`` null), for vector search and recommendations.
- ledger (``ledger.parquet``): one row per (item, task) saying which content
  (``sha256``) was processed by which model version, and whether it succeeded. Planning
  compares it with the catalog and the champions to find what must be (re)processed.
"""

from __future__ import annotations

import pyarrow as pa

from ops.catalog.schema import TS

PREDICTION_SCHEMA = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("start_s", pa.float64()),
        pa.field("end_s", pa.float64()),
        pa.field("task", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("score", pa.float32(), nullable=False),
        pa.field("model_name", pa.string(), nullable=False),
        pa.field("model_version", pa.string(), nullable=False),
        pa.field("dataset_rev", pa.string(), nullable=False),
        pa.field("created_at", TS, nullable=False),
    ]
)

EMBEDDING_SCHEMA = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("start_s", pa.float64()),
        pa.field("end_s", pa.float64()),
        pa.field("task", pa.string(), nullable=False),
        pa.field("model_name", pa.string(), nullable=False),
        pa.field("model_version", pa.string(), nullable=False),
        pa.field("vector", pa.list_(pa.float32()), nullable=False),
    ]
)

LEDGER_STATUSES = ("ok", "failed")

LEDGER_SCHEMA = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("task", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("model_name", pa.string(), nullable=False),
        pa.field("model_version", pa.string(), nullable=False),
        pa.field("dataset_rev", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("reason", pa.string()),
        pa.field("segments", pa.int32()),
        pa.field("processed_at", TS, nullable=False),
    ]
)
