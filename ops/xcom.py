"""Step results through Airflow XCom: pydantic models out, the same models back in.

Airflow 3 serialises a pydantic model into XCom, but with its default configuration
(``[core] allowed_deserialization_classes = airflow.*``) the receiving task refuses to
import the class. So a task wrapped with :func:`typed_task` hands its result on as the
model's JSON form and receives each argument validated back into the model its
annotation names: task bodies work with models, XCom holds plain JSON (readable in the
UI), and no deployment has to widen the deserialization allow-list.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar

from pydantic import TypeAdapter

P = ParamSpec("P")
R = TypeVar("R")


def typed_task(body: Callable[P, R]) -> Callable[P, R]:
    """Wrap a task body (under ``@task``) so its annotated models cross XCom as JSON.

    The annotations are resolved in the DAG file's globals, so the models they name are
    imported at its top (from light modules: result models, never the steps).
    """
    signature = inspect.signature(body)

    @functools.wraps(body)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        hints = typing.get_type_hints(body)
        bound = signature.bind(*args, **kwargs)
        for name, value in bound.arguments.items():
            if name in hints:
                bound.arguments[name] = TypeAdapter(hints[name]).validate_python(_pulled(value))
        result = body(*bound.args, **bound.kwargs)
        if "return" not in hints:
            return result
        return typing.cast(R, TypeAdapter(hints["return"]).dump_python(result, mode="json"))

    return wrapper


def _pulled(value: Any) -> Any:
    """A mapped task's results arrive as a lazy sequence: read them all in one request
    (iterating reads them one by one until Airflow answers "XCom not found" past the
    last, and logs that answer as an error)."""
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes, list, tuple)):
        return list(value[:])
    return value
