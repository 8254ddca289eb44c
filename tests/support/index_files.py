"""Finding the file of a built index version that a damage test truncates."""

from __future__ import annotations

from pathlib import Path

from ops.index.build import TANTIVY_DIR


def largest_search_file(version_path: Path) -> Path:
    """The biggest file of the version's Tantivy index (its segment store)."""
    files = [path for path in (version_path / TANTIVY_DIR).iterdir() if path.is_file()]
    return max(files, key=lambda path: path.stat().st_size)
