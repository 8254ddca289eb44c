"""faces_cluster: add the faces of the people sources declare (their face sets, labelled
by name), then place the faces no curator decided on (suggest them to named people, join
anonymous clusters, or cluster them anew); ``full`` re-clusters from scratch.

Triggered by hand (the Airflow UI's form, or ``cinescope trigger faces_cluster --conf
'{"full": true}'``) or after faces are added. Named people and ignored faces are never
changed by it: see ops.faces.people.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, get_current_context, task

from ops.dag_params import params_from_model
from ops.faces.params import Added, ClusterParams, ClusterRun
from ops.xcom import typed_task


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params=params_from_model(ClusterParams),
    tags=["cinescope", "faces"],
    doc_md=__doc__,
)
def faces_cluster() -> None:
    @task
    @typed_task
    def collect() -> Added:
        from ops.faces.store import FaceStore
        from ops.settings import get_settings

        settings = get_settings()
        return FaceStore(settings).add_face_sets(settings)

    @task
    @typed_task
    def cluster() -> ClusterRun:
        from ops.dag_params import model_from_params
        from ops.faces.people import cluster_people
        from ops.settings import get_settings

        params = model_from_params(ClusterParams, get_current_context()["params"])
        return cluster_people(get_settings(), params)

    collect() >> cluster()


faces_cluster_dag = faces_cluster()
