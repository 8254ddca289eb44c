"""Building index versions, and choosing which one is live.

A build writes a complete new version folder (documents, the search backend, vectors,
recommendations) and seals it; it never touches the live version, so a failed or killed
build leaves the previous index serving. Publishing, rolling back and pruning are pointer
switches and deletions over the sealed versions (ops.versioned).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from ops.catalog.lifecycle import last_catalog_version
from ops.catalog.store import read_catalog, write_frame
from ops.index.documents import build_documents, item_moods, item_vectors, scene_segmentor
from ops.index.provenance import label_policy
from ops.index.schema import DOCUMENT_SCHEMA
from ops.index.vectors import IDS_FILE as VECTOR_IDS_FILE
from ops.index.vectors import INDEX_FILE as VECTORS_FILE
from ops.index.vectors import VectorIndex, quantiser
from ops.settings import Settings
from ops.versioned import Version, VersionedStore

log = logging.getLogger(__name__)

DOCUMENTS_FILE = "documents.parquet"
SQLITE_FILE = "search.sqlite"
TANTIVY_DIR = "search.tantivy"
TANTIVY_META = f"{TANTIVY_DIR}/meta.json"
EMBEDDED_FILES = {"tantivy": TANTIVY_META, "sqlite": SQLITE_FILE}
"""The file each embedded backend needs in a version folder before it can be sealed."""


POSTGRES_SCHEMA_PREFIX = "cinescope_index_"


def postgres_schema_name(version: Version) -> str:
    """The PostgreSQL schema that holds one version's documents."""
    return f"{POSTGRES_SCHEMA_PREFIX}{version.name}"


INDEX_REPAIR = "`cinescope index publish <version>` with one of the kept versions"


def index_store(settings: Settings) -> VersionedStore:
    return VersionedStore(settings.index_dir, repair=INDEX_REPAIR)


def build_index_version(settings: Settings, predictions_version: str | None = None) -> Version:
    """Build and seal (not publish) an index version over the ok catalog items and the
    given predictions-store version (default: the live one; none yet: metadata only)."""
    from ops.predictions.store import PredictionsStore
    from ops.recommend.build import SIMILAR_FILE, build_recommendations
    from ops.refresh.plan import catalog_digest

    catalog = read_catalog(settings.catalog_path)
    predictions_store = PredictionsStore(settings)
    source = predictions_store.version(predictions_version)
    source_name = source.name if source is not None else None
    tasks = predictions_store.tasks(source_name) if source_name else []
    predictions = {task: predictions_store.read_predictions(task, source_name) for task in tasks}
    policy = label_policy(predictions, settings)
    documents, vectors = build_documents(
        catalog,
        predictions,
        {task: predictions_store.read_embeddings(task, source_name) for task in tasks},
        scene_segmentor(settings),
        policy,
    )

    store = index_store(settings)
    version = store.create()
    schema: str | None = None
    try:
        write_frame(documents, version.path / DOCUMENTS_FILE, DOCUMENT_SCHEMA)
        if settings.search_backend == "postgres":
            schema = postgres_schema_name(version)
        _build_backend(settings, version, documents, schema)
        vector_index = VectorIndex.build(vectors, _vector_doc_ids(documents, len(vectors)))
        vector_index.save(version.path)
        recommendations = build_recommendations(
            catalog[catalog["status"] == "ok"],
            item_vectors(documents, vectors),
            version.path,
            interactions_path=settings.interactions_file,
            params=settings.recommend,
            moods=item_moods(documents),
        )
        manifest: dict[str, Any] = {
            "predictions_version": source_name,
            "catalog_digest": catalog_digest(catalog),
            "catalog_revision": getattr(last_catalog_version(settings), "revision", None),
            "backend": settings.search_backend,
            "postgres_schema": schema,
            "documents": len(documents),
            "segments": int((documents["level"] == "segment").sum()),
            "vectors": vector_index.size,
            "vector_index": "exact" if vector_index.exact else quantiser(vector_index.dim),
            "recommendations": {
                "items": recommendations.items,
                "rows": recommendations.rows,
                "collaborative": recommendations.collaborative,
                "recall": recommendations.recall,
            },
            "publish_standin_labels": settings.publish_standin_labels,
            "withheld_labels": list(policy.notes),
            "built_at": datetime.now(UTC).isoformat(),
        }
        required = [DOCUMENTS_FILE, VECTORS_FILE, VECTOR_IDS_FILE, SIMILAR_FILE]
        embedded = EMBEDDED_FILES.get(settings.search_backend)
        return store.seal(version, manifest, required + ([embedded] if embedded else []))
    except BaseException:
        if schema is not None:
            _drop_schema(settings, schema)
        store.discard(version.name)  # a failed build leaves no version behind
        raise


def publish_index(settings: Settings, name: str) -> Version:
    """Make a sealed index version live (readers opened earlier keep their own)."""
    return index_store(settings).publish(name)


def rollback_index(settings: Settings, to: str | None = None) -> Version:
    """Make ``to`` live, or else the version before the live one."""
    return index_store(settings).rollback(to)


def prune_indexes(settings: Settings) -> list[Version]:
    """Delete all but the newest ``index_keep_versions`` versions (never the live one),
    with their PostgreSQL schemas."""
    store = index_store(settings)
    schemas = {
        version.name: version.manifest().get("postgres_schema") for version in store.versions()
    }
    removed = store.prune(settings.index_keep_versions)
    for version in removed:
        schema = schemas.get(version.name)
        if schema:
            _drop_schema(settings, schema)
    if settings.search_postgres_dsn:
        _drop_orphan_schemas(settings, store)
    return removed


def _drop_orphan_schemas(settings: Settings, store: VersionedStore) -> None:
    """Schemas of builds killed outright: their version folder is gone (swept by the next
    build), so nothing can ever read them. A build makes its folder before its schema,
    so a build in progress is never taken for one."""
    from ops.index.postgres_backend import list_schemas

    assert settings.search_postgres_dsn is not None
    for schema in list_schemas(settings.search_postgres_dsn, POSTGRES_SCHEMA_PREFIX):
        if not (store.root / schema.removeprefix(POSTGRES_SCHEMA_PREFIX)).exists():
            log.warning("dropping PostgreSQL schema %s: its index version is gone", schema)
            _drop_schema(settings, schema)


def drop_index_version(settings: Settings, name: str) -> None:
    """Delete a built version that must never go live, with its PostgreSQL schema."""
    store = index_store(settings)
    schema = store.get(name).manifest().get("postgres_schema")
    store.discard(name)
    if schema:
        _drop_schema(settings, schema)


def index_versions(settings: Settings) -> list[Version]:
    """The kept (sealed) index versions, oldest first; their manifests hold the counts."""
    return index_store(settings).versions()


def _build_backend(
    settings: Settings, version: Version, documents: pd.DataFrame, schema: str | None
) -> None:
    if settings.search_backend == "tantivy":
        from ops.index.tantivy_backend import TantivySearchBackend

        TantivySearchBackend.build(version.path / TANTIVY_DIR, documents)
        return
    if schema is None:
        from ops.index.sqlite_backend import SqliteSearchBackend

        SqliteSearchBackend.build(version.path / SQLITE_FILE, documents)
        return
    from ops.index.postgres_backend import PostgresSearchBackend

    PostgresSearchBackend.build(_postgres_dsn(settings), schema, documents)


def _postgres_dsn(settings: Settings) -> str:
    if not settings.search_postgres_dsn:
        raise ValueError(
            "search_backend is 'postgres' but no DSN is set: set CINESCOPE_SEARCH_POSTGRES_DSN"
        )
    return settings.search_postgres_dsn


def _drop_schema(settings: Settings, schema: str) -> None:
    from ops.index.postgres_backend import drop

    if not settings.search_postgres_dsn:
        log.warning(
            "cannot drop PostgreSQL schema %s: CINESCOPE_SEARCH_POSTGRES_DSN is unset", schema
        )
        return
    drop(settings.search_postgres_dsn, schema)


def _vector_doc_ids(documents: pd.DataFrame, rows: int) -> list[str]:
    """The doc id of every vector row, in row order."""
    with_vector = documents[documents["vector_row"] >= 0].sort_values("vector_row")
    if not np.array_equal(with_vector["vector_row"].to_numpy(), np.arange(rows)):
        raise ValueError(f"documents' vector_row values do not cover the {rows} vectors once each")
    return [str(doc_id) for doc_id in with_vector["doc_id"]]
