"""Versioned folders published by a pointer switch (predictions store, indexes).

A version is built in its own folder (``v000007``), sealed by writing its
``manifest.json`` last, and made live by atomically replacing the ``CURRENT`` pointer
file. Readers resolve the pointer once and read a complete, immutable folder, so they
never see a half-built version; a killed build leaves only an unsealed folder, which the
next ``create`` sweeps away. Rollback is a pointer switch back to an older version that
was live before (a sealed version that never went live, such as one whose checks
failed, is never rolled back to); pruning keeps the newest N and never the live one.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops.atomic import atomic_open

POINTER = "CURRENT"
MANIFEST = "manifest.json"
PUBLISHED_MARK = "published"
_VERSION_NAME = re.compile(r"^v(\d{6})$")


class VersionError(RuntimeError):
    """A version that does not exist, is not sealed, or cannot be rolled back to."""


@dataclass(frozen=True)
class Version:
    """One version folder."""

    name: str
    path: Path

    @property
    def number(self) -> int:
        return int(self.name[1:])

    @property
    def sealed(self) -> bool:
        return (self.path / MANIFEST).is_file()

    @property
    def was_published(self) -> bool:
        return (self.path / PUBLISHED_MARK).is_file()

    def manifest(self) -> dict[str, Any]:
        """The manifest written when the version was sealed."""
        if not self.sealed:
            raise VersionError(f"{self.path}: not sealed (no {MANIFEST})")
        return dict(json.loads((self.path / MANIFEST).read_text(encoding="utf-8")))


class VersionedStore:
    """The versions under one root folder, and which of them is live."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _all(self) -> list[Version]:
        if not self.root.is_dir():
            return []
        found = [
            Version(entry.name, entry)
            for entry in self.root.iterdir()
            if entry.is_dir() and _VERSION_NAME.match(entry.name)
        ]
        return sorted(found, key=lambda version: version.number)

    def versions(self) -> list[Version]:
        """Sealed versions, oldest first."""
        return [version for version in self._all() if version.sealed]

    def get(self, name: str) -> Version:
        """A sealed version by name."""
        if not _VERSION_NAME.match(name):
            raise VersionError(f"{name!r} is not a version name (expected v000001 and so on)")
        version = Version(name, self.root / name)
        if not version.sealed:
            raise VersionError(f"version {name} does not exist under {self.root} or is unsealed")
        return version

    def current(self) -> Version | None:
        """The live version, or None before the first publish."""
        pointer = self.root / POINTER
        if not pointer.is_file():
            return None
        return self.get(pointer.read_text(encoding="utf-8").strip())

    def create(self) -> Version:
        """A new, empty, unsealed version folder; unsealed leftovers of killed builds go."""
        existing = self._all()
        for leftover in existing:
            if not leftover.sealed:
                shutil.rmtree(leftover.path, ignore_errors=True)
        number = existing[-1].number + 1 if existing else 1
        version = Version(f"v{number:06d}", self.root / f"v{number:06d}")
        version.path.mkdir(parents=True)
        return version

    def seal(self, version: Version, manifest: dict[str, Any]) -> Version:
        """Mark a built version complete; only sealed versions can be published."""
        with atomic_open(version.path / MANIFEST) as handle:
            json.dump({"version": version.name, **manifest}, handle, indent=2, default=str)
        return version

    def publish(self, name: str) -> Version:
        """Make a sealed version live (one atomic rename of the pointer file)."""
        version = self.get(name)
        with atomic_open(version.path / PUBLISHED_MARK) as handle:
            handle.write("")
        with atomic_open(self.root / POINTER) as handle:
            handle.write(version.name + "\n")
        return version

    def rollback(self, to: str | None = None) -> Version:
        """Make ``to`` live, or else the newest version older than the live one that was
        live before."""
        if to is not None:
            return self.publish(to)
        live = self.current()
        if live is None:
            raise VersionError(f"nothing is published under {self.root}, so nothing to roll back")
        older = [
            version
            for version in self.versions()
            if version.number < live.number and version.was_published
        ]
        if not older:
            raise VersionError(f"{live.name} is the oldest version kept; nothing older to go to")
        return self.publish(older[-1].name)

    def discard(self, name: str) -> Version:
        """Delete a version that must never go live (refused: the live one)."""
        version = Version(name, self.root / name)
        live = self.current()
        if live is not None and live.name == name:
            raise VersionError(f"{name} is live: roll back or publish another version first")
        shutil.rmtree(version.path, ignore_errors=True)
        return version

    def prune(self, keep: int) -> list[Version]:
        """Delete all but the newest ``keep`` sealed versions (never the live one)."""
        live = self.current()
        sealed = self.versions()
        doomed = [
            version
            for version in sealed[: max(len(sealed) - keep, 0)]
            if live is None or version.name != live.name
        ]
        for version in doomed:
            shutil.rmtree(version.path)
        return doomed
