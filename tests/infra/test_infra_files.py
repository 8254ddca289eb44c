"""Structural checks of the distributed deployment (infra/): what `docker compose config` and
`helm template` would reject, and the cross-file promises between them, without Docker or Helm.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.settings import REPO_ROOT

INFRA = REPO_ROOT / "infra"
DOCKER = INFRA / "docker"
DEPENDENCY_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
# ${NAME}, ${NAME:-default}, ${NAME:?error} and bare $NAME; "$$" is compose's escaped dollar.
COMPOSE_VARIABLE = re.compile(r"(?<!\$)\$(?:\{([A-Za-z_]\w*)|([A-Za-z_]\w*))")
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|SECRET_KEY|FERNET_KEY)$")


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _yaml(INFRA / "compose.yaml")


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    """The KEY=VALUE lines of .env.example (comments and blank lines skipped)."""
    pairs = {}
    for line in (INFRA / ".env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example: not KEY=VALUE: {line!r}"
            pairs[key.strip()] = value.strip()
    return pairs


def _queues(command: list[str]) -> list[str]:
    """The queues of an `airflow celery worker ... --queues a,b` command."""
    assert command[:3] == ["airflow", "celery", "worker"], command
    return command[command.index("--queues") + 1].split(",")


def _init_sql_databases() -> set[str]:
    sql = (INFRA / "postgres" / "init.sql").read_text(encoding="utf-8")
    return set(re.findall(r"CREATE DATABASE (\w+);", sql))


def test_every_dependency_names_a_service_that_can_satisfy_it(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        for target, dependency in service.get("depends_on", {}).items():
            assert target in services, f"{name} depends on unknown service {target}"
            condition = dependency["condition"]
            assert condition in DEPENDENCY_CONDITIONS, f"{name} -> {target}: {condition}"
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no healthcheck"
            if condition == "service_completed_successfully":
                assert services[target].get("restart") == "no", f"{target} is not a one-shot"


def test_the_default_profile_starts_without_the_optional_services(
    services: dict[str, dict[str, Any]],
) -> None:
    assert services["cinescope-api"]["profiles"] == ["api"]
    assert services["airflow-worker-gpu"]["profiles"] == ["gpu"]
    for name, service in services.items():
        if "profiles" not in service:
            optional = {t for t in service.get("depends_on", {}) if "profiles" in services[t]}
            assert not optional, f"{name} needs services outside the default profile: {optional}"


def test_airflow_services_share_the_cinescope_environment_with_celery(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    shared = compose["x-cinescope-env"]
    assert shared["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert shared["CINESCOPE_HOME"] == "/data"
    airflow = {name: s for name, s in services.items() if name.startswith("airflow-")}
    assert len(airflow) == 7
    for name, service in airflow.items():
        environment = service["environment"]
        assert environment.items() >= shared.items(), f"{name} lacks the shared environment"
        assert "cinescope-data:/data" in service["volumes"], name


def test_metadata_and_result_backend_use_the_airflow_database(compose: dict[str, Any]) -> None:
    shared = compose["x-cinescope-env"]
    metadata = shared["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert metadata.startswith("postgresql+psycopg://")
    assert shared["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] == metadata
    assert shared["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg://")
    assert shared["AIRFLOW__CELERY__BROKER_URL"].endswith("@redis:6379/0")
    assert shared["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith(
        "http://airflow-api-server:8080/"
    )


def test_workers_listen_on_their_queues_and_the_gpu_worker_reserves_a_gpu(
    services: dict[str, dict[str, Any]],
) -> None:
    assert _queues(services["airflow-worker"]["command"]) == ["default"]
    gpu = services["airflow-worker-gpu"]
    assert _queues(gpu["command"]) == ["gpu"]
    assert gpu["build"]["args"]["TORCH_VARIANT"] == "cu128"
    assert gpu["image"] != services["airflow-worker"]["image"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert {"driver": "nvidia", "count": 1, "capabilities": ["gpu"]} in devices


def test_every_compose_variable_is_in_env_example_and_every_setting_is_used(
    env_example: dict[str, str],
) -> None:
    text = (INFRA / "compose.yaml").read_text(encoding="utf-8")
    used = {braced or bare for braced, bare in COMPOSE_VARIABLE.findall(text)}
    assert used - env_example.keys() == set(), "used in compose.yaml, missing in .env.example"
    assert env_example.keys() - used == set(), "in .env.example, never used by compose.yaml"


def test_env_example_carries_no_secret_values(env_example: dict[str, str]) -> None:
    secrets = {key: value for key, value in env_example.items() if SECRET_NAME.search(key)}
    assert len(secrets) >= 7
    assert all(value == "" for value in secrets.values()), secrets
    assert (INFRA / ".gitignore").read_text(encoding="utf-8").splitlines()[-1] == ".env"


def test_postgres_creates_every_database_the_services_connect_to(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    created = _init_sql_databases()
    assert created == {"airflow", "mlflow", "cinescope"}
    # The image creates POSTGRES_DB itself; init.sql creating it too would abort the first start.
    assert services["postgres"]["environment"]["POSTGRES_DB"] not in created
    urls = [
        compose["x-cinescope-env"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
        services["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"],
    ]
    for url in urls:
        assert url.rsplit("@postgres:5432/", 1)[1] in created, url


def test_minio_init_creates_the_buckets_dvc_and_mlflow_write_to(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    script = services["minio-init"]["command"][0]
    loop = re.search(r"for bucket in ([\w -]+); do", script)
    assert loop is not None, "minio-init no longer loops over its buckets"
    buckets = set(loop[1].split())
    assert buckets == {"cinescope-raw", "cinescope-dvc", "mlflow-artifacts"}
    dvc_bucket = compose["x-cinescope-env"]["CINESCOPE_DVC_REMOTE"].removeprefix("s3://")
    artifacts = services["mlflow"]["environment"]["MLFLOW_ARTIFACTS_DESTINATION"]
    assert dvc_bucket.split("/")[0] in buckets
    assert artifacts.removeprefix("s3://") in buckets


def test_helm_values_run_celery_with_a_gpu_worker_set() -> None:
    values = _yaml(INFRA / "k8s" / "values-airflow.yaml")
    assert values["executor"] == "CeleryExecutor"
    assert values["airflowVersion"] == "3.3.2"
    assert values["dags"]["gitSync"]["enabled"] is False
    assert values["postgresql"]["enabled"] is False
    assert values["redis"]["enabled"] is False
    assert values["workers"]["celery"]["queue"] == "default"
    (gpu,) = [s for s in values["workers"]["celery"]["sets"] if s["name"] == "gpu"]
    assert gpu["queue"] == "gpu"
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert any(t["key"] == "nvidia.com/gpu" for t in gpu["tolerations"])
    assert gpu["nodeSelector"]
    assert values["migrateDatabaseJob"]["args"] == ["cinescope-airflow-init"]


def test_mlflow_values_use_postgres_and_proxied_s3_artifacts() -> None:
    values = _yaml(INFRA / "k8s" / "values-mlflow.yaml")
    assert values["backendStore"]["postgres"]["enabled"] is True
    assert values["backendStore"]["postgres"]["database"] in _init_sql_databases()
    assert values["artifactRoot"]["proxiedArtifactStorage"] is True
    assert values["artifactRoot"]["s3"]["bucket"] == "mlflow-artifacts"


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.mlflow"])
def test_every_copied_path_exists_and_is_in_the_build_context(dockerfile: str) -> None:
    """The build context is an allow-list (<Dockerfile>.dockerignore); a COPY of anything else
    would fail the build."""
    ignore = (DOCKER / f"{dockerfile}.dockerignore").read_text(encoding="utf-8").splitlines()
    allowed = [line[1:] for line in ignore if line.startswith("!")]
    instructions = (DOCKER / dockerfile).read_text(encoding="utf-8").splitlines()
    copies = [line.split()[1:] for line in instructions if line.startswith("COPY ")]
    assert copies
    for arguments in copies:
        sources = [a for a in arguments if not a.startswith("--")][:-1]
        for source in sources:
            assert (REPO_ROOT / source).exists(), f"{dockerfile}: COPY {source}: no such path"
            assert any(source == a or source.startswith(f"{a}/") for a in allowed), source


def test_distributed_pins_resolve_with_constraints() -> None:
    """Every extra package is pinned; one pinned in constraints.txt too must be dropped from it by
    the Dockerfile, or pip refuses the two pins."""
    pins = {}
    requirements = DOCKER / "requirements-distributed.txt"
    for line in requirements.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version, f"not pinned: {line!r}"
            pins[name.lower()] = version
    constrained = {
        line.partition("==")[0].lower()
        for line in (REPO_ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
    }
    dockerfile = (DOCKER / "Dockerfile").read_text(encoding="utf-8")
    for name in pins.keys() & constrained:
        assert f'"/^{name}==/d"' in dockerfile, f"{name} is pinned twice"
    assert {"apache-airflow-providers-celery", "redis", "dvc-s3"} <= pins.keys()
