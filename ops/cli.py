"""The ``cinescope`` command line: every pipeline step, runnable without Airflow."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.progress import TaskID

from ops.console import console, progress_bar, stats_table
from ops.settings import Settings, get_settings

if TYPE_CHECKING:
    from ops.index.reader import PublishedIndex

app = typer.Typer(help="cinescope: understand a media catalog.", no_args_is_help=True)
datasets_app = typer.Typer(
    help="Versioned datasets in the DVC data registry.", no_args_is_help=True
)
site_app = typer.Typer(help="The generated sample catalog site.", no_args_is_help=True)
dag_app = typer.Typer(help="Run cinescope's Airflow DAGs in-process.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
app.add_typer(site_app, name="sample-site")
scene_app = typer.Typer(
    help="The scene-type detector: labels, features, training.", no_args_is_help=True
)
app.add_typer(dag_app, name="dag")
app.add_typer(scene_app, name="scene")
index_app = typer.Typer(
    help="Search + recommendation index versions: list, publish, roll back.",
    no_args_is_help=True,
)
app.add_typer(index_app, name="index")


@app.callback()
def _configure(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
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
def ingest(source: Annotated[list[str] | None, typer.Option("--source", "-s")] = None) -> None:
    """Crawl sources, merge, validate and version the catalog (the catalog_ingest steps)."""
    from ops.catalog.job import run_ingest_job

    with progress_bar(terminal_only=False) as bar:
        tasks: dict[str, TaskID] = {}

        def report(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        result = run_ingest_job(source or None, progress=report)
    _print_run(result)


def _print_run(result: dict) -> None:
    summary = result.get("summary", {})
    for name, stats in summary.get("merge", {}).get("sources", {}).items():
        console.print(stats_table(f"source {name}", stats))
    if "merge" in summary:
        console.print(stats_table("catalog changes", summary["merge"]["stats"]))
    change = "new revision" if result.get("changed") else "unchanged, still"
    console.print(
        f"catalog: {result.get('items')} items, {change} [bold]{result.get('revision')}[/]"
    )


@app.command()
def validate() -> None:
    """Run the Great Expectations suites over the catalog; quarantine what fails."""
    from ops.catalog.lifecycle import validate_catalog_step

    result = validate_catalog_step()
    console.print(stats_table("validation", result["statistics"]))
    console.print(f"report: {result['report']}")


@app.command()
def version() -> None:
    """Commit the catalog to the DVC data registry if it changed."""
    from ops.catalog.lifecycle import version_catalog

    result = version_catalog()
    console.print(json.dumps(result, indent=2))


@app.command()
def catalog(limit: int = 40, status: str | None = None) -> None:
    """Print the catalog."""
    from ops.catalog.store import read_catalog
    from ops.console import catalog_table, kinds_table

    frame = read_catalog(get_settings().catalog_path)
    if status:
        frame = frame[frame["status"] == status]
    console.print(kinds_table(frame))
    console.print(catalog_table(frame, limit=limit))


@app.command()
def quarantine() -> None:
    """Print what was refused, and why."""
    from ops.catalog.store import read_quarantine
    from ops.console import quarantine_table

    console.print(quarantine_table(read_quarantine(get_settings().quarantine_path)))


@datasets_app.command("list")
def datasets_list(dataset: str | None = None) -> None:
    """Show the versions of the datasets (tags in the data registry)."""
    from ops.console import versions_table
    from ops.datasets.registry import DataRegistry

    registry = DataRegistry.from_settings(get_settings())
    registry.ensure()
    console.print(versions_table(registry.versions(dataset)))


@datasets_app.command("restore")
def datasets_restore(tag: str, destination: Path) -> None:
    """Restore a dataset version (git checkout + dvc pull) into a new folder."""
    from ops.datasets.registry import DataRegistry

    path = DataRegistry.from_settings(get_settings()).restore(tag, destination)
    console.print(f"restored {tag} into {path}")


@site_app.command("generate")
def site_generate(root: Path, items: int = 12, traps: bool = True) -> None:
    """Generate a sample catalog site into ROOT."""
    from ops.sample_site.generate import generate_site

    manifest = generate_site(root, items=items, traps=traps)
    console.print(
        f"generated {len(manifest.items)} items and {len(manifest.traps)} traps in {root}"
    )


@site_app.command("serve")
def site_serve(root: Path, port: int | None = None) -> None:
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
def scene_demo_data(titles: int = 24) -> None:
    """Generate annotated clips (label depends on picture and sound) as the labelled dataset."""
    from ops.scene.pipeline import generate_demo_labels

    console.print(f"labelled dataset: {generate_demo_labels(titles=titles)}")


@scene_app.command("labels")
def scene_labels() -> None:
    """Check the annotation file with Great Expectations and version it (labels/scene/vN)."""
    from ops.scene.pipeline import labels_step

    result = labels_step()
    for row in result["refused_rows"]:
        console.print(f"[yellow]refused[/] {row}")
    console.print(f"{result['valid_rows']} valid annotations; revision {result['dataset_rev']}")


@scene_app.command("features")
def scene_features() -> None:
    """Extract cached 1-s segment features and split by title."""
    from ops.scene.pipeline import features_step

    console.print(json.dumps(features_step(), indent=2))


@scene_app.command("train")
def scene_train() -> None:
    """Train the scene model (and the ablation), log it to MLflow, register a version."""
    from ops.scene.pipeline import train_step

    record = train_step()
    console.print(stats_table("validation", record["metrics"]))
    console.print(f"registered scene version {record['version']} (run {record['run_id']})")


@scene_app.command("evaluate")
def scene_evaluate() -> None:
    """Champion/challenger gate: promote the new version if it beats the champion."""
    from ops.scene.pipeline import evaluate_step

    gate = evaluate_step()["gate"]
    console.print(("promoted: " if gate["promoted"] else "kept the champion: ") + gate["reason"])


@dag_app.command("test")
def dag_test(dag_id: str, conf: str = "{}") -> None:
    """Run a DAG once in-process through Airflow (``dag.test()``)."""
    from ops.airflow_env import run_dag

    run_dag(dag_id, get_settings(), json.loads(conf))
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
def trigger(dag_id: str, conf: str = "{}", wait: bool = False) -> None:
    """Trigger a DAG on the running stack (``make up``) through Airflow's REST API."""
    import time

    from ops.stack import AirflowApi

    api = AirflowApi(get_settings())
    api.wait_for_dag(dag_id)
    run = api.trigger(dag_id, json.loads(conf))
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


def _fail(message: str, code: int = 1) -> NoReturn:
    console.print(f"[red]{message}[/]")
    raise typer.Exit(code)


@contextlib.contextmanager
def _published_index(settings: Settings) -> Iterator[PublishedIndex]:
    """The live index for one command, with a clear message when there is none."""
    from ops.index.reader import NoPublishedIndex, PublishedIndex

    try:
        reader = PublishedIndex.open(settings)
    except NoPublishedIndex as error:
        _fail(str(error))
    try:
        yield reader
    finally:
        reader.close()


@app.command()
def refresh(
    run_id: Annotated[str | None, typer.Option(help="default: manual-<UTC time>")] = None,
) -> None:
    """Plan, infer, merge, build, check and publish, in this process (as catalog_refresh)."""
    from datetime import UTC, datetime

    from ops.refresh.job import PredictionCheckFailed, run_refresh

    run_id = run_id or datetime.now(UTC).strftime("manual-%Y%m%dT%H%M%S")
    try:
        result = run_refresh(run_id, get_settings(), report=console.print)
    except PredictionCheckFailed as error:
        _fail(str(error))
    if not result["published"]:
        console.print("the live index is unchanged")


@app.command()
def lineage(item_id: str) -> None:
    """Which model versions and dataset revisions produced what is indexed for ITEM_ID."""
    from ops.console import lineage_table
    from ops.refresh.lineage import indexed_lineage

    try:
        found = indexed_lineage(get_settings(), item_id)
    except LookupError as error:
        _fail(str(error))
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
    host: Annotated[str | None, typer.Option(help="default: CINESCOPE_API_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default: CINESCOPE_API_PORT")] = None,
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
    query: Annotated[str, typer.Argument(help="full-text query (BM25); empty lists all")] = "",
    kind: Annotated[list[str] | None, typer.Option(help="video, audio, image (repeatable)")] = None,
    label: Annotated[list[str] | None, typer.Option(help="predicted label (repeatable)")] = None,
    year_min: int | None = None,
    year_max: int | None = None,
    person: Annotated[list[str] | None, typer.Option(help="credited person (repeatable)")] = None,
    level: Annotated[str | None, typer.Option(help="item or segment")] = None,
    like: Annotated[str | None, typer.Option(help="doc_id to find similar content to")] = None,
    page: int = 1,
    page_size: int = 10,
) -> None:
    """Search the published index and print the hits and facet counts."""
    from pydantic import ValidationError

    from ops.console import facets_table, search_table
    from ops.index.query import SearchQuery

    try:
        request = SearchQuery.model_validate(
            {
                "q": query,
                "kind": kind or [],
                "label": label or [],
                "year_min": year_min,
                "year_max": year_max,
                "person": person or [],
                "level": level,
                "like": like,
                "page": page,
                "page_size": page_size,
            }
        )
    except ValidationError as error:
        _fail("; ".join(_describe(problem) for problem in error.errors()), code=2)
    with _published_index(get_settings()) as reader:
        try:
            result = reader.search(request)
        except ValueError as error:
            _fail(str(error), code=2)
    console.print(search_table(result))
    if result.facets:
        console.print(facets_table(result))


def _describe(problem: Any) -> str:
    where = ".".join(str(part) for part in problem["loc"])
    message = str(problem["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


@app.command()
def item(item_id: str) -> None:
    """Print an item document, its scene segments and its prediction lineage."""
    from ops.console import document_table, lineage_table, segments_table

    with _published_index(get_settings()) as reader:
        found = reader.item(item_id)
        version = reader.version
    if found is None:
        _fail(f"item {item_id!r} is not in index {version}")
    fields = ("item_id", "kind", "title", "year", "duration_s", "labels", "people", "tags", "url")
    console.print(document_table(f"item {item_id} (index {version})", found["item"], fields))
    console.print(segments_table(found["segments"]))
    console.print(lineage_table(found["lineage"]))


@app.command()
def similar(item_id: str, k: Annotated[int, typer.Option("-k", min=1, max=50)] = 10) -> None:
    """Print the items most similar to ITEM_ID (never itself or its duplicates)."""
    from ops.console import similar_table

    with _published_index(get_settings()) as reader:
        if reader.item(item_id) is None:
            _fail(f"item {item_id!r} is not in index {reader.version}")
        console.print(similar_table(item_id, reader.similar(item_id, k)))


@index_app.command("versions")
def index_versions_command() -> None:
    """List the kept index versions and which one is live."""
    from ops.console import index_versions_table
    from ops.index.build import index_store, index_versions

    settings = get_settings()
    live = index_store(settings).current()
    console.print(index_versions_table(index_versions(settings), live.name if live else None))


@index_app.command("rollback")
def index_rollback(
    to: Annotated[str | None, typer.Option(help="default: the version before the live one")] = None,
) -> None:
    """Make an older kept index version live again."""
    from ops.index.build import rollback_index
    from ops.versioned import VersionError

    try:
        version = rollback_index(get_settings(), to=to)
    except VersionError as error:
        _fail(str(error))
    console.print(f"live index: [bold]{version.name}[/]")


@index_app.command("publish")
def index_publish(version: str) -> None:
    """Make a built index version live."""
    from ops.index.build import publish_index
    from ops.versioned import VersionError

    try:
        published = publish_index(get_settings(), version)
    except VersionError as error:
        _fail(str(error))
    console.print(f"live index: [bold]{published.name}[/]")


if __name__ == "__main__":
    app()
