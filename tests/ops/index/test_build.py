"""Index versions: build, publish, readers that keep their version, rollback, pruning."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

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
    index_versions,
    postgres_schema_name,
    prune_indexes,
    publish_index,
    rollback_index,
)
from ops.index.query import SearchQuery
from ops.index.reader import PublishedIndex
from ops.predictions.schema import EMBEDDING_SCHEMA, PREDICTION_SCHEMA
from ops.predictions.store import embeddings_file, predictions_file
from ops.refresh.plan import catalog_digest
from ops.settings import Settings
from ops.versioned import VersionedStore, VersionError

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
