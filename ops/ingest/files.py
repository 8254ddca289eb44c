"""Folder and fsspec sources: list media files and their sidecar metadata.

A file is media when its extension is a known media one, or else when Pillow or PyAV
recognises its content (a ``.pgm`` photo, a clip saved as ``.dat``); ``.json`` files are
sidecars. Every other file is reported with its reason, never skipped in silence.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import fsspec

from ops.ingest.crawl import MEDIA_EXTENSIONS, Refusal
from ops.ingest.discover import MediaLink
from ops.ingest.probe import is_readable_media
from ops.ingest.sources import FsspecSource, LocalSource

SIDECAR_SUFFIX = ".json"


@dataclass(frozen=True)
class FileEntry:
    """A media file in a folder-like source; ``validator`` changes when the file does."""

    link: MediaLink
    path: str
    size: int
    validator: str


def open_filesystem(source: LocalSource | FsspecSource) -> tuple[fsspec.AbstractFileSystem, str]:
    if isinstance(source, LocalSource):
        return fsspec.filesystem("file"), str(source.path.expanduser().resolve())
    fs, root = fsspec.core.url_to_fs(source.url, **source.storage_options)
    return fs, root


def _sidecar(fs: fsspec.AbstractFileSystem, path: str) -> dict[str, Any]:
    for candidate in (f"{path}.json", str(PurePosixPath(path).with_suffix(".json"))):
        if fs.exists(candidate):
            with fs.open(candidate, "rb") as handle:
                value = json.loads(handle.read().decode("utf-8"))
            if not isinstance(value, dict):
                raise ValueError("sidecar metadata must be a JSON object")
            return value
    return {}


def _not_media(fs: fsspec.AbstractFileSystem, path: str) -> str | None:
    """Why a file is not media, or None when it is (by extension, else by content)."""
    file = PurePosixPath(path)
    if file.suffix.lower() in MEDIA_EXTENSIONS:
        return None
    try:
        with fs.open(path, "rb") as handle:
            if is_readable_media(handle):
                return None
    except OSError as exc:
        return f"cannot read {file.name}: {exc}"
    return f"not a media file: neither Pillow nor PyAV recognises the content of {file.name}"


def _year(value: Any) -> int | None:
    try:
        return int(str(value)[:4]) if value not in (None, "") else None
    except ValueError:
        return None


def list_files(source: LocalSource | FsspecSource) -> Iterator[FileEntry | Refusal]:
    """Yield one entry per media file, or a refusal (a broken sidecar, a file not media)."""
    fs, root = open_filesystem(source)
    if not fs.isdir(root):
        yield Refusal(root, "source", f"folder not found: {root}")
        return
    seen: set[str] = set()
    for pattern in source.patterns:
        for path in sorted(fs.glob(f"{root.rstrip('/')}/{pattern}")):
            if path in seen or PurePosixPath(path).suffix.lower() == SIDECAR_SUFFIX:
                continue
            seen.add(path)
            info = fs.info(path)
            if info.get("type") != "file":
                continue
            url = fs.unstrip_protocol(path)
            not_media = _not_media(fs, path)
            if not_media is not None:
                yield Refusal(url, "format", not_media)
                continue
            try:
                meta = _sidecar(fs, path)
            except (ValueError, UnicodeDecodeError) as exc:
                yield Refusal(url, "metadata", f"malformed sidecar metadata: {exc}")
                continue
            relative = path[len(root) :].lstrip("/")
            people = meta.get("people", [])
            link = MediaLink(
                url=url,
                page_url=None,
                item_key=str(meta.get("id") or relative),
                title=meta.get("title") or PurePosixPath(path).stem.replace("_", " "),
                description=meta.get("description"),
                year=_year(meta.get("year")),
                tags=tuple(str(t) for t in meta.get("tags", [])),
                people=tuple(str(p) for p in people),
                licence=meta.get("licence") or source.licence,
                kind_hint=None,
                expects_audio=meta.get("has_audio"),
            )
            modified = info.get("mtime") or info.get("LastModified") or info.get("ETag") or ""
            yield FileEntry(
                link=link,
                path=path,
                size=int(info.get("size") or 0),
                validator=f"{info.get('size')}-{modified}",
            )
