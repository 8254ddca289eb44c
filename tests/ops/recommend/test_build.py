"""The recommendation index of a small generated catalog, with and without interactions."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ops.catalog.schema import ITEM_SCHEMA
from ops.recommend.build import (
    METRICS_FILE,
    REFUSED_FILE,
    SIMILAR_FILE,
    SIMILAR_SCHEMA,
    RecommendParams,
    build_recommendations,
)
from ops.recommend.content import fuse_item_vectors

GROUPS, PER_GROUP, DIM, K = 3, 12, 24, 5
TOPICS = ("trains", "oceans", "jazz")
RNG = np.random.default_rng(11)
CENTRES = RNG.normal(size=(GROUPS, DIM)) * 2
ECHO_DIRECTION = RNG.normal(size=DIM) * 3


def sha(n: int) -> str:
    return f"{n:064x}"


def item(item_id: str, group: int, n: int, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "item_id": item_id,
        "source": "archive",
        "url": f"https://archive.example/{item_id}",
        "kind": "video",
        "sha256": sha(n),
        "title": f"{TOPICS[group].title()} film {n}",
        "description": f"A documentary about {TOPICS[group]} number {n}",
        "year": 1950 + n,
        "tags": [TOPICS[group]],
        "people": [f"Director {group}"] if n % 2 == 0 else [],
        "duration_s": 60.0,
        "status": "ok",
    }
    row.update(changes)
    return row


def generated() -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Three topics; a byte-identical copy, a near-identical twin, a cluster of echoes of
    one pivot item, a quarantined item and an image without a content vector."""
    rows, vectors = [], {}
    for group in range(GROUPS):
        for index in range(PER_GROUP):
            n = group * PER_GROUP + index
            item_id = f"g{group}-{index:02d}"
            rows.append(item(item_id, group, n))
            vectors[item_id] = CENTRES[group] + RNG.normal(size=DIM)
    rows.append(item("copy-of-g0-00", 0, 900, sha256=sha(0), title="Copy"))
    vectors["copy-of-g0-00"] = RNG.normal(size=DIM)
    rows.append({**rows[1], "item_id": "twin-of-g0-01", "sha256": sha(901)})
    vectors["twin-of-g0-01"] = vectors["g0-01"].copy()
    pivot = CENTRES[0] + ECHO_DIRECTION
    rows.append(item("pivot", 0, 902, tags=["trains", "steam"]))
    vectors["pivot"] = pivot
    for echo in range(6):
        rows.append(item(f"echo-{echo}", 0, 910 + echo, tags=["trains", "steam"]))
        vectors[f"echo-{echo}"] = pivot + RNG.normal(size=DIM) * 0.8
    rows.append(item("banned", 0, 920, status="quarantined", status_reason="bad"))
    vectors["banned"] = vectors["g0-02"].copy()
    rows.append(
        item("photo", 1, 921, kind="image", duration_s=None, people=["Director 1"], year=None)
    )
    return pa.Table.from_pylist(rows, schema=ITEM_SCHEMA).to_pandas(), vectors


CATALOG, VECTORS = generated()
OK_IDS = set(CATALOG.loc[CATALOG["status"] == "ok", "item_id"])


@pytest.fixture(scope="module")
def content_only(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    folder = tmp_path_factory.mktemp("content")
    summary = build_recommendations(CATALOG, VECTORS, folder, k=K)
    assert summary.similar_path == folder / SIMILAR_FILE
    return pq.read_table(summary.similar_path).to_pandas(), folder


def test_every_ok_item_gets_k_ranked_rows(content_only: tuple[pd.DataFrame, Path]) -> None:
    similar, _ = content_only
    assert set(similar["item_id"]) == OK_IDS
    assert set(similar["similar_item_id"]) <= OK_IDS
    per_item = similar.groupby(["scope", "item_id"])["rank"].apply(list)
    assert all(ranks == list(range(1, K + 1)) for ranks in per_item)
    assert set(similar.loc[similar["scope"] == "any", "item_id"]) == OK_IDS


def test_ranks_follow_the_scores(content_only: tuple[pd.DataFrame, Path]) -> None:
    similar, _ = content_only
    for _, rows in similar.groupby(["scope", "item_id"]):
        scores = rows.sort_values("rank")["score"].to_numpy()
        assert (np.diff(scores) <= 0).all(), scores


def test_the_default_list_keeps_to_the_item_s_kind(
    content_only: tuple[pd.DataFrame, Path],
) -> None:
    similar, _ = content_only
    kinds = dict(zip(CATALOG["item_id"], CATALOG["kind"], strict=True))
    own = similar[similar["scope"] == "kind"]
    assert (own["item_id"].map(kinds) == own["similar_item_id"].map(kinds)).all()
    assert "photo" not in set(own["item_id"])  # the only image: nothing of its kind
    across = similar[similar["scope"] == "any"]
    assert "photo" in set(across["item_id"]) | set(across["similar_item_id"])


def test_unrelated_items_are_left_out_rather_than_padding_a_list(tmp_path: Path) -> None:
    lone = item("lone", 0, 930, kind="audio", title="Zyzzyva", description="qwxv")
    lone |= {"tags": [], "people": [], "year": None}
    catalog = pd.concat([CATALOG, pd.DataFrame([lone])], ignore_index=True)
    summary = build_recommendations(catalog, VECTORS, tmp_path, k=K)
    similar = pq.read_table(summary.similar_path).to_pandas()
    assert "lone" not in set(similar["item_id"]) | set(similar["similar_item_id"])
    assert (similar["score"] >= RecommendParams().min_score).all()


def test_never_the_item_itself_nor_its_duplicates(
    content_only: tuple[pd.DataFrame, Path],
) -> None:
    similar, _ = content_only
    pairs = set(zip(similar["item_id"], similar["similar_item_id"], strict=True))
    assert all(a != b for a, b in pairs)
    for original, duplicate in (("g0-00", "copy-of-g0-00"), ("g0-01", "twin-of-g0-01")):
        assert (original, duplicate) not in pairs
        assert (duplicate, original) not in pairs
        lists = similar.groupby("item_id")["similar_item_id"].apply(set)
        assert not any({original, duplicate} <= chosen for chosen in lists)
    assert "banned" not in set(similar["item_id"]) | set(similar["similar_item_id"])


def test_neighbours_come_from_the_same_topic(content_only: tuple[pd.DataFrame, Path]) -> None:
    similar, _ = content_only
    topical = similar[similar["item_id"].str.match(r"g\d-")]
    same = topical["item_id"].str[:2] == topical["similar_item_id"].str[:2]
    same |= topical["item_id"].str.startswith("g0") & ~topical["similar_item_id"].str[0].eq("g")
    assert same.mean() > 0.9


def test_mmr_breaks_up_a_cluster_of_echoes(tmp_path: Path) -> None:
    relevance_only = RecommendParams(mmr_lambda=1.0)
    diverse = RecommendParams(mmr_lambda=0.3)
    fused = fuse_item_vectors(CATALOG[CATALOG["status"] == "ok"], VECTORS)
    rows = {item_id: row for row, item_id in enumerate(fused.item_ids)}
    lists = {}
    for name, params in (("plain", relevance_only), ("mmr", diverse)):
        build_recommendations(CATALOG, VECTORS, tmp_path / name, k=K, params=params)
        similar = pq.read_table(tmp_path / name / SIMILAR_FILE).to_pandas()
        lists[name] = similar.loc[similar["item_id"] == "pivot", "similar_item_id"].tolist()
    assert all(chosen.startswith("echo-") for chosen in lists["plain"])
    assert sum(chosen.startswith("echo-") for chosen in lists["mmr"]) < K

    def redundancy(chosen: list[str]) -> float:
        vectors = fused.matrix[[rows[c] for c in chosen]]
        pairwise = vectors @ vectors.T
        return float(pairwise[~np.eye(len(chosen), dtype=bool)].mean())

    assert redundancy(lists["mmr"]) < redundancy(lists["plain"]) - 0.1


def test_reasons_are_short_and_true(content_only: tuple[pd.DataFrame, Path]) -> None:
    similar, _ = content_only
    people = dict(zip(CATALOG["item_id"], CATALOG["people"].map(list), strict=True))
    for row in similar.itertuples():
        assert 0 < len(row.reason) <= 120
        for part in row.reason.split("; "):
            if part.startswith("same people: "):
                names = part.removeprefix("same people: ").split(", ")
                assert set(names) <= set(people[row.item_id]) & set(people[row.similar_item_id])
    reasons = set(similar["reason"])
    assert "same people: Director 0; same tags: trains" in reasons
    assert "same tags: trains, steam" in reasons
    photo = similar[similar["item_id"] == "photo"]
    assert "same people: Director 1; same tags: oceans" in set(photo["reason"])
    assert not any("content" in reason for reason in photo["reason"])  # it has none


def test_outputs_follow_the_contract(content_only: tuple[pd.DataFrame, Path]) -> None:
    _, folder = content_only
    assert pq.read_schema(folder / SIMILAR_FILE).equals(SIMILAR_SCHEMA)
    metrics = json.loads((folder / METRICS_FILE).read_text())
    assert metrics["k"] == K
    assert metrics["items"] == len(OK_IDS)
    videos = len(OK_IDS) - 1  # the photo has no other image to be like
    assert metrics["rows"] == len(OK_IDS) * K + videos * K  # across kinds + within its kind
    assert metrics["items_with_content"] == len(OK_IDS) - 1  # the photo
    assert metrics["interactions"] is None
    assert metrics["params"]["mmr_lambda"] == pytest.approx(0.7)
    assert sorted(p.name for p in folder.iterdir()) == [METRICS_FILE, SIMILAR_FILE]


def write_interactions(path: Path) -> None:
    """Viewers who watch one trains film and one jazz film: a pairing content cannot see."""
    rng = np.random.default_rng(5)
    start = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    lines = ["user,item,event,time"]
    for user in range(120):
        index = user % PER_GROUP
        watched = [f"g0-{index:02d}", f"g2-{index:02d}", f"g1-{rng.integers(PER_GROUP):02d}"]
        for item_id in watched:
            when = start + dt.timedelta(minutes=int(rng.integers(100_000)))
            event = rng.choice(["view", "like", "complete"])
            lines.append(f"user-{user},{item_id},{event},{when.isoformat()}")
    lines += ["user-1,banned,view,2024-03-02T00:00:00Z", "user-1,g0-01,rate,2024-03-02"]
    path.write_text("\n".join(lines) + "\n")


def test_interactions_blend_in_collaborative_neighbours(tmp_path: Path) -> None:
    interactions = tmp_path / "interactions.csv"
    write_interactions(interactions)
    folder = tmp_path / "index"
    summary = build_recommendations(CATALOG, VECTORS, folder, k=K, interactions_path=interactions)
    assert summary.collaborative
    assert summary.refused_interactions == 2
    assert summary.recall is not None
    assert set(summary.recall) == {"content", "cf", "blend"}
    assert summary.recall["blend"] >= summary.recall["content"]
    refused = (folder / REFUSED_FILE).read_text()
    assert "'banned' is not an ok catalog item" in refused
    assert "unknown event 'rate'" in refused

    metrics = json.loads((folder / METRICS_FILE).read_text())
    section = metrics["interactions"]
    assert section["rows"] == 360
    assert section["refused"] == 2
    assert section["evaluation"]["recall"] == summary.recall
    assert section["evaluation"]["users_evaluated"] > 0

    similar = pq.read_table(folder / SIMILAR_FILE).to_pandas()
    trains = similar[similar["item_id"] == "g0-03"]
    assert "g2-03" in set(trains["similar_item_id"])  # watched together, different topic
    partner = trains[trains["similar_item_id"] == "g2-03"]["reason"].iloc[0]
    assert partner.startswith("10 people who watched Trains film 3 also watched this")
    assert "banned" not in set(similar["similar_item_id"])


def test_small_and_malformed_catalogs(tmp_path: Path) -> None:
    single = CATALOG[CATALOG["item_id"] == "g0-00"]
    summary = build_recommendations(single, VECTORS, tmp_path / "one", k=K)
    assert summary.rows == 0
    assert pq.read_table(summary.similar_path).num_rows == 0
    doubled = pd.concat([CATALOG, CATALOG.head(1)], ignore_index=True)
    with pytest.raises(ValueError, match="duplicate ok item_id"):
        build_recommendations(doubled, VECTORS, tmp_path / "dup", k=K)
    with pytest.raises(ValueError, match="lacks the Item column"):
        build_recommendations(CATALOG.drop(columns=["sha256"]), VECTORS, tmp_path / "x", k=K)
    with pytest.raises(ValueError, match="k must be"):
        build_recommendations(CATALOG, VECTORS, tmp_path / "zero", k=0)
    with pytest.raises(ValueError, match=r"mmr_lambda\n.*less than or equal to 1"):
        RecommendParams(mmr_lambda=2.0)
