"""``cinescope mood train|evaluate|demo-data``.

``mood_app`` is mounted as the ``mood`` group of the ``cinescope`` CLI. Heavy imports
(OpenCV, scikit-learn, MLflow) happen inside the commands, so ``--help`` stays fast.
Errors go to stderr, so with ``--json`` stdout holds only the answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ops.console import AsJson, console, fail, stats_table
from ops.mood.pipeline import DEMO_PICTURES_PER_MOOD

mood_app = typer.Typer(
    help="Image mood on the eight-mood circle: train and register, evaluate by k-fold.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

EVALUATION_STANDINS = 30
"""Generated pictures per mood that ``evaluate`` scores when given no folder."""


@mood_app.command("train")
def train(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            metavar="DIR",
            help="labelled pictures, a sub-folder per mood (default: $CINESCOPE_MOOD_DATA_DIR, "
            "else generated stand-ins in $CINESCOPE_HOME/datasets/mood)",
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Version DIR (labels/mood/vN), train the mood model on every picture of it, save it,
    register it in MLflow (mood) and make it the champion when it beats the champion's
    k-fold accuracy. The params are the params file's mood section."""
    from ops.mood.pipeline import data_step, train_step

    try:
        trained = train_step(data=data_step(folder=data))
    except (NotADirectoryError, ValueError) as error:
        fail(str(error), 2)
    if as_json:
        print(trained.model_dump_json(indent=2))
        return
    registered = trained.registered
    console.print(stats_table("mood model (pictures)", trained.per_mood))
    for name, reason in trained.skipped.items():
        console.print(f"[yellow]skipped[/] {name}: {reason}")
    summary = {
        f"{trained.params.folds}-fold accuracy": f"{trained.accuracy:.1%}",
        "adjacent accuracy": f"{trained.adjacent_accuracy:.1%}",
        "data": f"{trained.dataset_rev} ({trained.training_data})",
        "saved": str(trained.path),
    }
    console.print(stats_table("mood training", summary))
    verdict = "champion" if registered.promoted else "champion kept"
    console.print(f"registered mood version {registered.version}: {verdict} ({registered.reason})")


@mood_app.command("evaluate")
def evaluate(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            metavar="DIR",
            help=f"labelled pictures, a sub-folder per mood (default: {EVALUATION_STANDINS} "
            "generated stand-ins per mood)",
        ),
    ] = None,
    folds: Annotated[int, typer.Option(metavar="N", help="k of the k-fold evaluation")] = 10,
    as_json: AsJson = False,
) -> None:
    """Cho et al.'s protocol: stratified k-fold accuracy and adjacent accuracy (a guess
    one step round the mood circle counts), with recall per mood. Nothing is saved."""
    from ops.mood.dataset import EmptyDatasetError, folder_dataset, generated_dataset
    from ops.mood.model import cross_validate

    try:
        dataset = generated_dataset(EVALUATION_STANDINS) if data is None else folder_dataset(data)
        result = cross_validate(dataset, folds=folds)
    except (NotADirectoryError, EmptyDatasetError, ValueError) as error:
        fail(str(error), 2)
    if as_json:
        answer = result.model_dump(mode="json", exclude={"per_mood_recall"})
        print(json.dumps(answer | {"per_mood": result.per_mood_recall}, indent=2))
        return
    if data is None:
        console.print("[yellow]no --data: scored on generated stand-ins, not real pictures[/]")
    summary = {
        "accuracy": f"{result.accuracy:.1%} (± {result.accuracy_std:.1%} over folds)",
        "adjacent accuracy": f"{result.adjacent_accuracy:.1%}",
        "chance": f"{result.chance_accuracy:.1%}, adjacent {result.chance_adjacent_accuracy:.1%}",
        "pictures": result.images,
        "folds": result.folds,
        "data": f"{result.trained_on} ({result.training_data})",
    }
    console.print(stats_table("mood evaluation", summary))
    console.print(
        stats_table("recall per mood", {m: f"{v:.1%}" for m, v in result.per_mood_recall.items()})
    )
    for name, reason in dataset.skipped.items():
        console.print(f"[yellow]skipped[/] {name}: {reason}")


@mood_app.command("demo-data")
def demo_data(
    pictures: Annotated[
        int, typer.Option(metavar="N", help="pictures per mood")
    ] = DEMO_PICTURES_PER_MOOD,
) -> None:
    """Generate stand-in pictures (a sub-folder per mood) where training reads them by
    default; an existing folder is left as it is."""
    from ops.mood.pipeline import generate_demo_data

    console.print(f"labelled pictures: {generate_demo_data(per_mood=pictures)}")
