"""Structural checks of the distributed deployment (infra/): what `docker compose up`, `helm
install` and `kubectl apply` would trip over that no schema sees, and the promises between the
files (compose, the Kubernetes manifests and values, the README's commands), without Docker or
a cluster.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from typing import Any

import pytest
import typer.main
import yaml

from ops.cli import app
from ops.settings import REPO_ROOT

INFRA = REPO_ROOT / "infra"
DOCKER = INFRA / "docker"
DEPENDENCY_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
# ${NAME}, ${NAME:-default}, ${NAME:?error} and bare $NAME; "$$" is compose's escaped dollar.
COMPOSE_VARIABLE = re.compile(r"(?<!\$)\$(?:\{([A-Za-z_]\w*)|([A-Za-z_]\w*))")
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|SECRET_KEY|FERNET_KEY)$")
BUCKETS = {"cinescope-raw", "cinescope-dvc", "mlflow-artifacts"}
WORKLOADS = {"Deployment", "StatefulSet", "Job"}
# Where the Airflow chart reads each Secret the values name, and the key it expects in it.
CHART_SECRETS = {
    ("data", "metadataSecretName"): "connection",
    ("data", "resultBackendSecretName"): "connection",
    ("data", "brokerUrlSecretName"): "connection",
    ("fernetKeySecretName",): "fernet-key",
    ("apiSecretKeySecretName",): "api-secret-key",
    ("jwtSecretName",): "jwt-secret",
}

Manifests = list[tuple[str, dict[str, Any]]]


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


@pytest.fixture(scope="module")
def readme_creates() -> dict[str, set[str]]:
    """The Secrets and ConfigMaps the README's Kubernetes commands create, with their keys."""
    text = (INFRA / "README.md").read_text(encoding="utf-8").replace("\\\n", " ")
    created: dict[str, set[str]] = {}
    for line in map(str.strip, text.splitlines()):
        if line.startswith("$k "):  # $k='kubectl -n cinescope create secret generic'
            name, *options = shlex.split(line)[1:]
        elif line.startswith("kubectl -n cinescope create configmap "):
            name, *options = shlex.split(line)[5:]
        else:
            continue
        keys = set()
        for option in options:
            flag, _, value = option.partition("=")
            if flag == "--from-literal":
                keys.add(value.partition("=")[0])
            elif flag == "--from-file":
                assert (REPO_ROOT / value).is_file(), f"README: {value}: no such file"
                keys.add(value.rsplit("/", 1)[-1])
        created[name] = keys
    assert len(created) >= 10, created
    return created


def _queues(command: list[str]) -> list[str]:
    """The queues of an `airflow celery worker ... --queues a,b` command."""
    assert command[:3] == ["airflow", "celery", "worker"], command
    return command[command.index("--queues") + 1].split(",")


def _init_sql_databases() -> set[str]:
    sql = (INFRA / "postgres" / "init.sql").read_text(encoding="utf-8")
    return set(re.findall(r"CREATE DATABASE (\w+);", sql))


def _init_script_buckets() -> set[str]:
    script = (INFRA / "minio" / "init.sh").read_text(encoding="utf-8")
    declared = re.search(r'^buckets="([\w -]+)"$', script, re.MULTILINE)
    assert declared is not None, "minio/init.sh no longer declares its buckets"
    return set(declared[1].split())


def _named(manifests: Manifests, kind: str, name: str) -> dict[str, Any]:
    (found,) = [
        resource
        for _, resource in manifests
        if resource["kind"] == kind and resource["metadata"]["name"] == name
    ]
    return found


def _pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def _containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = _pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def _env(container: dict[str, Any]) -> dict[str, Any]:
    """A container's env entries by name: the value, or the valueFrom reference."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def _references(node: Any) -> Iterator[tuple[str, str, str | None]]:
    """Every (kind, name, key) a pod spec or values tree takes from a Secret, a ConfigMap or a
    claim; key is None where the whole object is used."""
    if isinstance(node, list):
        for item in node:
            yield from _references(item)
        return
    if not isinstance(node, dict):
        return
    for field, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
        if field in node:
            yield kind, node[field]["name"], node[field]["key"]
    for field, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
        if field in node:
            yield kind, node[field]["name"], None
    if "persistentVolumeClaim" in node:
        yield "PersistentVolumeClaim", node["persistentVolumeClaim"]["claimName"], None
    if isinstance(node.get("configMap"), dict):
        yield "ConfigMap", node["configMap"]["name"], None
    if isinstance(node.get("secret"), dict):
        yield "Secret", node["secret"]["secretName"], None
    for value in node.values():
        yield from _references(value)


# Compose ----------------------------------------------------------------------------------------


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
    assert services["airflow-worker-gpu"]["profiles"] == ["gpu"]
    assert "profiles" not in services["cinescope-api"], "the query API is part of the stack"
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
    for name, service in {**airflow, "cinescope-api": services["cinescope-api"]}.items():
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


def test_the_query_api_serves_the_postgres_index_from_several_replicas(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    """Replicas share the text index in PostgreSQL and the rest of the index under /data; each
    replica needs a host port of its own."""
    api = services["cinescope-api"]
    assert api["command"][:2] == ["cinescope", "serve"]
    replicas = api["deploy"]["replicas"]
    assert replicas >= 2
    (published,) = api["ports"]
    host_ports, container_port = published.rsplit(":", 2)[-2:]
    first, last = (int(port) for port in host_ports.split("-"))
    assert last - first + 1 >= replicas, "one published port per replica"
    assert container_port == api["command"][api["command"].index("--port") + 1]
    shared = compose["x-cinescope-env"]
    assert shared["CINESCOPE_SEARCH_BACKEND"] == "postgres"
    assert shared["CINESCOPE_SEARCH_POSTGRES_DSN"].startswith("postgresql://")
    assert "localhost:8000/health" in " ".join(api["healthcheck"]["test"])


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
        compose["x-cinescope-env"]["CINESCOPE_SEARCH_POSTGRES_DSN"],
        services["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"],
    ]
    assert {url.rsplit("@postgres:5432/", 1)[1] for url in urls} == created


def test_minio_init_creates_the_buckets_dvc_and_mlflow_write_to(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    assert _init_script_buckets() == BUCKETS
    init = services["minio-init"]
    assert "./minio/init.sh:/init/init.sh:ro" in init["volumes"]
    assert init["entrypoint"] == ["/bin/sh", "/init/init.sh"]
    dvc_bucket = compose["x-cinescope-env"]["CINESCOPE_DVC_REMOTE"].removeprefix("s3://")
    artifacts = services["mlflow"]["environment"]["MLFLOW_ARTIFACTS_DESTINATION"]
    assert dvc_bucket.split("/")[0] in BUCKETS
    assert artifacts.removeprefix("s3://") in BUCKETS


# Kubernetes -------------------------------------------------------------------------------------


def test_helm_values_run_the_airflow_components_and_celery_on_two_queues(
    airflow_values: dict[str, Any],
) -> None:
    values = airflow_values
    assert values["executor"] == "CeleryExecutor"
    assert values["airflowVersion"] == "3.3.2"
    assert values["apiServer"]["replicas"] >= 1
    assert values["scheduler"]["replicas"] >= 1
    assert values["dagProcessor"]["enabled"] is True
    assert values["triggerer"]["enabled"] is True
    assert values["dags"]["gitSync"]["enabled"] is False
    assert values["postgresql"]["enabled"] is False
    assert values["redis"]["enabled"] is False
    celery = values["workers"]["celery"]
    assert celery["enableDefault"] is True
    assert celery["queue"] == "default"
    (gpu,) = [s for s in celery["sets"] if s["name"] == "gpu"]
    assert gpu["queue"] == "gpu"
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert any(t["key"] == "nvidia.com/gpu" for t in gpu["tolerations"])
    assert gpu["nodeSelector"]
    assert values["migrateDatabaseJob"]["args"] == ["cinescope-airflow-init"]


def test_helm_values_share_the_cinescope_settings_and_the_data_volume(
    airflow_values: dict[str, Any],
) -> None:
    env_from = yaml.safe_load(airflow_values["extraEnvFrom"])
    assert {"configMapRef": {"name": "cinescope-config"}} in env_from
    assert {"secretRef": {"name": "cinescope-settings"}} in env_from
    assert {"name": "cinescope-data", "mountPath": "/data"} in airflow_values["volumeMounts"]
    # The UI login on the shared volume: kept across restarts, and where `cinescope trigger`
    # (ops.stack.admin_password) reads it inside the pods.
    core = airflow_values["config"]["core"]
    assert core["simple_auth_manager_passwords_file"] == "/data/airflow/passwords.json"


def test_the_cinescope_config_map_agrees_with_the_compose_environment(
    compose: dict[str, Any], manifests: Manifests
) -> None:
    """Same service names in both, so the same values (compose interpolates the two that
    follow the number of workers, with the config map's values as defaults)."""
    config = _named(manifests, "ConfigMap", "cinescope-config")["data"]
    shared = compose["x-cinescope-env"]
    common = config.keys() & shared.keys()
    assert len(common) >= 10
    differing = {k: (config[k], shared[k]) for k in common if config[k] != shared[k]}
    assert differing == {
        name: (config[name], f"${{{name}:-{config[name]}}}")
        for name in ("CINESCOPE_GPU_POOL_SLOTS", "CINESCOPE_REFRESH_PARALLEL_SHARDS")
    }


def test_mlflow_runs_on_postgres_with_proxied_artifacts_as_in_compose(
    manifests: Manifests, services: dict[str, dict[str, Any]]
) -> None:
    (container,) = _containers(_named(manifests, "Deployment", "mlflow"))
    env = _env(container)
    assert env["MLFLOW_BACKEND_STORE_URI"] == {
        "secretKeyRef": {"name": "cinescope-mlflow", "key": "backend-store-uri"}
    }
    compose_env = services["mlflow"]["environment"]
    for name in ("MLFLOW_SERVE_ARTIFACTS", "MLFLOW_ARTIFACTS_DESTINATION"):
        assert env[name] == compose_env[name], name
    assert container["args"] == services["mlflow"]["command"]
    assert env["MLFLOW_ARTIFACTS_DESTINATION"].removeprefix("s3://") in BUCKETS


def test_the_query_api_runs_cinescope_serve_with_several_replicas(manifests: Manifests) -> None:
    deployment = _named(manifests, "Deployment", "cinescope-api")
    assert deployment["spec"]["replicas"] >= 2
    (container,) = _containers(deployment)
    command = container["args"]
    assert command[:2] == ["cinescope", "serve"]
    serve = typer.main.get_command(app).commands["serve"]
    flags = {flag for parameter in serve.params for flag in parameter.opts}
    assert {word for word in command if word.startswith("--")} <= flags
    (port,) = container["ports"]
    assert port["containerPort"] == int(command[command.index("--port") + 1])
    assert {"configMapRef": {"name": "cinescope-config"}} in container["envFrom"]
    assert {"name": "cinescope-data", "mountPath": "/data"} in container["volumeMounts"]
    budget = _named(manifests, "PodDisruptionBudget", "cinescope-api")
    assert budget["spec"]["minAvailable"] < deployment["spec"]["replicas"]


def test_every_service_selects_a_workload_and_targets_a_named_port(manifests: Manifests) -> None:
    workloads = [r for _, r in manifests if r["kind"] in WORKLOADS]
    for workload in workloads:
        labels = workload["spec"]["template"]["metadata"]["labels"]
        selector = workload["spec"].get("selector", {}).get("matchLabels", {})
        assert selector.items() <= labels.items(), workload["metadata"]["name"]
        ports = {p["name"] for c in _containers(workload) for p in c.get("ports", [])}
        for container in _containers(workload):
            for probe in ("readinessProbe", "livenessProbe"):
                handler = container.get(probe, {})
                port = (handler.get("httpGet") or handler.get("tcpSocket") or {}).get("port")
                assert port is None or port in ports, f"{workload['metadata']['name']}: {port}"
    for service in (r for _, r in manifests if r["kind"] == "Service"):
        selected = [
            w
            for w in workloads
            if service["spec"]["selector"].items()
            <= w["spec"]["template"]["metadata"]["labels"].items()
        ]
        name = service["metadata"]["name"]
        assert len(selected) == 1, f"Service {name} selects {len(selected)} workloads"
        ports = {p["name"] for c in _containers(selected[0]) for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, f"Service {name}: {port['targetPort']}"


def test_everything_the_manifests_and_values_reference_is_created(
    manifests: Manifests, airflow_values: dict[str, Any], readme_creates: dict[str, set[str]]
) -> None:
    """Every Secret, ConfigMap and claim (and key) that a pod takes is made by a manifest or by
    the README's commands, so following the README leaves no pod stuck on a missing one."""
    defined: dict[tuple[str, str], set[str] | None] = {
        (r["kind"], r["metadata"]["name"]): set(r.get("data", {})) or None for _, r in manifests
    }
    for name, keys in readme_creates.items():
        defined[("Secret", name)] = keys
        defined[("ConfigMap", name)] = keys
    wanted = [ref for _, r in manifests if r["kind"] in WORKLOADS for ref in _references(r)]
    wanted += list(_references(airflow_values["volumes"]))
    wanted += list(_references(yaml.safe_load(airflow_values["extraEnvFrom"])))
    wanted += [("Secret", s["secretName"], s["secretKey"]) for s in airflow_values["secret"]]
    for path, key in CHART_SECRETS.items():
        node: Any = airflow_values
        for step in path:
            node = node[step]
        wanted.append(("Secret", node, key))
    assert len(wanted) >= 30
    for kind, name, key in wanted:
        assert (kind, name) in defined, f"{kind} {name} is created nowhere"
        keys = defined[(kind, name)]
        assert key is None or keys is None or key in keys, f"{kind} {name} has no key {key}"


def test_the_backing_services_and_init_scripts_match_compose(
    manifests: Manifests, services: dict[str, dict[str, Any]], readme_creates: dict[str, set[str]]
) -> None:
    images = {c["image"] for _, r in manifests if r["kind"] in WORKLOADS for c in _containers(r)}
    for name in ("postgres", "redis", "minio", "minio-init"):
        assert services[name]["image"] in images, f"{name}: not the image compose runs"
    assert readme_creates["cinescope-postgres-init"] == {"init.sql"}
    assert readme_creates["cinescope-minio-init"] == {"init.sh"}
    (job,) = _containers(_named(manifests, "Job", "cinescope-minio-init"))
    assert job["command"] == ["/bin/sh", "/init/init.sh"]
    assert set(_env(job)) == set(services["minio-init"]["environment"])


# Images -----------------------------------------------------------------------------------------


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
    """Every extra package is pinned; one that constraints.txt pins to another version must be
    dropped from it by the Dockerfile, or pip refuses the two pins."""
    pins = {}
    requirements = DOCKER / "requirements-distributed.txt"
    for line in requirements.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version, f"not pinned: {line!r}"
            pins[name.lower()] = version
    constrained = {
        name.lower(): version
        for name, _, version in (
            line.partition("==")
            for line in (REPO_ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
        )
    }
    dockerfile = (DOCKER / "Dockerfile").read_text(encoding="utf-8")
    for name in pins.keys() & constrained.keys():
        if pins[name] != constrained[name]:
            assert f'"/^{name}==/d"' in dockerfile, f"{name} is pinned to two versions"
    assert {"apache-airflow-providers-celery", "redis", "dvc-s3"} <= pins.keys()
