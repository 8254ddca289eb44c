"""The test cluster's ``[core] hostname_callable``: both Celery workers run on this one machine,
so each is given its own name, which Airflow records as the hostname of the tasks it runs."""

from __future__ import annotations

import os
import socket

WORKER_HOST_VARIABLE = "TEST_WORKER_HOST"


def worker_host() -> str:
    """The worker's name from the environment, else this machine's (the other components)."""
    return os.environ.get(WORKER_HOST_VARIABLE) or socket.getfqdn()
