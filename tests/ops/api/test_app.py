"""The query API over a real, small published index (SQLite FTS5 + FAISS).

Two index versions are built: v000001 from three items, v000002 after a fourth item
joined the catalog, so publish and rollback are visible in what the API answers.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from ops.api.app import NO_FACE_MODEL, NOT_PUBLISHED, LiveIndex, create_app
from ops.atomic import write_table
from ops.catalog.store import write_catalog
from ops.index.build import DOCUMENTS_FILE, build_index_version, publish_index
from ops.index.query import SearchQuery
from ops.predictions.schema import EMBEDDING_SCHEMA, LEDGER_SCHEMA, PREDICTION_SCHEMA
from ops.predictions.store import embeddings_file, ledger_file, predictions_file
from ops.settings import Settings
from ops.versioned import POINTER, VersionedStore
from tests.support.index_files import largest_search_file

TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NOW = datetime(2024, 5, 1, tzinfo=UTC)
MODEL = {"model_name": "scene", "model_version": "3", "dataset_rev": "labels/scene/v2"}
DURATION_S = 8


@dataclass(frozen=True)
class Film:
    item_id: str
    title: str
    year: int
    people: tuple[str, ...]
    kiss_seconds: tuple[int, ...]  # where the scene model scores "kiss" high

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.item_id.encode()).hexdigest()


FILMS = (
    Film("harbour", "Kiss at the harbour", 1994, ("Ada Stone",), (2, 3, 4, 5)),
    Film("storm", "Storm over the lighthouse", 2001, ("Ben Reed",), ()),
    Film("garden", "A garden in spring", 2010, ("Ada Stone", "Cy Park"), (5, 6, 7)),
)
LATE_FILM = Film("station", "Goodbye at the station", 2015, ("Dee Lane",), (1, 2, 3))
SHOT_DETECTOR = {"model_name": "shot-detector", "model_version": "abc", "dataset_rev": "n/a"}
STORM_SHOTS = [(0.0, 3.0, 1.5), (3.0, 8.0, 5.5)]  # (start, end, keyframe)


def _write_catalog(settings: Settings, films: tuple[Film, ...]) -> None:
    rows = [
        {
            "item_id": film.item_id,
            "source": "test",
            "url": f"https://example.test/{film.item_id}",
            "kind": "video",
            "sha256": film.sha256,
            "bytes": 1000,
            "duration_s": float(DURATION_S),
            "title": film.title,
            "description": f"{film.title}, a short test film",
            "year": film.year,
            "tags": ["test"],
            "people": list(film.people),
            "status": "ok",
        }
        for film in films
    ]
    write_catalog(pd.DataFrame(rows), settings.catalog_path)


def _write_predictions(settings: Settings, films: tuple[Film, ...]) -> str:
    """A sealed, published predictions version of the scene task for ``films``."""
    store = VersionedStore(settings.predictions_dir)
    version = store.create()
    rng = np.random.default_rng(7)
    predictions: list[dict] = []
    embeddings: list[dict] = []
    for film in films:
        base = rng.normal(size=8).astype(np.float32)
        vectors = []
        for second in range(DURATION_S):
            span = {"item_id": film.item_id, "start_s": float(second), "end_s": second + 1.0}
            score = 0.9 if second in film.kiss_seconds else 0.05
            predictions.append(
                {
                    **span,
                    "task": "scene",
                    "label": "kiss",
                    "score": score,
                    **MODEL,
                    "created_at": NOW,
                }
            )
            vector = base + rng.normal(scale=0.1, size=8).astype(np.float32)
            vectors.append(vector)
            embeddings.append(
                {
                    **span,
                    "task": "scene",
                    "model_name": "scene",
                    "model_version": "3",
                    "vector": vector.tolist(),
                }
            )
        whole = {"item_id": film.item_id, "start_s": None, "end_s": None}
        predictions.append(
            {
                **whole,
                "task": "scene",
                "label": "kiss",
                "score": 0.9 if film.kiss_seconds else 0.05,
                **MODEL,
                "created_at": NOW,
            }
        )
        embeddings.append(
            {
                **whole,
                "task": "scene",
                "model_name": "scene",
                "model_version": "3",
                "vector": np.mean(vectors, axis=0).tolist(),
            }
        )
    ledger = [
        {
            "item_id": film.item_id,
            "task": "scene",
            "sha256": film.sha256,
            **MODEL,
            "status": "ok",
            "reason": None,
            "segments": DURATION_S,
            "processed_at": NOW,
        }
        for film in films
    ]
    folder = version.path
    write_table(
        pa.Table.from_pylist(predictions, PREDICTION_SCHEMA), predictions_file(folder, "scene")
    )
    write_table(
        pa.Table.from_pylist(embeddings, EMBEDDING_SCHEMA), embeddings_file(folder, "scene")
    )
    write_table(pa.Table.from_pylist(ledger, LEDGER_SCHEMA), ledger_file(folder))
    shots = [
        {"item_id": "storm", "task": "shots", **SHOT_DETECTOR, "score": 1.0, "created_at": NOW}
        | {"label": label, "start_s": start, "end_s": end}
        for shot_start, shot_end, keyframe in STORM_SHOTS
        for label, start, end in (("shot", shot_start, shot_end), ("keyframe", keyframe, keyframe))
    ]
    write_table(pa.Table.from_pylist(shots, PREDICTION_SCHEMA), predictions_file(folder, "shots"))
    write_table(EMBEDDING_SCHEMA.empty_table(), embeddings_file(folder, "shots"))
    manifest = {
        "run_id": "test",
        "base_version": None,
        "tasks": {
            "scene": {**MODEL, "items_processed": len(films)},
            "shots": {**SHOT_DETECTOR, "items_processed": 1},
        },
    }
    store.seal(version, manifest)
    store.publish(version.name)
    return version.name


def _build_and_publish(settings: Settings, films: tuple[Film, ...]) -> str:
    _write_catalog(settings, films)
    version = build_index_version(settings, _write_predictions(settings, films))
    publish_index(settings, version.name)
    return version.name


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A home with index v000001 (three films) and v000002 (four films), both kept.

    No registry knows its made-up scene model, so its labels are published by setting.
    """
    settings = Settings(
        home=tmp_path_factory.mktemp("api") / "home",
        api_token=TOKEN,
        publish_standin_labels=True,
    )
    assert _build_and_publish(settings, FILMS) == "v000001"
    assert _build_and_publish(settings, (*FILMS, LATE_FILM)) == "v000002"
    return settings


@pytest.fixture
def client(indexed: Settings) -> Iterator[TestClient]:
    publish_index(indexed, "v000002")  # tests that roll back leave the next one unaffected
    with TestClient(create_app(indexed)) as test_client:
        yield test_client


@pytest.fixture
def empty_client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(home=tmp_path / "home", api_token=TOKEN))) as test_client:
        yield test_client


def test_health_names_the_live_version(client: TestClient, empty_client: TestClient) -> None:
    assert client.get("/health").json() == {
        "status": "ok",
        "index_version": "v000002",
        "problem": None,
    }
    assert empty_client.get("/health").json() == {
        "status": "no index published",
        "index_version": None,
        "problem": None,
    }


def test_openapi_documents_every_endpoint(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()

    assert schema["info"]["title"] == "cinescope query API"
    assert set(schema["paths"]) == {
        "/health",
        "/search",
        "/items/{item_id}",
        "/items/{item_id}/similar",
        "/items/{item_id}/music",
        "/people/{name}/appearances",
        "/index/versions",
        "/admin/index/rollback",
        "/admin/index/publish/{version}",
        "/faces/clusters",
        "/faces/decisions",
        "/faces/{face_id}/thumbnail",
        "/faces/clusters/merge",
        "/faces/clusters/{cluster}/name",
        "/faces/clusters/{cluster}/split",
        "/faces/clusters/{cluster}/ignore",
        "/faces/{face_id}/eject",
    }
    search_params = {param["name"] for param in schema["paths"]["/search"]["get"]["parameters"]}
    assert {"q", "like", "kind", "year_min", "person", "page_size"} <= search_params
    assert client.get("/docs").status_code == 200


def test_full_text_search_ranks_the_title_match_first(client: TestClient) -> None:
    response = client.get("/search", params={"q": "harbour", "level": "item"})

    assert response.status_code == 200
    page = response.json()
    assert page["index_version"] == "v000002"
    assert page["total"] == 1
    assert page["hits"][0]["item_id"] == "harbour"
    assert page["hits"][0]["title"] == "Kiss at the harbour"


def test_filters_take_repeated_params_and_facets_count_all_matches(client: TestClient) -> None:
    response = client.get(
        "/search",
        params=[("level", "item"), ("person", "Ada Stone"), ("person", "Dee Lane")],
    )

    page = response.json()
    assert response.status_code == 200
    assert {hit["item_id"] for hit in page["hits"]} == {"harbour", "garden", "station"}
    assert page["facets"]["person"]["Ada Stone"] == 2
    assert page["facets"]["kind"] == {"video": 3}

    recent = client.get("/search", params={"level": "item", "year_min": 2005}).json()
    assert {hit["item_id"] for hit in recent["hits"]} == {"garden", "station"}


def test_segment_documents_are_the_scenes(client: TestClient) -> None:
    page = client.get("/search", params={"level": "segment", "label": "kiss", "q": "harbour"})

    hits = page.json()["hits"]
    assert page.status_code == 200
    assert hits and {hit["item_id"] for hit in hits} == {"harbour"}
    assert all(hit["level"] == "segment" and "kiss" in hit["labels"] for hit in hits)
    assert (hits[0]["start_s"], hits[0]["end_s"]) == (2.0, 6.0)


def test_paging(client: TestClient) -> None:
    first = client.get("/search", params={"level": "item", "page_size": 2}).json()
    second = client.get("/search", params={"level": "item", "page_size": 2, "page": 2}).json()

    assert first["total"] == second["total"] == 4
    assert len(first["hits"]) == len(second["hits"]) == 2
    shown = {hit["doc_id"] for hit in first["hits"] + second["hits"]}
    assert len(shown) == 4


def test_vector_search_starts_from_a_document(client: TestClient) -> None:
    harbour = client.get("/items/harbour").json()["item"]["doc_id"]

    page = client.get("/search", params={"like": harbour, "level": "item"}).json()

    found = [hit["item_id"] for hit in page["hits"]]
    assert sorted(found) == ["garden", "station", "storm"]  # every other item, never itself
    assert [hit["score"] for hit in page["hits"]] == sorted(
        (hit["score"] for hit in page["hits"]), reverse=True
    )


@pytest.mark.parametrize(
    ("params", "complaint"),
    [
        ({"page_size": 1000}, "less than or equal to 100"),
        ({"page_size": 0}, "greater than or equal to 1"),
        ({"page": "two"}, "valid integer"),
        ({"year_min": 2010, "year_max": 1990}, "year_min is after year_max"),
        ({"q": "kiss", "like": "harbour"}, "not both"),
        ({"level": "scene"}, "'item' or 'segment'"),
        ({"min_duration_s": -1}, "greater than or equal to 0"),
        ({"kind": "film"}, "Input should be 'video', 'audio' or 'image'"),
        ({"colour": "red"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_search_input_is_a_422_that_says_why(
    client: TestClient, params: dict, complaint: str
) -> None:
    response = client.get("/search", params=params)

    assert response.status_code == 422
    assert complaint in str(response.json()["detail"])


def test_filters_ignore_case(client: TestClient) -> None:
    response = client.get("/search", params={"person": "ada STONE", "level": "item"})

    assert response.status_code == 200
    assert {hit["item_id"] for hit in response.json()["hits"]} == {"harbour", "garden"}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_their_assets_from_the_api_itself(client: TestClient, page: str) -> None:
    html = client.get(page)
    assert html.status_code == 200

    urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", html.text)
    assert urls, html.text
    assert [url for url in urls if not url.startswith("/")] == []
    for url in urls:
        assert client.get(url).status_code == 200, url


def test_a_one_letter_prefix_search_is_a_400_with_the_reason(client: TestClient) -> None:
    response = client.get("/search", params={"q": "s*"})

    assert response.status_code == 400
    assert "at least 3 letters" in response.json()["detail"]


def test_a_like_document_that_does_not_exist_is_a_400(client: TestClient) -> None:
    response = client.get("/search", params={"like": "no-such-document"})

    assert response.status_code == 400
    assert "no-such-document" in response.json()["detail"]


def test_item_has_its_segments_and_lineage(client: TestClient) -> None:
    response = client.get("/items/harbour")

    body = response.json()
    assert response.status_code == 200
    assert body["index_version"] == "v000002"
    assert body["item"]["title"] == "Kiss at the harbour"
    assert [(s["start_s"], s["end_s"]) for s in body["segments"]] == [(2.0, 6.0)]
    assert {entry["model_version"] for entry in body["lineage"]} == {"3"}


def test_item_lineage_shows_each_model_and_what_it_was_trained_on(client: TestClient) -> None:
    lineage = client.get("/items/storm").json()["lineage"]

    assert sorted(
        (entry["task"], entry["model_name"], entry["training_data"], entry["labels"])
        for entry in lineage
    ) == [
        ("scene", "scene", "unrecorded", "published"),
        ("shots", "shot-detector", "n/a", "published"),
    ]


def test_item_lists_its_shots_with_their_keyframes(client: TestClient) -> None:
    body = client.get("/items/storm").json()

    shots = [(shot["start_s"], shot["end_s"], shot["keyframe_s"]) for shot in body["shots"]]
    assert shots == STORM_SHOTS
    assert body["segments"] == []  # no scene in storm: shots are listed apart
    assert "shot-detector" in {entry["model_name"] for entry in body["lineage"]}


def test_unknown_item_is_a_404_with_a_message(client: TestClient) -> None:
    for path in ("/items/nothing-here", "/items/nothing-here/similar"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["detail"] == "item 'nothing-here' is not in index v000002"


def test_similar_items_never_include_the_item_itself(client: TestClient) -> None:
    response = client.get("/items/harbour/similar", params={"k": 2})

    body = response.json()
    assert response.status_code == 200
    assert body["item_id"] == "harbour"
    assert 1 <= len(body["similar"]) <= 2
    assert "harbour" not in {entry["item_id"] for entry in body["similar"]}
    assert [entry["rank"] for entry in body["similar"]] == list(range(1, len(body["similar"]) + 1))


def test_similar_scores_are_in_order_and_any_kind_is_an_option(client: TestClient) -> None:
    for params in ({"k": 3}, {"k": 3, "any_kind": "true"}):
        response = client.get("/items/harbour/similar", params=params)
        assert response.status_code == 200, response.text
        scores = [entry["score"] for entry in response.json()["similar"]]
        assert scores and scores == sorted(scores, reverse=True)
        assert {entry["kind"] for entry in response.json()["similar"]} == {"video"}
    assert client.get("/items/harbour/similar", params={"any_kind": "maybe"}).status_code == 422


def test_like_search_scores_are_cosine_similarities(client: TestClient) -> None:
    page = client.get("/search", params={"like": "harbour", "level": "item"}).json()

    scores = [hit["score"] for hit in page["hits"]]
    assert all(-1.0 <= score <= 1.0 for score in scores)
    assert scores != [1 / rank for rank in range(1, len(scores) + 1)]  # not 1/rank


@pytest.mark.parametrize("k", [0, 51, "many"])
def test_similar_k_is_bounded(client: TestClient, k: object) -> None:
    assert client.get("/items/harbour/similar", params={"k": k}).status_code == 422


def test_person_appearances_wait_for_a_face_model(client: TestClient) -> None:
    response = client.get("/people/Ada Stone/appearances")

    assert response.status_code == 200
    assert response.json() == {
        "index_version": "v000002",
        "person": "Ada Stone",
        "appearances": [],
        "note": NO_FACE_MODEL,
    }
    too_long = client.get("/people/" + "x" * 201 + "/appearances")
    assert too_long.status_code == 422
    assert client.get("/people/bad%07name/appearances").status_code == 422
    assert client.get("/people/%20%20/appearances").status_code == 422


def test_versions_list_what_is_kept_and_live(client: TestClient) -> None:
    versions = client.get("/index/versions").json()

    assert [(v["version"], v["live"]) for v in versions] == [
        ("v000001", False),
        ("v000002", True),
    ]
    assert versions[1]["manifest"]["documents"] > versions[0]["manifest"]["documents"]


def test_rollback_and_publish_are_served_without_a_restart(client: TestClient) -> None:
    assert client.get("/items/station").status_code == 200

    rolled = client.post("/admin/index/rollback", headers=AUTH)
    assert rolled.status_code == 200
    assert rolled.json() == {"live": "v000001", "previous": "v000002"}
    assert client.get("/health").json()["index_version"] == "v000001"
    assert client.get("/items/station").status_code == 404  # v000001 predates it
    assert client.get("/search", params={"q": "harbour"}).json()["index_version"] == "v000001"

    nothing_older = client.post("/admin/index/rollback", headers=AUTH)
    assert nothing_older.status_code == 409
    assert "oldest" in nothing_older.json()["detail"]

    published = client.post("/admin/index/publish/v000002", headers=AUTH)
    assert published.json() == {"live": "v000002", "previous": "v000001"}
    assert client.get("/items/station").status_code == 200


def test_rollback_to_a_named_version(client: TestClient) -> None:
    response = client.post("/admin/index/rollback", params={"to": "v000001"}, headers=AUTH)

    assert response.json() == {"live": "v000001", "previous": "v000002"}


@pytest.mark.parametrize(
    ("call", "status"),
    [
        (("post", "/admin/index/publish/v000009"), 404),
        (("post", "/admin/index/rollback?to=v000009"), 404),
        (("post", "/admin/index/publish/latest"), 422),
        (("post", "/admin/index/rollback?to=latest"), 422),
    ],
)
def test_unknown_or_malformed_versions(client: TestClient, call: tuple, status: int) -> None:
    method, path = call
    response = client.request(method, path, headers=AUTH)

    assert response.status_code == status
    if status == 404:
        detail = response.json()["detail"]
        assert detail == "index version v000009 does not exist; kept versions: v000001, v000002"
    assert client.get("/health").json()["index_version"] == "v000002"


@pytest.mark.parametrize(
    "path",
    ["/search", "/items/harbour", "/items/harbour/similar", "/people/Ada/appearances"],
)
def test_nothing_published_is_a_503_that_says_what_to_run(
    empty_client: TestClient, path: str
) -> None:
    response = empty_client.get(path)

    assert response.status_code == 503
    assert response.json() == {"detail": NOT_PUBLISHED}


def test_admin_calls_on_an_empty_home(empty_client: TestClient) -> None:
    assert empty_client.get("/index/versions").json() == []
    assert empty_client.post("/admin/index/rollback", headers=AUTH).status_code == 409
    assert empty_client.post("/admin/index/publish/v000001", headers=AUTH).status_code == 404


def test_a_reader_in_flight_survives_a_publish(indexed: Settings) -> None:
    publish_index(indexed, "v000002")
    live = LiveIndex(indexed)

    with live.reader() as before:
        publish_index(indexed, "v000001")
        with live.reader() as after:
            assert (before.version, after.version) == ("v000002", "v000001")
        assert before.search(SearchQuery(level="item")).total == 4  # not closed under it
    with live.reader() as again:
        assert again is after
    live.close()
    publish_index(indexed, "v000002")


@pytest.fixture
def damaged(indexed: Settings) -> Iterator[Callable[[str, str], Path]]:
    """Damage a file of an index version (``damage(version, file)``); undone afterwards."""
    saved: dict[Path, bytes] = {}

    def damage(version: str, name: str) -> Path:
        path = indexed.index_dir / version / name
        saved[path] = path.read_bytes()
        path.write_bytes(saved[path][: len(saved[path]) // 2])
        return path

    yield damage
    for path, data in saved.items():
        path.write_bytes(data)


def test_a_garbage_pointer_is_reported_by_health_and_repaired_by_publish(
    client: TestClient, indexed: Settings
) -> None:
    pointer = indexed.index_dir / POINTER
    pointer.write_text("garbage\n")
    problem = (
        f"the pointer {pointer} is broken ('garbage' is not a version name (expected "
        "v000001 and so on)); kept versions: v000001, v000002. Repair: "
        "`cinescope index publish <version>` with one of the kept versions"
    )
    health = client.get("/health")
    assert health.status_code == 503
    assert health.json() == {"status": "broken", "index_version": None, "problem": problem}
    search = client.get("/search", params={"q": "kiss"})
    assert (search.status_code, search.json()) == (503, {"detail": problem})
    assert [entry["live"] for entry in client.get("/index/versions").json()] == [False, False]
    repaired = client.post("/admin/index/publish/v000002", headers=AUTH)
    assert repaired.json() == {"live": "v000002", "previous": None}
    assert client.get("/health").json()["status"] == "ok"


def test_a_damaged_live_index_is_reported_by_health_and_search(
    client: TestClient, indexed: Settings, damaged: Callable[[str, str], Path]
) -> None:
    live = indexed.index_dir / "v000002"
    search_file = damaged("v000002", largest_search_file(live).relative_to(live).as_posix())
    health = client.get("/health")
    assert health.status_code == 503
    assert health.json()["problem"].startswith(f"index v000002 is damaged: {search_file} is ")
    search = client.get("/search", params={"q": "kiss"})
    assert search.status_code == 503
    assert search.json()["detail"].startswith(f"index v000002 is damaged: {search_file} is ")
    assert search.json()["detail"].endswith(
        "Repair: `cinescope index rollback` to the version before it, or `cinescope refresh` "
        "to build a new one"
    )
    rollback = client.post("/admin/index/rollback", headers=AUTH)
    assert rollback.json() == {"live": "v000001", "previous": "v000002"}


def test_a_damaged_version_is_neither_rolled_back_to_nor_published(
    client: TestClient, damaged: Callable[[str, str], Path]
) -> None:
    documents = damaged("v000001", DOCUMENTS_FILE)
    for call in (
        client.post("/admin/index/rollback", headers=AUTH),
        client.post("/admin/index/publish/v000001", headers=AUTH),
    ):
        assert call.status_code == 409
        assert call.json()["detail"].startswith(
            f"version v000001 fails verification, so it cannot go live: {documents} is "
        )
    assert client.get("/health").json()["index_version"] == "v000002"


def test_a_missing_pointer_is_reported_by_health_and_search(
    client: TestClient, indexed: Settings
) -> None:
    pointer = indexed.index_dir / POINTER
    pointer.unlink()
    problem = (
        f"the pointer {pointer} is missing, although versions were published (kept: "
        "v000001, v000002). Repair: `cinescope index publish <version>` with one of the "
        "kept versions"
    )
    health = client.get("/health")
    assert (health.status_code, health.json()["problem"]) == (503, problem)
    search = client.get("/search", params={"q": "kiss"})
    assert (search.status_code, search.json()) == (503, {"detail": problem})
    assert client.post("/admin/index/publish/v000002", headers=AUTH).status_code == 200


def test_an_unknown_label_is_a_400_naming_the_labels_the_index_holds(client: TestClient) -> None:
    response = client.get("/search", params={"label": "kis"})

    assert response.status_code == 400
    assert "unknown label 'kis'" in response.json()["detail"]
    assert "kiss" in response.json()["detail"]
