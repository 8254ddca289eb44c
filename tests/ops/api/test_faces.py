"""Face curation over HTTP: reads open, decisions with the token, each logged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ops.api.app import create_app
from ops.faces.people import CurationStore, cluster_people
from ops.settings import Settings
from tests.support.faces import add_faces, face_id

TOKEN = "curation-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def curated(tmp_path: Path) -> Settings:
    settings = Settings(home=tmp_path / "home", api_token=TOKEN)
    add_faces(settings, {0: 5, 1: 4, 2: 3}, seed=1)
    cluster_people(settings)
    return settings


@pytest.fixture
def client(curated: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(curated)) as test_client:
        yield test_client


def group_of(client: TestClient, face: str) -> str:
    groups = client.get("/faces/clusters").json()["groups"]
    return next(g["id"] for g in groups if face in g["faces"] + g["suggested"])


def test_clusters_come_largest_first_with_their_thumbnails(client: TestClient) -> None:
    groups = client.get("/faces/clusters").json()["groups"]
    assert [len(group["faces"]) for group in groups] == [5, 4, 3]
    assert [group["declared"] for group in groups] == [{"p0": 5}, {"p1": 4}, {"p2": 3}]
    thumbnail = client.get(f"/faces/{groups[0]['faces'][0]}/thumbnail")
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"
    assert client.get("/faces/ffffffffffffffff/thumbnail").status_code == 404
    assert client.get("/faces/..%2F..%2Fetc/thumbnail").status_code in (404, 422)


def test_decisions_need_the_token_and_are_logged_with_the_curator(
    client: TestClient, curated: Settings
) -> None:
    first = group_of(client, face_id(1, 0, 0))
    body = {"curator": "ada", "name": "Ann Lee"}
    assert client.post(f"/faces/clusters/{first}/name", json=body).status_code == 401
    named = client.post(f"/faces/clusters/{first}/name", json=body, headers=AUTH)
    assert named.status_code == 200
    assert named.json()["groups"][0] == {
        "id": "Ann Lee",
        "named": True,
        "faces": [face_id(1, 0, n) for n in range(5)],
        "suggested": [],
        "declared": {"p0": 5},
    }
    second, third = group_of(client, face_id(1, 1, 0)), group_of(client, face_id(1, 2, 0))
    merged = client.post(
        "/faces/clusters/merge",
        json={"curator": "bo", "first": second, "second": third},
        headers=AUTH,
    )
    assert merged.status_code == 200
    assert group_of(client, face_id(1, 1, 0)) == group_of(client, face_id(1, 2, 0))
    ejected = client.post(f"/faces/{face_id(1, 0, 4)}/eject", json={"curator": "ada"}, headers=AUTH)
    assert ejected.status_code == 200 and group_of(client, face_id(1, 0, 4)) != "Ann Lee"
    log = client.get("/faces/decisions").json()
    assert [(d["who"], d["action"]) for d in log] == [
        ("faces_cluster", "cluster"),
        ("ada", "name"),
        ("bo", "merge"),
        ("ada", "eject"),
    ]
    assert CurationStore(curated).read().people["Ann Lee"].rejected == [face_id(1, 0, 4)]


def test_split_and_ignore(client: TestClient) -> None:
    first = group_of(client, face_id(1, 0, 0))
    leaving = [face_id(1, 0, 3), face_id(1, 0, 4)]
    split = client.post(
        f"/faces/clusters/{first}/split", json={"curator": "ada", "faces": leaving}, headers=AUTH
    )
    assert split.status_code == 200
    assert group_of(client, leaving[0]) == group_of(client, leaving[1]) != first
    stranger = group_of(client, face_id(1, 2, 0))
    ignored = client.post(
        f"/faces/clusters/{stranger}/ignore", json={"curator": "ada"}, headers=AUTH
    )
    assert ignored.json()["ignored"] == 3


def test_bad_decisions_answer_400_with_the_reason(client: TestClient) -> None:
    unknown = client.post(
        "/faces/clusters/c99/name", json={"curator": "ada", "name": "X"}, headers=AUTH
    )
    assert unknown.status_code == 400 and "no cluster 'c99'" in unknown.json()["detail"]
    same = client.post(
        "/faces/clusters/merge",
        json={"curator": "ada", "first": "c1", "second": "c1"},
        headers=AUTH,
    )
    assert same.status_code == 400 and "itself" in same.json()["detail"]
    nobody = client.post("/faces/clusters/c1/name", json={"curator": "", "name": "X"}, headers=AUTH)
    assert nobody.status_code == 422


def test_the_curation_page_is_served(client: TestClient) -> None:
    page = client.get("/curate")
    assert page.status_code == 200 and "<h1>Face curation</h1>" in page.text
