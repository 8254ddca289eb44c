"""``make demo``: the main job end to end on the embedded defaults.

Generates the sample catalog site (once), serves it on localhost, runs the
``catalog_ingest`` DAG through Airflow in-process (its chatty logs go to a
file), and prints the catalog, the quarantine with reasons, how each trap of
the sample site was handled, and the dataset revision.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from rich.table import Table

from ops.catalog.counts import catalog_counts, quarantine_view
from ops.catalog.lifecycle import last_catalog_version
from ops.catalog.store import read_catalog, read_quarantine
from ops.console import catalog_table, console, kinds_table, quarantine_table, stats_table
from ops.sample_site.check import check_traps, traps_table
from ops.settings import Settings

if TYPE_CHECKING:
    from ops.index.reader import PublishedIndex


def _run_logged(command: list[str], log_path: Path, what: str) -> bool:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(log_path, "w", encoding="utf-8") as log, console.status(f"{what} ..."):
        code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
    took = time.monotonic() - started
    if code != 0:
        console.print(f"[red]{what} failed after {took:.0f}s[/]; the end of {log_path}:")
        console.print(log_path.read_text(encoding="utf-8")[-4000:])
        return False
    console.print(f"{what}: done in {took:.0f}s (log: {log_path})")
    return True


def run_demo(settings: Settings) -> int:
    """Run the demo; return a process exit code."""
    from ops.sample_site.generate import (
        MANIFEST_NAME,
        SITE_FORMAT_VERSION,
        SiteManifest,
        generate_site,
    )
    from ops.sample_site.server import SampleSiteServer

    os.environ["CINESCOPE_HOME"] = str(settings.home)
    os.environ["CINESCOPE_SAMPLE_SITE_PORT"] = str(settings.sample_site_port)
    # The demo's scene model learns from generated clips; its labels are shown on purpose.
    os.environ["CINESCOPE_PUBLISH_STANDIN_LABELS"] = "true"
    (settings.home / "inbox").mkdir(parents=True, exist_ok=True)
    site_root = settings.home / "sample-site"
    manifest = SiteManifest.load(site_root) if (site_root / MANIFEST_NAME).is_file() else None
    if manifest is None or manifest.format_version < SITE_FORMAT_VERSION:
        with console.status("generating the sample catalog site ..."):
            manifest = generate_site(site_root)
    console.rule("cinescope demo: catalog ingestion")
    try:
        server = SampleSiteServer(site_root, port=settings.sample_site_port)
        server.start()
    except OSError as exc:
        console.print(
            f"[red]cannot serve the sample site on port {settings.sample_site_port}: "
            f"{exc}[/]; set CINESCOPE_SAMPLE_SITE_PORT to a free port"
        )
        return 1
    console.print(
        f"sample site: {server.base_url} ({len(manifest.items)} items, {len(manifest.traps)} traps)"
    )
    try:
        ok = _run_logged(
            [sys.executable, "-m", "ops.cli", "dag", "test", "catalog_ingest"],
            settings.home / "logs" / "demo-catalog_ingest.log",
            "Airflow DAG catalog_ingest (dag.test)",
        )
    finally:
        server.stop()
    if not ok:
        return 1
    print_ingest(settings, manifest, server.base_url)
    if not _people_demo(settings):
        return 1
    return _train_scene_demo(settings)


def _people_demo(settings: Settings) -> bool:
    """Cluster the cast's face set, name two clusters through the API as a curator
    would (taking the name the source declared), and register the recogniser."""
    import httpx

    from ops.api.app import create_app
    from ops.api.auth import api_token
    from ops.api.local import served
    from ops.faces.gallery import GalleryVersion
    from ops.refresh.tasks import FacesTask
    from ops.sample_site.portraits import LICENCE

    console.rule("cinescope demo: faces and people")
    console.print(
        "the sample site's cast: public-domain photographs of Eileen Collins (NASA) and "
        f"Grace Hopper (U.S. Navy) shipped with scikit-image and matplotlib ({LICENCE}); "
        "each face set is variations of one photograph"
    )
    ok = _run_logged(
        [sys.executable, "-m", "ops.cli", "dag", "test", "faces_cluster"],
        settings.home / "logs" / "demo-faces_cluster.log",
        "Airflow DAG faces_cluster (dag.test)",
    )
    if not ok:
        return False
    table = Table(title="curation through the API (POST /faces/clusters/{id}/name)")
    for column in ("cluster", "faces", "sources say", "named"):
        table.add_column(column)
    auth = {"Authorization": f"Bearer {api_token(settings)}"}
    with served(create_app(settings)) as base_url:
        groups = httpx.get(f"{base_url}/faces/clusters").json()["groups"]
        for group in groups:
            if group["named"] or not group["declared"]:
                continue
            name = max(group["declared"], key=group["declared"].get)
            answer = httpx.post(
                f"{base_url}/faces/clusters/{group['id']}/name",
                json={"curator": "demo curator", "name": name},
                headers=auth,
            )
            answer.raise_for_status()
            table.add_row(group["id"], str(len(group["faces"])), str(group["declared"]), name)
    console.print(table)
    console.print("curate by hand: cinescope serve, then http://127.0.0.1:8000/curate")
    champion = FacesTask().current_model(settings)
    if champion is not None and not table.rows:
        console.print(f"no one newly named: face-gallery champion v{champion.model_version} kept")
        return True
    log_path = settings.home / "logs" / "demo-faces_gallery.log"
    command = [sys.executable, "-m", "ops.cli", "faces", "gallery", "--json"]
    with open(log_path, "w", encoding="utf-8") as log, console.status("face-gallery ..."):
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=log, text=True, check=False)
    if done.returncode != 0:
        console.print(f"[red]cinescope faces gallery failed[/]; see {log_path}")
        return False
    registered = GalleryVersion.model_validate_json(done.stdout)
    measure = registered.measure
    verdict = "promoted to champion" if registered.promoted else "not promoted"
    console.print(
        f"face-gallery v{registered.version} ({registered.dataset_rev}): "
        f"{', '.join(registered.people)}; open-set threshold {measure.threshold} "
        f"(false accepts {measure.false_accept_rate:.1%} of {measure.impostor_probes}); "
        f"{verdict} ({registered.reason})"
    )
    return True


def _train_scene_demo(settings: Settings) -> int:
    """Generate annotated clips, version them, train + register + gate through Airflow."""
    from ops.scene.pipeline import generate_demo_labels, scene_dir

    console.rule("cinescope demo: scene-type detector")
    with console.status("generating annotated training clips ..."):
        folder = generate_demo_labels(settings)
    console.print(f"labelled dataset: {folder} (label depends on picture and sound together)")
    console.print(
        "these clips are a generated stand-in: the demo publishes its model's labels "
        "(CINESCOPE_PUBLISH_STANDIN_LABELS=true); outside the demo they are withheld"
    )
    for dag_id in ("scene_labels", "train_scene"):
        ok = _run_logged(
            [sys.executable, "-m", "ops.cli", "dag", "test", dag_id],
            settings.home / "logs" / f"demo-{dag_id}.log",
            f"Airflow DAG {dag_id} (dag.test)",
        )
        if not ok:
            return 1
    metrics = json.loads((scene_dir(settings) / "metrics.json").read_text(encoding="utf-8"))
    table = Table(title="validation (segment level; scene F1 at IoU >= 0.5)", title_justify="left")
    for column in ("model", "precision", "recall", "F1", "PR-AUC", "scene F1"):
        table.add_column(column)
    for row in metrics["ablation"]:
        table.add_row(
            row["variant"],
            *(
                f"{row[f'val_{k}']:.3f}"
                for k in ("precision", "recall", "f1", "pr_auc", "scene_f1")
            ),
        )
    console.print(table)
    gate = metrics["gate"]
    verdict = "promoted to champion" if gate["promoted"] else "not promoted"
    console.print(f"scene model version {metrics['version']}: {verdict} ({gate['reason']})")
    console.print(
        "compare versions in the MLflow UI: make up, then http://127.0.0.1:5000 "
        "(experiment 'scene', model 'scene', alias 'champion')"
    )
    if not _train_music_demo(settings):
        return 1
    return _refresh_demo(settings)


def _train_music_demo(settings: Settings) -> bool:
    """Train, register and gate the genre and mood models on their generated stand-ins."""
    from mlflow import MlflowClient

    from ops.tracking_store import champion_ref

    console.rule("cinescope demo: music genre and mood")
    console.print(
        "both learn from generated stand-ins here (genre-styled synthetic music, mood "
        "pictures drawn from the mood circle); point CINESCOPE_GENRE_DATA_DIR and "
        "CINESCOPE_MOOD_DATA_DIR at labelled folders to train on real data"
    )
    client = MlflowClient(settings.tracking_uri)
    for dag_id, name in (("train_genre", "genre"), ("train_mood", "mood")):
        ok = _run_logged(
            [sys.executable, "-m", "ops.cli", "dag", "test", dag_id],
            settings.home / "logs" / f"demo-{dag_id}.log",
            f"Airflow DAG {dag_id} (dag.test)",
        )
        if not ok:
            return False
        champion = champion_ref(settings.tracking_uri, name)
        if champion is None:
            console.print(f"[yellow]no {name} champion: see the log[/]")
            continue
        version = client.get_model_version(name, champion[0])
        metrics = client.get_run(version.run_id).data.metrics if version.run_id else {}
        shown = ", ".join(f"{key} {value:.3f}" for key, value in sorted(metrics.items()))
        console.print(f"{name} champion v{champion[0]} (trained on {champion[2]} data): {shown}")
    return True


def _refresh_demo(settings: Settings) -> int:
    """Refresh the indexes through Airflow, then ask them a few real questions."""
    from contextlib import closing

    from ops.console import (
        document_table,
        facets_table,
        lineage_table,
        search_table,
        segments_table,
        similar_table,
    )
    from ops.index.query import SearchQuery
    from ops.index.reader import PublishedIndex
    from ops.refresh.lineage import indexed_lineage
    from ops.refresh.plan import PLAN_FILE
    from ops.scene.synthetic import SCENE_LABEL

    console.rule("cinescope demo: catalog refresh, search and recommendations")
    _register_speech(settings)
    ok = _run_logged(
        [sys.executable, "-m", "ops.cli", "dag", "test", "catalog_refresh"],
        settings.home / "logs" / "demo-catalog_refresh.log",
        "Airflow DAG catalog_refresh (dag.test)",
    )
    if not ok:
        return 1
    plans = sorted(
        settings.refresh_dir.glob(f"*/{PLAN_FILE}"), key=lambda path: path.stat().st_mtime
    )
    if plans:
        plan = json.loads(plans[-1].read_text(encoding="utf-8"))
        console.print(f"refresh plan: {plan['summary']}")
    catalog = read_catalog(settings.catalog_path)
    videos = catalog[(catalog["status"] == "ok") & (catalog["kind"] == "video")]
    word = _common_tag(catalog)
    with closing(PublishedIndex.open(settings)) as index:
        console.print(f"live index {index.version}")
        console.print(f"[bold]$ cinescope search {word}[/]")
        page = index.search(SearchQuery(q=word, level="item", page_size=5))
        console.print(search_table(page))
        console.print(facets_table(page))
        console.print("[bold]$ cinescope search --kind audio[/]")
        console.print(search_table(index.search(SearchQuery(kind=["audio"], page_size=5))))
        console.print(f"[bold]$ cinescope search {SCENE_LABEL}[/]")
        scenes = index.search(SearchQuery(q=SCENE_LABEL, page_size=5))
        console.print(search_table(scenes))
        console.print(facets_table(scenes))
        if not scenes.hits:
            console.print(
                f"[yellow]the scene model found no {SCENE_LABEL!r} scene in the sample "
                f"videos[/]; see its validation table above"
            )
        _print_people(index)
        _print_words(index)
        _print_genre_mood(index, catalog)
        if videos.empty:
            return 0
        # The item shown is one the scene model labelled, so its segments have times and scores.
        item_id = scenes.hits[0].item_id if scenes.hits else str(videos.iloc[0]["item_id"])
        found = index.item(item_id)
        if found is not None:
            console.print(f"[bold]$ cinescope item {item_id}[/]")
            fields = ("item_id", "kind", "title", "year", "duration_s", "labels", "people")
            console.print(document_table(f"item {item_id}", found["item"], fields))
            console.print(segments_table(found["segments"]))
        console.print(f"[bold]$ cinescope similar {item_id} -k 5[/]")
        console.print(similar_table(item_id, index.similar(item_id, 5)))
    console.print(f"[bold]$ cinescope lineage {item_id}[/]")
    console.print(lineage_table(indexed_lineage(settings, item_id)["tasks"]))
    console.print(
        "query API: cinescope serve, then http://127.0.0.1:8000/docs "
        "(e.g. /search?q=" + word + "&kind=video)"
    )
    return _mood_video_demo(settings)


def _print_genre_mood(index: PublishedIndex, catalog: pd.DataFrame) -> None:
    """The genre and mood refresh gave the sample tracks and pictures, next to the
    site's own label (one of their tags), and music offered for a picture."""
    from ops.console import similar_table
    from ops.mood.circle import MOODS
    from ops.sample_site.media import GENRES

    table = Table(title="genre and mood (the site's label is one of its tags)")
    for column in ("item_id", "kind", "title", "site label", "genre", "mood"):
        table.add_column(column, overflow="fold")
    known = set(GENRES) | set(MOODS)
    items = catalog[(catalog["status"] == "ok") & catalog["kind"].isin(["audio", "image"])]
    picture = None
    for row in items.sort_values(["kind", "title"]).itertuples():
        found = index.item(str(row.item_id))
        if found is None:
            continue
        document = found["item"]
        label = next((tag for tag in row.tags if tag in known), "-")
        if row.kind == "image" and document["moods"] and picture is None:
            picture = str(row.item_id)
        table.add_row(
            str(row.item_id),
            str(row.kind),
            str(row.title)[:32],
            label,
            ", ".join(document["genres"]) or "-",
            ", ".join(document["moods"]) or "-",
        )
    console.print(table)
    if picture is not None:
        console.print(f"[bold]$ cinescope similar {picture} --music[/]")
        console.print(similar_table(picture, index.music_for(picture, 3)))


def _mood_with_music(pictures: pd.Series, tracks: pd.Series) -> tuple[str, int]:
    """The mood of the most pictures among those with music nearest on the circle, and
    how many steps away that music is."""
    from ops.mood.circle import circle_distance

    def nearest(mood: str) -> int:
        return min((circle_distance(mood, track) for track in tracks), default=4)

    counts = pictures[pictures.map(pictures.value_counts()) >= 2].value_counts()
    if counts.empty:
        counts = pictures.value_counts()
    mood = min(counts.index, key=lambda m: (nearest(m), -counts[m], str(m)))
    return str(mood), nearest(mood)


def _mood_video_demo(settings: Settings) -> int:
    """Render a mood video through DAG mood_video and read it back."""
    from ops.mood.check import check_video
    from ops.mood.video import generated_folder
    from ops.predictions.store import PredictionsStore

    console.rule("cinescope demo: a mood video")
    moods = PredictionsStore(settings).read_predictions("mood")
    whole = (
        moods[moods["start_s"].isna()].sort_values("score").drop_duplicates("item_id", keep="last")
    )
    catalog = read_catalog(settings.catalog_path).set_index("item_id")
    pictures = whole[whole["item_id"].map(catalog["kind"]) == "image"]
    if pictures.empty:
        console.print("[yellow]no picture has a mood: no mood video[/]")
        return 0
    tracks = whole[whole["item_id"].map(catalog["kind"]) == "audio"]["label"]
    mood, steps = _mood_with_music(pictures["label"], tracks)
    conf = json.dumps({"mood": mood, "seconds": 12, "max_steps": steps})
    ok = _run_logged(
        [sys.executable, "-m", "ops.cli", "dag", "test", "mood_video", "--conf", conf],
        settings.home / "logs" / "demo-mood_video.log",
        f"Airflow DAG mood_video (dag.test, mood {mood})",
    )
    if not ok:
        return 1
    _, folder = generated_folder(settings)
    video = max(folder.glob(f"mood-{mood}-*.mp4"), key=lambda path: path.stat().st_mtime)
    lineage = json.loads(video.with_suffix(".json").read_text(encoding="utf-8"))["lineage"]
    check = check_video(video, duration_s=12, segments=len(lineage["images"]))
    console.print(
        f"{video}: {len(lineage['images'])} pictures of mood {mood}, track {lineage['track']} "
        f"({'; '.join(lineage['models'])}); read back: {check.duration_s:.2f} s, "
        f"{check.frames} frames, "
        f"brightness and sound envelopes correlate {check.correlation:.3f}, fades in sync "
        f"within {check.max_sync_offset_frames:.2f} frames; "
        + ("ok" if check.ok else "problems: " + "; ".join(check.problems))
    )
    console.print(f"ingested into the catalog as 'Mood video: {mood}' (cinescope catalog list)")
    return 0


def _print_people(index: PublishedIndex) -> None:
    """Who refresh found on screen: a search by person, and their appearances."""
    from ops.console import search_table
    from ops.index.documents import APPEARANCE_LABEL
    from ops.index.query import SearchQuery
    from ops.sample_site.portraits import PORTRAITS

    for person in PORTRAITS:
        console.print(f'[bold]$ cinescope search --person "{person}" --label {APPEARANCE_LABEL}[/]')
        query = SearchQuery(person=[person], label=[APPEARANCE_LABEL], page_size=5)
        found = index.search(query)
        console.print(search_table(found))
        spans = index.appearances(person) or []
        where = ", ".join(f"{a['start_s']:g}-{a['end_s']:g} s" for a in spans)
        console.print(f"GET /people/{person}/appearances: {len(spans)} ({where or 'none'})")


def _register_speech(settings: Settings) -> None:
    """Register the English recogniser, so the refresh transcribes the catalog (what
    ``cinescope speech register`` does)."""
    from ops.speech.tracking import ensure_speech_model

    with console.status("registering the speech recogniser ..."):
        name, version = ensure_speech_model(settings.tracking_uri, "en")
    console.print(
        f"{name} v{version}: CMU Sphinx's pretrained US English model from the pocketsphinx "
        "wheel (training_data=pretrained); add Korean with `cinescope speech register --lang ko`"
    )


def _print_words(index: PublishedIndex) -> None:
    """A clip found by a word it says, one by a word it shows, and a stored transcript."""
    from ops.console import search_table
    from ops.index.query import SearchQuery
    from ops.sample_site.words import CAPTION_WORD, SPOKEN_WORD
    from ops.speech.webvtt import phrases_webvtt

    for word, label in ((SPOKEN_WORD, "speech"), (CAPTION_WORD, "text")):
        console.print(f"[bold]$ cinescope search {word} --level segment --label {label}[/]")
        found = index.search(SearchQuery(q=word, level="segment", label=[label], page_size=5))
        console.print(search_table(found))
        if not found.hits:
            console.print(f"[yellow]no {label} segment holds {word!r}[/]")
        elif label == "speech":
            item_id = found.hits[0].item_id
            detail = index.item(item_id)
            console.print(f"[bold]$ cinescope transcript {item_id}[/]")
            phrases = detail["transcript"] if detail else []
            print(phrases_webvtt((p["start_s"], p["end_s"], p["text"]) for p in phrases), end="")


def _common_tag(catalog: pd.DataFrame) -> str:
    """The tag most ok items share: a query that is sure to find something."""
    tags = catalog.loc[catalog["status"] == "ok", "tags"].explode().dropna()
    return str(tags.value_counts().index[0]) if not tags.empty else "the"


def print_ingest(settings: Settings, manifest: object, base_url: str) -> None:
    catalog = read_catalog(settings.catalog_path)
    quarantine = read_quarantine(settings.quarantine_path)
    counts = catalog_counts(catalog, quarantine)
    run = last_catalog_version(settings)
    console.print(kinds_table(catalog))
    console.print(catalog_table(catalog))
    console.print(quarantine_table(quarantine_view(catalog, quarantine), counts))
    results = check_traps(manifest, catalog, quarantine, base_url)  # type: ignore[arg-type]
    console.print(traps_table(results))
    merged = run.summary.merge if run else None
    for name, stats in (merged.sources if merged else {}).items():
        if stats.new == 0 and stats.downloaded_bytes == 0:
            console.print(
                f"source {name}: nothing downloaded in {stats.requests} requests; "
                f"{stats.unchanged} items and {stats.pages_unchanged} pages not asked about "
                f"(dated no later than before, or still fresh), {stats.not_modified} items "
                f"and {stats.pages_not_modified} pages unchanged (HTTP 304)"
            )
        else:
            console.print(
                stats_table(
                    f"source {name}",
                    {
                        k: getattr(stats, k)
                        for k in (
                            "discovered",
                            "new",
                            "not_modified",
                            "downloaded_bytes",
                            "requests",
                            "retries",
                            "refused",
                            "face_set_pictures",
                        )
                    },
                )
            )
    validation = run.summary.validation if run else None
    if validation and validation.report:
        console.print(f"validation report: {validation.report}")
    change = "new revision" if run and run.changed else "no change; current revision"
    revision = run.revision if run else None
    console.print(f"DVC data registry: {change} [bold]{revision}[/] (cinescope datasets list)")
    failed = [r for r in results if not r.ok]
    if failed:
        console.print(f"[red]{len(failed)} trap(s) not handled as expected[/]")
