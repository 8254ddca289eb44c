"""``cinescope genre evaluate|train|demo-data|predict`` and ``cinescope listen``.

``genre_app`` is mounted as the ``genre`` group and :func:`listen` as a top-level command
of the ``cinescope`` CLI. Heavy imports (librosa, scikit-learn, torch) happen inside the
commands, so ``--help`` stays fast. Errors go to stderr, so with ``--json`` stdout holds
only the answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from ops.console import AsJson, console, fail, stats_table
from ops.genre.pipeline import DEMO_SECONDS, DEMO_TRACKS_PER_GENRE
from ops.settings import get_settings

if TYPE_CHECKING:
    from ops.genre.predict import GenreClassifier

genre_app = typer.Typer(
    help="Music genre: train, evaluate against the MFCC + SVM baseline, predict a file.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

ModelPath = Annotated[
    Path | None,
    typer.Option(
        "--model",
        metavar="PATH",
        help="a saved genre model (default: the MLflow champion `genre`, else "
        "$CINESCOPE_HOME/genre/model.joblib)",
    ),
]


def _classifier(model: Path | None) -> GenreClassifier:
    """The model at ``model``; else the registered champion; else the last one trained."""
    from ops.genre.model import GenreModel
    from ops.genre.predict import GenreClassifier
    from ops.genre.tracking import GENRE_MODEL, load_genre_classifier
    from ops.genre.train import default_model_path
    from ops.tracking_store import CHAMPION_ALIAS, champion_ref

    settings = get_settings()
    if model is None and champion_ref(settings.tracking_uri, GENRE_MODEL) is not None:
        uri = f"models:/{GENRE_MODEL}@{CHAMPION_ALIAS}"
        return load_genre_classifier(uri, settings.tracking_uri)
    return GenreClassifier(GenreModel.load(model or default_model_path(settings)))


@genre_app.command("evaluate")
def evaluate(
    train: Annotated[
        Path, typer.Option("--train", metavar="DIR", help="training tracks, a sub-folder per genre")
    ],
    test: Annotated[
        Path, typer.Option("--test", metavar="DIR", help="test tracks, a sub-folder per genre")
    ],
    as_json: AsJson = False,
) -> None:
    """Train on one folder and test on another: the model and the MFCC + SVM baseline,
    trained and tested on the same split."""
    from ops.genre.evaluate import evaluate_genres

    try:
        result = evaluate_genres(train, test)
    except (NotADirectoryError, ValueError) as error:
        fail(str(error), 2)
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    table = Table(title="per genre (recall)", title_justify="left")
    for column in ("genre", "model", "baseline"):
        table.add_column(column, justify="left" if column == "genre" else "right")
    for genre in result.genres:
        table.add_row(
            genre,
            _share(result.per_genre.get(genre)),
            _share(result.baseline_per_genre.get(genre)),
        )
    summary = {
        "accuracy": _share(result.accuracy),
        "baseline accuracy (MFCC + SVM)": _share(result.baseline_accuracy),
        "train tracks": result.train_tracks,
        "test tracks": result.test_tracks,
        "classifiers": " + ".join(result.classifiers),
        "unreadable": len(result.unreadable),
    }
    console.print(stats_table("genre evaluation", summary))
    console.print(table)
    for name, reason in result.unreadable.items():
        console.print(f"[yellow]skipped[/] {name}: {reason}")


@genre_app.command("train")
def train(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            metavar="DIR",
            help="labelled tracks, a sub-folder per genre (default: $CINESCOPE_GENRE_DATA_DIR, "
            "else generated stand-ins in $CINESCOPE_HOME/datasets/genre)",
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Version DIR (labels/genre/vN), train the genre model on every track of it, save it,
    register it in MLflow (genre) and make it the champion when it beats the champion's
    k-fold accuracy. The params are the params file's genre section."""
    from ops.genre.pipeline import data_step, train_step

    try:
        trained = train_step(data=data_step(folder=data))
    except (NotADirectoryError, ValueError) as error:
        fail(str(error), 2)
    if as_json:
        print(trained.model_dump_json(indent=2))
        return
    registered = trained.registered
    console.print(stats_table("genre model (tracks)", trained.tracks_per_genre))
    for name, reason in trained.unreadable.items():
        console.print(f"[yellow]skipped[/] {name}: {reason}")
    summary = {
        f"{trained.params.folds}-fold accuracy": _share(trained.accuracy),
        "baseline accuracy (MFCC + SVM)": _share(trained.baseline_accuracy),
        "data": f"{trained.dataset_rev} ({trained.training_data})",
        "saved": str(trained.path),
    }
    console.print(stats_table("genre training", summary))
    verdict = "champion" if registered.promoted else "champion kept"
    console.print(f"registered genre version {registered.version}: {verdict} ({registered.reason})")


@genre_app.command("demo-data")
def demo_data(
    tracks: Annotated[
        int, typer.Option(metavar="N", help="tracks per genre")
    ] = DEMO_TRACKS_PER_GENRE,
    seconds: Annotated[float, typer.Option(metavar="S", help="seconds per track")] = DEMO_SECONDS,
) -> None:
    """Generate stand-in music (a sub-folder per genre) where training reads it by default;
    an existing folder is left as it is."""
    from ops.genre.pipeline import generate_demo_data

    console.print(f"labelled music: {generate_demo_data(per_genre=tracks, seconds=seconds)}")


@genre_app.command("predict")
def predict(
    file: Annotated[Path, typer.Argument(help="an audio (or video) file")],
    model: ModelPath = None,
    as_json: AsJson = False,
) -> None:
    """Music or not, and the genre of the whole file with its probabilities."""
    from ops.genre.audio import UnreadableAudio
    from ops.genre.model import ModelNotFound

    if not file.is_file():
        fail(f"{file} is not a file", 2)
    try:
        classifier = _classifier(model)
        answer = classifier.classify_file(file)
    except ModelNotFound as error:
        fail(str(error))
    except UnreadableAudio as error:
        fail(str(error), 2)
    if as_json:
        print(answer.model_dump_json(indent=2))
        return
    verdict = f"music: {answer.genre}" if answer.music else "not music"
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(answer.window_kinds.items()))
    console.print(f"{file.name}: [bold]{verdict}[/] ({answer.windows} windows: {kinds})")
    ranked = sorted(answer.probabilities.items(), key=lambda pair: -pair[1])
    if ranked:
        console.print(stats_table("probabilities", {k: _share(v) for k, v in ranked}))


def listen(
    source: Annotated[Path, typer.Argument(help="an audio file, played back in real time")],
    model: ModelPath = None,
    fast: Annotated[
        bool, typer.Option("--fast", help="do not wait for real time: judge as fast as possible")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="print one JSON line per window instead of text")
    ] = False,
) -> None:
    """Classify a live stream in rolling windows: the running genre, its confidence and
    each answer's latency (one JSON line per window with --json)."""
    from ops.genre.audio import UnreadableAudio
    from ops.genre.listen import ListenSettings, listen_file, summarise
    from ops.genre.model import ModelNotFound

    if not source.is_file():
        fail(f"{source} is not a file (sound devices are not supported yet)", 2)
    try:
        classifier = _classifier(model)
    except ModelNotFound as error:
        fail(str(error))
    updates = []
    try:
        for update in listen_file(source, classifier, ListenSettings(realtime=not fast)):
            updates.append(update)
            if as_json:
                print(update.model_dump_json(), flush=True)
                continue
            heard = f"{update.genre} {update.confidence:.2f}" if update.genre else update.kind
            running = (
                f"{update.running_genre} {update.running_confidence:.2f}"
                if update.running_genre
                else "-"
            )
            console.print(
                f"{update.start_s:7.1f}-{update.end_s:7.1f} s  running: [bold]{running}[/]  "
                f"(window: {heard}; latency {update.latency_s * 1000:.0f} ms)"
            )
    except UnreadableAudio as error:
        fail(str(error), 2)
    if not as_json:
        summary = summarise(updates)
        console.print(
            f"{summary.windows} windows; latency median {summary.median_latency_s * 1000:.0f} ms, "
            f"max {summary.max_latency_s * 1000:.0f} ms; "
            f"{summary.within_one_second} within one second"
        )


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
