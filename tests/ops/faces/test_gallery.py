"""The curated gallery, its open-set threshold, and the face-gallery gate, in a real
data registry and MLflow store."""

from __future__ import annotations

import numpy as np
import pytest
from mlflow import MlflowClient

from ops.datasets.registry import DataRegistry
from ops.faces.gallery import (
    CHAMPION_ALIAS,
    FACE_GALLERY,
    GALLERY_DATASET,
    load_recogniser,
    register_gallery,
)
from ops.faces.people import CurationStore, cluster_people, ignore_cluster, name_cluster
from ops.settings import Settings
from tests.support.faces import CENTRES, add_faces, face_id


def curate(settings: Settings) -> None:
    """Ann Lee and Bo Ray named, a third person ignored as background."""
    add_faces(settings, {0: 6, 1: 5, 2: 4}, seed=1)
    cluster_people(settings)
    store = CurationStore(settings)

    def holder(face: str) -> str:
        return next(k for k, faces in store.read().clusters.items() if face in faces)

    for person, name in ((0, "Ann Lee"), (1, "Bo Ray")):
        key = holder(face_id(1, person, 0))
        store.apply("ada", "name", key, lambda s, k=key, n=name: name_cluster(s, k, n))
    stranger = holder(face_id(1, 2, 0))
    store.apply("ada", "ignore", stranger, lambda s: ignore_cluster(s, stranger))


def test_the_gallery_is_versioned_measured_and_promoted(home: Settings) -> None:
    curate(home)
    first = register_gallery(home)
    assert (first.version, first.people, first.faces) == ("1", ["Ann Lee", "Bo Ray"], 11)
    assert first.promoted and first.reason == "no champion yet"
    assert first.measure.false_accept_rate <= 0.01 and first.measure.true_accept_rate == 1.0
    assert first.measure.impostor_probes == 11 + 4  # leave-one-person-out + the strangers
    assert first.dataset_rev == "faces/gallery/v1"
    assert [v.tag for v in DataRegistry.from_settings(home).versions(GALLERY_DATASET)] == [
        "faces/gallery/v1"
    ]
    client = MlflowClient(home.tracking_uri)
    assert str(client.get_model_version_by_alias(FACE_GALLERY, CHAMPION_ALIAS).version) == "1"


def test_an_unknown_face_is_not_forced_onto_a_named_person(home: Settings) -> None:
    curate(home)
    register_gallery(home)
    recogniser = load_recogniser(f"models:/{FACE_GALLERY}@{CHAMPION_ALIAS}", home.tracking_uri)
    rng = np.random.default_rng(9)
    ann_again = CENTRES[0] + rng.normal(size=128) * 0.15 / np.sqrt(128)
    assert recogniser.identify(ann_again)[0] == "Ann Lee"
    for person in (3, 4, 5):  # never seen, never named
        stranger = CENTRES[person] + rng.normal(size=128) * 0.15 / np.sqrt(128)
        name, distance = recogniser.identify(stranger)
        assert name is None and distance >= recogniser.threshold


def test_a_gallery_that_lost_a_champion_person_is_not_promoted(home: Settings) -> None:
    curate(home)
    register_gallery(home)
    store = CurationStore(home)
    store.apply("ada", "name", "Bo Ray", lambda s: name_cluster(s, "Bo Ray", "Bo R."))
    second = register_gallery(home)
    assert not second.promoted
    assert second.reason == "the champion knows Bo Ray, this gallery does not"
    client = MlflowClient(home.tracking_uri)
    assert str(client.get_model_version_by_alias(FACE_GALLERY, CHAMPION_ALIAS).version) == "1"


def test_no_named_people_is_a_clear_error(home: Settings) -> None:
    with pytest.raises(ValueError, match="no named people yet"):
        register_gallery(home)
