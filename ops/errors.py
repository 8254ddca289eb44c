"""Errors every entry point (CLI, API, DAG task) reports as a message, never a traceback."""

from __future__ import annotations


class BrokenStateError(RuntimeError):
    """A stored file the platform depends on is damaged; the message names it and the repair.

    Nothing was changed when this is raised: the damaged file is left for the repair.
    """
