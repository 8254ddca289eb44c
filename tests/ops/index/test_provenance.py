"""Which models' labels the index publishes, at which threshold, with what provenance."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa

from ops.index.documents import build_documents
from ops.index.provenance import LabelPolicy, label_policy
from ops.predictions.schema import EMBEDDING_SCHEMA, PREDICTION_SCHEMA
from ops.scene.segmentor import Segmentor
from ops.settings import Settings

SCENE_V3 = ("scene", "3")
MODEL = {"model_name": "scene", "model_version": "3"}
# Two kiss runs, 2-5 s and 7-10 s, scored 0.7 to 0.9.
KISS_SCORES = [0.1, 0.2, 0.9, 0.8, 0.9, 0.1, 0.1, 0.7, 0.8, 0.9]
SEGMENTOR = Segmentor(threshold=0.5, min_length_s=2.0, max_gap_s=1.0)


def catalog() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "item_id": "a",
                "source": "site",
                "url": "https://example.org/a",
                "kind": "video",
                "title": "Harbour",
                "description": "words",
                "year": 2001,
                "duration_s": 10.0,
                "tags": [],
                "people": [],
                "status": "ok",
            }
        ]
    )


def scene_predictions() -> pd.DataFrame:
    """Item ``a``'s 1-s kiss rows and its whole-item row, as the scene task writes them."""
    common = {
        "item_id": "a",
        "task": "scene",
        "label": "kiss",
        "dataset_rev": "labels/scene/v2",
        "created_at": datetime(2025, 1, 1, tzinfo=UTC),
        **MODEL,
    }
    rows = [
        {**common, "start_s": float(i), "end_s": float(i + 1), "score": score}
        for i, score in enumerate(KISS_SCORES)
    ]
    rows.append({**common, "start_s": None, "end_s": None, "score": max(KISS_SCORES)})
    return pa.Table.from_pylist(rows, schema=PREDICTION_SCHEMA).to_pandas()


def scene_embeddings() -> pd.DataFrame:
    common = {"item_id": "a", "task": "scene", **MODEL}
    vectors = np.random.default_rng(0).normal(size=(10, 4))
    rows = [
        {**common, "start_s": float(i), "end_s": float(i + 1), "vector": vector.tolist()}
        for i, vector in enumerate(vectors)
    ]
    rows.append({**common, "start_s": None, "end_s": None, "vector": [1.0, 1.0, 1.0, 1.0]})
    return pa.Table.from_pylist(rows, schema=EMBEDDING_SCHEMA).to_pandas()


def build(policy: LabelPolicy) -> dict[str, dict[str, object]]:
    """Documents by id for item ``a`` (two kiss runs, 0.7 to 0.9) under ``policy``."""
    documents, _ = build_documents(
        catalog(), {"scene": scene_predictions()}, {"scene": scene_embeddings()}, SEGMENTOR, policy
    )
    return {str(row["doc_id"]): row for row in documents.to_dict("records")}


def test_a_withheld_model_gives_no_labels_but_its_vector_and_lineage_stay() -> None:
    documents = build(LabelPolicy({SCENE_V3: "generated"}, withheld=frozenset({SCENE_V3})))

    assert list(documents) == ["a"]  # no scene documents
    assert list(documents["a"]["labels"]) == []
    assert documents["a"]["vector_row"] == 0
    [entry] = json.loads(str(documents["a"]["lineage"]))
    assert (entry["model_version"], entry["training_data"], entry["labels"]) == (
        "3",
        "generated",
        "withheld",
    )


def test_labels_are_decided_at_the_models_own_threshold() -> None:
    published = build(LabelPolicy({SCENE_V3: "real"}))
    assert list(published["a"]["labels"]) == ["kiss"]
    assert [doc_id for doc_id in published if "/scene/" in doc_id] == [
        "a/scene/kiss/2-5",
        "a/scene/kiss/7-10",
    ]

    strict = build(LabelPolicy({SCENE_V3: "real"}, thresholds={(*SCENE_V3, "kiss"): 0.95}))
    assert list(strict["a"]["labels"]) == []  # 0.9 at best: under the model's 0.95
    assert list(strict) == ["a"]


def test_an_unknown_model_is_withheld_and_named_unless_the_setting_allows(
    home: Settings,
) -> None:
    frames = {"scene": scene_predictions()}

    withheld = label_policy(frames, home)
    assert withheld.withheld == {SCENE_V3}
    assert withheld.provenance(*SCENE_V3) == "unrecorded"
    assert withheld.notes == (
        "withheld scene labels from scene v3: its training data is not recorded (registered "
        "before provenance was kept) (set CINESCOPE_PUBLISH_STANDIN_LABELS=true to publish)",
    )

    allowed = label_policy(frames, home.model_copy(update={"publish_standin_labels": True}))
    assert (allowed.withheld, allowed.notes) == (frozenset(), ())
    assert allowed.provenance("shot-detector", "abc") == "n/a"
