"""Task bodies take and return models; XCom holds their JSON form."""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from ops.xcom import typed_task


class Shard(BaseModel):
    model_config = ConfigDict(frozen=True)

    task: str
    index: int


class Merged(BaseModel):
    model_config = ConfigDict(frozen=True)

    shards: list[Shard]
    note: str | None = None


class LazyResults(Sequence[Any]):
    """Like Airflow's lazy sequence of mapped results: counts reads one by one."""

    def __init__(self, values: list[Any]) -> None:
        self.values, self.single_reads = values, 0

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, int):
            self.single_reads += 1
        return self.values[index]

    def __len__(self) -> int:
        return len(self.values)


@typed_task
def merge(shards: list[Shard], *, note: Any = None) -> Merged:
    assert all(isinstance(shard, Shard) for shard in shards)
    return Merged(shards=shards, note=note)


def test_models_arrive_validated_and_leave_as_json() -> None:
    pulled = LazyResults([{"task": "scene", "index": 0}, {"task": "shots", "index": 1}])

    sent = merge(pulled, note="context values pass as they are")

    assert pulled.single_reads == 0  # one read of every mapped result
    assert json.loads(json.dumps(sent)) == {
        "shards": [{"task": "scene", "index": 0}, {"task": "shots", "index": 1}],
        "note": "context values pass as they are",
    }
    assert Merged.model_validate(sent).shards[1] == Shard(task="shots", index=1)


def test_airflow_sees_the_task_bodys_own_signature() -> None:
    assert list(inspect.signature(merge).parameters) == ["shards", "note"]
