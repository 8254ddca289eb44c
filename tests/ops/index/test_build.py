"""Index versions: build, publish, readers that keep their version, rollback, pruning."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pytest
from pydantic import ValidationError

import ops.index.build as index_build
from ops.catalog.schema import ITEM_SCHEMA
from ops.catalog.store import write_catalog, write_frame
from ops.index.build import (
    build_index_version,
    index_store,
    index_versions,
    postgres_schema_name,
    prune_indexes,
    publish_index,
    rollback_index,
)
from ops.index.query import SearchQuery
from ops.index.reader import PublishedIndex
from ops.predictions.schema import EMBEDDING_SCHEMA, PREDICTION_SCHEMA
from ops.predictions.store import PredictionsStore, embeddings_file, predictions_file
from ops.refresh.plan import catalog_digest
from ops.settings import Settings
from ops.versioned import Version, VersionedStore, VersionError

POSTGRES_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
NOW = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def home(home: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The shared home, publishing the labels of these tests' made-up scene model: no
    registry knows it, so its training data is unrecorded and its labels would be withheld."""
    monkeypatch.setenv("CINESCOPE_PUBLISH_STANDIN_LABELS", "true")
    return Settings()


def write_world(settings: Settings, titles: dict[str, str]) -> str:
    """A catalog of videos and a published predictions version with scenes and vectors."""
    rng = np.random.default_rng(len(titles))
    items = pd.DataFrame(
        [
            {
                "item_id": item_id,
                "source": "site",
                "url": f"https://example.org/{item_id}",
                "kind": "video",
                "sha256": item_id * 4,
                "title": title,
                "duration_s": 6.0,
                "tags": ["demo"],
                "people": [],
                "status": "ok",
            }
            for item_id, title in titles.items()
        ]
    )
    write_catalog(items, settings.catalog_path)
    lineage = {"model_name": "scene", "model_version": "1", "dataset_rev": "labels/scene/v1"}
    scores = [0.9, 0.9, 0.9, 0.1, 0.1, 0.1]
    rows, vectors = [], []
    for item_id in titles:
        common = {"item_id": item_id, "task": "scene", "model_name": "scene", "model_version": "1"}
        labelled = {**common, "label": "kiss", "dataset_rev": "labels/scene/v1", "created_at": NOW}
        for second, score in enumerate(scores):
            span = {"start_s": float(second), "end_s": float(second + 1)}
            rows.append({**labelled, **span, "score": score})
            vectors.append({**common, **span, "vector": rng.normal(size=8).tolist()})
        rows.append({**labelled, "start_s": None, "end_s": None, "score": 0.9})
        vectors.append({**common, "start_s": None, "vector": rng.normal(size=8).tolist()})
    store = VersionedStore(settings.predictions_dir)
    version = store.create()
    for frame, path, schema in (
        (rows, predictions_file(version.path, "scene"), PREDICTION_SCHEMA),
        (vectors, embeddings_file(version.path, "scene"), EMBEDDING_SCHEMA),
    ):
        write_frame(pd.DataFrame(frame), path, schema)
    store.seal(version, {"tasks": {"scene": lineage}})
    store.publish(version.name)
    return version.name


def search_titles(reader: PublishedIndex) -> list[str]:
    page = reader.search(SearchQuery(level="item", page_size=100))
    return sorted(hit.title or "" for hit in page.hits)


def test_a_build_is_sealed_with_its_manifest_and_not_published(home: Settings) -> None:
    predictions = write_world(home, {"a": "Harbour", "b": "Desert"})
    version = build_index_version(home)
    manifest = version.manifest()
    assert VersionedStore(home.index_dir).current() is None
    assert manifest["predictions_version"] == predictions
    assert manifest["backend"] == "tantivy" and manifest["postgres_schema"] is None
    assert (manifest["documents"], manifest["segments"], manifest["vectors"]) == (4, 2, 4)
    assert manifest["catalog_digest"] == catalog_digest(
        pa.Table.from_pandas(pd.read_parquet(home.catalog_path), schema=ITEM_SCHEMA).to_pandas()
    )
    for name in (
        "documents.parquet",
        "search.tantivy/meta.json",
        "vectors.faiss",
        "similar.parquet",
    ):
        assert (version.path / name).is_file(), name
    assert [found.name for found in index_versions(home)] == [version.name]


def test_an_open_reader_keeps_its_version_across_a_publish(home: Settings) -> None:
    write_world(home, {"a": "Harbour", "b": "Desert"})
    first = publish_index(home, build_index_version(home).name)
    reader = PublishedIndex.open(home)
    write_world(home, {"a": "Harbour", "b": "Desert", "c": "Forest"})
    second = publish_index(home, build_index_version(home).name)
    try:
        assert reader.version == first.name
        assert search_titles(reader) == ["Desert", "Harbour"]
        with_new = PublishedIndex.open(home)
        assert with_new.version == second.name
        assert search_titles(with_new) == ["Desert", "Forest", "Harbour"]
        with_new.close()
    finally:
        reader.close()


def test_rollback_goes_back_one_version_or_to_a_named_one(home: Settings) -> None:
    write_world(home, {"a": "Harbour"})
    names = [publish_index(home, build_index_version(home).name).name for _ in range(3)]
    assert rollback_index(home).name == names[1]
    assert rollback_index(home, to=names[0]).name == names[0]
    with pytest.raises(VersionError, match="oldest"):
        rollback_index(home)
    reader = PublishedIndex.open(home)
    assert reader.version == names[0]
    reader.close()


def test_pruning_keeps_the_newest_versions_and_the_live_one(home: Settings) -> None:
    settings = home.model_copy(update={"index_keep_versions": 2})
    write_world(settings, {"a": "Harbour"})
    names = [build_index_version(settings).name for _ in range(4)]
    publish_index(settings, names[0])
    removed = prune_indexes(settings)
    assert [version.name for version in removed] == [names[1]]
    assert [version.name for version in index_versions(settings)] == [names[0], *names[2:]]


def test_a_failed_build_leaves_the_live_version_serving(
    home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_world(home, {"a": "Harbour"})
    live = publish_index(home, build_index_version(home).name)

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("killed after the search backend was written")

    monkeypatch.setattr(index_build.VectorIndex, "build", killed)
    with pytest.raises(KeyboardInterrupt):
        build_index_version(home)
    store = VersionedStore(home.index_dir)
    assert not (home.index_dir / f"v{live.number + 1:06d}").exists()  # it left nothing
    assert store.current() == live
    assert [version.name for version in index_versions(home)] == [live.name]
    monkeypatch.undo()
    assert build_index_version(home).name == f"v{live.number + 1:06d}"


def test_postgres_without_a_dsn_is_a_clear_error(home: Settings) -> None:
    write_world(home, {"a": "Harbour"})
    settings = home.model_copy(update={"search_backend": "postgres"})
    with pytest.raises(ValueError, match="CINESCOPE_SEARCH_POSTGRES_DSN"):
        build_index_version(settings)


@pytest.fixture
def postgres_dsn() -> Iterator[str]:
    """A throwaway database, so index schemas of parallel test runs never collide."""
    name = f"cinescope_b2_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_DSN}: {error}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def schemas(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'cinescope_index_%' ORDER BY 1"
        ).fetchall()
    return [row[0] for row in rows]


def test_postgres_versions_live_in_their_own_schemas(home: Settings, postgres_dsn: str) -> None:
    settings = home.model_copy(
        update={
            "search_backend": "postgres",
            "search_postgres_dsn": postgres_dsn,
            "index_keep_versions": 1,
        }
    )
    write_world(settings, {"a": "Harbour", "b": "Desert"})
    first = publish_index(settings, build_index_version(settings).name)
    reader = PublishedIndex.open(settings)
    try:
        assert first.manifest()["postgres_schema"] == postgres_schema_name(first)
        assert not (first.path / "search.sqlite").exists()
        assert not (first.path / "search.tantivy").exists()
        assert search_titles(reader) == ["Desert", "Harbour"]
        second = publish_index(settings, build_index_version(settings).name)
        assert schemas(postgres_dsn) == [postgres_schema_name(first), postgres_schema_name(second)]
    finally:
        reader.close()
    assert [version.name for version in prune_indexes(settings)] == [first.name]
    assert schemas(postgres_dsn) == [postgres_schema_name(second)]


def test_a_failed_postgres_build_drops_its_schema(
    home: Settings, postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = home.model_copy(
        update={"search_backend": "postgres", "search_postgres_dsn": postgres_dsn}
    )
    write_world(settings, {"a": "Harbour"})

    def failing(*args: object, **kwargs: object) -> None:
        raise RuntimeError("recommendations failed")

    monkeypatch.setattr("ops.recommend.build.build_recommendations", failing)
    with pytest.raises(RuntimeError, match="recommendations failed"):
        build_index_version(settings)
    assert schemas(postgres_dsn) == []
    assert index_versions(settings) == []


def test_pruning_drops_the_schema_of_a_build_killed_outright(
    home: Settings, postgres_dsn: str
) -> None:
    settings = home.model_copy(
        update={"search_backend": "postgres", "search_postgres_dsn": postgres_dsn}
    )
    write_world(settings, {"a": "Harbour"})
    live = publish_index(settings, build_index_version(settings).name)
    killed = build_index_version(settings)  # as if killed after its schema, before sealing:
    (killed.path / "manifest.json").unlink()
    newest = publish_index(settings, build_index_version(settings).name)  # sweeps the folder
    assert not killed.path.exists()
    assert postgres_schema_name(killed) in schemas(postgres_dsn)
    prune_indexes(settings)
    assert schemas(postgres_dsn) == [postgres_schema_name(live), postgres_schema_name(newest)]


def test_recommendation_settings_reach_the_build(
    home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CINESCOPE_RECOMMEND__MIN_SCORE", "0.2")
    monkeypatch.setenv("CINESCOPE_RECOMMEND__ALS__FACTORS", "12")
    settings = Settings()
    write_world(settings, {"a": "Harbour", "b": "Desert"})
    version = build_index_version(settings)
    params = json.loads((version.path / "recommend.json").read_text())["params"]
    assert params["min_score"] == 0.2
    assert params["als"]["factors"] == 12
    assert params["cf_weight"] == 0.5  # the rest keep their defaults


def test_a_bad_recommendation_setting_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CINESCOPE_RECOMMEND__CF_WEIGHT", "1.5")
    with pytest.raises(ValidationError, match=r"recommend\.cf_weight\n.*less than or equal to 1"):
        Settings()


# Incremental builds: a world whose refreshes go through the real plan file and merge.

SCENE_MODEL = {"model_name": "scene", "model_version": "1", "dataset_rev": "labels/scene/v1"}
MOOD_MODEL = {"model_name": "mood", "model_version": "1", "dataset_rev": "labels/mood/v1"}
KINDS = ("video", "video", "audio", "image")
MOODS = ("calm", "serene", "joyful", "sad")
TITLES = ("Harbour", "Desert", "Forest", "Lighthouse", "Night train", "Snow", "River")


def catalog_row(number: int, **changes: object) -> dict[str, object]:
    kind = KINDS[number % len(KINDS)]
    return {
        "item_id": f"item-{number:03d}",
        "source": "site",
        "url": f"https://example.org/{number}",
        "kind": kind,
        "sha256": f"{number:064x}",
        "title": f"{TITLES[number % len(TITLES)]} {number}",
        "description": f"a story about {TITLES[(number * 3) % len(TITLES)].lower()}",
        "year": 1990 + number % 20,
        "duration_s": None if kind == "image" else 6.0,
        "tags": ["demo", f"tag{number % 3}"],
        "people": [f"Person {number % 4}"] if number % 2 else [],
        "status": "ok",
    } | changes


def item_outputs(item_id: str, kind: str, seed: int) -> dict[str, list[dict[str, object]]]:
    """What a refresh infers for one item: 1-s kiss scores and vectors for a video, a
    mood for a track or a picture, and the ledger rows."""
    rng = np.random.default_rng(seed)
    model = SCENE_MODEL if kind == "video" else MOOD_MODEL
    task = model["model_name"]
    common = {"item_id": item_id, "task": task, "created_at": NOW, **model}
    rows: list[dict[str, object]] = []
    vectors: list[dict[str, object]] = []
    if kind == "video":
        for second in range(6):
            span = {"start_s": float(second), "end_s": float(second + 1)}
            rows.append({**common, **span, "label": "kiss", "score": float(rng.uniform())})
            vectors.append({**common, **span, "vector": rng.normal(size=8).tolist()})
        rows.append({**common, "start_s": None, "end_s": None, "label": "kiss", "score": 0.9})
        vectors.append({**common, "start_s": None, "end_s": None, "vector": rng.normal(size=8)})
    else:
        mood = MOODS[int(rng.integers(len(MOODS)))]
        rows.append({**common, "start_s": None, "end_s": None, "label": mood, "score": 0.9})
    ledger = {**common, "sha256": "x", "status": "ok", "reason": None, "processed_at": NOW}
    return {"predictions": rows, "embeddings": vectors, "ledger": [ledger]}


def write_outputs(folder: Path, items: dict[str, str], seed: int) -> None:
    """A predictions version's (or a shard's) files for ``items`` (item -> kind)."""
    from ops.predictions.schema import LEDGER_SCHEMA
    from ops.predictions.store import ledger_file

    found: dict[str, list[dict[str, object]]] = {"predictions": [], "embeddings": [], "ledger": []}
    for offset, (item_id, kind) in enumerate(sorted(items.items())):
        for name, rows in item_outputs(item_id, kind, seed + offset).items():
            found[name] += rows
    for task in ("scene", "mood"):
        rows = [row for row in found["predictions"] if row["task"] == task]
        write_frame(pd.DataFrame(rows), predictions_file(folder, task), PREDICTION_SCHEMA)
        vectors = [row for row in found["embeddings"] if row["task"] == task]
        embeddings = pd.DataFrame(vectors, columns=EMBEDDING_SCHEMA.names)
        write_frame(embeddings, embeddings_file(folder, task), EMBEDDING_SCHEMA)
    ledger = pd.DataFrame(found["ledger"], columns=LEDGER_SCHEMA.names)
    write_frame(ledger, ledger_file(folder), LEDGER_SCHEMA)


def synthetic_world(settings: Settings, count: int) -> str:
    """A catalog of ``count`` items and a published predictions version for all but the
    pictures whose number ends in 7 (items the models never ran on)."""
    rows = [catalog_row(number) for number in range(count)]
    write_catalog(pd.DataFrame(rows), settings.catalog_path)
    store = VersionedStore(settings.predictions_dir)
    version = store.create()
    kinds = {
        str(row["item_id"]): str(row["kind"])
        for row in rows
        if not str(row["item_id"]).endswith("7")
    }
    write_outputs(version.path, kinds, seed=0)
    store.seal(version, {"tasks": {"scene": SCENE_MODEL, "mood": MOOD_MODEL}})
    store.publish(version.name)
    return version.name


def synthetic_refresh(settings: Settings, run_id: str, items: list[str], seed: int) -> str:
    """The merged (unpublished) predictions version of a run that inferred ``items`` again
    and drops the items gone from the catalog, planned as plan_refresh plans."""
    from ops.catalog.store import read_catalog
    from ops.predictions.store import PredictionsStore
    from ops.refresh.merge import merge_shards
    from ops.refresh.plan import PLAN_FILE, SHARDS_DIR, RefreshPlan, run_folder, shard_name

    store = PredictionsStore(settings)
    catalog = read_catalog(settings.catalog_path)
    kinds = dict(zip(catalog["item_id"], catalog["kind"], strict=True))
    ok = set(catalog.loc[catalog["status"] == "ok", "item_id"])
    folder = run_folder(settings, run_id)
    shards = []
    for task in ("scene", "mood"):
        mine = {
            item: kinds[item] for item in items if (kinds[item] == "video") == (task == "scene")
        }
        if mine:
            shards.append({"task": task, "index": 0, "items": sorted(mine), "seconds": 6.0})
            write_outputs(folder / SHARDS_DIR / shard_name(task, 0), mine, seed)
    base = store.store.current()
    plan = RefreshPlan(
        run_id=run_id,
        created_at=NOW.isoformat(),
        catalog_digest=catalog_digest(catalog),
        base_version=base.name if base else None,
        models={"scene": SCENE_MODEL, "mood": MOOD_MODEL},
        skipped={},
        up_to_date={},
        removed=sorted(set(store.read_ledger()["item_id"]) - ok),
        without_media=[],
        media={},
        shards=shards,
        summary=f"{len(items)} items",
        path=folder / PLAN_FILE,
    )
    plan.save()
    return merge_shards(settings, run_id).name


def edit_catalog(settings: Settings, remove: list[str], add: list[int], **titles: str) -> None:
    from ops.catalog.store import read_catalog

    catalog = read_catalog(settings.catalog_path)
    catalog = catalog[~catalog["item_id"].isin(remove)]
    for item_id, title in titles.items():
        catalog.loc[catalog["item_id"] == item_id.replace("_", "-"), "title"] = title
    new = pd.DataFrame([catalog_row(number) for number in add])
    write_catalog(pd.concat([catalog, new], ignore_index=True), settings.catalog_path)


QUERIES = (
    SearchQuery(page_size=100),
    SearchQuery(level="item", page=2, page_size=7),
    SearchQuery(q="lighthouse", page_size=100),
    SearchQuery(q="story", kind=["video", "image"], page_size=100),
    SearchQuery(level="segment", label=["kiss"], page_size=100),
    SearchQuery(mood=["calm"], page_size=100),
    SearchQuery(q="fores*", page_size=100),
    SearchQuery(person=["Person 1"], year_min=1995),
)


def answers(reader: PublishedIndex) -> list[dict[str, object]]:
    """What each query answers: its ranked hits as a set (every match on one page: a
    derived Tantivy index counts deleted documents in its term statistics until segments
    merge, so close scores may order differently), its listings in order."""
    found = []
    for query in QUERIES:
        page = reader.search(query)
        hits = [hit.doc_id for hit in page.hits]
        found.append(
            {
                "total": page.total,
                "facets": page.facets,
                "hits": set(hits) if query.q else hits,
            }
        )
    return found


def documents_of(version: Version) -> pd.DataFrame:
    """A version's documents, vector rows reduced to whether there is one (they count
    within the part that holds the document)."""
    from ops.index.layers import Layers

    documents = Layers.of(version).documents()
    documents["vector_row"] = documents["vector_row"] >= 0
    return documents.sort_values("doc_id").reset_index(drop=True)


def items_of(version: Version) -> pd.DataFrame:
    """What a version says of each item (not where in its parts it is kept)."""
    from ops.index.layers import Layers

    items = Layers.of(version).items().drop(columns=["part", "fused_row"])
    return items.sort_index()


@pytest.fixture
def live(home: Settings) -> Version:
    """A published index over a synthetic world of 40 items."""
    synthetic_world(home, 40)
    return publish_index(home, build_index_version(home).name)


@pytest.mark.parametrize("backend", ["tantivy", "sqlite", "postgres"])
def test_a_derived_version_answers_as_a_full_build_over_the_same_data_would(
    home: Settings, backend: str, request: pytest.FixtureRequest
) -> None:
    settings = home.model_copy(update={"search_backend": backend})
    if backend == "postgres":
        dsn = request.getfixturevalue("postgres_dsn")
        settings = settings.model_copy(update={"search_postgres_dsn": dsn})
    synthetic_world(settings, 40)
    first = publish_index(settings, build_index_version(settings).name)
    edit_catalog(settings, remove=["item-004", "item-006"], add=[41, 42], item_005="Lighthouse")
    predictions = synthetic_refresh(settings, "run-2", ["item-001", "item-002", "item-041"], 9)

    derived = build_index_version(settings, predictions)
    full = build_index_version(settings, predictions, full=True)

    manifest = derived.manifest()
    assert manifest["build"] == {
        "kind": "incremental",
        "from": first.name,
        "changed_items": 5,  # the three inferred, the retitled one, the new one without media
        "removed_items": 2,
    }
    assert full.manifest()["build"] == {"kind": "full", "reason": "a full build was asked for"}
    for count in ("documents", "segments", "vectors"):
        assert manifest[count] == full.manifest()[count], count
    pd.testing.assert_frame_equal(documents_of(derived), documents_of(full))
    pd.testing.assert_frame_equal(items_of(derived), items_of(full))
    with (
        closing(PublishedIndex.open(settings, derived.name)) as incremental,
        closing(PublishedIndex.open(settings, full.name)) as rebuilt,
    ):
        assert answers(incremental) == answers(rebuilt)
        assert incremental.item("item-004") is None
        found = incremental.item("item-005")
        assert found is not None and found["item"]["title"] == "Lighthouse"
        scenes = rebuilt.search(SearchQuery(level="segment", label=["kiss"], page_size=100))
        for like in ("item-001", "item-009", *(hit.doc_id for hit in scenes.hits[:3])):
            near = incremental.search(SearchQuery(like=like))
            assert near == rebuilt.search(SearchQuery(like=like)).model_copy(
                update={"index_version": derived.name}
            )
        assert incremental.similar("item-041") and incremental.similar("item-000")
        assert "item-004" not in {
            entry.item_id
            for item in ("item-000", "item-008")
            for entry in incremental.similar(item)
        }


def test_a_derived_version_shares_the_live_files_and_writes_what_changed(
    home: Settings, live: Version, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ops.versioned as versioned

    hashed: list[Path] = []
    sha256 = versioned._sha256

    def counted(path: Path) -> str:
        hashed.append(path)
        return sha256(path)

    predictions = synthetic_refresh(home, "run-2", ["item-001"], 3)
    monkeypatch.setattr(versioned, "_sha256", counted)
    derived = build_index_version(home, predictions)
    publish_index(home, derived.name)
    files = derived.manifest()["files"]
    shared = {name for name in files if (derived.path / name).stat().st_nlink > 1}
    assert {"documents.parquet", "vectors.faiss", "similar.parquet"} <= shared
    assert all(files[name] == live.manifest()["files"][name] for name in shared)
    layer = f"layers/{derived.name}/"
    assert {"documents.parquet", "vectors.faiss", "items.parquet", "similar.parquet"} <= {
        name.removeprefix(layer) for name in files if name.startswith(layer)
    }
    new = {derived.path / name for name in set(files) - shared}
    assert set(hashed) == new  # sealing and publishing read the new files, not the shared
    assert live.problems() == [] and derived.problems() == []


def test_a_reader_of_the_old_version_keeps_answering_through_a_derived_publish(
    home: Settings, live: Version
) -> None:
    settings = home.model_copy(update={"index_keep_versions": 1})
    reader = PublishedIndex.open(settings)
    try:
        before = answers(reader)
        edit_catalog(settings, remove=["item-008"], add=[], item_000="Renamed")
        derived = build_index_version(settings, synthetic_refresh(settings, "run-2", [], 0))
        assert answers(reader) == before  # during: the new version is built beside it
        publish_index(settings, derived.name)
        assert [version.name for version in prune_indexes(settings)] == [live.name]
        assert reader.version == live.name and answers(reader) == before
        assert reader.item("item-008") is not None
        with closing(PublishedIndex.open(settings)) as newest:
            assert newest.version == derived.name and newest.item("item-008") is None
    finally:
        reader.close()


def _build_and_die(settings: Settings, predictions: str) -> None:
    """A derived build killed outright (SIGKILL) once its search index is written."""
    import os
    import signal

    from ops.index.tantivy_backend import TantivySearchBackend

    written = TantivySearchBackend.update

    def update_then_die(*args: object) -> None:
        written(*args)  # type: ignore[arg-type]
        os.kill(os.getpid(), signal.SIGKILL)

    TantivySearchBackend.update = update_then_die  # type: ignore[method-assign]
    build_index_version(settings, predictions)


def test_a_derived_build_killed_half_way_leaves_the_live_version_whole(
    home: Settings, live: Version
) -> None:
    import multiprocessing

    predictions = synthetic_refresh(home, "run-2", ["item-001", "item-002"], 5)
    with closing(PublishedIndex.open(home)) as reader:
        before = answers(reader)
    worker = multiprocessing.get_context("spawn").Process(
        target=_build_and_die, args=(home, predictions)
    )
    worker.start()
    worker.join(120)
    assert worker.exitcode == -9
    leftover = home.index_dir / f"v{live.number + 1:06d}"
    assert (leftover / "search.tantivy" / "meta.json").is_file()  # killed after its search index
    assert index_store(home).current() == live and live.problems() == []
    with closing(PublishedIndex.open(home)) as reader:
        assert answers(reader) == before
    again = build_index_version(home, predictions)  # sweeps the leftover, then derives
    assert again.manifest()["build"]["kind"] == "incremental"
    assert again.name == f"v{live.number + 2:06d}" and not leftover.exists()


def test_layers_merge_as_a_binary_counter_and_stay_equal_to_a_full_build(
    home: Settings, live: Version
) -> None:
    sizes = []
    for run in range(5):
        items = [f"item-{number:03d}" for number in range(run * 2, run * 2 + 2)]
        predictions = synthetic_refresh(home, f"run-{run}", items, run)
        version = publish_index(home, build_index_version(home, predictions).name)
        PredictionsStore(home).store.publish(predictions)
        sizes.append([layer["items"] for layer in version.manifest()["layers"]])
    assert sizes == [[2], [4], [4, 2], [8], [8, 2]]
    full = build_index_version(home, predictions, full=True)
    pd.testing.assert_frame_equal(documents_of(version), documents_of(full))
    with (
        closing(PublishedIndex.open(home, version.name)) as derived,
        closing(PublishedIndex.open(home, full.name)) as rebuilt,
    ):
        assert answers(derived) == answers(rebuilt)


def test_a_track_s_new_mood_reaches_the_music_of_every_picture(
    home: Settings, live: Version
) -> None:
    pictures = [f"item-{number:03d}" for number in range(3, 40, 4) if number % 10 != 7]
    tracks = [f"item-{number:03d}" for number in range(2, 40, 4) if number % 10 != 7]
    with closing(PublishedIndex.open(home)) as reader:
        picture = next(picture for picture in pictures if reader.music_for(picture))
        found = reader.item(picture)
        assert found is not None
        mood = found["item"]["moods"][0]
        reasons = {entry.item_id: entry.reason for entry in reader.music_for(picture, k=40)}
    same = f"same mood: {mood}"
    other = next(track for track in tracks if reasons.get(track) != same)
    seed = next(  # a seed that gives the track the picture's mood
        seed
        for seed in range(100)
        if item_outputs(other, "audio", seed)["predictions"][0]["label"] == mood
    )
    derived = build_index_version(home, synthetic_refresh(home, "run-2", [other], seed))
    assert derived.manifest()["recommendations"]["music_lists_updated"]
    with closing(PublishedIndex.open(home, derived.name)) as reader:
        offered = {entry.item_id: entry.reason for entry in reader.music_for(picture, k=40)}
    assert offered[other] == same


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("nothing", "nothing changed since the live index v000001, so this build is a repair"),
        ("untraced", "what predictions version v000002 changed cannot be told"),
        ("settings", "the scene segmentor or the recommendation parameters changed"),
        ("damaged", "the live index v000001 is damaged"),
    ],
)
def test_what_cannot_be_derived_is_built_in_full_saying_why(
    home: Settings, live: Version, change: str, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    predictions = None
    if change == "untraced":  # a predictions version no refresh plan made
        predictions = write_world(home, {"item-000": "Harbour"})
    if change == "settings":
        monkeypatch.setenv("CINESCOPE_RECOMMEND__MIN_SCORE", "0.3")
    if change == "damaged":
        (live.path / "items.parquet").write_bytes(b"garbage")
    version = build_index_version(Settings(), predictions)
    assert version.manifest()["build"]["kind"] == "full"
    assert version.manifest()["build"]["reason"].startswith(reason)
