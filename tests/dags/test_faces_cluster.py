"""faces_cluster through Airflow (dag.test): faces added by the CLI, clustered by the DAG."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ops.airflow_env import run_dag
from ops.cli import app
from ops.dag_params import ParamsRefused
from ops.faces.people import CurationStore
from ops.faces.store import FaceStore
from ops.ingest.pipeline import ingest_source
from ops.sample_site.portraits import PORTRAITS, variations
from ops.settings import Settings

runner = CliRunner()


def test_the_dag_clusters_the_added_faces(
    home: Settings, shared_data: Path, tmp_path: Path
) -> None:
    people = shared_data / "faces" / "orl_dev"
    folder = tmp_path / "actors"
    for person in ("s1", "s2"):
        (folder / person).mkdir(parents=True)
        for number in (1, 3, 4):
            (folder / person / f"{number}.pgm").write_bytes(
                (people / person / f"{number}.pgm").read_bytes()
            )
    added = runner.invoke(app, ["faces", "add", str(folder), "--source", "orl"])
    assert added.exit_code == 0, added.output
    run_dag("faces_cluster", home)
    state = CurationStore(home).read()
    assert sorted(len(faces) for faces in state.clusters.values()) == [3, 3]
    again = runner.invoke(app, ["faces", "add", str(folder)])
    assert "already_known" in again.output
    run_dag("faces_cluster", home, {"full": True, "algorithm": "agglomerative"})
    assert [d.detail for d in CurationStore(home).decisions()] == [
        "chinese_whispers, full=False",
        "agglomerative, full=True",
    ]


def test_the_dag_adds_the_face_sets_sources_collected_and_clusters_them(
    tmp_path: Path,
) -> None:
    """Two real people, declared by a folder source, come out as two clusters, each
    labelled with the name the source gave."""
    library = tmp_path / "library"
    for name in PORTRAITS:
        folder = library / name.split()[0].lower()
        folder.mkdir(parents=True)
        for number, picture in enumerate(variations(name, count=4)):
            picture.save(folder / f"{number}.jpg")
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        f"sources:\n  - name: library\n    kind: local\n    path: {library}\n    people:\n"
        "      - {name: Eileen Collins, folder: eileen}\n"
        "      - {name: Grace Hopper, folder: grace}\n"
    )
    settings = Settings(home=tmp_path / "home", sources_file=sources)
    ingest_source("library", settings=settings)

    run_dag("faces_cluster", settings)

    labels = FaceStore(settings).faces().set_index("face_id")["label"]
    clusters = CurationStore(settings).read().clusters.values()
    assert sorted(Counter(labels[f] for f in faces).most_common() for faces in clusters) == [
        [("Eileen Collins", 4)],
        [("Grace Hopper", 4)],
    ]


def test_bad_params_are_refused_before_airflow_starts(home: Settings) -> None:
    with pytest.raises(ParamsRefused, match="algorithm"):
        run_dag("faces_cluster", home, {"algorithm": "kmeans"})
