"""scene_labels: check the scene annotation file with GX and version it in the data registry.

Emits the ``labels/scene`` Asset (with the DVC revision) that schedules ``train_scene``.
Trigger it after editing the annotations (UI, REST API or ``cinescope trigger scene_labels``).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import dag, task

from ops.assets import SCENE_LABELS
from ops.scene.results import LabelledDataset
from ops.xcom import typed_task


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["cinescope", "scene", "labels"],
    doc_md=__doc__,
)
def scene_labels() -> None:
    @task(outlets=[SCENE_LABELS])
    @typed_task
    def check_and_version(*, outlet_events: Any = None) -> LabelledDataset:
        from ops.scene.pipeline import labels_step

        labelled = labels_step()
        if outlet_events is not None:
            outlet_events[SCENE_LABELS].extra = {"revision": labelled.dataset_rev}
        return labelled

    check_and_version()


scene_labels_dag = scene_labels()
