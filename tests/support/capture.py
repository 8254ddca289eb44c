"""Capturing a run's output in a fixture wider than one test, where ``capfd`` cannot go."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class CapturedOutput:
    """What was written to stdout and stderr; filled in when the block ends."""

    text: str = ""


@contextmanager
def captured_output() -> Iterator[CapturedOutput]:
    """Capture stdout and stderr at both levels, like ``capfd``: the file descriptors (for
    writers that hold them) and ``sys.stdout``/``sys.stderr`` (for loggers that look them up)."""
    output = CapturedOutput()
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as sink:
        saved = {fd: os.dup(fd) for fd in (1, 2)}
        streams = sys.stdout, sys.stderr
        try:
            for fd in saved:
                os.dup2(sink.fileno(), fd)
            sys.stdout = sys.stderr = sink
            yield output
        finally:
            sink.flush()
            sys.stdout, sys.stderr = streams
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            output.text = sink.read()
