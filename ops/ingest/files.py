"""Folder and fsspec sources: list media files and their sidecar metadata."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import fsspec

from ops.ingest.crawl import MEDIA_EXTENSIONS, Refusal
from ops.ingest.discover import MediaLink
from ops.ingest.sources import FsspecSource, LocalSource


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


def _year(value: Any) -> int | None:
    try:
        return int(str(value)[:4]) if value not in (None, "") else None
    except ValueError:
        return None


def list_files(source: LocalSource | FsspecSource) -> Iterator[FileEntry | Refusal]:
    """Yield one entry per media file (or a refusal for a broken sidecar)."""
    fs, root = open_filesystem(source)
    if not fs.isdir(root):
        yield Refusal(root, "source", f"folder not found: {root}")
        return
    seen: set[str] = set()
    for pattern in source.patterns:
        for path in sorted(fs.glob(f"{root.rstrip('/')}/{pattern}")):
            if path in seen or PurePosixPath(path).suffix.lower() not in MEDIA_EXTENSIONS:
                continue
            seen.add(path)
            info = fs.info(path)
            if info.get("type") != "file":
                continue
            url = fs.unstrip_protocol(path)
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
