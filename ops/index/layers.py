"""What an index version keeps so that the next one can be derived from it.

A full build writes a version's *base*: the files at the top of its folder. An
incremental build (ops.index.build) hard-links the live version's files into the new
folder (a sealed version never changes, so they are shared, not copied) and adds one
*layer*, ``layers/<version>/``, holding only what changed. The base and every layer hold:

- ``items.parquet``: the items they define, each with a fingerprint of its catalog
  metadata, its kind, mood, whether it has a content vector, its row in ``fused/``, and
  how many documents and vectors it has; a removed item is a row without fingerprint
  (a tombstone);
- ``documents.parquet``: those items' documents (``vector_row`` counts within the part);
- ``vectors.faiss`` and ``vectors.ids.parquet``: their content vectors;
- the recommendation side (ops.recommend.build): ``fused/`` (the item vectors the lists
  were chosen by) and ``similar.parquet``; a layer's ``similar.keys.parquet`` names the
  lists it replaces.

What an item is now is what the newest part naming it says; older parts' rows of it are
out of date and every reader skips them. Tantivy keeps its own parts (immutable segments
plus deletions), so the search index is derived beside the layers, not in them.

Layers merge as a binary counter: a new layer swallows the ones before it while each is
no larger than what it gathered so far, so a version has O(log n) layers and an item is
rewritten O(log n) times. Once the layers name more than FULL_BUILD_SHARE of the base's
items, the next build is a full one, which starts a new base.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ops.atomic import write_table
from ops.index.schema import DOCUMENT_SCHEMA
from ops.index.vectors import LayeredVectors, VectorIndex, VectorPart
from ops.versioned import Version

LAYERS_DIR = "layers"
ITEMS_FILE = "items.parquet"
DOCUMENTS_FILE = "documents.parquet"

FULL_BUILD_SHARE = 0.2
"""Layers may redefine up to this share of the base's items; beyond it a full build
starts a new base (the search backend then holds at most this share of deleted
documents, and searches skip at most this share of out-of-date vectors)."""

ITEMS_SCHEMA = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("fingerprint", pa.uint64()),  # null: the item was removed
        pa.field("kind", pa.string()),
        pa.field("mood", pa.string()),
        pa.field("has_content", pa.bool_()),
        pa.field("fused_row", pa.int64()),
        pa.field("documents", pa.int64()),
        pa.field("vectors", pa.int64()),
    ]
)


class FullBuildNeeded(RuntimeError):
    """Why a version cannot be derived from the live one (the build is a full one)."""


@dataclass(frozen=True)
class Layers:
    """The base (``root``) and the layers (``names``, oldest first) of one version."""

    root: Path
    names: tuple[str, ...] = ()

    @classmethod
    def of(cls, version: Version) -> Layers:
        """A version's parts (a version built before layers existed has its base only)."""
        layers = version.manifest().get("layers", [])
        return cls(version.path, tuple(layer["name"] for layer in layers))

    def folders(self) -> list[Path]:
        """The base's folder, then each layer's."""
        return [self.root, *(self.root / LAYERS_DIR / name for name in self.names)]

    def items(self) -> pd.DataFrame:
        """Every item there is now, by item_id: ITEMS_SCHEMA columns (tombstones dropped)
        and ``part``, the folder (of :meth:`folders`) that defines it."""
        frames = [
            read_items(folder).assign(part=number) for number, folder in enumerate(self.folders())
        ]
        newest = pd.concat(frames, ignore_index=True).drop_duplicates("item_id", keep="last")
        return newest[newest["fingerprint"].notna()].set_index("item_id")

    def documents(self) -> pd.DataFrame:
        """Every document there is now (DOCUMENT_SCHEMA columns)."""
        folders = self.folders()
        return pd.concat(list(_live_documents(folders, stale_items(folders))), ignore_index=True)

    def vectors(self, subfolder: str = "", rerank: int | None = None) -> LayeredVectors:
        """The content vectors (``subfolder`` "") or the recommendation's item vectors
        (ops.recommend.build.FUSED_DIR) of every part, searched as one."""
        folders = self.folders()
        return LayeredVectors(
            [
                VectorPart.load(folder / subfolder, stale, rerank)
                for folder, stale in zip(folders, stale_items(folders), strict=True)
            ]
        )

    def similar(self) -> pd.DataFrame:
        """Every recommendation list there is now (SIMILAR_SCHEMA columns; a version built
        before lists were scoped lacks ``scope``)."""
        return _live_lists(self.folders())


def stale_items(folders: Sequence[Path]) -> list[frozenset[str]]:
    """Per part (oldest first), the items a newer part defines again: its rows of them
    are out of date. (The oldest part's own items are never read.)"""
    later: set[str] = set()
    found = []
    for number in reversed(range(len(folders))):
        found.append(frozenset(later))
        if number:
            later.update(item_keys(folders[number]))
    return found[::-1]


def item_keys(folder: Path) -> list[str]:
    """The items a part defines (tombstones included)."""
    return pq.read_table(folder / ITEMS_FILE, columns=["item_id"]).column(0).to_pylist()


def read_items(folder: Path) -> pd.DataFrame:
    """A part's items.parquet (fingerprints as nullable 64-bit integers, never floats)."""
    return pq.read_table(folder / ITEMS_FILE).to_pandas(types_mapper=_NULLABLE.get)


_NULLABLE = {
    pa.uint64(): pd.UInt64Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


def write_items(folder: Path, items: pd.DataFrame) -> None:
    """A part's items.parquet (ITEMS_SCHEMA columns; absent ones are null)."""
    table = pa.Table.from_pandas(
        items.reindex(columns=ITEMS_SCHEMA.names), schema=ITEMS_SCHEMA, preserve_index=False
    )
    write_table(table, folder / ITEMS_FILE)


def fingerprints(catalog: pd.DataFrame) -> pd.Series:
    """item_id -> a 64-bit hash of what the index shows of the item (the columns of
    ops.refresh.plan.catalog_digest), hashed column by column: equal hashes, same
    metadata, so a metadata-only change is found without building documents."""
    from ops.refresh.plan import INDEXABLE_COLUMNS

    columns = {
        name: _joined(catalog[name]) if name in ("tags", "people") else catalog[name]
        for name in INDEXABLE_COLUMNS
    }
    hashes = pd.util.hash_pandas_object(pd.DataFrame(columns), index=False)
    return pd.Series(hashes.to_numpy(dtype=np.uint64), index=catalog["item_id"].astype(str))


def _joined(cells: pd.Series) -> np.ndarray:
    """A list column as one string per row (in Arrow: a Python loop cost most of a
    1M-item fingerprint)."""
    lists = pa.array(cells, type=pa.list_(pa.string()), from_pandas=True)
    return np.asarray(pc.binary_join(lists, "\x1f").to_numpy(zero_copy_only=False))


def link_files(source: Path, target: Path, skip: Collection[str] = ()) -> None:
    """Hard-link every file under ``source`` into ``target`` at the same place, except
    top-level entries named in ``skip`` and hidden files (a builder's marks, locks)."""
    for path in source.rglob("*"):
        relative = path.relative_to(source)
        if relative.parts[0] in skip or path.name.startswith(".") or not path.is_file():
            continue
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        os.link(path, target / relative)


def layers_to_fold(sizes: Sequence[int], new: int) -> int:
    """How many of the newest layers (their item counts ``sizes``, oldest first) a new
    layer of ``new`` items swallows: each while it is no larger than what is gathered
    (a binary counter: layers of k, 2k, 4k... items, each item rewritten once per level)."""
    gathered, folded = new, 0
    for size in reversed(sizes):
        if size > gathered:
            break
        gathered += size
        folded += 1
    return folded


def merge_parts(folders: Sequence[Path], target: Path) -> int:
    """Write into ``target`` one part holding what ``folders`` (oldest first) say
    together: for each item, the newest part's rows; tombstones are kept (they still
    hide the item in older parts). Returns how many items it defines."""
    from ops.recommend.build import FUSED_DIR, SIMILAR_FILE, SIMILAR_KEYS_FILE, SIMILAR_SCHEMA

    stale = stale_items(folders)
    fused_rows = _merge_vectors(folders, stale, FUSED_DIR, target)
    items = pd.concat([read_items(folder) for folder in folders])
    items = items.drop_duplicates("item_id", keep="last")
    write_items(target, items.assign(fused_row=items["item_id"].map(fused_rows)))
    vector_rows = _merge_vectors(folders, stale, "", target)
    documents = pd.concat(list(_live_documents(folders, stale)), ignore_index=True)
    documents["vector_row"] = documents["doc_id"].map(vector_rows).fillna(-1).astype(np.int64)
    write_table(
        pa.Table.from_pandas(documents, schema=DOCUMENT_SCHEMA, preserve_index=False),
        target / DOCUMENTS_FILE,
    )
    lists = pa.Table.from_pandas(_live_lists(folders), schema=SIMILAR_SCHEMA, preserve_index=False)
    write_table(lists, target / SIMILAR_FILE)
    keys = sorted({key for folder in folders for key in _list_keys(folder)})
    write_table(pa.table({"item_id": pa.array(keys, pa.string())}), target / SIMILAR_KEYS_FILE)
    return len(items)


def _live_documents(
    folders: Sequence[Path], stale: Sequence[Collection[str]]
) -> Iterator[pd.DataFrame]:
    """Each part's documents without those of items a newer part defines."""
    for folder, out_of_date in zip(folders, stale, strict=True):
        frame = pq.read_table(folder / DOCUMENTS_FILE, schema=DOCUMENT_SCHEMA).to_pandas()
        yield frame[~frame["item_id"].isin(list(out_of_date))]


def _list_keys(folder: Path) -> list[str]:
    """The lists a layer replaces (none for a base: it has every list)."""
    from ops.recommend.build import SIMILAR_KEYS_FILE

    keys = folder / SIMILAR_KEYS_FILE
    return pq.read_table(keys).column(0).to_pylist() if keys.is_file() else []


def _live_lists(folders: Sequence[Path]) -> pd.DataFrame:
    """Each part's recommendation rows without the lists a newer part replaces."""
    from ops.recommend.build import SIMILAR_FILE

    later: set[str] = set()
    frames = []
    for folder in reversed(folders):
        rows = pq.read_table(folder / SIMILAR_FILE).to_pandas()
        frames.append(rows[~rows["item_id"].isin(list(later))])
        later.update(_list_keys(folder))
    return pd.concat(frames[::-1], ignore_index=True)


def _merge_vectors(
    folders: Sequence[Path], stale: Sequence[Collection[str]], subfolder: str, target: Path
) -> dict[str, int]:
    """One index of the parts' live vectors (in part order) saved in ``target/subfolder``;
    returns each id's new row."""
    doc_ids: list[str] = []
    items: list[str] = []
    matrices = []
    for folder, out_of_date in zip(folders, stale, strict=True):
        part = VectorPart.load(folder / subfolder, out_of_date)
        live = np.asarray([part.live(row) for row in range(part.index.size)], dtype=bool)
        if live.any():
            matrices.append(part.index.matrix()[live])
        doc_ids += [doc for doc, keep in zip(part.index.doc_ids, live, strict=True) if keep]
        items += [item for item, keep in zip(part.item_ids, live, strict=True) if keep]
    matrix = np.vstack(matrices) if matrices else np.zeros((0, 0), dtype=np.float32)
    (target / subfolder).mkdir(parents=True, exist_ok=True)
    VectorIndex.build(matrix, doc_ids).save(target / subfolder, items)
    return {doc_id: row for row, doc_id in enumerate(doc_ids)}
