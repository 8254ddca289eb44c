"""catalog_refresh through Airflow (dag.test): a first run publishes, a second does nothing."""

from __future__ import annotations

from typing import Any

import pytest

from ops.airflow_env import apply_airflow_environment, ensure_airflow_db, load_dag, run_dag
from ops.index.build import index_store
from ops.predictions.store import PredictionsStore
from ops.settings import Settings
from tests.support.airflow import asset_event_extras
from tests.support.capture import captured_output

pytestmark = pytest.mark.slow


def _task_states(run: Any) -> dict[str, str]:
    states: dict[str, str] = {}
    for instance in run.get_task_instances():
        states[instance.task_id] = str(instance.state).rsplit(".", 1)[-1]
    return states


def test_refresh_publishes_once_then_has_nothing_to_do(refresh_home: Settings) -> None:
    first = run_dag("catalog_refresh", refresh_home)
    assert _task_states(first)["publish"] == "success"
    assert index_store(refresh_home).current() is not None
    live = index_store(refresh_home).current()
    assert live is not None and live.name == "v000001"
    ledger = PredictionsStore(refresh_home).read_ledger()
    assert len(ledger) == 14 and set(ledger["status"]) == {"ok"}  # 4 videos x 3 + the image x 2
    assert asset_event_extras("index/search")[-1] == {
        "version": "v000001",
        "predictions_version": "v000001",
    }

    second = run_dag("catalog_refresh", refresh_home)
    states = _task_states(second)
    assert states["plan"] == "success"
    assert states["build"] == states["check"] == states["publish"] == "skipped"
    assert "infer" not in states or states["infer"] == "skipped"  # zero shards mapped
    again = index_store(refresh_home).current()
    assert again is not None and again.name == "v000001"
    assert len(asset_event_extras("index/search")) == 1


def test_a_manual_run_plans_only_the_tasks_its_params_choose(refresh_home: Settings) -> None:
    run = run_dag("catalog_refresh", refresh_home, conf={"tasks": ["shots"]})

    assert _task_states(run)["publish"] == "success"
    ledger = PredictionsStore(refresh_home).read_ledger()
    assert set(ledger["task"]) == {"shots"} and len(ledger) == 4  # the 4 videos, no scene


@pytest.mark.parametrize(
    ("conf", "refusal"),
    [
        ({"tasks": ["karaoke"]}, "Invalid input for param tasks: 'karaoke' is not one of"),
        (
            {"tasks": ["shots"], "force": ["scene"]},
            "params refused by RefreshParams: params: Value error, "
            "force names scene, which tasks does not include",
        ),
    ],
)
def test_bad_params_are_refused_with_the_field_and_reason_before_anything_runs(
    refresh_home: Settings, conf: dict[str, Any], refusal: str
) -> None:
    apply_airflow_environment(refresh_home)
    ensure_airflow_db(refresh_home)
    from airflow.sdk.definitions.param import ParamValidationError  # after the environment

    with captured_output() as output:
        try:
            run = load_dag("catalog_refresh").test(run_conf=conf)
        except ParamValidationError as error:  # the trigger form's check: nothing was run
            refused, states = str(error), {}
        else:
            refused, states = "", _task_states(run)
    assert refusal in refused + output.text
    assert states.get("plan") in (None, "failed")
    assert all(states.get(task) != "success" for task in ("infer", "merge", "build"))
    assert PredictionsStore(refresh_home).store.current() is None
    assert index_store(refresh_home).current() is None


def test_the_shards_running_at_once_follow_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """More inference workers need more shards at once: a setting, not an edit of the DAG."""
    monkeypatch.setenv("CINESCOPE_REFRESH_PARALLEL_SHARDS", "12")
    infer = load_dag("catalog_refresh").get_task("infer")
    assert (infer.max_active_tis_per_dagrun, infer.queue, infer.pool) == (12, "gpu", "gpu")
