"""The ``cinescope`` command line: every pipeline step, runnable without Airflow."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import TaskID
from typer.core import TyperGroup

from ops.console import AsJson, console, error_console, fail, progress_bar, stats_table
from ops.errors import BrokenStateError
from ops.genre.cli import genre_app, listen
from ops.mood.cli import mood_app
from ops.ocr.cli import ocr
from ops.settings import Settings, get_settings
from ops.speech.cli import speech_app

if TYPE_CHECKING:
    import pandas as pd
    from rich.table import Table

    from ops.catalog.results import CatalogVersion
    from ops.index.reader import PublishedIndex


class _Commands(TyperGroup):
    """Damaged stored state is a message that names the file and the repair, not a traceback."""

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click Context is private
        try:
            return super().invoke(ctx)
        except BrokenStateError as error:
            fail(str(error))


# Every group uses click's plain help layout (rich_markup_mode=None): typer's rich layout
# prints a type placeholder (<bool>, <list[str]>) beside every option, --help included.
app = typer.Typer(
    help="cinescope: understand a media catalog.",
    no_args_is_help=True,
    cls=_Commands,
    rich_markup_mode=None,
)
datasets_app = typer.Typer(
    help="Versioned datasets in the DVC data registry.", no_args_is_help=True, rich_markup_mode=None
)
site_app = typer.Typer(
    help="The generated sample catalog site.", no_args_is_help=True, rich_markup_mode=None
)
dag_app = typer.Typer(
    help="Run cinescope's Airflow DAGs in-process.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(datasets_app, name="datasets")
app.add_typer(site_app, name="sample-site")
scene_app = typer.Typer(
    help="The scene-type detector: labels, features, training.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(dag_app, name="dag")
app.add_typer(scene_app, name="scene")
index_app = typer.Typer(
    help="Search + recommendation index versions: list, publish, roll back.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(index_app, name="index")
faces_app = typer.Typer(
    help="Faces and people: detection, clustering and its evaluation.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(faces_app, name="faces")
app.add_typer(genre_app, name="genre")
app.add_typer(mood_app, name="mood")
app.add_typer(speech_app, name="speech")
app.command("ocr")(ocr)
app.command("listen")(listen)


DagConf = Annotated[str, typer.Option(metavar="JSON", help="the run's parameters")]


def _parsed_conf(conf: str) -> Any:
    """The --conf text as JSON, or a message that says how to write it."""
    try:
        return json.loads(conf)
    except json.JSONDecodeError as error:
        fail(f"--conf is not JSON ({error}); give an object, e.g. '{{\"epochs\": 5}}'")


def _print_json(answer: Any) -> None:
    """The answer as one JSON document on stdout, nothing else (pydantic models as
    ``model_dump(mode="json")``, dataclasses and dates likewise)."""
    from pydantic_core import to_jsonable_python

    print(json.dumps(to_jsonable_python(answer), indent=2, ensure_ascii=False))


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A table's rows as JSON-ready dicts (dates ISO 8601, missing values null)."""
    return list(json.loads(frame.to_json(orient="records", date_format="iso")))


@app.callback()
def _configure(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="log what each step does (INFO level)")
    ] = False,
) -> None:
    # a download bar redrawn on the terminal is noise beside the steps' own reports
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def sources() -> None:
    """List the configured sources."""
    from ops.ingest.sources import load_sources

    settings = get_settings()
    for name, source in load_sources(settings.sources_file).items():
        console.print(f"[bold]{name}[/] ({source.kind})")


@app.command()
def ingest(
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            "-s",
            metavar="NAME",
            help="a source of sources.yaml (repeatable; default: all)",
        ),
    ] = None,
) -> None:
    """Crawl sources, merge, validate and version the catalog (the catalog_ingest steps)."""
    from ops.catalog.job import run_ingest_job

    with progress_bar(terminal_only=False) as bar:
        tasks: dict[str, TaskID] = {}

        def report(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        result = run_ingest_job(source or (), progress=report)
    _print_run(result)


def _print_run(result: CatalogVersion) -> None:
    merged = result.summary.merge
    if merged is not None:
        for name, stats in merged.sources.items():
            console.print(stats_table(f"source {name}", asdict(stats)))
        console.print(stats_table("catalog changes", merged.stats))
    change = "new revision" if result.changed else "unchanged, still"
    console.print(stats_table("catalog now", result.counts.model_dump()))
    console.print(f"catalog: {result.items} items, {change} [bold]{result.revision}[/]")


@app.command()
def validate() -> None:
    """Run the Great Expectations suites over the catalog; quarantine what fails."""
    from ops.catalog.lifecycle import validate_catalog_step

    result = validate_catalog_step()
    console.print(stats_table("validation", result.statistics))
    console.print(stats_table("catalog now", result.counts.model_dump()))
    console.print(f"report: {result.report}")


@app.command()
def version() -> None:
    """Commit the catalog to the DVC data registry if it changed."""
    from ops.catalog.lifecycle import version_catalog

    _print_json(version_catalog())


@app.command()
def catalog(
    limit: Annotated[int, typer.Option(metavar="N", help="print at most N items")] = 40,
    status: Annotated[
        str | None,
        typer.Option(
            metavar="STATUS", help="only items of this status: ok, quarantined or vanished"
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Print the catalog."""
    from ops.catalog.schema import STATUSES
    from ops.catalog.store import read_catalog
    from ops.console import catalog_table, kinds_table

    if status is not None and status not in STATUSES:
        fail(f"--status {status!r} is not a status; use one of {', '.join(STATUSES)}", code=2)
    frame = read_catalog(get_settings().catalog_path)
    if status:
        frame = frame[frame["status"] == status]
    if as_json:
        _print_json(_records(frame.head(limit)))
        return
    console.print(kinds_table(frame))
    console.print(catalog_table(frame, limit=limit))


@app.command()
def quarantine(as_json: AsJson = False) -> None:
    """Print every item that is not ok and every URL refused, each with its reason."""
    from ops.catalog.counts import catalog_counts, quarantine_view
    from ops.catalog.store import read_catalog, read_quarantine
    from ops.console import quarantine_table

    settings = get_settings()
    catalog = read_catalog(settings.catalog_path)
    refusals = read_quarantine(settings.quarantine_path)
    view = quarantine_view(catalog, refusals)
    if as_json:
        _print_json(_records(view))
        return
    console.print(quarantine_table(view, catalog_counts(catalog, refusals)))


@datasets_app.command("list")
def datasets_list(
    dataset: Annotated[
        str | None, typer.Option(metavar="NAME", help="only this dataset (e.g. catalog)")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Show the versions of the datasets (tags in the data registry)."""
    from ops.console import versions_table
    from ops.datasets.registry import DataRegistry

    registry = DataRegistry.from_settings(get_settings())
    registry.ensure()
    versions = registry.versions(dataset)
    if as_json:
        _print_json(versions)
        return
    console.print(versions_table(versions))


@datasets_app.command("restore")
def datasets_restore(tag: str, destination: Path) -> None:
    """Restore a dataset version (git checkout + dvc pull) into a new folder."""
    from ops.datasets.registry import DataRegistry

    path = DataRegistry.from_settings(get_settings()).restore(tag, destination)
    console.print(f"restored {tag} into {path}")


@site_app.command("generate")
def site_generate(
    root: Path,
    items: Annotated[int, typer.Option(metavar="N", help="how many media items")] = 12,
    traps: Annotated[
        bool, typer.Option(help="also broken and hostile files that ingest must refuse")
    ] = True,
) -> None:
    """Generate a sample catalog site into ROOT."""
    from ops.sample_site.generate import generate_site

    manifest = generate_site(root, items=items, traps=traps)
    console.print(
        f"generated {len(manifest.items)} items and {len(manifest.traps)} traps in {root}"
    )


@site_app.command("serve")
def site_serve(
    root: Path,
    port: Annotated[
        int | None, typer.Option(metavar="PORT", help="default: CINESCOPE_SAMPLE_SITE_PORT")
    ] = None,
) -> None:
    """Serve a generated site on localhost until Ctrl-C."""
    import time

    from ops.sample_site.server import SampleSiteServer

    with SampleSiteServer(root, port=port or get_settings().sample_site_port) as server:
        console.print(f"serving {root} at {server.base_url} (Ctrl-C to stop)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


@scene_app.command("demo-data")
def scene_demo_data(
    titles: Annotated[int, typer.Option(metavar="N", help="how many titles to generate")] = 24,
) -> None:
    """Generate annotated clips (label depends on picture and sound) as the labelled dataset."""
    from ops.scene.pipeline import generate_demo_labels

    console.print(f"labelled dataset: {generate_demo_labels(titles=titles)}")


@scene_app.command("data-root")
def scene_data_root() -> None:
    """Point `dvc repro` at this data root: write CINESCOPE_HOME into data-root.yaml."""
    from ops.scene.data_root import DATA_ROOT_FILE, write_data_root

    root = write_data_root()
    console.print(
        f"{DATA_ROOT_FILE.name}: dvc.yaml now reads and writes under {root.home} "
        f"(labelled dataset {root.scene_labels})"
    )


@scene_app.command("labels")
def scene_labels() -> None:
    """Check the annotation file with Great Expectations and version it (labels/scene/vN)."""
    from ops.scene.pipeline import labels_step

    labelled = labels_step()
    for row in labelled.refused_rows:
        console.print(f"[yellow]refused[/] line {row.line}: {row.reason}")
    console.print(f"{labelled.valid_rows} valid annotations; revision {labelled.dataset_rev}")


@scene_app.command("features")
def scene_features() -> None:
    """Extract cached 1-s segment features and split by title."""
    from ops.scene.pipeline import features_step

    _print_json(features_step())


@scene_app.command("train")
def scene_train() -> None:
    """Train the scene model (and the ablation), log it to MLflow, register a version."""
    from ops.scene.pipeline import train_step

    trained = train_step()
    console.print(stats_table("validation", trained.metrics))
    console.print(f"registered scene version {trained.version} (run {trained.run_id})")


@scene_app.command("evaluate")
def scene_evaluate() -> None:
    """Champion/challenger gate: promote the new version if it beats the champion."""
    from ops.scene.pipeline import evaluate_step

    gate = evaluate_step().gate
    console.print(("promoted: " if gate.promoted else "kept the champion: ") + gate.reason)


@app.command("clip")
def clip(
    item_id: Annotated[str, typer.Argument(help="a catalog item (a video)")],
    person: Annotated[str, typer.Option(metavar="NAME", help="a named person")],
    out: Annotated[
        Path | None, typer.Option(metavar="FILE", help="default: ITEM-NAME.mp4 here")
    ] = None,
) -> None:
    """Cut the parts of a video where a person is on screen into one MP4 with its sound."""
    from ops.faces.clips import person_clip
    from ops.index.reader import NoPublishedIndex

    target = out or Path(f"{item_id}-{person.replace(' ', '_')}.mp4")
    try:
        cut = person_clip(get_settings(), item_id, person, target)
    except (LookupError, ValueError, NoPublishedIndex) as error:
        fail(str(error), 2)
    spans = ", ".join(f"{start:.2f}-{end:.2f} s" for start, end in cut.spans)
    console.print(f"wrote {cut.path}: {cut.seconds} s from {spans}")


@app.command("fancam")
def fancam(
    item_id: Annotated[str, typer.Argument(help="a catalog item (a video)")],
    people: Annotated[
        str, typer.Option(metavar="NAMES", help="up to four named people, comma-separated")
    ],
    out: Annotated[Path | None, typer.Option(metavar="DIR", help="default: ./fancam-ITEM")] = None,
) -> None:
    """One video per person following their face, and a split screen of them in sync."""
    from ops.catalog.store import item_media
    from ops.faces.fancam import make_fancams

    names = [name.strip() for name in people.split(",") if name.strip()]
    settings = get_settings()
    try:
        made = make_fancams(
            settings, item_media(settings, item_id), names, out or Path(f"fancam-{item_id}")
        )
    except (LookupError, ValueError) as error:
        fail(str(error), 2)
    for cam in made.fancams:
        console.print(
            f"{cam.person}: {cam.path} (on screen in {cam.seen_frames} of {made.frames} frames)"
        )
    console.print(f"split screen: {made.split} ({made.seconds} s)")


@faces_app.command("evaluate")
def faces_evaluate(
    folder: Annotated[Path, typer.Argument(help="one sub-folder of pictures per identity")],
    algorithm: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME",
            help="chinese_whispers or agglomerative (repeat for several; default both)",
        ),
    ] = None,
    detector: Annotated[
        str, typer.Option(metavar="NAME", help="hog (default) or cnn for more poses")
    ] = "hog",
    threshold: Annotated[
        float | None,
        typer.Option(
            metavar="DISTANCE",
            help="largest descriptor distance within one person (default per algorithm)",
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Detect, describe and cluster every picture; score each algorithm (one JSON line each)."""
    from pydantic import ValidationError

    from ops.faces.cluster import ALGORITHMS, ClusterSettings
    from ops.faces.detect import FaceSettings
    from ops.faces.evaluate import evaluate_faces

    chosen = algorithm or list(ALGORITHMS)
    unknown = [name for name in chosen if name not in ALGORITHMS]
    if unknown:
        fail(f"unknown algorithm {', '.join(unknown)}: choose from {', '.join(ALGORITHMS)}", 2)
    try:
        faces = FaceSettings(detector=detector)  # type: ignore[arg-type]
        clustering = ClusterSettings(threshold=threshold)
    except ValidationError as error:
        fail(f"bad setting: {error.errors()[0]['loc'][0]}: {error.errors()[0]['msg']}", 2)
    try:
        results = evaluate_faces(folder, chosen, faces, clustering)  # type: ignore[arg-type]
    except (NotADirectoryError, ValueError) as error:
        fail(str(error), 2)
    if as_json:
        for result in results:
            print(result.model_dump_json())
        return
    keys = ("images", "faces_detected", "identities", "clusters", "purity", "compactness")
    for result in results:
        scores = {key: getattr(result, key) for key in keys}
        scores |= {"pairwise_f": result.pairwise_f, "bcubed_f": result.bcubed_f}
        console.print(stats_table(result.algorithm, scores))


@faces_app.command("add")
def faces_add(
    folder: Annotated[
        Path,
        typer.Argument(help="a video, or pictures (a sub-folder per person labels its faces)"),
    ],
    source: Annotated[
        str, typer.Option(metavar="NAME", help="where the pictures come from")
    ] = "local",
) -> None:
    """Add the faces of a folder of pictures, or the best face of each face track of a
    video, to the face store."""
    from ops.faces.store import FaceStore

    store = FaceStore(get_settings())
    try:
        if folder.is_file():
            added = store.add_video(folder, source)
        else:
            added = store.add_pictures(folder, source)
    except (NotADirectoryError, ValueError) as error:  # UnreadableVideo is a ValueError
        fail(str(error), 2)
    console.print(stats_table("faces added", added.model_dump()))


@faces_app.command("collect")
def faces_collect() -> None:
    """Add the faces of the pictures sources collected for the people they declare
    (sources.yaml ``people:``), labelled with each person's name (the faces_cluster
    DAG's first step)."""
    from ops.faces.store import FaceStore

    settings = get_settings()
    added = FaceStore(settings).add_face_sets(settings)
    console.print(stats_table("faces added from face sets", added.model_dump()))


@faces_app.command("cluster")
def faces_cluster(
    algorithm: Annotated[
        str, typer.Option(metavar="NAME", help="chinese_whispers (default) or agglomerative")
    ] = "chinese_whispers",
    full: Annotated[
        bool, typer.Option("--full", help="re-cluster every undecided face from scratch")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Place the faces no curator decided on (the faces_cluster DAG's step)."""
    from pydantic import ValidationError

    from ops.faces.params import ClusterParams
    from ops.faces.people import cluster_people

    try:
        params = ClusterParams(algorithm=algorithm, full=full)  # type: ignore[arg-type]
    except ValidationError as error:
        fail(f"bad option: {error.errors()[0]['msg']}", 2)
    run = cluster_people(get_settings(), params)
    if as_json:
        _print_json(run)
        return
    console.print(stats_table("faces_cluster", run.model_dump()))


@faces_app.command("people")
def faces_people(as_json: AsJson = False) -> None:
    """Named people and anonymous clusters, largest first."""
    from ops.faces.people import CurationStore

    state = CurationStore(get_settings()).read()
    if as_json:
        _print_json(state)
        return
    rows = {
        name: f"{len(person.faces)} confirmed, {len(person.suggested)} suggested"
        for name, person in state.people.items()
    }
    largest = sorted(state.clusters.items(), key=lambda pair: -len(pair[1]))
    rows |= {key: f"{len(faces)} faces (unnamed)" for key, faces in largest}
    console.print(stats_table("people and clusters", rows))


@faces_app.command("tracks")
def faces_tracks(
    video: Annotated[Path, typer.Argument(help="a video file")],
    every: Annotated[int, typer.Option(metavar="FRAMES", help="detect on every N-th frame")] = 12,
    grabs: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="write each track's best frame, its box drawn"),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Follow the faces of a video: tracks with their times and best face."""
    from pydantic import ValidationError

    from ops.faces.tracks import TrackSettings, UnreadableVideo, save_grabs, video_face_tracks

    if not video.is_file():
        fail(f"{video} is not a file", 2)
    try:
        settings = TrackSettings(detect_every=every)
    except ValidationError as error:
        fail(f"bad option: {error.errors()[0]['msg']}", 2)
    try:
        found = video_face_tracks(video, settings)
    except UnreadableVideo as error:
        fail(str(error), 2)
    if grabs is not None:
        save_grabs(video, found, grabs)
    if as_json:
        _print_json(
            found.model_copy(
                update={
                    "tracks": [
                        track.model_copy(update={"boxes": [], "descriptor": []})
                        for track in found.tracks
                    ]
                }
            )
        )
        return
    for track in found.tracks:
        described = "described" if track.descriptor else f"refused: {track.refused}"
        console.print(
            f"track {track.track}: {track.start_s:.2f}-{track.end_s:.2f} s, "
            f"{len(track.boxes)} frames, best frame {track.best_frame} ({described})"
        )
    console.print(
        f"{len(found.tracks)} tracks in {found.frames} frames ({found.keyframes} analysed) "
        f"in {found.seconds} s"
    )


@faces_app.command("gallery")
def faces_gallery(as_json: AsJson = False) -> None:
    """Version the named people's faces (faces/gallery) and register the recogniser
    (face-gallery), promoted when the gate allows; refresh then finds their appearances."""
    from ops.faces.gallery import register_gallery

    try:
        registered = register_gallery(get_settings())
    except ValueError as error:
        fail(str(error), 2)
    if as_json:
        _print_json(registered)
        return
    measure = registered.measure
    console.print(
        f"face-gallery v{registered.version} ({registered.dataset_rev}): "
        f"{len(registered.people)} people, {registered.faces} faces; threshold "
        f"{measure.threshold}, false accepts {measure.false_accept_rate:.1%} of "
        f"{measure.impostor_probes}, true accepts {measure.true_accept_rate:.1%} of "
        f"{measure.genuine_probes}"
    )
    verdict = "promoted to champion" if registered.promoted else "not promoted"
    console.print(f"{verdict}: {registered.reason}")


@faces_app.command("register")
def faces_register() -> None:
    """Register the pretrained face files in MLflow as face-embedder (once per install)."""
    from ops.faces.embedder import FACE_EMBEDDER, ensure_face_embedder

    version = ensure_face_embedder(get_settings().tracking_uri)
    console.print(f"{FACE_EMBEDDER} version {version} holds the installed pretrained files")


@dag_app.command("test")
def dag_test(
    dag_id: str,
    conf: DagConf = "{}",
) -> None:
    """Run a DAG once in-process through Airflow (``dag.test()``); bad params run nothing."""
    from ops.airflow_env import run_dag
    from ops.dag_params import ParamsRefused

    try:
        run_dag(dag_id, get_settings(), _parsed_conf(conf))
    except ParamsRefused as error:
        fail(f"{dag_id} not run: {error}")
    console.print(f"DAG {dag_id}: success")


@app.command()
def demo() -> None:
    """Generate and serve the sample site, run catalog_ingest through Airflow, print results."""
    from ops.demo import run_demo

    raise typer.Exit(run_demo(get_settings()))


@app.command("airflow-env")
def airflow_env() -> None:
    """Print the shell exports that point the ``airflow`` CLI at cinescope's Airflow."""
    import shlex

    from ops.airflow_env import airflow_environment

    for key, value in airflow_environment(get_settings()).items():
        print(f"export {key}={shlex.quote(value)}")


@app.command()
def up() -> None:
    """Start the Airflow UI (airflow standalone) and the MLflow UI on localhost."""
    from ops.stack import up as start

    urls = start(get_settings())
    console.print(f"Airflow: {urls['airflow']}  (login {urls['login']})")
    console.print(f"MLflow:  {urls['mlflow']}")


@app.command()
def trigger(
    dag_id: str,
    conf: DagConf = "{}",
    wait: Annotated[bool, typer.Option(help="wait until the run succeeds or fails")] = False,
) -> None:
    """Trigger a DAG on the running stack (``make up``) through Airflow's REST API.

    The conf is checked against the DAG's params first: bad params trigger nothing."""
    import time

    from ops.dag_params import ParamsRefused, checked_conf
    from ops.stack import AirflowApi

    try:
        params = checked_conf(dag_id, _parsed_conf(conf))
    except ParamsRefused as error:
        fail(f"{dag_id} not triggered: {error}")
    api = AirflowApi(get_settings())
    api.wait_for_dag(dag_id)
    run = api.trigger(dag_id, params)
    console.print(f"triggered {dag_id}: run {run['dag_run_id']} ({run['state']})")
    while wait and (state := api.run_state(dag_id, run["dag_run_id"])) not in ("success", "failed"):
        time.sleep(5)
    if wait:
        console.print(f"run {run['dag_run_id']}: {state}")


@app.command()
def down() -> None:
    """Stop what ``up`` started."""
    from ops.stack import down as stop

    stopped = stop(get_settings())
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@contextlib.contextmanager
def _published_index(settings: Settings) -> Iterator[PublishedIndex]:
    """The live index for one command, with a clear message when there is none (a broken
    pointer or damaged index files are `_Commands`' to report)."""
    from ops.index.reader import NoPublishedIndex, PublishedIndex

    try:
        reader = PublishedIndex.open(settings)
    except NoPublishedIndex as error:
        fail(str(error))
    try:
        yield reader
    finally:
        reader.close()


@app.command()
def refresh(
    run_id: Annotated[
        str | None, typer.Option(metavar="ID", help="default: manual-<UTC time>")
    ] = None,
    task: Annotated[
        list[str] | None,
        typer.Option("--task", metavar="TASK", help="a task to plan (repeatable; default: all)"),
    ] = None,
    force: Annotated[
        list[str] | None,
        typer.Option("--force", metavar="TASK", help="infer every item of TASK again (repeatable)"),
    ] = None,
    full_index_build: Annotated[
        bool,
        typer.Option(
            "--full-index-build",
            help="build the index afresh instead of deriving it from the live one (compaction)",
        ),
    ] = False,
) -> None:
    """Plan, infer, merge, build, check and publish, in this process (as catalog_refresh)."""
    from datetime import UTC, datetime

    from ops.dag_params import ParamsRefused, model_from_params
    from ops.locks import LockHeld
    from ops.refresh.job import PredictionCheckFailed, run_refresh
    from ops.refresh.results import RefreshParams
    from ops.versioned import VersionError

    chosen = {"tasks": task, "force": force, "full_index_build": full_index_build}
    try:
        params = model_from_params(RefreshParams, {k: v for k, v in chosen.items() if v})
    except ParamsRefused as error:
        fail(str(error), code=2)
    run_id = run_id or datetime.now(UTC).strftime("manual-%Y%m%dT%H%M%S")
    try:
        result = run_refresh(run_id, get_settings(), report=console.print, params=params)
    except (PredictionCheckFailed, LockHeld, VersionError) as error:
        fail(str(error))
    if result.published is None:
        console.print("the live index is unchanged")


@app.command()
def lineage(item_id: str, as_json: AsJson = False) -> None:
    """Which model versions and dataset revisions produced what is indexed for ITEM_ID."""
    from ops.console import lineage_table
    from ops.refresh.lineage import indexed_lineage

    try:
        found = indexed_lineage(get_settings(), item_id)
    except LookupError as error:
        fail(str(error))
    if as_json:
        _print_json(found)
        return
    console.print(
        f"item {item_id} in index [bold]{found['index_version']}[/] (built {found['built_at']}) "
        f"from catalog {found['catalog_revision'] or 'unversioned'} and predictions "
        f"{found['predictions_version'] or 'none'}"
    )
    if not found["tasks"]:
        console.print("no model has processed this item (metadata only)")
        return
    console.print(lineage_table(found["tasks"]))


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(metavar="HOST", help="default: CINESCOPE_API_HOST")
    ] = None,
    port: Annotated[
        int | None, typer.Option(metavar="PORT", help="default: CINESCOPE_API_PORT")
    ] = None,
) -> None:
    """Serve the query API (search, items, similar, index admin) until Ctrl-C."""
    import uvicorn

    from ops.api.app import create_app
    from ops.api.auth import api_token, token_path

    settings = get_settings()
    host, port = host or settings.api_host, port or settings.api_port
    api_token(settings)  # generate it now, so its location can be shown before any call
    where = "CINESCOPE_API_TOKEN" if settings.api_token else str(token_path(settings))
    console.print(f"query API: http://{host}:{port}  (docs: http://{host}:{port}/docs)")
    console.print(f"admin token (Authorization: Bearer ...): {where}")
    uvicorn.run(create_app(settings), host=host, port=port)


@app.command()
def search(
    query: Annotated[
        str, typer.Argument(metavar="QUERY", help="full-text query (BM25); empty lists all")
    ] = "",
    kind: Annotated[
        list[str] | None,
        typer.Option(metavar="KIND", help="video, audio or image (repeatable)"),
    ] = None,
    label: Annotated[
        list[str] | None, typer.Option(metavar="LABEL", help="predicted label (repeatable)")
    ] = None,
    genre: Annotated[
        list[str] | None, typer.Option(metavar="GENRE", help="music genre (repeatable)")
    ] = None,
    mood: Annotated[
        list[str] | None, typer.Option(metavar="MOOD", help="image mood (repeatable)")
    ] = None,
    person: Annotated[
        list[str] | None,
        typer.Option(metavar="NAME", help="credited person, any case (repeatable)"),
    ] = None,
    year_min: Annotated[
        int | None, typer.Option(metavar="YEAR", help="released in or after YEAR")
    ] = None,
    year_max: Annotated[
        int | None, typer.Option(metavar="YEAR", help="released in or before YEAR")
    ] = None,
    min_duration_s: Annotated[
        float | None, typer.Option(metavar="SECONDS", help="lasting at least SECONDS")
    ] = None,
    max_duration_s: Annotated[
        float | None, typer.Option(metavar="SECONDS", help="lasting at most SECONDS")
    ] = None,
    level: Annotated[
        str | None, typer.Option(metavar="LEVEL", help="item or segment (default: both)")
    ] = None,
    like: Annotated[
        str | None, typer.Option(metavar="DOC_ID", help="find content similar to DOC_ID's")
    ] = None,
    page: Annotated[int, typer.Option(metavar="N", help="which page of hits")] = 1,
    page_size: Annotated[int, typer.Option(metavar="N", help="hits per page")] = 10,
    as_json: AsJson = False,
) -> None:
    """Search the published index and print the hits and facet counts.

    List filters match any of their values, whatever the case; filters of different
    kinds must all match."""
    from pydantic import ValidationError

    from ops.console import facets_table, search_table
    from ops.index.query import SearchQuery

    try:
        request = SearchQuery.model_validate(
            {
                "q": query,
                "kind": kind or [],
                "label": label or [],
                "genre": genre or [],
                "mood": mood or [],
                "year_min": year_min,
                "year_max": year_max,
                "min_duration_s": min_duration_s,
                "max_duration_s": max_duration_s,
                "person": person or [],
                "level": level,
                "like": like,
                "page": page,
                "page_size": page_size,
            }
        )
    except ValidationError as error:
        fail("; ".join(_describe(problem) for problem in error.errors()), code=2)
    with _published_index(get_settings()) as reader:
        try:
            result = reader.search(request)
        except ValueError as error:
            fail(str(error), code=2)
    if as_json:
        _print_json(result)
        return
    console.print(search_table(result))
    if result.facets:
        console.print(facets_table(result))


def _describe(problem: Any) -> str:
    """One validation problem as ``field: what is wrong (got value)``."""
    where = ".".join(str(part) for part in problem["loc"] if isinstance(part, str))
    message = str(problem["msg"]).removeprefix("Value error, ")
    return f"{where}: {message} (got {problem['input']!r})" if where else message


@app.command()
def item(item_id: str, as_json: AsJson = False) -> None:
    """Print an item document, its scenes, its shots (with keyframe times), what it says and
    shows (with times) and its lineage."""
    from ops.console import (
        document_table,
        lineage_table,
        segments_table,
        shots_table,
        timed_text_table,
    )

    with _published_index(get_settings()) as reader:
        found = reader.item(item_id)
        version = reader.version
    if found is None:
        fail(f"item {item_id!r} is not in index {version}")
    if as_json:
        from ops.api.app import ItemDetail

        _print_json(ItemDetail(index_version=version, **found))
        return
    fields = ("item_id", "kind", "title", "year", "duration_s", "labels", "people", "tags", "url")
    console.print(document_table(f"item {item_id} (index {version})", found["item"], fields))
    console.print(_media_of(item_id))
    console.print(segments_table(found["segments"]))
    console.print(shots_table(found["shots"]))
    for field, title in (("transcript", "said"), ("screen_text", "shown")):
        if found[field]:
            console.print(timed_text_table(title, found[field]))
    console.print(lineage_table(found["lineage"]))


def _media_of(item_id: str) -> Table:
    """The catalog's media properties of an item (rotation, display size, frame rate...)."""
    from ops.catalog.store import read_catalog
    from ops.console import media_table

    catalog = read_catalog(get_settings().catalog_path)
    rows = catalog[catalog["item_id"] == item_id]
    return media_table(None if rows.empty else rows.iloc[0])


@app.command()
def similar(
    item_id: str,
    k: Annotated[
        int, typer.Option("-k", min=1, max=50, metavar="N", help="at most this many")
    ] = 10,
    any_kind: Annotated[
        bool, typer.Option("--any-kind", help="also items of other kinds (video, audio, image)")
    ] = False,
    music: Annotated[
        bool, typer.Option("--music", help="music for this picture or video, by mood")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Print the items most similar to ITEM_ID, best first: of its own kind unless
    --any-kind, never itself or its duplicates, fewer than -k when too few are related;
    with --music, the tracks whose mood matches its mood."""
    from ops.console import similar_table

    with _published_index(get_settings()) as reader:
        if reader.item(item_id) is None:
            fail(f"item {item_id!r} is not in index {reader.version}")
        if music:
            found = reader.music_for(item_id, k)
        else:
            found = reader.similar(item_id, k, any_kind=any_kind)
        version = reader.version
    if as_json:
        from ops.api.app import SimilarItems

        _print_json(SimilarItems(index_version=version, item_id=item_id, similar=found))
        return
    console.print(similar_table(item_id, found))


@app.command()
def transcript(
    item_id: Annotated[str, typer.Argument(help="a catalog item (a video or an audio track)")],
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            metavar="CODE",
            help="transcribe now in this language, not read the refresh's transcript",
        ),
    ] = None,
) -> None:
    """Print what is said in ITEM_ID as WebVTT: the transcript the last refresh stored in
    the live index, phrase by phrase; an item no refresh has transcribed yet (or any item
    with --lang) is transcribed now, its speech spans cued by their words."""
    from ops.catalog.store import item_media
    from ops.genre.audio import UnreadableAudio
    from ops.refresh.words import SPEECH_TASK, item_language
    from ops.speech.params import RecognizerUnavailable
    from ops.speech.transcribe import Transcriber
    from ops.speech.webvtt import phrases_webvtt, to_webvtt

    settings = get_settings()
    if lang is None:
        stored = _stored_transcript(settings, item_id, SPEECH_TASK)
        if stored is not None:
            print(phrases_webvtt((p["start_s"], p["end_s"], p["text"]) for p in stored), end="")
            return
        error_console.print(f"{item_id}: no refresh has transcribed it yet; transcribing it now")
    try:
        media = item_media(settings, item_id)
        language = lang or item_language(settings, _item_source(settings, item_id))
        print(to_webvtt(Transcriber(language).transcribe_file(media)), end="")
    except LookupError as error:
        fail(str(error), 2)
    except RecognizerUnavailable as error:
        fail(str(error), 2)
    except UnreadableAudio as error:
        fail(str(error), 2)


def _stored_transcript(settings: Settings, item_id: str, task: str) -> list[dict[str, Any]] | None:
    """The live index's phrases of an item the ``task`` processed; None when there is no
    live index, it does not hold the item, or no refresh transcribed it."""
    from ops.index.reader import NoPublishedIndex, PublishedIndex

    try:
        reader = PublishedIndex.open(settings)
    except NoPublishedIndex:
        return None
    try:
        found = reader.item(item_id)
    finally:
        reader.close()
    if found is None or not any(entry["task"] == task for entry in found["lineage"]):
        return None
    return list(found["transcript"])


def _item_source(settings: Settings, item_id: str) -> str:
    """The catalog source of an item (LookupError when the catalog lacks it)."""
    from ops.catalog.store import read_catalog

    catalog = read_catalog(settings.catalog_path)
    rows = catalog.loc[catalog["item_id"] == item_id, "source"]
    if rows.empty:
        raise LookupError(f"{item_id!r} is not in the catalog")
    return str(rows.iloc[0])


@app.command("mood-video")
def mood_video(
    out: Annotated[Path, typer.Argument(help="where to write the MP4 (H.264 + AAC)")],
    mood: Annotated[str, typer.Option(metavar="MOOD", help="one of the eight moods")],
    seconds: Annotated[float, typer.Option(metavar="S", help="length of the video")] = 20.0,
    max_steps: Annotated[
        int, typer.Option(metavar="N", help="music at most N moods round the circle (0-4)")
    ] = 1,
    as_json: AsJson = False,
) -> None:
    """Pictures of one mood from the catalog set to music that matches it: rendered with a
    fade on every picture (the music's volume follows), written to OUT, and ingested into
    the catalog with its lineage (the mood_video DAG's steps)."""
    import shutil

    from pydantic import ValidationError

    from ops.mood.matching import NoMoodMatchError
    from ops.mood.video import MoodVideoParams, make_mood_video

    try:
        params = MoodVideoParams(mood=mood, seconds=seconds, max_steps=max_steps)  # type: ignore[arg-type]
    except ValidationError as error:
        problem = error.errors()[0]
        fail(f"bad option {problem['loc'][0]}: {problem['msg']}", 2)
    try:
        made = make_mood_video(get_settings(), params)
    except NoMoodMatchError as error:
        hint = "; allow music further round with --max-steps" if "step(s)" in str(error) else ""
        fail(f"{error}{hint}")
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(made.generated.video.path, out)
    if as_json:
        _print_json(made)
        return
    plan, video = made.plan, made.generated.video
    console.print(
        f"{out}: {video.duration_s:g} s, {video.frames} frames; {len(plan.image_ids)} pictures "
        f"of mood {plan.mood}, track {plan.track_id} (mood {plan.track_mood}, "
        f"{plan.steps} step(s) away); catalog {made.catalog_revision or 'unchanged'}"
    )
    if plan.image_training_data == "generated":
        console.print("the mood model learned from generated stand-in pictures")


@index_app.command("versions")
def index_versions_command(as_json: AsJson = False) -> None:
    """List the kept index versions and which one is live."""
    from ops.console import index_versions_table
    from ops.index.build import index_store, index_versions
    from ops.versioned import BrokenPointer

    settings = get_settings()
    try:
        live = index_store(settings).current()
    except BrokenPointer as error:
        if not as_json:
            console.print(index_versions_table(index_versions(settings), None))
        fail(str(error))
    if as_json:
        from ops.api.app import kept_index_versions

        _print_json(kept_index_versions(settings, live.name if live else None))
        return
    console.print(index_versions_table(index_versions(settings), live.name if live else None))


@index_app.command("rollback")
def index_rollback(
    to: Annotated[
        str | None,
        typer.Option(metavar="VERSION", help="default: the version before the live one"),
    ] = None,
) -> None:
    """Make an older kept index version live again."""
    from ops.index.build import rollback_index
    from ops.versioned import VersionError

    try:
        version = rollback_index(get_settings(), to=to)
    except VersionError as error:
        fail(str(error))
    console.print(f"live index: [bold]{version.name}[/]")


@index_app.command("publish")
def index_publish(version: str) -> None:
    """Make a built index version live."""
    from ops.index.build import publish_index
    from ops.versioned import VersionError

    try:
        published = publish_index(get_settings(), version)
    except VersionError as error:
        fail(str(error))
    console.print(f"live index: [bold]{published.name}[/]")


if __name__ == "__main__":
    app()
