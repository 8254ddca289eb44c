"""The ``cinescope`` command line: every pipeline step, runnable without Airflow."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from ops.console import console, stats_table
from ops.settings import get_settings

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


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


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

    with _progress() as bar:
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


if __name__ == "__main__":
    app()
