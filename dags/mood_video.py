"""mood_video: pictures of one mood from the catalog, set to music that matches it,
rendered as an MP4 (fades in and out, the music's volume following the picture) and
ingested back into the catalog with its lineage. See ops.mood.video.

Triggered by hand (the Airflow UI's form, or ``cinescope trigger mood_video --conf
'{"mood": "calm", "seconds": 20}'``); ``cinescope mood-video`` runs the same steps.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, get_current_context, task

from ops.dag_params import params_from_model
from ops.mood.results import GeneratedVideo, MoodVideoParams, MoodVideoPlan
from ops.xcom import typed_task


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params=params_from_model(MoodVideoParams),
    tags=["cinescope", "mood"],
    doc_md=__doc__,
)
def mood_video() -> None:
    @task
    @typed_task
    def plan() -> MoodVideoPlan:
        from ops.dag_params import model_from_params
        from ops.mood.video import plan_step
        from ops.settings import get_settings

        params = model_from_params(MoodVideoParams, get_current_context()["params"])
        return plan_step(get_settings(), params)

    @task
    @typed_task
    def render(chosen: MoodVideoPlan) -> GeneratedVideo:
        from ops.dag_params import model_from_params
        from ops.mood.video import render_step
        from ops.settings import get_settings

        params = model_from_params(MoodVideoParams, get_current_context()["params"])
        return render_step(get_settings(), chosen, params.seconds)

    @task
    @typed_task
    def ingest(generated: GeneratedVideo) -> str | None:
        from ops.mood.video import ingest_step
        from ops.settings import get_settings

        return ingest_step(get_settings(), generated)

    ingest(render(plan()))


mood_video_dag = mood_video()
