"""Exclusive file locks: refused while held (naming the holder), free once it dies."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ops.locks import LockHeld, exclusive, process_alive

HOLDER = """
import sys
from pathlib import Path
from ops.locks import exclusive
with exclusive(Path(sys.argv[1]), "refresh held-elsewhere"):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_a_lock_held_by_a_process_killed_outright_is_free_again(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "refresh.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        refused = rf"refresh held-elsewhere, pid {holder.pid}, since "
        with pytest.raises(LockHeld, match=refused), exclusive(lock, "refresh mine"):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert not process_alive(str(holder.pid))
    with exclusive(lock, "refresh mine"):
        assert "refresh mine" in lock.read_text()


def test_a_lock_is_reentrant_in_its_thread_and_exclusive_across_threads(tmp_path: Path) -> None:
    lock = tmp_path / "refresh.lock"
    refused: list[str] = []

    def other_thread() -> None:
        try:
            with exclusive(lock, "refresh other"):
                pass
        except LockHeld as error:
            refused.append(str(error))

    with exclusive(lock, "refresh run"), exclusive(lock, "refresh run (a step)"):
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    assert len(refused) == 1 and refused[0].startswith("refresh other refused: another one")
    with exclusive(lock, "refresh other"):  # released by the outer exit
        pass
