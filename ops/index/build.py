"""Building index versions, and choosing which one is live.

A build writes a new version folder and seals it; it never touches the live version, so
a failed or killed build leaves the previous index serving. Publishing, rolling back and
pruning are pointer switches and deletions over the sealed versions (ops.versioned).

A build is incremental whenever it can be: the new version is derived from the live one
(ops.index.layers), so a refresh that changed k of n items writes what those k items
touch. The changed items are those the refreshes since the live index planned (followed
from the predictions version back to the live index's through each run's plan), the
items whose catalog metadata changed (by fingerprint, looked for only when the catalog's
digest differs), and the new and removed ones. For them alone it reads their
predictions, builds their documents and vectors, and writes one layer; the Tantivy
index is derived (the live one's segments hard-linked, their documents deleted, theirs
added); the recommendation lists that may have changed are listed again
(ops.recommend.build.update_recommendations). What stays proportional to n, and cheap
next to building: reading the catalog and its digest (as the plan does), the items
table of every part (ids and fingerprints), and the ids of the vector parts searched.
The SQLite and PostgreSQL backends are one file or one schema per version, so they are
built whole from the documents (the derived documents save reading every prediction;
the text index itself is O(n)).

A full build reads the whole catalog and predictions and builds everything afresh: asked
for (``full=True``: a refresh with ``full_index_build``, as ``cinescope refresh
--full-index-build`` runs, which compacts a version of many layers), or whenever the live
version cannot be derived from, the reason logged and kept in the manifest (``build``):
none is live; it was built before layers existed, with another backend or other settings that shape
every document or list (stand-in labels, the scene segmentor, the recommendation
parameters); recommendations use an interactions file (the collaborative model is fitted
on all of them); its files fail their size check; the predictions cannot be traced back
to the live index's; the layers would redefine more than FULL_BUILD_SHARE of the base;
the new documents need more facet columns; or nothing changed at all (a build asked for
anyway is a repair, such as of a live index whose checksums failed).
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ops.catalog.lifecycle import last_catalog_version
from ops.catalog.store import read_catalog, write_frame
from ops.errors import BrokenStateError
from ops.index.documents import (
    SCENE_TASK,
    build_documents,
    item_moods,
    item_vectors,
    scene_segmentor,
)
from ops.index.layers import (
    DOCUMENTS_FILE,
    FULL_BUILD_SHARE,
    LAYERS_DIR,
    FullBuildNeeded,
    Layers,
    fingerprints,
    layers_to_fold,
    link_files,
    merge_parts,
    write_items,
)
from ops.index.provenance import LabelPolicy, label_policy
from ops.index.schema import DOCUMENT_SCHEMA
from ops.index.vectors import IDS_FILE as VECTOR_IDS_FILE
from ops.index.vectors import INDEX_FILE as VECTORS_FILE
from ops.index.vectors import LayeredVectors, VectorIndex, VectorPart, quantiser
from ops.settings import Settings
from ops.versioned import MANIFEST, PUBLISHED_MARK, Version, VersionedStore, VersionError

if TYPE_CHECKING:
    from ops.recommend.content import FusedVectors

log = logging.getLogger(__name__)

SQLITE_FILE = "search.sqlite"
TANTIVY_DIR = "search.tantivy"
TANTIVY_META = f"{TANTIVY_DIR}/meta.json"
EMBEDDED_FILES = {"tantivy": TANTIVY_META, "sqlite": SQLITE_FILE}
"""The file each embedded backend needs in a version folder before it can be sealed."""

SMALL_LAYERS = 1_000
"""Layers redefining up to this many items are kept whatever the base's size (the share
rule, FULL_BUILD_SHARE, would make every change to a small index a full build)."""

POSTGRES_SCHEMA_PREFIX = "cinescope_index_"


def postgres_schema_name(version: Version) -> str:
    """The PostgreSQL schema that holds one version's documents."""
    return f"{POSTGRES_SCHEMA_PREFIX}{version.name}"


INDEX_REPAIR = "`cinescope index publish <version>` with one of the kept versions"


def index_store(settings: Settings) -> VersionedStore:
    return VersionedStore(settings.index_dir, repair=INDEX_REPAIR)


def build_index_version(
    settings: Settings, predictions_version: str | None = None, *, full: bool = False
) -> Version:
    """Build and seal (not publish) an index version over the ok catalog items and the
    given predictions-store version (default: the live one; none yet: metadata only):
    derived from the live index when it can be, afresh when ``full`` or it cannot."""
    from ops.predictions.store import PredictionsStore
    from ops.refresh.plan import catalog_digest

    catalog = read_catalog(settings.catalog_path)
    source = PredictionsStore(settings).version(predictions_version)
    build = _Build(settings, catalog, catalog_digest(catalog), source)
    if full:
        return build.full("a full build was asked for")
    try:
        change = build.change()
        return build.derived(change)
    except FullBuildNeeded as why:
        log.info("index build: a full one, since %s", why)
        return build.full(str(why))


@dataclass(frozen=True)
class _Change:
    """How the new version differs from the live one it is derived from."""

    base: Version
    layers: Layers
    state: pd.DataFrame  # ops.index.layers.Layers.items() of the base
    changed: list[str]  # ok items whose documents are built again (new ones included)
    removed: list[str]  # items indexed that are no longer ok


@dataclass(frozen=True)
class _Build:
    """One build's inputs, read once."""

    settings: Settings
    catalog: pd.DataFrame
    digest: str
    source: Version | None  # the predictions version

    @property
    def source_name(self) -> str | None:
        return self.source.name if self.source is not None else None

    def full(self, reason: str) -> Version:
        """Everything afresh from the whole catalog and every prediction."""
        from ops.recommend.build import FUSED_DIR, build_recommendations

        settings = self.settings
        documents, vectors, policy = self._documents(None)
        store = index_store(settings)
        version = store.create()
        schema: str | None = None
        try:
            write_frame(documents, version.path / DOCUMENTS_FILE, DOCUMENT_SCHEMA)
            if settings.search_backend == "postgres":
                schema = postgres_schema_name(version)
            _build_backend(settings, version, documents, schema)
            vector_index = VectorIndex.build(vectors, _vector_doc_ids(documents, len(vectors)))
            vector_index.save(version.path, _items_of(documents, vector_index.doc_ids))
            ok = self.catalog[self.catalog["status"] == "ok"]
            content = item_vectors(documents, vectors)
            recommendations = build_recommendations(
                ok,
                content,
                version.path,
                interactions_path=settings.interactions_file,
                params=settings.recommend,
                moods=item_moods(documents),
                keep_state=True,
            )
            fused_ids = pq.read_table(version.path / FUSED_DIR / VECTOR_IDS_FILE).column(0)
            items = _item_rows(ok, documents, content, fused_ids.to_pylist())
            write_items(version.path, items)
            manifest = self._manifest(
                schema,
                documents=len(documents),
                segments=int((documents["level"] == "segment").sum()),
                vectors=vector_index.size,
                vector_index="exact" if vector_index.exact else quantiser(vector_index.dim),
                recommendations={
                    "items": recommendations.items,
                    "rows": recommendations.rows,
                    "collaborative": recommendations.collaborative,
                    "recall": recommendations.recall,
                },
                withheld_labels=list(policy.notes),
                build={"kind": "full", "reason": reason},
                layers=[],
                base_items=len(items),
            )
            return store.seal(version, manifest, self._required())
        except BaseException:
            if schema is not None:
                _drop_schema(settings, schema)
            store.discard(version.name)  # a failed build leaves no version behind
            raise

    def change(self) -> _Change:
        """What changed since the live index; :class:`FullBuildNeeded` when the new
        version cannot be derived from it."""
        settings = self.settings
        try:
            base = index_store(settings).current()
        except BrokenStateError as error:
            raise FullBuildNeeded(f"the live index cannot be found ({error})") from error
        if base is None:
            raise FullBuildNeeded("no index is live yet")
        manifest = base.manifest()
        why = _underivable(settings, base, manifest) or (
            f"the live index {base.name} is empty" if not manifest.get("base_items") else None
        )
        if why:
            raise FullBuildNeeded(why)
        planned = _planned_since(settings, self.source_name, manifest["predictions_version"])
        layers = Layers.of(base)
        state = layers.items()
        ok = self.catalog[self.catalog["status"] == "ok"]
        ok_ids = set(ok["item_id"])
        changed = planned & ok_ids
        if manifest["catalog_digest"] != self.digest:
            prints = fingerprints(ok)
            known = state["fingerprint"].reindex(prints.index)
            differs = known.fillna(0).to_numpy(np.uint64) != prints.to_numpy()
            changed |= set(prints.index[known.isna().to_numpy() | differs])
        removed = sorted(set(state.index) - ok_ids)
        if not changed and not removed:
            raise FullBuildNeeded(
                f"nothing changed since the live index {base.name}, so this build is a "
                "repair: rebuilt in full"
            )
        redefined = sum(layer["items"] for layer in manifest["layers"]) + len(changed)
        redefined += len(removed)
        allowed = max(FULL_BUILD_SHARE * manifest["base_items"], SMALL_LAYERS)
        if redefined > allowed:
            raise FullBuildNeeded(
                f"its layers would redefine {redefined} items, over {allowed:.0f} (the "
                f"larger of {FULL_BUILD_SHARE:.0%} of the base's {manifest['base_items']} "
                f"items and {SMALL_LAYERS}): a full build starts a new base"
            )
        return _Change(base, layers, state, sorted(changed), removed)

    def derived(self, change: _Change) -> Version:
        """The live version plus one layer holding what changed (see the module docstring)."""
        from ops.index.tantivy_backend import TantivySearchBackend
        from ops.recommend.build import FUSED_DIR, save_fused, update_recommendations

        settings, base = self.settings, change.base
        ok = self.catalog[self.catalog["status"] == "ok"]
        rows = ok[ok["item_id"].isin(change.changed)]
        documents, vectors, policy = self._documents(change.changed)
        if settings.search_backend == "tantivy":
            TantivySearchBackend.check_columns(base.path / TANTIVY_DIR, documents)
        content = item_vectors(documents, vectors)
        old_fused = change.layers.vectors(FUSED_DIR)
        fused = _fused(settings, base, rows, content, old_fused)
        moved = [
            (old_fused.vector_at(int(row.part), int(row.fused_row)), str(row.kind))
            for row in change.state.reindex([*change.changed, *change.removed])
            .dropna(subset=["kind"])
            .itertuples()
        ]
        manifest = base.manifest()
        store = index_store(settings)
        version = store.create()
        schema: str | None = None
        try:
            layer = _carry(base, version)
            write_frame(documents, layer / DOCUMENTS_FILE, DOCUMENT_SCHEMA)
            vector_index = VectorIndex.build(vectors, _vector_doc_ids(documents, len(vectors)))
            vector_index.save(layer, _items_of(documents, vector_index.doc_ids))
            save_fused(fused, layer / FUSED_DIR)
            items = _item_rows(rows, documents, content, list(fused.item_ids))
            tombstones = pd.DataFrame({"item_id": change.removed})
            write_items(layer, pd.concat([items, tombstones], ignore_index=True))
            state = _state_after(change, items)
            redefined = [*change.changed, *change.removed]
            touched = {*change.state["kind"].reindex(redefined), *rows["kind"]}
            audio = state[(state["kind"] == "audio") & state["mood"].notna()]
            lists = update_recommendations(
                ok.set_index("item_id"),
                state["has_content"].astype(bool),
                old_fused.with_part(VectorPart.load(layer / FUSED_DIR), redefined),
                fused,
                moved,
                change.removed,
                layer,
                params=settings.recommend,
                moods=dict(zip(audio.index, audio["mood"], strict=True))
                if "audio" in touched
                else None,
            )
            layers = _fold(version, manifest["layers"], len(redefined))
            if settings.search_backend == "tantivy":
                TantivySearchBackend.update(
                    base.path / TANTIVY_DIR, version.path / TANTIVY_DIR, redefined, documents
                )
            else:
                if settings.search_backend == "postgres":
                    schema = postgres_schema_name(version)
                everything = Layers(version.path, tuple(layer["name"] for layer in layers))
                _build_backend(settings, version, everything.documents(), schema)
            document_count = int(state["documents"].sum())
            built = self._manifest(
                schema,
                documents=document_count,
                segments=document_count - len(state),
                vectors=int(state["vectors"].sum()),
                vector_index=manifest["vector_index"],
                recommendations={
                    "items": len(state),
                    "lists_updated": lists.items,
                    "rows_written": lists.rows,
                    "music_lists_updated": lists.music,
                    "collaborative": False,
                    "recall": None,
                },
                withheld_labels=sorted(set(manifest["withheld_labels"]) | set(policy.notes)),
                build={
                    "kind": "incremental",
                    "from": base.name,
                    "changed_items": len(change.changed),
                    "removed_items": len(change.removed),
                },
                layers=layers,
                base_items=manifest["base_items"],
            )
            return store.seal(version, built, self._required(), derived_from=base)
        except BaseException:
            if schema is not None:
                _drop_schema(settings, schema)
            store.discard(version.name)
            raise

    def _documents(
        self, items: Collection[str] | None
    ) -> tuple[pd.DataFrame, np.ndarray, LabelPolicy]:
        """Documents, vectors and the label policy of ``items`` (None: every ok item),
        reading only their predictions."""
        from ops.predictions.schema import EMBEDDING_SCHEMA
        from ops.predictions.store import PredictionsStore, embeddings_file, read_arrow

        catalog = self.catalog
        if items is not None:
            catalog = catalog[catalog["item_id"].isin(items)]
        store = PredictionsStore(self.settings)
        predictions: dict[str, pd.DataFrame] = {}
        embeddings: dict[str, pd.DataFrame] = {}
        if self.source is not None and (items is None or len(items)):
            for task in store.tasks(self.source.name):
                predictions[task] = store.read_predictions(task, self.source.name, items)
            path = embeddings_file(self.source.path, SCENE_TASK)
            embeddings[SCENE_TASK] = read_arrow(path, EMBEDDING_SCHEMA, items).to_pandas()
        policy = label_policy(predictions, self.settings)
        documents, vectors = build_documents(
            catalog, predictions, embeddings, scene_segmentor(self.settings), policy
        )
        return documents, vectors, policy

    def _manifest(self, schema: str | None, **built: Any) -> dict[str, Any]:
        settings = self.settings
        return {
            "predictions_version": self.source_name,
            "catalog_digest": self.digest,
            "catalog_revision": getattr(last_catalog_version(settings), "revision", None),
            "backend": settings.search_backend,
            "postgres_schema": schema,
            "publish_standin_labels": settings.publish_standin_labels,
            "shaped_by": _shaping_settings(settings),
            "built_at": datetime.now(UTC).isoformat(),
            **built,
        }

    def _required(self) -> list[str]:
        """The files a version must hold to be sealed (its base's, and its backend's)."""
        from ops.recommend.build import SIMILAR_FILE

        embedded = EMBEDDED_FILES.get(self.settings.search_backend)
        base = [DOCUMENTS_FILE, VECTORS_FILE, VECTOR_IDS_FILE, SIMILAR_FILE]
        return base + ([embedded] if embedded else [])


def _underivable(settings: Settings, base: Version, manifest: dict[str, Any]) -> str | None:
    """Why ``base`` cannot be derived from, or None."""
    if "layers" not in manifest:
        return f"the live index {base.name} was built before indexes kept layers"
    if manifest["backend"] != settings.search_backend:
        return f"the live index {base.name} uses the {manifest['backend']} backend"
    if manifest.get("publish_standin_labels", False) != settings.publish_standin_labels:
        return f"publish_standin_labels changed since the live index {base.name}"
    if manifest.get("shaped_by") != _shaping_settings(settings):
        return (
            f"the scene segmentor or the recommendation parameters changed since the live "
            f"index {base.name}"
        )
    if settings.interactions_file is not None:
        return "recommendations use an interactions file, whose model is fitted on them all"
    damage = base.problems(checksums=False)
    if damage:
        return f"the live index {base.name} is damaged ({'; '.join(damage)})"
    return None


def _shaping_settings(settings: Settings) -> dict[str, Any]:
    """The settings that shape every document or recommendation list (as JSON)."""
    segmentor = scene_segmentor(settings)
    shaping = {
        "segmentor": [segmentor.threshold, segmentor.min_length_s, segmentor.max_gap_s],
        "recommend": settings.recommend.model_dump(mode="json"),
    }
    return dict(json.loads(json.dumps(shaping)))


def _planned_since(settings: Settings, source: str | None, indexed: str | None) -> set[str]:
    """The items whose predictions may differ between predictions version ``indexed``
    (the live index's) and ``source``: those the refreshes in between planned or removed,
    followed back through each version's manifest (its run and base) to its run's plan.
    :class:`FullBuildNeeded` when the trail breaks (a version made otherwise, a plan gone
    or made again since)."""
    from ops.predictions.store import PredictionsStore
    from ops.refresh.plan import load_plan

    store = PredictionsStore(settings).store
    items: set[str] = set()
    name, seen = source, set()
    while name != indexed:
        if name is None or name in seen:
            raise FullBuildNeeded(
                f"predictions {source} do not descend from {indexed}, the live index's"
            )
        seen.add(name)
        try:
            manifest = store.get(name).manifest()
            plan = load_plan(settings, manifest["run_id"])
        except (VersionError, FileNotFoundError, KeyError) as error:
            raise FullBuildNeeded(
                f"what predictions version {name} changed cannot be told ({error})"
            ) from error
        processed = {
            task: entry.get("items_processed") for task, entry in manifest["tasks"].items()
        }
        planned = {
            task: sum(len(shard["items"]) for shard in plan.shards if shard["task"] == task)
            for task in processed
        }
        if (
            processed != planned
            or manifest.get("catalog_digest") != plan.catalog_digest
            or manifest.get("base_version") != plan.base_version
        ):
            raise FullBuildNeeded(
                f"predictions version {name} does not match the plan of run {plan.run_id} "
                "(planned again since)"
            )
        items |= {item for shard in plan.shards for item in shard["items"]} | set(plan.removed)
        name = manifest.get("base_version")
    return items


def _fused(
    settings: Settings,
    base: Version,
    rows: pd.DataFrame,
    content: dict[str, np.ndarray],
    old: LayeredVectors,
) -> FusedVectors:
    """The recommendation vectors of the changed items, placed by the base's metadata
    model beside the vectors fused before (:class:`FullBuildNeeded` when the content
    vectors changed size: a new embedding model)."""
    from ops.recommend.build import MODEL_FILE, MetadataModel, fuse

    metadata = MetadataModel.load(base.path / MODEL_FILE).transform(rows)
    content_dim = old.parts[0].index.dim - metadata.shape[1]
    try:
        return fuse(rows, content, metadata, settings.recommend.fusion, content_dim)
    except ValueError as error:
        raise FullBuildNeeded(str(error)) from error


def _carry(base: Version, version: Version) -> Path:
    """Hard-link the base's files (its search backend aside) and its layers into the new
    version; the new layer's folder (empty)."""
    link_files(base.path, version.path, {MANIFEST, PUBLISHED_MARK, TANTIVY_DIR, SQLITE_FILE})
    layer = version.path / LAYERS_DIR / version.name
    layer.mkdir(parents=True)
    return layer


def _item_rows(
    items: pd.DataFrame,
    documents: pd.DataFrame,
    content: dict[str, np.ndarray],
    fused_ids: list[str],
) -> pd.DataFrame:
    """The items table (ops.index.layers.ITEMS_SCHEMA) of ``items`` and their documents."""
    moods = item_moods(documents)
    per_item = documents.groupby("item_id")
    fused_rows = {item: row for row, item in enumerate(fused_ids)}
    ids = items["item_id"].astype(str)
    return pd.DataFrame(
        {
            "item_id": ids.to_numpy(),
            "fingerprint": pd.array(fingerprints(items).to_numpy(), dtype="UInt64"),
            "kind": items["kind"].to_numpy(),
            "mood": ids.map(moods).to_numpy(),
            "has_content": ids.map(lambda item: item in content).to_numpy(),
            "fused_row": ids.map(fused_rows).to_numpy(),
            "documents": ids.map(per_item.size()).fillna(0).to_numpy(),
            "vectors": ids.map(per_item["vector_row"].agg(lambda rows: int((rows >= 0).sum())))
            .fillna(0)
            .to_numpy(),
        }
    )


def _state_after(change: _Change, items: pd.DataFrame) -> pd.DataFrame:
    """Every item there will be: the base's, less the removed, with the changed ones'
    new rows."""
    kept = change.state.drop(index=[*change.changed, *change.removed], errors="ignore")
    return pd.concat([kept, items.set_index("item_id")])


def _fold(version: Version, carried: list[dict[str, Any]], new: int) -> list[dict[str, Any]]:
    """Merge into the new layer the carried layers it swallows (ops.index.layers); the
    version's layers then, oldest first, with their item counts."""
    folded = layers_to_fold([layer["items"] for layer in carried], new)
    kept = carried[: len(carried) - folded]
    if not folded:
        return [*kept, {"name": version.name, "items": new}]
    root = version.path / LAYERS_DIR
    swallowed = [root / layer["name"] for layer in carried[len(kept) :]]
    merging = root / f"{version.name}-merging"
    items = merge_parts([*swallowed, root / version.name], merging)
    for folder in [*swallowed, root / version.name]:
        shutil.rmtree(folder)
    merging.rename(root / version.name)
    return [*kept, {"name": version.name, "items": items}]


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


def _items_of(documents: pd.DataFrame, doc_ids: list[str]) -> list[str]:
    """The item of each of ``doc_ids``."""
    items = dict(zip(documents["doc_id"], documents["item_id"], strict=True))
    return [str(items[doc_id]) for doc_id in doc_ids]
