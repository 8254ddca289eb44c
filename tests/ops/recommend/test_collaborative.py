"""Implicit ALS on interactions with a planted group structure, the time split and recall@k."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ops.recommend.collaborative import (
    AlsParams,
    evaluate_time_split,
    fit_als,
    interaction_matrix,
    recall_at_k,
    time_split,
)

GROUPS, ITEMS_PER_GROUP, USERS, EVENTS_PER_USER, K = 4, 15, 160, 10, 5
ITEM_IDS = tuple(f"item-{i:02d}" for i in range(GROUPS * ITEMS_PER_GROUP))
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
FAST = AlsParams(factors=8, iterations=8)


def group_of(item_id: str) -> int:
    return int(item_id.removeprefix("item-")) // ITEMS_PER_GROUP


def planted_interactions(seed: int = 0) -> pd.DataFrame:
    """Each user sticks to one group of items (90% of events), at random times."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(USERS):
        group = user % GROUPS
        own = [i for i in ITEM_IDS if group_of(i) == group]
        for item in rng.choice(own, size=EVENTS_PER_USER - 1, replace=False):
            rows.append((f"user-{user}", str(item)))
        rows.append((f"user-{user}", str(rng.choice(ITEM_IDS))))
    hours = rng.permutation(len(rows))
    return pd.DataFrame(
        {
            "user": [user for user, _ in rows],
            "item": [item for _, item in rows],
            "event": "view",
            "weight": rng.choice([1.0, 3.0, 5.0], size=len(rows)),
            "time": [START + dt.timedelta(hours=int(h)) for h in hours],
        }
    )


@pytest.fixture(scope="module")
def interactions() -> pd.DataFrame:
    return planted_interactions()


def relevant_new_items(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, set[str]]:
    had = train.groupby("user")["item"].agg(set).to_dict()
    return {
        user: set(group["item"]) - had[user]
        for user, group in test.groupby("user")
        if user in had and set(group["item"]) - had[user]
    }


def test_als_recommends_the_planted_groups_far_above_random(interactions: pd.DataFrame) -> None:
    train, test = time_split(interactions, 0.2)
    model = fit_als(train, ITEM_IDS, FAST)
    relevant = relevant_new_items(train, test)
    had = train.groupby("user")["item"].agg(set).to_dict()
    recommended = {user: model.recommend(user, K, exclude=had[user]) for user in relevant}
    recall = recall_at_k(recommended, relevant, K)
    random_recall = K / (len(ITEM_IDS) - EVENTS_PER_USER)  # about 0.1
    assert recall > 4 * random_recall
    own_group = [
        group_of(item) == int(user.removeprefix("user-")) % GROUPS
        for user, items in recommended.items()
        for item in items
    ]
    assert np.mean(own_group) > 0.9


def test_item_factors_put_same_group_items_together(interactions: pd.DataFrame) -> None:
    model = fit_als(interactions, ITEM_IDS, FAST)
    unit = model.unit_item_factors()
    similarity = unit @ unit.T
    groups = np.array([group_of(i) for i in ITEM_IDS])
    same = groups[:, None] == groups[None, :]
    off_diagonal = ~np.eye(len(ITEM_IDS), dtype=bool)
    assert similarity[same & off_diagonal].mean() > similarity[~same].mean() + 0.3


def test_items_nobody_had_get_no_collaborative_vector(interactions: pd.DataFrame) -> None:
    model = fit_als(interactions, (*ITEM_IDS, "never-seen"), FAST)
    assert model.item_interactions[-1] == 0
    assert not model.unit_item_factors()[-1].any()
    assert model.item_interactions.sum() == len(interactions)


def test_fitting_is_seeded(interactions: pd.DataFrame) -> None:
    first, second = fit_als(interactions, ITEM_IDS, FAST), fit_als(interactions, ITEM_IDS, FAST)
    np.testing.assert_array_equal(first.item_factors, second.item_factors)
    other = fit_als(interactions, ITEM_IDS, AlsParams(factors=8, iterations=8, seed=1))
    assert not np.array_equal(first.item_factors, other.item_factors)


def test_blend_beats_content_only_when_content_knows_nothing(interactions: pd.DataFrame) -> None:
    noise = np.random.default_rng(3).normal(size=(len(ITEM_IDS), 16))
    content = noise / np.linalg.norm(noise, axis=1, keepdims=True)
    evaluation = evaluate_time_split(
        interactions, ITEM_IDS, content, k=K, cf_weight=0.5, min_item_interactions=5, als=FAST
    )
    assert evaluation.skipped is None
    assert evaluation.recall is not None
    assert evaluation.users_evaluated > USERS / 2
    assert evaluation.train_rows + evaluation.test_rows == len(interactions)
    assert evaluation.recall["cf"] > 4 * K / len(ITEM_IDS)
    assert evaluation.recall["blend"] >= evaluation.recall["content"]
    assert evaluation.recall["blend"] > evaluation.recall["content"] + 0.2


def test_evaluation_says_why_it_was_skipped(interactions: pd.DataFrame) -> None:
    one_row = interactions.head(1)
    content = np.eye(len(ITEM_IDS))
    evaluation = evaluate_time_split(
        one_row, ITEM_IDS, content, k=K, cf_weight=0.5, min_item_interactions=5
    )
    assert evaluation.recall is None
    assert evaluation.skipped is not None and "cannot be split" in evaluation.skipped
    train, test = time_split(interactions, 0.2)
    newcomers = pd.concat([train, test.assign(user=test["user"] + "-new")], ignore_index=True)
    evaluation = evaluate_time_split(
        newcomers, ITEM_IDS, content, k=K, cf_weight=0.5, min_item_interactions=5, als=FAST
    )
    assert evaluation.skipped is not None and "training history" in evaluation.skipped


def test_time_split_puts_the_latest_interactions_in_the_test_set(
    interactions: pd.DataFrame,
) -> None:
    train, test = time_split(interactions, 0.25)
    assert len(test) == len(interactions) // 4
    assert len(train) + len(test) == len(interactions)
    assert train["time"].max() <= test["time"].min()
    with pytest.raises(ValueError, match="within"):
        time_split(interactions, 1.0)
    with pytest.raises(ValueError, match="cannot be split"):
        time_split(interactions.head(1), 0.2)


def test_recall_at_k_by_hand() -> None:
    recommended = {"ann": ["a", "b", "c"], "bob": ["x", "y", "z"]}
    relevant = {"ann": {"a", "z"}, "bob": {"y"}, "cid": {"q"}, "dan": set()}
    # ann 1/2, bob 1/1, cid (nothing recommended) 0; dan has nothing relevant and is left out
    assert recall_at_k(recommended, relevant, 3) == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    # k smaller than the relevant set: normalised by k
    assert recall_at_k({"ann": ["a", "z", "q"]}, {"ann": {"a", "z", "q", "r"}}, 2) == 1.0
    with pytest.raises(ValueError, match="undefined"):
        recall_at_k(recommended, {"dan": set()}, 3)


def test_interaction_matrix_sums_repeated_events() -> None:
    frame = pd.DataFrame(
        {"user": ["ann", "ann", "bob"], "item": ["a", "a", "b"], "weight": [1.0, 3.0, 5.0]}
    )
    matrix, users = interaction_matrix(frame, ["a", "b", "c"])
    assert users == ("ann", "bob")
    assert matrix.toarray().tolist() == [[4.0, 0.0, 0.0], [0.0, 5.0, 0.0]]
    with pytest.raises(ValueError, match="outside the item list"):
        interaction_matrix(frame, ["a"])
