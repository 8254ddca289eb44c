"""A distributed cinescope on this machine: Airflow's API server, scheduler, DAG processor and
two Celery workers (queues ``default`` and ``gpu``), and an MLflow server, each in its own
session started from .venv, on fresh PostgreSQL databases and a Redis database of their own.

Every process gets one environment, with the setting names of ``infra/compose.yaml``'s
``x-cinescope-env``; only host names, ports, secrets and the object store differ (no MinIO
here: the DVC remote is its default folder under the data root, and the MLflow server serves
its artifacts from a folder). Airflow is set up by the image's own ``cinescope-airflow-init``
(``infra/docker/airflow-init.sh``). A few timings are shortened so faults show in seconds.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from cryptography.fernet import Fernet

from ops.airflow_env import ADMIN_USER, DAGS_FOLDER
from ops.settings import REPO_ROOT, Settings
from ops.stack import AirflowApi
from tests.distributed.worker_host import WORKER_HOST_VARIABLE

POSTGRES = "postgresql://postgres@127.0.0.1:5432"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
BIN = Path(sys.executable).parent
INIT_SCRIPT = REPO_ROOT / "infra" / "docker" / "airflow-init.sh"
DEFAULT_WORKER, GPU_WORKER = "worker-default", "worker-gpu"
WORKER_QUEUES = {DEFAULT_WORKER: ["--queues", "default"], GPU_WORKER: ["--queues", "gpu"]}
NEVER = "0 0 29 2 *"  # 29 February: no such day between the DAGs' start date and 2028
ENDED = ("success", "failed")


def unavailable_reason() -> str | None:
    """Why the cluster cannot run here (a service or the distributed extras missing), or None."""
    try:
        psycopg.connect(f"{POSTGRES}/postgres", connect_timeout=3).close()
    except psycopg.Error as error:
        return f"PostgreSQL is not reachable at {POSTGRES}: {error}"
    try:
        if _redis("PING", db=0) != "+PONG":
            return f"Redis at {REDIS_HOST}:{REDIS_PORT} does not answer PING"
    except OSError as error:
        return f"Redis is not reachable at {REDIS_HOST}:{REDIS_PORT}: {error}"
    for module in ("airflow.providers.celery", "redis"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed: `make test-distributed` installs the extras"
    return None


def _redis(*command: str, db: int) -> str:
    """One Redis command on database ``db``; the first line of its reply (no client library,
    so that the check above works without the extras)."""
    with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=5) as redis:
        for args in (("SELECT", str(db)), command):
            encoded = [a.encode() for a in args]
            redis.sendall(
                b"*%d\r\n" % len(encoded)
                + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in encoded)
            )
        replies = b""
        while replies.count(b"\r\n") < 2:
            chunk = redis.recv(4096)
            if not chunk:
                raise OSError("Redis closed the connection")
            replies += chunk
        return replies.split(b"\r\n")[1].decode()


def _free_redis_db() -> int:
    """An empty Redis database for the broker, highest number first (0 is everyone's)."""
    for db in range(15, 0, -1):
        if _redis("DBSIZE", db=db) == ":0":
            return db
    raise RuntimeError("Redis databases 1-15 all hold keys: none is free for the broker")


def free_ports(count: int) -> list[int]:
    """Distinct free ports (probed together, so none is handed out twice)."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]


@dataclass(frozen=True)
class Databases:
    """Fresh PostgreSQL databases under unique names, dropped (sessions and all) after."""

    names: dict[str, str]

    @classmethod
    def create(cls, *purposes: str) -> Databases:
        suffix = uuid.uuid4().hex[:8]
        databases = cls({purpose: f"cinescope_test_{suffix}_{purpose}" for purpose in purposes})
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
            for name in databases.names.values():
                admin.execute(f'CREATE DATABASE "{name}"')
        return databases

    def url(self, purpose: str, scheme: str = "postgresql") -> str:
        return f"{POSTGRES.replace('postgresql', scheme, 1)}/{self.names[purpose]}"

    def drop(self) -> None:
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
            for name in self.names.values():
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Service:
    """A long-running process in a session of its own, its output appended to a log file."""

    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    log_offset: int = 0  # where the output of the latest start begins

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log_offset = self.log.stat().st_size if self.log.is_file() else 0
        with open(self.log, "ab") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} start: {' '.join(self.command)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        """What the latest start has written so far."""
        with open(self.log, "rb") as log:
            log.seek(self.log_offset)
            return log.read().decode("utf-8", errors="replace")

    def kill(self) -> None:
        """SIGKILL every process of the session at once, as when its machine dies: the
        task processes too, which Airflow puts in process groups of their own."""
        if self.process is None:
            return
        for pid in _session_pids(self.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM the process group, then SIGKILL whatever is left of the session."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=grace_s)
        self.kill()

    def tail(self, lines: int = 50) -> str:
        if not self.log.is_file():
            return "(no output)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _session_pids(session: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if os.getsid(int(entry.name)) == session:
                    pids.append(int(entry.name))
    return pids


@dataclass(frozen=True)
class TaskTry:
    """One try of a task instance, as the metadata database recorded it."""

    task_id: str
    map_index: int
    try_number: int
    state: str | None
    hostname: str
    queue: str


@dataclass
class Cluster:
    """The running cluster: its services, its environment, its REST and database clients."""

    root: Path
    env: dict[str, str]
    databases: Databases
    api_url: str
    services: dict[str, Service] = field(default_factory=dict)
    _api: AirflowApi | None = None

    @property
    def settings(self) -> Settings:
        """The settings every process of the cluster reads."""
        with environment(self.env):
            return Settings()

    @property
    def mlflow_url(self) -> str:
        return self.env["CINESCOPE_MLFLOW_TRACKING_URI"]

    @property
    def api(self) -> AirflowApi:
        if self._api is None:
            with environment(self.env):  # the cluster's password file
                self._api = AirflowApi(self.settings, base_url=self.api_url)
        return self._api

    def add(self, name: str, command: list[str], **extra_env: str) -> Service:
        service = Service(name, command, self.env | extra_env, self.root / "logs" / f"{name}.log")
        self.services[name] = service
        return service

    def restart(self, name: str) -> None:
        """Start a service again (after a kill) and wait until it is ready."""
        self.services[name].start()
        self.wait_ready(name)

    def wait_ready(self, name: str) -> None:
        wait_until(self._ready[name], 240, f"{name} to be ready", self, watch=name)

    @property
    def _ready(self) -> dict[str, Callable[[], bool]]:
        scheduler = self.env["AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT"]
        checks = {
            "mlflow": answers(f"{self.mlflow_url}/health"),
            "api-server": answers(f"{self.api_url}/api/v2/monitor/health"),
            "scheduler": answers(f"http://127.0.0.1:{scheduler}/health"),
            "dag-processor": lambda: True,  # ready once the DAGs show (Cluster.trigger waits)
        }
        for worker in WORKER_QUEUES:
            checks[worker] = _celery_ready(self.services[worker])
        return checks

    def metadata(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.databases.url("airflow"), autocommit=True)

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Unpause the DAG and start a run (through the REST API); the run's id."""
        self.api.wait_for_dag(dag_id)
        return str(self.api.trigger(dag_id, conf)["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.api.run_state(dag_id, run_id)

    def wait_for_run(self, dag_id: str, run_id: str, timeout_s: float = 600) -> str:
        """Wait until the run has ended; its state."""
        wait_until(
            lambda: self.run_state(dag_id, run_id) in ENDED, timeout_s, f"{dag_id} {run_id}", self
        )
        return self.run_state(dag_id, run_id)

    def tries(self, dag_id: str, run_id: str) -> list[TaskTry]:
        """Every try of every task instance of a run, earlier ones (Airflow moves them to
        ``task_instance_history``) and the latest, in order."""
        query = """
            SELECT task_id, map_index, try_number, state, coalesce(hostname, ''), queue
            FROM task_instance_history WHERE dag_id = %(dag)s AND run_id = %(run)s
            UNION ALL
            SELECT task_id, map_index, try_number, state, coalesce(hostname, ''), queue
            FROM task_instance WHERE dag_id = %(dag)s AND run_id = %(run)s
            ORDER BY 1, 2, 3
        """
        with self.metadata() as connection:
            rows = connection.execute(query, {"dag": dag_id, "run": run_id}).fetchall()
        return [TaskTry(*row) for row in rows]

    def run_times(self, dag_id: str, run_id: str) -> tuple[Any, Any]:
        """When the run started and ended (None while it has not)."""
        with self.metadata() as connection:
            row = connection.execute(
                "SELECT start_date, end_date FROM dag_run WHERE dag_id = %s AND run_id = %s",
                (dag_id, run_id),
            ).fetchone()
        assert row is not None, f"no run {run_id} of {dag_id}"
        return row[0], row[1]

    def task_log(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
        """A task's log so far, every try (the workers write it to the shared log folder)."""
        folder = Path(self.env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"]) / f"dag_id={dag_id}"
        folder = folder / f"run_id={run_id}" / f"task_id={task_id}"
        if map_index >= 0:
            folder = folder / f"map_index={map_index}"
        return "".join(path.read_text(errors="replace") for path in sorted(folder.glob("*.log")))

    def report(self) -> str:
        """The end of every service's output and of every failed task's log."""
        parts = [
            f"===== {name} ({'running' if service.alive else 'stopped'}), {service.log}\n"
            f"{service.tail()}"
            for name, service in self.services.items()
        ]
        with contextlib.suppress(psycopg.Error), self.metadata() as connection:
            failed = connection.execute(
                "SELECT dag_id, run_id, task_id, map_index FROM task_instance_history "
                "WHERE state = 'failed' UNION SELECT dag_id, run_id, task_id, map_index "
                "FROM task_instance WHERE state IN ('failed', 'upstream_failed')"
            ).fetchall()
            for dag_id, run_id, task_id, map_index in failed:
                log = self.task_log(dag_id, run_id, task_id, map_index).splitlines()
                parts.append(f"===== task {dag_id} {run_id} {task_id} [{map_index}]")
                parts.append("\n".join(log[-40:]))
        return "\n".join(parts)

    def published_item_counts(self) -> dict[str, int]:
        """How many item documents the live index holds in PostgreSQL, per catalog item."""
        from ops.index.build import index_store

        live = index_store(self.settings).current()
        assert live is not None, "no index is published"
        manifest = live.manifest()
        assert manifest["backend"] == "postgres", manifest
        schema = manifest["postgres_schema"]
        with psycopg.connect(self.databases.url("index")) as connection:
            rows = connection.execute(
                f"SELECT item_id, count(*) FROM {schema}.documents "  # a plain identifier
                "WHERE level = 'item' GROUP BY item_id"
            ).fetchall()
        return {str(item): int(count) for item, count in rows}

    def stop(self) -> None:
        for service in reversed(self.services.values()):
            service.stop()


def wait_until(
    ready: Callable[[], bool],
    timeout_s: float,
    what: str,
    cluster: Cluster,
    *,
    watch: str | None = None,
    every_s: float = 1.0,
) -> None:
    """Poll ``ready`` (connection errors count as not yet); fail on timeout, or at once when
    the service ``watch`` has exited."""
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(httpx.HTTPError, psycopg.OperationalError):
            if ready():
                return
        if watch is not None and not cluster.services[watch].alive:
            raise RuntimeError(f"{watch} exited while waiting for {what}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(every_s)


def answers(url: str) -> Callable[[], bool]:
    return lambda: httpx.get(url, timeout=5).status_code == 200


def _celery_ready(worker: Service) -> Callable[[], bool]:
    """Celery prints ``<name>@<host> ready.`` once it consumes its queues."""
    marker = re.compile(rf"{re.escape(worker.name)}@\S+ ready\.")
    return lambda: marker.search(worker.output()) is not None


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """``env`` over this process's environment for a block (settings are read from it)."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def cluster_environment(
    root: Path, databases: Databases, redis_db: int, ports: dict[str, int]
) -> dict[str, str]:
    """One environment for every process, with the setting names of ``infra/compose.yaml``."""
    home = root / "home"
    airflow_db = databases.url("airflow", "postgresql+psycopg")
    mlflow_url = f"http://127.0.0.1:{ports['mlflow']}"
    compose = {  # x-cinescope-env
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_db,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": airflow_db,
        "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{redis_db}",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{airflow_db}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{ports['api']}/execution/",
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "true",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "airflow" / "logs"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(
            home / "airflow" / "passwords.json"
        ),
        "CINESCOPE_HOME": str(home),
        "CINESCOPE_GPU_POOL_SLOTS": "1",
        "CINESCOPE_MLFLOW_TRACKING_URI": mlflow_url,
        "MLFLOW_TRACKING_URI": mlflow_url,
        "CINESCOPE_SEARCH_BACKEND": "postgres",
        "CINESCOPE_SEARCH_POSTGRES_DSN": databases.url("index"),
        "DVC_NO_ANALYTICS": "1",
        "GX_ANALYTICS_ENABLED": "false",
    }
    image = {  # what the Docker image sets (infra/docker/Dockerfile), the DAGs of this checkout
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    one_machine = {
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(ports["scheduler"]),
        "AIRFLOW__API__WORKERS": "1",
        # both workers run here, so each names itself (tests/distributed/worker_host.py)
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.distributed.worker_host.worker_host",
        "PYTHONPATH": str(REPO_ROOT),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": os.environ.get("HOME", str(root)),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "TMPDIR": str(root / "tmp"),
        # runs start when a test triggers them, never on the schedules (unpausing a DAG
        # would start the run of its latest cron time at once)
        "CINESCOPE_INGEST_SCHEDULE": NEVER,
        "CINESCOPE_REFRESH_SCHEDULE": NEVER,
    }
    faults_in_seconds = {
        # a task whose worker died is failed after 30 s without a heartbeat (default 300) and
        # retried 30 s later (default 300: long enough here for MLflow to restart); a dead
        # scheduler's queued tasks are adopted within 20 s (default 300)
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
        "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "30",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "15",
        "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "20",
        # an MLflow client gives up after one retry (default: 7, minutes of back-off), so an
        # outage fails the try and Airflow's retry takes over
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        # two tasks at a time on the default worker of this two-core machine (default 16)
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
    }
    return compose | image | one_machine | faults_in_seconds


def _mlflow_environment(databases: Databases, artifacts: Path) -> dict[str, str]:
    """The compose file's ``mlflow`` service settings: PostgreSQL, artifacts served by it."""
    return {
        "MLFLOW_BACKEND_STORE_URI": databases.url("mlflow", "postgresql+psycopg"),
        "MLFLOW_SERVE_ARTIFACTS": "true",
        "MLFLOW_ARTIFACTS_DESTINATION": str(artifacts),
        "MLFLOW_SERVER_ALLOWED_HOSTS": "localhost:*,127.0.0.1:*",
        # its generative-AI job runner, which cinescope does not use, halves a restart
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }


@contextlib.contextmanager
def running_cluster(root: Path, extra_env: dict[str, str]) -> Iterator[Cluster]:
    """Start every service and wait until each answers; afterwards stop every session and
    drop the databases and the broker's Redis database, whatever happened."""
    databases = Databases.create("airflow", "mlflow", "index")
    redis_db = _free_redis_db()
    ports = dict(zip(("api", "mlflow", "scheduler"), free_ports(3), strict=True))
    env = cluster_environment(root, databases, redis_db, ports) | extra_env
    for folder in ("tmp", "mlflow-artifacts"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    cluster = Cluster(root, env, databases, api_url=f"http://127.0.0.1:{ports['api']}")
    try:
        try:
            _start(cluster, ports)
        except BaseException:
            print(cluster.report())  # pytest shows it with the fixture's error
            raise
        yield cluster
    finally:
        cluster.stop()
        databases.drop()
        _redis("FLUSHDB", db=redis_db)


def _start(cluster: Cluster, ports: dict[str, int]) -> None:
    airflow = str(BIN / "airflow")
    mlflow = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(ports["mlflow"])]
    artifacts = cluster.root / "mlflow-artifacts"
    cluster.add(
        "mlflow", [*mlflow, "--workers", "1"], **_mlflow_environment(cluster.databases, artifacts)
    )
    cluster.services["mlflow"].start()  # meanwhile: Airflow's database and pool
    init = subprocess.run(
        ["bash", str(INIT_SCRIPT)],
        env=cluster.env | {"AIRFLOW_ADMIN_PASSWORD": secrets.token_urlsafe(12)},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if init.returncode != 0:
        raise RuntimeError(f"{INIT_SCRIPT} failed:\n{init.stdout[-3000:]}{init.stderr[-3000:]}")
    cluster.add("api-server", [airflow, "api-server", "--port", str(ports["api"])])
    cluster.add("scheduler", [airflow, "scheduler", "--skip-serve-logs"])
    cluster.add("dag-processor", [airflow, "dag-processor"])
    for worker, queues in WORKER_QUEUES.items():
        concurrency = ["--concurrency", "1"] if worker == GPU_WORKER else []
        command = [airflow, "celery", "worker", *queues, *concurrency]
        cluster.add(
            worker,
            [*command, "--celery-hostname", f"{worker}@%h", "--skip-serve-logs"],
            **{WORKER_HOST_VARIABLE: worker},
        )
    for name, service in cluster.services.items():
        if name != "mlflow":
            service.start()
    for name in cluster.services:
        cluster.wait_ready(name)
