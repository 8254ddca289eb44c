"""Curation decisions and clustering runs: names survive, links hold, everything logged."""

from __future__ import annotations

import pytest

from ops.faces.params import ClusterParams
from ops.faces.people import (
    CurationError,
    CurationStore,
    cluster_people,
    eject_face,
    ignore_cluster,
    merge_clusters,
    name_cluster,
    split_cluster,
)
from ops.settings import Settings
from tests.support.faces import add_faces, face_id


def cluster_of(settings: Settings, face: str) -> str:
    state = CurationStore(settings).read()
    found = [key for key, faces in state.clusters.items() if face in faces]
    found += [name for name, p in state.people.items() if face in p.faces + p.suggested]
    assert len(found) == 1, found
    return found[0]


def test_a_first_run_clusters_each_person_apart(home: Settings) -> None:
    add_faces(home, {0: 5, 1: 4, 2: 3}, seed=1)
    run = cluster_people(home)
    assert (run.faces, run.considered, run.new_clusters, run.clusters) == (12, 12, 3, 3)
    state = CurationStore(home).read()
    assert sorted(len(faces) for faces in state.clusters.values()) == [3, 4, 5]


def test_curation_decisions_survive_a_full_recluster(home: Settings) -> None:
    add_faces(home, {0: 5, 1: 4, 2: 3, 3: 3}, seed=1)
    cluster_people(home)
    curation = CurationStore(home)
    ann = cluster_of(home, face_id(1, 0, 0))
    curation.apply("ada", "name", ann, lambda s: name_cluster(s, ann, "Ann Lee"), name="Ann Lee")
    curation.apply("ada", "eject", face_id(1, 0, 4), lambda s: eject_face(s, face_id(1, 0, 4)))
    two, three = cluster_of(home, face_id(1, 2, 0)), cluster_of(home, face_id(1, 3, 0))
    curation.apply("ada", "merge", two, lambda s: merge_clusters(s, two, three))
    stranger = cluster_of(home, face_id(1, 1, 0))
    curation.apply("bo", "ignore", stranger, lambda s: ignore_cluster(s, stranger))

    add_faces(home, {0: 2, 4: 3}, seed=2)  # Ann again, and someone new
    incremental = cluster_people(home)
    assert (incremental.considered, incremental.suggested, incremental.new_clusters) == (5, 2, 1)
    full = cluster_people(home, ClusterParams(full=True))
    state = curation.read()
    ann_lee = state.people["Ann Lee"]
    assert set(ann_lee.faces) == {face_id(1, 0, n) for n in range(4)}  # named, minus the ejected
    assert set(ann_lee.suggested) == {face_id(2, 0, 0), face_id(2, 0, 1)}
    assert face_id(1, 0, 4) in ann_lee.rejected and face_id(1, 0, 4) not in ann_lee.suggested
    assert cluster_of(home, face_id(1, 2, 0)) == cluster_of(
        home, face_id(1, 3, 0)
    )  # the merge holds
    assert {face_id(1, 1, n) for n in range(4)} <= set(state.ignored)
    assert cluster_of(home, face_id(1, 0, 4)) != "Ann Lee"
    assert full.people == 1
    log = curation.decisions()
    assert [(d.who, d.action) for d in log] == [
        ("faces_cluster", "cluster"),
        ("ada", "name"),
        ("ada", "eject"),
        ("ada", "merge"),
        ("bo", "ignore"),
        ("faces_cluster", "cluster"),
        ("faces_cluster", "cluster"),
    ]
    assert log[1].name == "Ann Lee" and len(log[1].faces) == 5


def test_a_split_keeps_its_faces_apart_after_a_full_recluster(home: Settings) -> None:
    add_faces(home, {0: 6}, seed=1)
    cluster_people(home)
    curation = CurationStore(home)
    key = cluster_of(home, face_id(1, 0, 0))
    leaving = [face_id(1, 0, 4), face_id(1, 0, 5)]
    curation.apply("ada", "split", key, lambda s: split_cluster(s, key, leaving))
    cluster_people(home, ClusterParams(full=True))
    assert cluster_of(home, face_id(1, 0, 4)) == cluster_of(home, face_id(1, 0, 5))
    assert cluster_of(home, face_id(1, 0, 4)) != cluster_of(home, face_id(1, 0, 0))


def test_bad_decisions_are_refused_with_the_reason(home: Settings) -> None:
    add_faces(home, {0: 3}, seed=1)
    cluster_people(home)
    curation = CurationStore(home)
    key = cluster_of(home, face_id(1, 0, 0))
    with pytest.raises(CurationError, match="no cluster 'c99'"):
        curation.apply("ada", "name", "c99", lambda s: name_cluster(s, "c99", "X"))
    with pytest.raises(CurationError, match="cannot be empty"):
        curation.apply("ada", "name", key, lambda s: name_cluster(s, key, "  "))
    with pytest.raises(CurationError, match="curator's name"):
        curation.apply(" ", "name", key, lambda s: name_cluster(s, key, "X"))
    with pytest.raises(CurationError, match="must leave some faces"):
        curation.apply(
            "ada", "split", key, lambda s: split_cluster(s, key, curation.read().clusters[key])
        )
    assert curation.decisions() == [curation.decisions()[0]]  # only the clustering run
