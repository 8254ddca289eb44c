"""Reading a published index: text and vector search, items, similar items."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ops.catalog.store import write_catalog, write_frame
from ops.index.build import build_index_version, publish_index
from ops.index.query import SearchQuery
from ops.index.reader import (
    DamagedIndex,
    NoPublishedIndex,
    NoVector,
    PublishedIndex,
    UnknownDocument,
    UnknownFilterValue,
)
from ops.index.vectors import VectorIndex
from ops.predictions.schema import EMBEDDING_SCHEMA, PREDICTION_SCHEMA
from ops.predictions.store import embeddings_file, predictions_file
from ops.settings import Settings
from ops.versioned import VersionedStore, VersionError
from tests.support.index_files import largest_search_file

NOW = datetime(2025, 1, 1, tzinfo=UTC)
LINEAGE = {"model_name": "scene", "model_version": "4", "dataset_rev": "labels/scene/v3"}
# item -> (title, kind, item vector); the audio item has no predictions and no vector.
ITEMS = {
    "harbour": ("Harbour lights", "video", [1.0, 0.0, 0.0]),
    "harbour-2": ("Harbour at night", "video", [0.9, 0.1, 0.0]),
    "desert": ("Desert road", "video", [0.0, 1.0, 0.0]),
    "radio": ("Radio play", "audio", None),
}
KISS = [0.1, 0.9, 0.9, 0.9, 0.1]  # one kiss scene, 1-4 s
SHOTS = {"model_name": "shot-detector", "model_version": "abc", "dataset_rev": "n/a"}
# desert's shots: (start, end, keyframe), as the shots task writes them
DESERT_SHOTS = [(0.0, 2.0, 1.0), (2.0, 5.0, 3.5)]


def write_world(settings: Settings) -> None:
    catalog = pd.DataFrame(
        [
            {
                "item_id": item_id,
                "source": "site",
                "url": f"https://example.org/{item_id}",
                "kind": kind,
                "sha256": item_id,
                "title": title,
                "description": f"{title}, a short {kind}",
                "year": 2000 + index,
                "duration_s": 5.0,
                "tags": [],
                "people": ["Ann Lee"] if kind == "video" else [],
                "status": "ok",
            }
            for index, (item_id, (title, kind, _)) in enumerate(ITEMS.items())
        ]
    )
    write_catalog(catalog, settings.catalog_path)
    rows, vectors = [], []
    for item_id, (_, _, vector) in ITEMS.items():
        if vector is None:
            continue
        common = {"item_id": item_id, "task": "scene", **LINEAGE}
        for second, score in enumerate(KISS):
            span = {"start_s": float(second), "end_s": float(second + 1)}
            rows.append({**common, **span, "label": "kiss", "score": score, "created_at": NOW})
            vectors.append({**common, **span, "vector": vector})
        rows.append({**common, "label": "kiss", "score": 0.9, "created_at": NOW})
        vectors.append({**common, "vector": vector})
    store = VersionedStore(settings.predictions_dir)
    version = store.create()
    embedding_rows = [
        {key: value for key, value in row.items() if key != "dataset_rev"} for row in vectors
    ]
    write_frame(pd.DataFrame(rows), predictions_file(version.path, "scene"), PREDICTION_SCHEMA)
    write_frame(
        pd.DataFrame(embedding_rows), embeddings_file(version.path, "scene"), EMBEDDING_SCHEMA
    )
    shots = [
        {"item_id": "desert", "task": "shots", **SHOTS, "score": 1.0, "created_at": NOW, **row}
        for start, end, keyframe in DESERT_SHOTS
        for row in (
            {"label": "shot", "start_s": start, "end_s": end},
            {"label": "keyframe", "start_s": keyframe, "end_s": keyframe},
        )
    ]
    write_frame(pd.DataFrame(shots), predictions_file(version.path, "shots"), PREDICTION_SCHEMA)
    write_frame(
        EMBEDDING_SCHEMA.empty_table().to_pandas(),
        embeddings_file(version.path, "shots"),
        EMBEDDING_SCHEMA,
    )
    store.seal(version, {"tasks": {"scene": LINEAGE, "shots": SHOTS}})
    store.publish(version.name)


@pytest.fixture
def reader(home: Settings) -> Iterator[PublishedIndex]:
    # No registry knows this made-up scene model: publish its labels all the same.
    settings = home.model_copy(update={"publish_standin_labels": True})
    write_world(settings)
    publish_index(settings, build_index_version(settings).name)
    opened = PublishedIndex.open(settings)
    yield opened
    opened.close()


def test_text_search_answers_from_the_published_version(reader: PublishedIndex) -> None:
    page = reader.search(SearchQuery(q="harbour", level="item"))
    assert page.index_version == reader.version == "v000001"
    assert sorted(hit.doc_id for hit in page.hits) == ["harbour", "harbour-2"]


def test_filters_reach_segment_documents(reader: PublishedIndex) -> None:
    page = reader.search(SearchQuery(level="segment", label=["kiss"], page_size=50))
    assert sorted(hit.doc_id for hit in page.hits) == [
        "desert/scene/kiss/1-4",
        "harbour-2/scene/kiss/1-4",
        "harbour/scene/kiss/1-4",
    ]


def test_like_finds_the_nearest_documents_but_not_itself(reader: PublishedIndex) -> None:
    page = reader.search(SearchQuery(like="harbour", level="item"))
    assert [hit.doc_id for hit in page.hits] == ["harbour-2", "desert"]
    segments = reader.search(SearchQuery(like="harbour", level="segment"))
    assert segments.hits[0].doc_id == "harbour/scene/kiss/1-4"  # same content vector


def test_like_with_an_unknown_document_is_a_lookup_error(reader: PublishedIndex) -> None:
    with pytest.raises(UnknownDocument, match="no such document") as raised:
        reader.search(SearchQuery(like="nowhere"))
    assert isinstance(raised.value, LookupError) and isinstance(raised.value, ValueError)


def test_like_with_a_document_without_vector_says_why(reader: PublishedIndex) -> None:
    with pytest.raises(NoVector, match="no content vector"):
        reader.search(SearchQuery(like="radio"))


def test_item_gives_its_scenes_and_lineage(reader: PublishedIndex) -> None:
    found = reader.item("harbour")
    assert found is not None
    assert found["item"]["title"] == "Harbour lights"
    assert [(s["start_s"], s["end_s"]) for s in found["segments"]] == [(1.0, 4.0)]
    assert found["lineage"] == [
        {"task": "scene", **LINEAGE, "training_data": "unrecorded", "labels": "published"}
    ]
    assert reader.item("nowhere") is None


def test_item_gives_its_shots_with_their_keyframes(reader: PublishedIndex) -> None:
    found = reader.item("desert")
    assert found is not None
    shots = [(s["start_s"], s["end_s"], s["keyframe_s"]) for s in found["shots"]]
    assert shots == DESERT_SHOTS
    assert all(segment["labels"] != ["shot"] for segment in found["segments"])  # scenes only
    assert {entry["task"] for entry in found["lineage"]} == {"scene", "shots"}


def test_similar_items_never_include_the_item(reader: PublishedIndex) -> None:
    similar = reader.similar("harbour", 2)
    assert 1 <= len(similar) <= 2
    assert "harbour" not in {entry.item_id for entry in similar}
    assert [entry.rank for entry in similar] == sorted(entry.rank for entry in similar)
    assert all(entry.title and entry.kind and entry.reason for entry in similar)
    assert reader.similar("nowhere") == []
    with pytest.raises(ValueError, match="k must be"):
        reader.similar("harbour", 0)


def test_nothing_published_says_to_run_a_refresh(home: Settings) -> None:
    with pytest.raises(NoPublishedIndex, match="refresh"):
        PublishedIndex.open(home)


def test_a_named_version_opens_and_a_missing_one_is_refused(
    home: Settings, reader: PublishedIndex
) -> None:
    older = PublishedIndex.open(home, "v000001")
    assert older.version == "v000001"
    older.close()
    with pytest.raises(VersionError, match="v000009"):
        PublishedIndex.open(home, "v000009")


def test_the_vector_rerank_setting_reaches_the_vector_index(
    home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_world(home)
    publish_index(home, build_index_version(home).name)
    asked: list[int | None] = []
    real_load = VectorIndex.load

    def load(folder: Path, rerank: int | None = None) -> VectorIndex:
        asked.append(rerank)
        return real_load(folder, rerank)

    monkeypatch.setattr(VectorIndex, "load", staticmethod(load))
    monkeypatch.setenv("CINESCOPE_VECTOR_RERANK", "7")
    PublishedIndex.open(Settings()).close()
    assert asked == [7]


def test_like_scores_are_cosine_similarities_best_first(reader: PublishedIndex) -> None:
    page = reader.search(SearchQuery(like="harbour", level="item"))
    scores = {hit.doc_id: hit.score for hit in page.hits}
    assert scores["harbour-2"] == pytest.approx(0.9 / np.hypot(0.9, 0.1), abs=1e-5)
    assert scores["desert"] == pytest.approx(0.0, abs=1e-6)
    assert [hit.score for hit in page.hits] == sorted(scores.values(), reverse=True)


def test_similar_keeps_to_the_item_s_kind_unless_asked(reader: PublishedIndex) -> None:
    assert {entry.kind for entry in reader.similar("harbour", 10)} == {"video"}
    assert reader.similar("radio", 10) == []  # the only audio item
    across = reader.similar("radio", 10, any_kind=True)
    assert all(entry.kind == "video" for entry in across)
    scores = [entry.score for entry in reader.similar("harbour", 10, any_kind=True)]
    assert scores == sorted(scores, reverse=True) and all(score > 0 for score in scores)


def test_a_truncated_search_file_is_a_clear_error_naming_it_and_the_repair(
    home: Settings,
) -> None:
    write_world(home)
    version = build_index_version(home)
    publish_index(home, version.name)
    search_file = largest_search_file(version.path)
    whole = search_file.stat().st_size
    search_file.write_bytes(search_file.read_bytes()[:4096])
    with pytest.raises(DamagedIndex) as raised, closing(PublishedIndex.open(home)) as index:
        index.search(SearchQuery(q="harbour"))
    assert str(raised.value) == (
        f"index v000001 is damaged: {search_file} is 4096 bytes, its manifest says {whole} "
        "(truncated or changed since it was sealed). Repair: `cinescope index rollback` to "
        "the version before it, or `cinescope refresh` to build a new one"
    )


def test_a_version_built_before_scoped_lists_serves_its_one_list_for_both() -> None:
    from ops.index.reader import _Similar

    legacy = pd.DataFrame(
        {
            "item_id": ["a", "a", "b"],
            "rank": [2, 1, 1],
            "similar_item_id": ["c", "b", "a"],
            "score": [0.2, 0.5, 0.5],
            "reason": ["similar metadata"] * 3,
        }
    )
    similar = _Similar(legacy)
    for scope in ("kind", "any"):
        assert [row["similar_item_id"] for row in similar.of("a", scope)] == ["b", "c"]


def test_an_unknown_label_or_genre_is_refused_naming_what_the_index_holds(
    reader: PublishedIndex,
) -> None:
    with pytest.raises(UnknownFilterValue, match=r"unknown label 'kis': index v\d+ holds kiss"):
        reader.search(SearchQuery(label=["kis"]))
    with pytest.raises(UnknownFilterValue, match=r"unknown genre 'jazz'.* holds no genre values"):
        reader.search(SearchQuery(genre=["jazz"]))
    assert reader.search(SearchQuery(label=["KISS"], level="segment")).total > 0  # any case
