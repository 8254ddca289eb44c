"""Item and segment documents from the catalog and the predictions store's frames."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from ops.index.documents import build_documents, item_vectors, scene_segmentor
from ops.index.schema import DOCUMENT_COLUMNS, DOCUMENT_SCHEMA
from ops.predictions.schema import EMBEDDING_SCHEMA, PREDICTION_SCHEMA
from ops.scene.segmentor import Segmentor
from ops.settings import Settings

SEGMENTOR = Segmentor(threshold=0.5, min_length_s=2.0, max_gap_s=1.0)
LINEAGE = {"model_name": "scene", "model_version": "3", "dataset_rev": "labels/scene/v2"}
# Two kiss runs, 2-5 s and 7-10 s (the 2 s dip between them is longer than max_gap_s).
KISS_SCORES = [0.1, 0.2, 0.9, 0.8, 0.9, 0.1, 0.1, 0.7, 0.8, 0.9]


def catalog(*rows: dict[str, object]) -> pd.DataFrame:
    defaults = {
        "source": "site",
        "url": "https://example.org/x",
        "kind": "video",
        "title": "A title",
        "description": "words",
        "year": 2001,
        "duration_s": 10.0,
        "tags": ["drama"],
        "people": ["Ann Lee"],
        "status": "ok",
    }
    return pd.DataFrame([{**defaults, **row} for row in rows])


def scene_rows(item_id: str, label: str, scores: list[float]) -> list[dict[str, object]]:
    """1-s rows plus the whole-item row (score = max), as the scene task writes them."""
    now = datetime(2025, 1, 1, tzinfo=UTC)
    common = {"item_id": item_id, "task": "scene", "label": label, "created_at": now, **LINEAGE}
    rows: list[dict[str, object]] = [
        {**common, "start_s": float(i), "end_s": float(i + 1), "score": score}
        for i, score in enumerate(scores)
    ]
    rows.append({**common, "start_s": None, "end_s": None, "score": max(scores)})
    return rows


def predictions(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pa.Table.from_pylist(rows, schema=PREDICTION_SCHEMA).to_pandas()


def embeddings(item_id: str, segment_vectors: np.ndarray, item_vector: np.ndarray) -> pd.DataFrame:
    common = {"item_id": item_id, "task": "scene", "model_name": "scene", "model_version": "3"}
    rows = [
        {**common, "start_s": float(i), "end_s": float(i + 1), "vector": vector.tolist()}
        for i, vector in enumerate(segment_vectors)
    ]
    rows.append({**common, "start_s": None, "end_s": None, "vector": item_vector.tolist()})
    return pa.Table.from_pylist(rows, schema=EMBEDDING_SCHEMA).to_pandas()


@pytest.fixture
def built() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    segment_vectors = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    frames = catalog(
        {"item_id": "b", "title": "Quiet"},
        {"item_id": "a", "title": "Harbour"},
        {"item_id": "c", "kind": "audio", "tags": None},
        {"item_id": "q", "status": "quarantined"},
    )
    scene = predictions(scene_rows("a", "kiss", KISS_SCORES) + scene_rows("b", "kiss", [0.2] * 4))
    vectors = embeddings("a", segment_vectors, np.array([3.0, 0.0, 4.0, 0.0], np.float32))
    documents, matrix = build_documents(frames, {"scene": scene}, {"scene": vectors}, SEGMENTOR)
    return documents, matrix, segment_vectors


def test_documents_follow_the_schema_in_item_then_scene_order(built) -> None:
    documents, _, _ = built
    pa.Table.from_pandas(documents, schema=DOCUMENT_SCHEMA, preserve_index=False)
    assert list(documents.columns) == list(DOCUMENT_COLUMNS)
    assert documents["doc_id"].tolist() == [
        "a",
        "a/scene/kiss/2-5",
        "a/scene/kiss/7-10",
        "b",
        "c",
    ]
    assert documents["level"].tolist() == ["item", "segment", "segment", "item", "item"]


def test_item_documents_carry_metadata_labels_and_lineage(built) -> None:
    documents, _, _ = built
    by_id = documents.set_index("doc_id")
    assert by_id.loc["a", "title"] == "Harbour"
    assert by_id.loc["a", "labels"] == ["kiss"]
    assert by_id.loc["b", "labels"] == []  # whole-item score 0.2 is under the threshold
    assert by_id.loc["c", "tags"] == []
    assert json.loads(by_id.loc["a", "lineage"]) == [{"task": "scene", **LINEAGE}]
    assert json.loads(by_id.loc["c", "lineage"]) == []
    assert "q" not in by_id.index


def test_segment_documents_are_scenes_with_their_score(built) -> None:
    documents, _, _ = built
    segments = documents[documents["level"] == "segment"]
    assert segments[["start_s", "end_s"]].to_numpy().tolist() == [[2.0, 5.0], [7.0, 10.0]]
    assert segments["score"].tolist() == pytest.approx([np.mean([0.9, 0.8, 0.9]), 0.8])
    assert segments["labels"].tolist() == [["kiss"], ["kiss"]]
    assert (segments["title"] == "Harbour").all()


def test_vectors_are_unit_item_and_scene_means(built) -> None:
    documents, matrix, segment_vectors = built
    rows = documents.set_index("doc_id")["vector_row"]
    assert rows["c"] == -1 and rows["b"] == -1  # no embedding for them
    np.testing.assert_allclose(matrix[rows["a"]], [0.6, 0.0, 0.8, 0.0], rtol=1e-6)
    mean = segment_vectors[7:10].mean(axis=0)
    np.testing.assert_allclose(matrix[rows["a/scene/kiss/7-10"]], mean / np.linalg.norm(mean))
    assert sorted(rows[rows >= 0]) == list(range(len(matrix)))


def test_item_vectors_map_items_that_have_one(built) -> None:
    documents, matrix, _ = built
    vectors = item_vectors(documents, matrix)
    assert list(vectors) == ["a"]
    np.testing.assert_allclose(vectors["a"], [0.6, 0.0, 0.8, 0.0], rtol=1e-6)


def test_a_last_short_segment_clips_the_scene_to_the_media() -> None:
    rows = scene_rows("a", "kiss", [0.9, 0.9, 0.9])
    rows[2]["end_s"] = 2.4  # the media ends 0.4 s into the last bucket
    documents, _ = build_documents(
        catalog({"item_id": "a"}), {"scene": predictions(rows)}, {}, SEGMENTOR
    )
    assert documents["doc_id"].tolist() == ["a", "a/scene/kiss/0-2.4"]


def test_outputs_of_items_not_in_the_catalog_are_left_out_and_logged(caplog) -> None:
    scene = predictions(scene_rows("gone", "kiss", KISS_SCORES))
    with caplog.at_level(logging.WARNING):
        documents, matrix = build_documents(
            catalog({"item_id": "a"}), {"scene": scene}, {}, SEGMENTOR
        )
    assert documents["doc_id"].tolist() == ["a"]
    assert matrix.shape == (0, 0)
    assert "gone" in caplog.text


def test_duplicate_ok_items_are_refused() -> None:
    with pytest.raises(ValueError, match="more than once"):
        build_documents(catalog({"item_id": "a"}, {"item_id": "a"}), {}, {}, SEGMENTOR)


def test_segmentor_reads_the_scene_params_file(home: Settings, tmp_path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("scene:\n  threshold: 0.7\n  min_scene_s: 3\n  max_gap_s: 0\n")
    segmentor = scene_segmentor(home.model_copy(update={"scene_params_file": params}))
    assert (segmentor.threshold, segmentor.min_length_s, segmentor.max_gap_s) == (0.7, 3.0, 0.0)


def shot_rows(item_id: str, spans: list[tuple[float, float, float]]) -> list[dict[str, object]]:
    """A shot row and a keyframe row per (start, end, keyframe), as the shots task writes."""
    now = datetime(2025, 1, 1, tzinfo=UTC)
    common = {
        "item_id": item_id,
        "task": "shots",
        "score": 1.0,
        "created_at": now,
        "model_name": "shot-detector",
        "model_version": "abc",
        "dataset_rev": "n/a",
    }
    rows: list[dict[str, object]] = []
    for start, end, keyframe in spans:
        rows.append({**common, "label": "shot", "start_s": start, "end_s": end})
        rows.append({**common, "label": "keyframe", "start_s": keyframe, "end_s": keyframe})
    return rows


def test_shots_alone_become_segment_documents_with_their_keyframe() -> None:
    shots = predictions(shot_rows("a", [(4.0, 10.0, 7.0), (0.0, 4.0, 2.0)]))
    documents, _ = build_documents(catalog({"item_id": "a"}), {"shots": shots}, {}, SEGMENTOR)
    segments = documents[documents["level"] == "segment"].set_index("doc_id")
    assert segments.index.tolist() == ["a/shot/0-4", "a/shot/4-10"]
    assert segments[["start_s", "end_s", "keyframe_s"]].to_numpy().tolist() == [
        [0.0, 4.0, 2.0],
        [4.0, 10.0, 7.0],
    ]
    assert segments["labels"].tolist() == [["shot"], ["shot"]]
    lineage = json.loads(segments.loc["a/shot/0-4", "lineage"])
    assert [entry["model_name"] for entry in lineage] == ["shot-detector"]
    item = documents.set_index("doc_id").loc["a"]
    assert item["labels"] == [] and pd.isna(item["keyframe_s"])  # shots are no item label


def test_shots_of_several_items_keep_to_their_item_and_none_make_no_documents() -> None:
    shots = predictions(
        shot_rows("b", [(0.0, 5.0, 6.0)]) + shot_rows("a", [(2.0, 4.0, 3.0), (0.0, 2.0, 1.0)])
    )
    both = catalog({"item_id": "a"}, {"item_id": "b"})
    documents, _ = build_documents(both, {"shots": shots}, {}, SEGMENTOR)
    segments = documents[documents["level"] == "segment"].set_index("doc_id")
    assert segments["keyframe_s"].fillna(-1).to_dict() == {
        "a/shot/0-2": 1.0,
        "a/shot/2-4": 3.0,
        "b/shot/0-5": -1,  # its keyframe row lies outside it
    }
    nothing, _ = build_documents(both, {"shots": shots.iloc[:0]}, {}, SEGMENTOR)
    assert nothing["level"].tolist() == ["item", "item"]


def test_shot_vectors_are_the_mean_of_the_segment_vectors_inside() -> None:
    segment_vectors = np.random.default_rng(1).normal(size=(10, 4)).astype(np.float32)
    shots = predictions(shot_rows("a", [(0.0, 3.0, 1.0), (3.0, 10.0, 6.0)]))
    vectors = embeddings("a", segment_vectors, segment_vectors.mean(axis=0))
    documents, matrix = build_documents(
        catalog({"item_id": "a"}), {"shots": shots}, {"scene": vectors}, SEGMENTOR
    )
    row = documents.set_index("doc_id").loc["a/shot/3-10", "vector_row"]
    mean = segment_vectors[3:10].mean(axis=0)
    np.testing.assert_allclose(matrix[row], mean / np.linalg.norm(mean), rtol=1e-5)


def face_rows(
    item_id: str, spans: list[tuple[str, float, float, float]]
) -> list[dict[str, object]]:
    """A row per (person, start, end, score), as the faces task writes them."""
    now = datetime(2025, 1, 1, tzinfo=UTC)
    common = {
        "item_id": item_id,
        "task": "faces",
        "created_at": now,
        "model_name": "face-gallery",
        "model_version": "2",
        "dataset_rev": "faces/gallery/v2",
    }
    return [
        {**common, "label": person, "start_s": start, "end_s": end, "score": score}
        for person, start, end, score in spans
    ]


def test_face_rows_become_appearances_and_the_item_lists_who_is_seen() -> None:
    faces = predictions(face_rows("a", [("Bo Ray", 5.0, 8.5, 0.7), ("Ann Lee", 0.0, 2.5, 0.6)]))
    documents, vectors = build_documents(catalog({"item_id": "a"}), {"faces": faces}, {}, SEGMENTOR)
    segments = documents[documents["level"] == "segment"].set_index("doc_id")
    assert segments.index.tolist() == ["a/face/Ann Lee/0-2.5", "a/face/Bo Ray/5-8.5"]
    assert segments["people"].tolist() == [["Ann Lee"], ["Bo Ray"]]
    assert segments["labels"].tolist() == [["appearance"], ["appearance"]]
    assert segments["score"].tolist() == pytest.approx([0.6, 0.7])
    lineage = json.loads(segments.loc["a/face/Bo Ray/5-8.5", "lineage"])
    assert [(e["model_name"], e["dataset_rev"]) for e in lineage] == [
        ("face-gallery", "faces/gallery/v2")
    ]
    item = documents.set_index("doc_id").loc["a"]
    assert item["people"] == ["Ann Lee", "Bo Ray"]  # credited Ann Lee, then who was seen
    assert item["labels"] == [] and len(vectors) == 0


def task_rows(
    item_id: str, task: str, rows: list[tuple[float | None, float | None, str, float]]
) -> list[dict[str, object]]:
    """A row per (start, end, label, score) of a genre or mood model."""
    now = datetime(2025, 1, 1, tzinfo=UTC)
    common = {
        "item_id": item_id,
        "task": task,
        "created_at": now,
        "model_name": task,
        "model_version": "1",
        "dataset_rev": f"labels/{task}/v1",
    }
    return [
        {**common, "start_s": start, "end_s": end, "label": label, "score": score}
        for start, end, label, score in rows
    ]


def test_genre_and_mood_fill_their_own_fields_not_the_labels() -> None:
    genre = predictions(
        task_rows("song", "genre", [(None, None, "jazz", 0.7), (None, None, "ragtime", 0.3)])
    )
    mood = predictions(
        task_rows("song", "mood", [(None, None, "calm", 0.8)])
        + task_rows("film", "mood", [(0.0, 4.0, "sad", 0.6), (4.0, 10.0, "joyful", 0.9)])
        + task_rows("film", "mood", [(None, None, "joyful", 0.55), (None, None, "sad", 0.45)])
    )
    shots = predictions(shot_rows("film", [(0.0, 4.0, 2.0), (4.0, 10.0, 7.0)]))
    documents, _ = build_documents(
        catalog({"item_id": "song", "kind": "audio"}, {"item_id": "film"}),
        {"genre": genre, "mood": mood, "shots": shots},
        {},
        SEGMENTOR,
    )
    by_id = documents.set_index("doc_id")
    assert by_id.loc["song", "genres"] == ["jazz"] and by_id.loc["song", "moods"] == ["calm"]
    assert by_id.loc["song", "labels"] == [] and by_id.loc["film", "genres"] == []
    assert by_id.loc["film", "moods"] == ["joyful"]
    assert by_id.loc["film/shot/0-4", "moods"] == ["sad"]
    assert by_id.loc["film/shot/4-10", "moods"] == ["joyful"]
    tasks = {entry["task"] for entry in json.loads(by_id.loc["song", "lineage"])}
    assert tasks == {"genre", "mood"}
