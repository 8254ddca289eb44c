"""The parts of an index version: items newest first, folding, fingerprints, shared files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ops.index.layers import (
    LAYERS_DIR,
    Layers,
    fingerprints,
    layers_to_fold,
    link_files,
    write_items,
)


def test_layers_fold_as_a_binary_counter() -> None:
    assert layers_to_fold([], 2) == 0
    assert layers_to_fold([2], 2) == 1
    assert layers_to_fold([4], 2) == 0
    assert layers_to_fold([4, 2], 2) == 2  # 2 + 2, then 4 + 4
    assert layers_to_fold([8, 4, 2], 2) == 3
    assert layers_to_fold([8, 2], 5) == 1  # 8 is larger than the 7 gathered
    sizes: list[int] = []
    for _ in range(15):  # fifteen refreshes of one item each: 15 = 8 + 4 + 2 + 1
        folded = layers_to_fold(sizes, 1)
        sizes = [*sizes[: len(sizes) - folded], 1 + sum(sizes[len(sizes) - folded :])]
    assert sizes == [8, 4, 2, 1]


def test_the_newest_part_naming_an_item_says_what_it_is(tmp_path: Path) -> None:
    layers = Layers(tmp_path, ("v000002", "v000003"))
    base, second, third = layers.folders()
    assert second == tmp_path / LAYERS_DIR / "v000002"
    write_items(base, pd.DataFrame({"item_id": ["a", "b", "c"], "fingerprint": [1, 2, 3]}))
    second.mkdir(parents=True)
    write_items(second, pd.DataFrame({"item_id": ["b", "c"], "fingerprint": [20, None]}))
    third.mkdir(parents=True)
    big = np.uint64(2**64 - 1)  # fingerprints use all 64 bits
    write_items(third, pd.DataFrame({"item_id": ["b", "d"], "fingerprint": [big, 4]}))
    items = layers.items()
    assert items.index.tolist() == ["a", "b", "d"]  # c was removed by the second layer
    assert items["fingerprint"].tolist() == [1, big, 4]
    assert items["part"].tolist() == [0, 2, 2]


def test_fingerprints_follow_what_the_index_shows() -> None:
    row = {
        "item_id": "a",
        "sha256": "ff",
        "title": "Harbour",
        "description": None,
        "year": 1999,
        "tags": np.array(["sea", "drama"]),
        "people": None,
        "kind": "video",
        "duration_s": 6.0,
        "source": "site",
        "url": "https://example.org/a",
        "etag": "1",
    }
    first = fingerprints(pd.DataFrame([row]))
    assert fingerprints(pd.DataFrame([row | {"tags": ["sea", "drama"], "etag": "2"}])).equals(first)
    for change in ({"title": "Harbour Lights"}, {"tags": ["sea"]}, {"sha256": "00"}):
        assert fingerprints(pd.DataFrame([row | change])).iloc[0] != first.iloc[0], change


def test_linked_files_are_the_same_files_and_hidden_ones_stay(tmp_path: Path) -> None:
    source, target = tmp_path / "v1", tmp_path / "v2"
    (source / "search").mkdir(parents=True)
    for name in ("documents.parquet", "search/segment.idx", ".builder", "manifest.json"):
        (source / name).write_text(name)
    target.mkdir()
    link_files(source, target, skip={"manifest.json"})
    assert os.path.samefile(source / "search/segment.idx", target / "search/segment.idx")
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == [
        "documents.parquet",
        "search/segment.idx",
    ]
