"""The documents a search index holds (one Arrow schema for every backend).

Item documents (``level="item"``) describe a whole catalog item: its text metadata, the
labels the models predicted for it, and the lineage of those predictions. Segment
documents (``level="segment"``) are spans of one item: the 1-s prediction buckets joined
into scenes (one label and its score), the shots (label ``shot``, with the time of
their keyframe), and the phrases said and captions shown (``transcript``, ``screen_text``;
an item document holds all of its own). ``vector_row`` points into the vector matrix of
the part of the version that holds the document (its base or a layer, ops.index.layers;
readers find vectors by doc_id); -1: the document has no content vector.
"""

from __future__ import annotations

import pyarrow as pa

LEVELS = ("item", "segment")

DOCUMENT_SCHEMA = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("level", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("source", pa.string()),
        pa.field("url", pa.string()),
        pa.field("title", pa.string()),
        pa.field("description", pa.string()),
        pa.field("transcript", pa.string()),  # what is said (speech recognition)
        pa.field("screen_text", pa.string()),  # what is shown (OCR)
        pa.field("year", pa.int32()),
        pa.field("duration_s", pa.float64()),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("people", pa.list_(pa.string())),
        pa.field("labels", pa.list_(pa.string())),  # predicted labels (scene types, ...)
        pa.field("genres", pa.list_(pa.string())),
        pa.field("moods", pa.list_(pa.string())),
        pa.field("start_s", pa.float64()),  # segment documents only
        pa.field("end_s", pa.float64()),
        pa.field("keyframe_s", pa.float64()),  # shot documents: the time of the shot's keyframe
        pa.field("score", pa.float32()),  # segment documents: the label's score
        # JSON list of {task, model_name, model_version, dataset_rev}
        pa.field("lineage", pa.string()),
        pa.field("vector_row", pa.int64(), nullable=False),
    ]
)

DOCUMENT_COLUMNS = tuple(DOCUMENT_SCHEMA.names)
