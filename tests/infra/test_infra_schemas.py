"""The infra files against the schemas their tools publish, offline: the compose file against the
Compose Specification, the Kubernetes manifests against the Kubernetes API (strict: an unknown
field is an error, as `kubeconform -strict` has it), the Helm values against the Airflow chart's
values.schema.json. Where the schemas come from, and their versions: infra/schemas/README.md.

Each schema must also refuse a deliberately broken copy, so a check that accepts anything fails.
"""

from __future__ import annotations

import copy
import importlib.resources
import json
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from referencing import Registry, Resource

from ops.settings import REPO_ROOT

COMPOSE_SPEC = "compose-spec.json"
KUBERNETES_VERSIONS = ("1.33.0", "1.37.0")
"""The oldest Kubernetes the manifests claim (infra/README.md) and the newest kubernetes-validate
knows; every manifest must pass both."""

AIRFLOW_CHART_VERSION = "1.22.0"
AIRFLOW_CHART_SCHEMA = (
    REPO_ROOT
    / "infra"
    / "schemas"
    / f"airflow-chart-{AIRFLOW_CHART_VERSION}"
    / "values.schema.json"
)
AIRFLOW_CHART_SCHEMA_ENV = "CINESCOPE_AIRFLOW_CHART_SCHEMA"
"""Names a values.schema.json to use instead of the vendored one (one kept outside the repo)."""
KUBERNETES_DEFINITIONS = "https://kubernetes.io/api/_definitions.json"

Mutation = Callable[[dict[str, Any]], None]


def _problems(validator: Validator, instance: Any) -> list[str]:
    """Every schema error, as 'path: message' (the path in the instance, '/'-joined)."""
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in validator.iter_errors(instance)
    ]


def _broken(document: dict[str, Any], mutate: Mutation) -> dict[str, Any]:
    broken = copy.deepcopy(document)
    mutate(broken)
    return broken


# Compose -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose_validator() -> Validator:
    """The Compose Specification's schema, as check-jsonschema (PyPI) vendors it."""
    vendored = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendored / COMPOSE_SPEC).read_text(encoding="utf-8"))
    validator: Validator = validator_for(schema)(schema)
    return validator


def test_the_compose_file_follows_the_compose_specification(
    compose_validator: Validator, compose: dict[str, Any]
) -> None:
    assert _problems(compose_validator, compose) == []


BROKEN_COMPOSE: dict[str, Mutation] = {
    "a misspelt service key": lambda c: c["services"]["redis"].update(restarts="always"),
    "an unknown dependency condition": lambda c: c["services"]["mlflow"]["depends_on"][
        "postgres"
    ].update(condition="service_ready"),
    "a misspelt deploy key": lambda c: c["services"]["cinescope-api"]["deploy"].update(replica=2),
    "a healthcheck test that is a mapping": lambda c: c["services"]["redis"]["healthcheck"].update(
        test={"cmd": "redis-cli ping"}
    ),
    "an unknown top-level key": lambda c: c.update(service={}),
}


@pytest.mark.parametrize("mutate", BROKEN_COMPOSE.values(), ids=BROKEN_COMPOSE.keys())
def test_the_compose_schema_refuses_a_broken_compose_file(
    compose_validator: Validator, compose: dict[str, Any], mutate: Mutation
) -> None:
    assert _problems(compose_validator, _broken(compose, mutate))


# Kubernetes manifests --------------------------------------------------------------------------


def _kubernetes_problem(resource: dict[str, Any], version: str) -> str | None:
    """Why the Kubernetes API schema of ``version`` refuses ``resource`` (strict), or None."""
    try:
        kubernetes_validate.validate(resource, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        return f"{'/'.join(map(str, error.path)) or '(root)'}: {error.message}"
    except kubernetes_validate.SchemaNotFoundError as error:
        return str(error.message)
    return None


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_kubernetes_manifests_follow_the_api_schemas(
    manifests: list[tuple[str, dict[str, Any]]], version: str
) -> None:
    problems = {
        f"{path}: {resource['kind']}/{resource['metadata']['name']}": problem
        for path, resource in manifests
        if (problem := _kubernetes_problem(resource, version))
    }
    assert problems == {}
    kinds = {resource["kind"] for _, resource in manifests}
    assert {"Deployment", "StatefulSet", "Service", "ConfigMap", "Job"} <= kinds


def _query_api(manifests: list[tuple[str, dict[str, Any]]], kind: str) -> dict[str, Any]:
    (found,) = [
        resource
        for _, resource in manifests
        if resource["kind"] == kind and resource["metadata"]["name"] == "cinescope-api"
    ]
    return found


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


BROKEN_MANIFESTS: dict[str, tuple[str, Mutation]] = {
    "a misspelt container field": ("Deployment", lambda d: _container(d).update(port=8000)),
    "replicas as text": ("Deployment", lambda d: d["spec"].update(replicas="two")),
    "a Deployment without a selector": ("Deployment", lambda d: d["spec"].pop("selector")),
    "a probe without a handler field": (
        "Deployment",
        lambda d: _container(d)["readinessProbe"].update(http={"path": "/health"}),
    ),
    "a service port that is a name": (
        "Service",
        lambda s: s["spec"]["ports"][0].update(port="http"),
    ),
    "an unknown kind": ("Service", lambda s: s.update(kind="Servcie")),
}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(
    "kind_and_mutation", BROKEN_MANIFESTS.values(), ids=BROKEN_MANIFESTS.keys()
)
def test_the_kubernetes_schemas_refuse_a_broken_manifest(
    manifests: list[tuple[str, dict[str, Any]]],
    kind_and_mutation: tuple[str, Mutation],
    version: str,
) -> None:
    kind, mutate = kind_and_mutation
    resource = _query_api(manifests, kind)
    assert _kubernetes_problem(resource, version) is None
    assert _kubernetes_problem(_broken(resource, mutate), version)


# Helm values -----------------------------------------------------------------------------------


def _airflow_chart_validator() -> Validator:
    """The chart's own values.schema.json: the file CINESCOPE_AIRFLOW_CHART_SCHEMA names, else the
    copy vendored under infra/schemas; skips where there is neither (how to get it:
    infra/schemas/README.md). An empty registry, so that a remote $ref fails instead of being
    fetched."""
    candidates = [Path(named)] if (named := os.environ.get(AIRFLOW_CHART_SCHEMA_ENV)) else []
    found = [path for path in [*candidates, AIRFLOW_CHART_SCHEMA] if path.is_file()]
    if not found:
        pytest.skip(
            f"no Airflow chart schema: {AIRFLOW_CHART_SCHEMA.relative_to(REPO_ROOT)} is not "
            f"vendored and {AIRFLOW_CHART_SCHEMA_ENV} names no file; no package ships the "
            "chart's schema and it cannot be fetched offline; see infra/schemas/README.md"
        )
    schema = json.loads(found[0].read_text(encoding="utf-8"))
    validator: Validator = validator_for(schema)(schema, registry=Registry())
    return validator


def test_the_airflow_values_follow_the_chart_schema(airflow_values: dict[str, Any]) -> None:
    validator = _airflow_chart_validator()
    assert _problems(validator, airflow_values) == []
    broken = _broken(airflow_values, lambda v: v["workers"].update(replicas="two"))
    assert _problems(validator, broken)


@cache
def _kubernetes_definition(name: str) -> Validator:
    """A validator for one Kubernetes API definition (e.g. io.k8s.api.core.v1.Volume) of the
    oldest version claimed, strict, as the chart's schema refers to them for these values."""
    definitions = kubernetes_validate.utils.schema_contents(
        f"kubernetes-json-schema/v{KUBERNETES_VERSIONS[0]}-local-strict/_definitions.json",
        KUBERNETES_VERSIONS[0],
    )
    registry: Registry = Resource.from_contents(definitions) @ Registry()
    return Draft202012Validator(
        {"$ref": f"{KUBERNETES_DEFINITIONS}#/$defs/{name}"}, registry=registry
    )


def _kubernetes_fragments(values: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """The parts of the values that are Kubernetes objects: (where, definition, the object)."""
    core = "io.k8s.api.core.v1."
    celery = values["workers"]["celery"]
    fragments = [
        *((f"volumes/{i}", core + "Volume", v) for i, v in enumerate(values["volumes"])),
        *(
            (f"volumeMounts/{i}", core + "VolumeMount", v)
            for i, v in enumerate(values["volumeMounts"])
        ),
        *(
            (f"extraEnvFrom/{i}", core + "EnvFromSource", v)
            for i, v in enumerate(yaml.safe_load(values["extraEnvFrom"]))
        ),
        ("workers/celery/resources", core + "ResourceRequirements", celery["resources"]),
    ]
    for worker_set in celery["sets"]:
        where = f"workers/celery/sets/{worker_set['name']}"
        fragments.append(
            (f"{where}/resources", core + "ResourceRequirements", worker_set["resources"])
        )
        fragments += [
            (f"{where}/tolerations/{i}", core + "Toleration", toleration)
            for i, toleration in enumerate(worker_set["tolerations"])
        ]
    return fragments


def test_the_kubernetes_objects_inside_the_airflow_values_follow_the_api_schemas(
    airflow_values: dict[str, Any],
) -> None:
    """What the chart's schema checks with the Kubernetes definitions (volumes, mounts, env
    sources, resources, tolerations), checked here against the Kubernetes API's own."""
    fragments = _kubernetes_fragments(airflow_values)
    assert len(fragments) >= 6
    problems = {
        where: found
        for where, definition, fragment in fragments
        if (found := _problems(_kubernetes_definition(definition), fragment))
    }
    assert problems == {}


BROKEN_VALUE_FRAGMENTS: dict[str, Mutation] = {
    "a misspelt toleration field": lambda v: v["workers"]["celery"]["sets"][0]["tolerations"][
        0
    ].update(effects="NoSchedule"),
    "resource limits as a list": lambda v: v["workers"]["celery"]["resources"].update(
        limits=["16Gi"]
    ),
    "a volume mount without a path": lambda v: v["volumeMounts"][0].pop("mountPath"),
    "an env source that names neither a ConfigMap nor a Secret": lambda v: v.update(
        extraEnvFrom="- configMap:\n    name: cinescope-config\n"
    ),
}


@pytest.mark.parametrize(
    "mutate", BROKEN_VALUE_FRAGMENTS.values(), ids=BROKEN_VALUE_FRAGMENTS.keys()
)
def test_the_kubernetes_definitions_refuse_broken_objects_in_the_values(
    airflow_values: dict[str, Any], mutate: Mutation
) -> None:
    broken = _broken(airflow_values, mutate)
    assert any(
        _problems(_kubernetes_definition(definition), fragment)
        for _, definition, fragment in _kubernetes_fragments(broken)
    )
