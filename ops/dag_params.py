"""Airflow DAG params built from a pydantic model, and validated by that same model.

A DAG declares ``params=params_from_model(Model)``: one Airflow ``Param`` per field, its
JSON schema taken from the model, so the Airflow UI's trigger form shows each field with
its type, default and description. A task (or ``cinescope trigger``) turns what was
given into the model with ``model_from_params``, so the model is the single place where
a param's rules live, and bad params are refused, naming the field, before anything runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:
    from airflow.sdk import Param


M = TypeVar("M", bound=BaseModel)

DAG_PARAMS = {
    "catalog_ingest": "ops.catalog.results:IngestParams",
    "catalog_refresh": "ops.refresh.results:RefreshParams",
    "train_scene": "ops.scene.params:TrainParams",
    "faces_cluster": "ops.faces.params:ClusterParams",
    "train_genre": "ops.genre.pipeline:GenreTrainParams",
    "train_mood": "ops.mood.pipeline:MoodTrainParams",
    "mood_video": "ops.mood.results:MoodVideoParams",
}
"""Each DAG's params model (``module:Model``), for checking a trigger's conf without Airflow."""


class ParamsRefused(ValueError):
    """Params that the DAG's params model does not accept; the message names each field."""


def params_from_model(model: type[BaseModel]) -> dict[str, Param]:
    """One Airflow ``Param`` per field of ``model``, with the field's default and JSON schema.

    Every field needs a default: a scheduled run has nobody to fill the form in.
    """
    from airflow.sdk import Param

    schema = model.model_json_schema()
    definitions = schema.get("$defs")
    required = [name for name, field in model.model_fields.items() if field.is_required()]
    if required:
        raise TypeError(f"{model.__name__}: {', '.join(required)} need a default to be DAG params")
    defaults = model.model_validate({}).model_dump(mode="json")
    params = {}
    for name, field in model.model_fields.items():
        field_schema = {
            key: value
            for key, value in schema["properties"][name].items()
            if key not in ("default", "description")
        }
        if definitions:  # a nested model or enum refers to "#/$defs/..."
            field_schema["$defs"] = definitions
        params[name] = Param(defaults[name], description=field.description, schema=field_schema)
    return params


def model_from_params(model: type[M], params: Mapping[str, Any]) -> M:
    """Validate ``params`` (a DAG run's params, or a trigger's conf) with ``model``.

    Raises :class:`ParamsRefused` naming each refused field and why.
    """
    if not isinstance(params, Mapping):
        raise ParamsRefused(f"params for {model.__name__} must be a JSON object, not {params!r}")
    try:
        return model.model_validate(dict(params))
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'params'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ParamsRefused(f"params refused by {model.__name__}: {reasons}") from None


def checked_conf(dag_id: str, conf: Mapping[str, Any]) -> dict[str, Any]:
    """A trigger's conf validated by the DAG's params model, as the JSON to send.

    Raises :class:`ParamsRefused` when the model refuses it, or when the DAG takes none.
    """
    if dag_id not in DAG_PARAMS:
        if conf:
            raise ParamsRefused(f"DAG {dag_id} takes no params; trigger it without --conf")
        return {}
    module, name = DAG_PARAMS[dag_id].split(":")
    model: type[BaseModel] = getattr(importlib.import_module(module), name)
    return model_from_params(model, conf).model_dump(mode="json")
