"""Arrow schemas of the catalog tables: the Item contract of DESIGN.md."""

from __future__ import annotations

from typing import Literal, get_args

import pyarrow as pa

Kind = Literal["video", "audio", "image"]
KINDS: tuple[str, ...] = get_args(Kind)
STATUSES = ("ok", "quarantined", "vanished")

TS = pa.timestamp("us", tz="UTC")

ITEM_SCHEMA = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("kind", pa.string()),
        pa.field("sha256", pa.string()),
        pa.field("bytes", pa.int64()),
        pa.field("version", pa.int32()),
        pa.field("mime", pa.string()),
        pa.field("file_name", pa.string()),
        # media properties (probe)
        pa.field("duration_s", pa.float64()),
        pa.field("fps", pa.float64()),  # average over the whole file
        pa.field("vfr", pa.bool_()),  # frame rate varies (steps between the first timestamps)
        pa.field("min_fps", pa.float64()),
        pa.field("max_fps", pa.float64()),
        pa.field("width", pa.int32()),  # coded (stored) size in pixels
        pa.field("height", pa.int32()),
        pa.field("sample_aspect_ratio", pa.float64()),  # pixel width / height; null: not said
        pa.field("rotation", pa.int32()),  # display matrix: 0, 90, 180 or 270 counter-clockwise
        pa.field("display_width", pa.int32()),  # as a player shows it (aspect ratio, rotation)
        pa.field("display_height", pa.int32()),
        pa.field("audio_sample_rate", pa.int32()),
        pa.field("audio_channels", pa.int32()),
        pa.field("video_codec", pa.string()),
        pa.field("audio_codec", pa.string()),
        pa.field("frames_decoded", pa.int32()),
        pa.field("probe_error", pa.string()),
        # text metadata (page or feed)
        pa.field("title", pa.string()),
        pa.field("description", pa.string()),
        pa.field("year", pa.int32()),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("people", pa.list_(pa.string())),
        pa.field("licence", pa.string()),
        pa.field("expects_audio", pa.bool_()),
        # HTTP validators for conditional GET
        pa.field("etag", pa.string()),
        pa.field("last_modified", pa.string()),
        # lifecycle
        pa.field("first_seen", TS),
        pa.field("last_seen", TS),
        pa.field("status", pa.string(), nullable=False),
        pa.field("status_reason", pa.string()),
    ]
)

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("item_id", pa.string()),
        pa.field("stage", pa.string(), nullable=False),  # crawl | validate
        pa.field("check", pa.string(), nullable=False),  # what refused it
        pa.field("reason", pa.string(), nullable=False),
        pa.field("at", TS, nullable=False),
    ]
)

ITEM_COLUMNS = tuple(ITEM_SCHEMA.names)

# What a probe of the file fills in (reused when the same content is seen again).
PROBE_COLUMNS = (
    "kind",
    "mime",
    "duration_s",
    "fps",
    "vfr",
    "min_fps",
    "max_fps",
    "width",
    "height",
    "sample_aspect_ratio",
    "rotation",
    "display_width",
    "display_height",
    "audio_sample_rate",
    "audio_channels",
    "video_codec",
    "audio_codec",
    "frames_decoded",
    "probe_error",
)
