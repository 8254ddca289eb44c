"""The content-addressed raw media store.

Files are written to a scratch folder outside the store while they stream in,
hashed on the way, and moved into ``raw/<sha[:2]>/<sha>`` only once complete,
so a download killed half-way never leaves a partial file in the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ops.locks import process_alive

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_PARTIAL_MAX_AGE_S = 6 * 3600


class SizeCapExceeded(Exception):
    """A download grew past the size cap; it is discarded."""


@dataclass
class PendingFile:
    """A file being written: counts and hashes what goes through it."""

    path: Path
    handle: BinaryIO
    max_bytes: int
    bytes_written: int = 0
    _hash: hashlib._Hash = field(default_factory=hashlib.sha256)

    def write(self, chunk: bytes) -> None:
        self.bytes_written += len(chunk)
        if self.bytes_written > self.max_bytes:
            raise SizeCapExceeded(f"over size cap ({self.bytes_written} > {self.max_bytes} bytes)")
        self._hash.update(chunk)
        self.handle.write(chunk)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


class RawStore:
    """Content-addressed files under ``root``; partial files live under ``scratch``."""

    def __init__(self, root: Path, scratch: Path) -> None:
        self.root = root
        self.scratch = scratch

    def path_for(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise ValueError(f"not a sha256 digest: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    @contextlib.contextmanager
    def pending(self, max_bytes: int) -> Iterator[PendingFile]:
        """Yield a :class:`PendingFile`; call :meth:`commit` on it to keep it."""
        self.scratch.mkdir(parents=True, exist_ok=True)
        path = self.scratch / f"{os.getpid()}-{uuid.uuid4().hex}.part"
        try:
            with open(path, "wb") as handle:
                yield PendingFile(path=path, handle=handle, max_bytes=max_bytes)
        finally:
            path.unlink(missing_ok=True)

    def commit(self, pending: PendingFile) -> Path:
        """Move a complete pending file into the store under its digest."""
        pending.handle.flush()
        os.fsync(pending.handle.fileno())
        target = self.path_for(pending.sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            return target
        os.replace(pending.path, target)
        return target

    def put_stream(
        self, stream: BinaryIO, max_bytes: int, chunk_size: int = 1 << 20
    ) -> tuple[str, int]:
        """Copy a readable stream into the store; return (sha256, bytes)."""
        with self.pending(max_bytes) as pending:
            while chunk := stream.read(chunk_size):
                pending.write(chunk)
            self.commit(pending)
            return pending.sha256, pending.bytes_written

    def sweep_partials(self) -> int:
        """Delete partial files left by killed processes; return how many."""
        if not self.scratch.is_dir():
            return 0
        removed = 0
        for partial in self.scratch.glob("*.part"):
            pid_text = partial.name.split("-", 1)[0]
            age = time.time() - partial.stat().st_mtime
            if not process_alive(pid_text) or age > _PARTIAL_MAX_AGE_S:
                partial.unlink(missing_ok=True)
                removed += 1
        return removed

    def copy_out(self, sha256: str, destination: Path) -> None:
        shutil.copyfile(self.path_for(sha256), destination)
