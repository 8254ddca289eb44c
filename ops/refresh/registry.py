"""Every inference task a refresh can run, by name."""

from __future__ import annotations

from ops.refresh.mood_genre import GenreTask, MoodTask
from ops.refresh.tasks import FacesTask, InferenceTask, ModelRef, SceneTask, ShotsTask
from ops.refresh.words import OcrTask, SpeechTask
from ops.settings import Settings

TASKS: dict[str, InferenceTask] = {
    task.name: task
    for task in (
        SceneTask(),
        ShotsTask(),
        FacesTask(),
        GenreTask(),
        MoodTask(),
        SpeechTask(),
        OcrTask(),
    )
}


def get_task(task: str) -> InferenceTask:
    """A task by name; an unknown one names the known ones."""
    if task not in TASKS:
        raise KeyError(f"unknown refresh task {task!r} (known: {', '.join(sorted(TASKS))})")
    return TASKS[task]


def current_model(task: str, settings: Settings) -> ModelRef | None:
    """The model a task would use now, or None when it has none (e.g. no champion yet)."""
    return get_task(task).current_model(settings)
