"""Every DAG file keeps the step shape: tasks pass step results on whole, never pick keys
out of them, and order tasks by data or ``>>``, never by a dummy ``_`` parameter."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ops.airflow_env import DAGS_FOLDER

DAG_FILES = sorted(DAGS_FOLDER.glob("*.py"))


def _is_task(function: ast.FunctionDef) -> bool:
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute):
            target = target.value  # @task.virtualenv and the like
        if isinstance(target, ast.Name) and target.id == "task":
            return True
    return False


def _step_results(function: ast.FunctionDef) -> set[str]:
    """The task's parameters and the names it binds to a call's result (the Airflow
    context excepted: ``get_current_context()["params"]`` is how a task reads its params)."""
    names = {arg.arg for arg in [*function.args.args, *function.args.kwonlyargs]}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            called = node.value.func
            if isinstance(called, ast.Name) and called.id == "get_current_context":
                continue
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def shape_problems(source: str, file_name: str) -> list[str]:
    problems = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.FunctionDef) or not _is_task(function):
            continue
        where = f"{file_name}: task {function.name}"
        for arg in [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]:
            if arg.arg == "_":
                problems.append(f"{where} takes a dummy parameter `_`: use data or `>>`")
        results = _step_results(function)
        for node in ast.walk(function):
            if (
                isinstance(node, ast.Subscript)
                and isinstance(node.value, ast.Name)
                and node.value.id in results
                and isinstance(node.slice, ast.Constant)
                and isinstance(node.slice.value, str)
            ):
                problems.append(
                    f"{where} line {node.lineno} picks {node.value.id}[{node.slice.value!r}] "
                    "out of a step result: return a model and use its fields"
                )
    return problems


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda path: path.name)
def test_dag_tasks_pass_step_results_whole(path: Path) -> None:
    assert shape_problems(path.read_text(encoding="utf-8"), path.name) == []


def test_the_check_finds_picked_keys_and_dummy_parameters() -> None:
    old_shape = """
@task
def merge(planned: dict, _: Any) -> dict:
    return merge_step(planned["run_id"])

@task(outlets=[CATALOG])
def version(validated: dict) -> dict:
    result = version_catalog(summary=validated)
    return {"revision": result["revision"]}
"""
    assert shape_problems(old_shape, "old.py") == [
        "old.py: task merge takes a dummy parameter `_`: use data or `>>`",
        "old.py: task merge line 4 picks planned['run_id'] out of a step result: "
        "return a model and use its fields",
        "old.py: task version line 9 picks result['revision'] out of a step result: "
        "return a model and use its fields",
    ]
