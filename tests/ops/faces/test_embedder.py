"""The pretrained face files as the MLflow model ``face-embedder``, in a real store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from PIL import Image
from typer.testing import CliRunner

from ops.cli import app
from ops.faces.embedder import (
    FACE_EMBEDDER,
    OUTPUT_COLUMNS,
    PRETRAINED,
    ensure_face_embedder,
    load_face_embedder,
)
from ops.settings import Settings


def test_it_is_registered_once_and_predicts_faces(home: Settings, tmp_path: Path) -> None:
    version = ensure_face_embedder(home.tracking_uri)
    assert ensure_face_embedder(home.tracking_uri) == version == "1"
    client = MlflowClient(home.tracking_uri)
    assert client.get_model_version(FACE_EMBEDDER, version).tags["training_data"] == PRETRAINED
    model = load_face_embedder(f"models:/{FACE_EMBEDDER}/{version}", home.tracking_uri)
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((100, 100, 3), 200, np.uint8)).save(blank)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a picture")
    found = model.predict(pd.DataFrame({"path": [str(blank), str(broken)]}))
    assert list(found.columns) == list(OUTPUT_COLUMNS)
    assert found["path"].tolist() == [str(broken)]  # a blank picture has no face
    assert "not a readable picture" in found["error"].iloc[0]


def test_it_describes_a_real_face(home: Settings, shared_data: Path) -> None:
    version = ensure_face_embedder(home.tracking_uri)
    model = load_face_embedder(f"models:/{FACE_EMBEDDER}/{version}", home.tracking_uri)
    picture = shared_data / "faces" / "orl_dev" / "s1" / "1.pgm"
    found = model.predict(pd.DataFrame({"path": [str(picture)]}))
    assert found["face"].tolist() == [0]
    assert len(found["descriptor"].iloc[0]) == 128


def test_the_cli_registers_it(home: Settings) -> None:
    result = CliRunner().invoke(app, ["faces", "register"])
    assert result.exit_code == 0, result.output
    assert "face-embedder version 1" in result.output
