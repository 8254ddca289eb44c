"""Versioned folders published by a pointer switch (predictions store, indexes).

A version is built in its own folder (``v000007``), sealed by writing its
``manifest.json`` last (with the size and sha256 of every file, once the required files
are verified to be there), and made live by atomically replacing the ``CURRENT`` pointer
file. Readers resolve the pointer once and read a complete, immutable folder, so they
never see a half-built version; a killed build leaves only an unsealed folder, which the
next ``create`` sweeps away once its builder process is dead (a folder another process is
still building is never touched). Only a version whose files match its manifest is
published. Rollback is a pointer switch back to an older version that
was live before (a sealed version that never went live, such as one whose checks
failed, is never rolled back to); pruning keeps the newest N and never the live one.

A version derived from another may hard-link the files it keeps unchanged (an index
refresh does): sealing takes their checksums from the other version's manifest, and
publishing checks only the size of a file it shares with the live version, which was
verified when that one went live, so neither reads the unchanged bytes again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops.atomic import atomic_open
from ops.errors import BrokenStateError
from ops.locks import exclusive, process_alive

POINTER = "CURRENT"
MANIFEST = "manifest.json"
PUBLISHED_MARK = "published"
BUILDER_FILE = ".builder"
"""The pid of the process building an unsealed version (removed at sealing)."""
_VERSION_NAME = re.compile(r"^v(\d{6})$")


class VersionError(RuntimeError):
    """A version that does not exist, is not sealed, or cannot be rolled back to."""


class BrokenPointer(VersionError, BrokenStateError):
    """The pointer file names no sealed version (garbage, or its version is gone)."""


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

    def problems(self, checksums: bool = True, trusted: Version | None = None) -> list[str]:
        """How the files differ from the manifest (sizes only without ``checksums``);
        empty when they match, or for versions sealed before sizes were recorded. A file
        hard-linked to the same file of ``trusted`` (verified before) is checked by size."""
        found = []
        for name, expected in self.manifest().get("files", {}).items():
            path = self.path / name
            size = path.stat().st_size if path.is_file() else None
            if size is None:
                found.append(f"{path} is missing")
            elif size != expected["bytes"]:
                found.append(
                    f"{path} is {size} bytes, its manifest says "
                    f"{expected['bytes']} (truncated or changed since it was sealed)"
                )
            elif (
                checksums
                and not _shared(path, trusted, name)
                and _sha256(path) != expected["sha256"]
            ):
                found.append(f"{path} does not match its checksum (changed since it was sealed)")
        return found


class VersionedStore:
    """The versions under one root folder, and which of them is live.

    ``repair`` tells a user how to make a version live again when the pointer is broken.
    """

    def __init__(self, root: Path, repair: str = "publish one of the kept versions") -> None:
        self.root = root
        self.repair = repair

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
        """The live version, or None before the first publish (:class:`BrokenPointer`
        when the pointer names no sealed version)."""
        pointer = self.root / POINTER
        if not pointer.is_file():
            return None
        try:
            return self.get(pointer.read_text(encoding="utf-8").strip())
        except (VersionError, UnicodeDecodeError) as error:
            kept = ", ".join(version.name for version in self.versions()) or "none"
            raise BrokenPointer(
                f"the pointer {pointer} is broken ({error}); kept versions: {kept}. "
                f"Repair: {self.repair}"
            ) from error

    def missing_pointer(self) -> str | None:
        """What is wrong when no pointer exists although versions were published (None
        when nothing was ever published, or a pointer exists)."""
        if (self.root / POINTER).is_file():
            return None
        published = [version.name for version in self.versions() if version.was_published]
        if not published:
            return None
        return (
            f"the pointer {self.root / POINTER} is missing, although versions were "
            f"published (kept: {', '.join(published)}). Repair: {self.repair}"
        )

    def create(self) -> Version:
        """A new, empty, unsealed version folder owned by this process; unsealed leftovers
        of killed builds go, never a folder that a live process is still building."""
        lock = self.root.with_name(f".{self.root.name}.lock")  # beside the root, not in it
        with exclusive(lock, f"creating a version under {self.root}", wait=True):
            existing = self._all()
            for leftover in existing:
                if not leftover.sealed and not _builder_alive(leftover):
                    shutil.rmtree(leftover.path, ignore_errors=True)
            number = existing[-1].number + 1 if existing else 1
            version = Version(f"v{number:06d}", self.root / f"v{number:06d}")
            version.path.mkdir(parents=True)
            (version.path / BUILDER_FILE).write_text(str(os.getpid()), encoding="utf-8")
        return version

    def seal(
        self,
        version: Version,
        manifest: dict[str, Any],
        required: Collection[str] = (),
        derived_from: Version | None = None,
    ) -> Version:
        """Mark a built version complete, with each file's size and checksum; refused
        when a ``required`` file is missing or empty (only sealed versions go live). A
        file hard-linked from ``derived_from`` keeps the checksum recorded there."""
        if not (version.path / BUILDER_FILE).is_file():
            raise VersionError(
                f"cannot seal {version.path}: it is not a version being built "
                "(removed meanwhile, or sealed already)"
            )
        missing = [
            name
            for name in required
            if not (version.path / name).is_file() or (version.path / name).stat().st_size == 0
        ]
        if missing:
            raise VersionError(
                f"cannot seal {version.path}: {', '.join(missing)} missing or empty; "
                "the build did not complete, run it again"
            )
        recorded = derived_from.manifest().get("files", {}) if derived_from is not None else {}
        files = {}
        for path in sorted(version.path.rglob("*")):
            if not path.is_file() or path.name.startswith(".") or path.name == PUBLISHED_MARK:
                continue
            name = path.relative_to(version.path).as_posix()
            size = path.stat().st_size
            known = recorded.get(name, {})
            carried = known.get("bytes") == size and _shared(path, derived_from, name)
            files[name] = {"bytes": size, "sha256": known["sha256"] if carried else _sha256(path)}
        with atomic_open(version.path / MANIFEST) as handle:
            json.dump(
                {"version": version.name, **manifest, "files": files},
                handle,
                indent=2,
                default=str,
            )
        (version.path / BUILDER_FILE).unlink(missing_ok=True)
        return version

    def publish(self, name: str) -> Version:
        """Make a sealed version live (one atomic rename of the pointer file); refused
        when its files no longer match its manifest."""
        version = self.get(name)
        try:
            live = self.current()
        except BrokenPointer:  # publishing is its repair: verify everything
            live = None
        problems = version.problems(trusted=live if live != version else None)
        if problems:
            raise VersionError(
                f"version {name} fails verification, so it cannot go live: {'; '.join(problems)}"
            )
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


def _builder_alive(version: Version) -> bool:
    """Whether the process that created this unsealed version still runs."""
    try:
        pid_text = (version.path / BUILDER_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return False
    return process_alive(pid_text)


def _shared(path: Path, other: Version | None, name: str) -> bool:
    """Whether ``path`` is the very file (a hard link) that ``other`` holds as ``name``."""
    if other is None:
        return False
    try:
        return os.path.samefile(path, other.path / name)
    except OSError:
        return False


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
