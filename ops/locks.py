"""Process liveness and exclusive file locks under the data root.

A lock is an ``flock`` on a file: the kernel releases it when its holder dies, even by
``kill -9``, so a crashed run never leaves a lock that must be deleted by hand. The file
also records who holds it (pid, purpose, since when), so a refused caller is told why.
Locks are re-entrant within one thread, so a whole run can hold the lock its steps take.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path


class LockHeld(RuntimeError):
    """Another process (or thread) holds the lock; the message says which and what to do."""

    def __init__(self, message: str, holder: str = "unknown holder") -> None:
        super().__init__(message)
        self.holder = holder


def process_alive(pid_text: str) -> bool:
    """Whether the process with this id (text, as recorded in a file name) still runs."""
    if not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_held: dict[tuple[Path, int], int] = {}
_held_guard = threading.Lock()


@contextlib.contextmanager
def exclusive(path: Path, purpose: str, *, wait: bool = False) -> Iterator[None]:
    """Hold the lock file ``path`` for ``purpose``; without ``wait``, refuse at once
    (:class:`LockHeld`) when someone else holds it."""
    key = (path.resolve(), threading.get_ident())
    with _held_guard:
        depth = _held.get(key, 0)
        if depth:
            _held[key] = depth + 1
    if depth:
        try:
            yield
        finally:
            with _held_guard:
                _held[key] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = path.read_text(encoding="utf-8").strip() or "unknown holder"
            raise LockHeld(
                f"{purpose} refused: another one is running ({holder}; lock {path}). "
                "Wait for it to finish, then run again.",
                holder,
            ) from None
        since = datetime.now(UTC).isoformat(timespec="seconds")
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{purpose}, pid {os.getpid()}, since {since}\n".encode(), 0)
        with _held_guard:
            _held[key] = 1
        try:
            yield
        finally:
            with _held_guard:
                del _held[key]
            os.ftruncate(descriptor, 0)
    finally:
        os.close(descriptor)  # closing releases the flock
