"""DAG params built from a pydantic model and validated by it."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from ops.dag_params import (
    DAG_PARAMS,
    ParamsRefused,
    checked_conf,
    model_from_params,
    params_from_model,
)


class Window(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    start_s: float = 0.0


class Example(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    epochs: int = Field(default=3, ge=1, description="passes over the training set")
    labels: list[Literal["kiss", "other"]] = Field(default_factory=lambda: ["kiss"])
    window: Window = Field(default_factory=Window)


def test_params_carry_each_fields_default_description_and_schema() -> None:
    params = params_from_model(Example)

    assert set(params) == {"epochs", "labels", "window"}
    assert params["epochs"].value == 3
    assert params["epochs"].description == "passes over the training set"
    assert params["epochs"].schema["type"] == "integer"
    assert params["epochs"].schema["minimum"] == 1
    assert params["labels"].value == ["kiss"]
    assert params["window"].value == {"start_s": 0.0}


def test_params_validate_like_the_model_in_airflow() -> None:
    from airflow.sdk.definitions.param import ParamValidationError

    params = params_from_model(Example)

    assert params["labels"].resolve(["other"]) == ["other"]
    assert params["window"].resolve({"start_s": 2.5}) == {"start_s": 2.5}
    with pytest.raises(ParamValidationError):
        params["epochs"].resolve(0)
    with pytest.raises(ParamValidationError):
        params["labels"].resolve(["dance"])


def test_a_field_without_default_cannot_be_a_param() -> None:
    class NoDefault(BaseModel):
        epochs: int

    with pytest.raises(TypeError, match="NoDefault: epochs need a default"):
        params_from_model(NoDefault)


def test_model_from_params_gives_the_model() -> None:
    assert model_from_params(Example, {"epochs": 5}) == Example(epochs=5)


def test_bad_params_are_refused_naming_each_field_and_reason() -> None:
    with pytest.raises(ParamsRefused) as refused:
        model_from_params(Example, {"epochs": 0, "labels": ["dance"], "epoch": 4})

    message = str(refused.value)
    assert message.startswith("params refused by Example: ")
    assert "epochs: Input should be greater than or equal to 1" in message
    assert "labels.0: Input should be 'kiss' or 'other'" in message
    assert "epoch: Extra inputs are not permitted" in message


def test_a_trigger_conf_is_checked_by_the_dags_params_model() -> None:
    assert checked_conf("catalog_refresh", {"force": ["scene"]}) == {
        "tasks": ["scene", "shots", "faces", "genre", "mood", "speech", "ocr"],
        "force": ["scene"],
        "full_index_build": False,
    }
    with pytest.raises(ParamsRefused, match=r"RefreshParams: tasks\.0: Input should be 'scene'"):
        checked_conf("catalog_refresh", {"tasks": ["karaoke"]})
    with pytest.raises(ParamsRefused, match="DAG nightly takes no params"):
        checked_conf("nightly", {"x": 1})
    assert checked_conf("nightly", {}) == {}


def test_every_dag_with_params_names_an_importable_model() -> None:
    import importlib

    for dag_id, target in DAG_PARAMS.items():
        module, name = target.split(":")
        model = getattr(importlib.import_module(module), name)
        assert params_from_model(model), dag_id
