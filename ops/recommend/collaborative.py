"""Implicit-feedback matrix factorisation (Hu, Koren & Volinsky 2008), its split and its metric.

Each (user, item) pair has a preference ``p = 1`` when the user interacted with the item and a
confidence ``c = 1 + alpha * r``, ``r`` being the summed event weights of the pair; pairs never
seen have ``p = 0, c = 1``. Alternating least squares solves every user row, then every item
row, exactly: ``x_u = (YᵀY + Yᵀ(C_u - I)Y + λI)⁻¹ YᵀC_u p_u``, which only touches the items the
user interacted with. Everything is seeded, so a refit on the same data gives the same model.
Item-item similarity is the cosine of item factors (:meth:`ImplicitModel.unit_item_factors`);
:func:`evaluate_time_split` compares it with content similarity, and their blend, by recall@k
on the latest interactions.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from ops.index.vectors import unit_rows
from ops.recommend.params import AlsParams

_USERS_PER_BLOCK = 1024  # users scored together in the evaluation (memory: users x items)


@dataclass(frozen=True)
class ImplicitModel:
    """Fitted user and item factors; ``item_interactions`` counts training rows per item."""

    user_ids: tuple[str, ...]
    item_ids: tuple[str, ...]
    user_factors: np.ndarray
    item_factors: np.ndarray
    item_interactions: np.ndarray

    def recommend(self, user_id: str, k: int, exclude: Collection[str] = ()) -> list[str]:
        """The user's ``k`` best-scored items, leaving out ``exclude`` (e.g. items seen)."""
        scores = self.item_factors @ self.user_factors[self.user_ids.index(user_id)]
        excluded = set(exclude)
        order = np.argsort(-scores, kind="stable")
        chosen = (self.item_ids[row] for row in order if self.item_ids[row] not in excluded)
        return [item_id for _, item_id in zip(range(k), chosen, strict=False)]

    def unit_item_factors(self) -> np.ndarray:
        """Item factors scaled to unit length: inner products are item-item cosines.

        Items nobody interacted with get a zero row (no collaborative similarity)."""
        unit = unit_rows(self.item_factors)
        unit[self.item_interactions == 0] = 0.0
        return unit


def interaction_matrix(
    interactions: pd.DataFrame, item_ids: Sequence[str]
) -> tuple[sparse.csr_matrix, tuple[str, ...]]:
    """Users x items matrix of summed event weights (columns in ``item_ids`` order).

    ``interactions`` has columns ``user``, ``item``, ``weight``; items outside ``item_ids``
    are an error, since the caller validated them against the catalog.
    """
    item_rows = {item_id: row for row, item_id in enumerate(item_ids)}
    unknown = sorted(set(interactions["item"]) - item_rows.keys())
    if unknown:
        raise ValueError(f"interactions name items outside the item list: {unknown[:5]}")
    user_ids = tuple(sorted(set(interactions["user"])))
    user_rows = {user_id: row for row, user_id in enumerate(user_ids)}
    matrix = sparse.coo_matrix(
        (
            interactions["weight"].to_numpy(dtype=np.float64),
            (
                interactions["user"].map(user_rows).to_numpy(),
                interactions["item"].map(item_rows).to_numpy(),
            ),
        ),
        shape=(len(user_ids), len(item_ids)),
    ).tocsr()
    matrix.sum_duplicates()
    return matrix, user_ids


def fit_als(
    interactions: pd.DataFrame, item_ids: Sequence[str], params: AlsParams | None = None
) -> ImplicitModel:
    """Fit user and item factors on ``interactions`` (columns user, item, weight)."""
    params = params or AlsParams()
    weights, user_ids = interaction_matrix(interactions, item_ids)
    confidence_excess = (weights * params.alpha).tocsr()  # c - 1 on the observed pairs
    rng = np.random.default_rng(params.seed)
    scale = 0.01
    users = rng.normal(scale=scale, size=(weights.shape[0], params.factors))
    items = rng.normal(scale=scale, size=(weights.shape[1], params.factors))
    by_item = confidence_excess.T.tocsr()
    for _ in range(params.iterations):
        users = _solve_rows(confidence_excess, items, params.regularization)
        items = _solve_rows(by_item, users, params.regularization)
    counts = np.bincount(
        interactions["item"].map({item_id: row for row, item_id in enumerate(item_ids)}),
        minlength=len(item_ids),
    )
    return ImplicitModel(
        user_ids=user_ids,
        item_ids=tuple(item_ids),
        user_factors=users,
        item_factors=items,
        item_interactions=counts,
    )


def _solve_rows(
    confidence_excess: sparse.csr_matrix, fixed: np.ndarray, regularization: float
) -> np.ndarray:
    """One ALS half-step: the exact least-squares rows given the other side's factors."""
    factors = fixed.shape[1]
    gram = fixed.T @ fixed + regularization * np.eye(factors)
    solved = np.zeros((confidence_excess.shape[0], factors))
    indptr, indices, data = (
        confidence_excess.indptr,
        confidence_excess.indices,
        confidence_excess.data,
    )
    for row in range(confidence_excess.shape[0]):
        start, end = indptr[row], indptr[row + 1]
        if start == end:
            continue
        observed = fixed[indices[start:end]]
        excess = data[start:end]
        system = gram + (observed.T * excess) @ observed
        solved[row] = np.linalg.solve(system, observed.T @ (1.0 + excess))
    return solved


def time_split(
    interactions: pd.DataFrame, test_fraction: float = 0.2
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) by time: the latest ``test_fraction`` of the rows are the test set."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be within (0, 1), got {test_fraction}")
    ordered = interactions.sort_values("time", kind="stable").reset_index(drop=True)
    test_rows = math.ceil(len(ordered) * test_fraction)
    if len(ordered) < 2 or test_rows >= len(ordered):
        raise ValueError(
            f"{len(ordered)} interaction(s) cannot be split into a train and a test set"
        )
    cut = len(ordered) - test_rows
    return ordered.iloc[:cut].reset_index(drop=True), ordered.iloc[cut:].reset_index(drop=True)


def recall_at_k(
    recommended: Mapping[str, Sequence[str]], relevant: Mapping[str, Collection[str]], k: int
) -> float:
    """Mean over users with relevant items of ``|top-k ∩ relevant| / min(k, |relevant|)``.

    Normalising by ``min(k, |relevant|)`` lets a perfect list score 1 even when a user has
    more relevant items than ``k``. Users missing from ``recommended`` count as 0.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    recalls = [
        len(set(recommended.get(user, ())[:k]) & set(items)) / min(k, len(items))
        for user, items in relevant.items()
        if items
    ]
    if not recalls:
        raise ValueError("no user has a relevant item: recall is undefined")
    return float(np.mean(recalls))


@dataclass(frozen=True)
class SplitEvaluation:
    """recall@k on a time split for each scorer (``content``, ``cf``, ``blend``), or why
    it could not be measured (``skipped``)."""

    k: int
    test_fraction: float
    train_rows: int
    test_rows: int
    users_evaluated: int
    recall: dict[str, float] | None
    skipped: str | None
    method: str = "item-based: a user's items ranked by mean similarity to their training items"


def evaluate_time_split(
    interactions: pd.DataFrame,
    item_ids: Sequence[str],
    content: np.ndarray,
    *,
    k: int,
    cf_weight: float,
    min_item_interactions: int,
    test_fraction: float = 0.2,
    als: AlsParams | None = None,
) -> SplitEvaluation:
    """Compare content-only, cf-only and blended item similarity on a time-based split.

    Each scorer is used as a more-like-this index is: a user's score for an item is the mean
    similarity of that item to the user's training items. ``content`` holds unit item vectors
    (rows in ``item_ids`` order); cf similarity is the cosine of ALS item factors fitted on
    the training part; the blend is ``(1 - cf_weight) * content + cf_weight * cf`` for pairs of
    items with at least ``min_item_interactions`` training events, content otherwise. Items a
    user already had are never ranked; only new items of the test period are relevant.
    """
    try:
        train, test = time_split(interactions, test_fraction)
    except ValueError as error:
        return SplitEvaluation(k, test_fraction, 0, 0, 0, recall=None, skipped=str(error))
    seen, users = interaction_matrix(train, item_ids)
    seen = (seen > 0).astype(np.float64).tocsr()
    user_rows = {user: row for row, user in enumerate(users)}
    relevant: dict[str, set[str]] = {}
    for user, group in test.groupby("user"):
        if user in user_rows:
            new = set(group["item"]) - {item_ids[i] for i in seen[user_rows[user]].indices}
            if new:
                relevant[str(user)] = new
    counts = (k, test_fraction, len(train), len(test), len(relevant))
    if not relevant:
        reason = "no user of the test period has new items and a training history"
        return SplitEvaluation(*counts, recall=None, skipped=reason)
    model = fit_als(train, item_ids, als)
    ranked = _rank_for_users(
        seen[[user_rows[user] for user in relevant]],
        np.asarray(content, dtype=np.float64),
        model.unit_item_factors().astype(np.float64),
        model.item_interactions >= min_item_interactions,
        k,
        cf_weight,
    )
    recall = {
        name: recall_at_k(
            {user: [item_ids[i] for i in top[n]] for n, user in enumerate(relevant)}, relevant, k
        )
        for name, top in ranked.items()
    }
    return SplitEvaluation(*counts, recall=recall, skipped=None)


def _rank_for_users(
    seen: sparse.csr_matrix,
    content: np.ndarray,
    factors: np.ndarray,
    warm: np.ndarray,
    k: int,
    cf_weight: float,
) -> dict[str, np.ndarray]:
    """Top-k item rows per user (rows of ``seen``) for each scorer, a block of users at once.

    Mean similarity to the training items is the similarity to their mean vector, so each
    block costs two matrix products per scorer.
    """
    warm_only = sparse.diags(warm.astype(np.float64))
    top: dict[str, list[np.ndarray]] = {"content": [], "cf": [], "blend": []}
    for start in range(0, seen.shape[0], _USERS_PER_BLOCK):
        had = seen[start : start + _USERS_PER_BLOCK]
        profile = sparse.diags(1.0 / np.asarray(had.sum(axis=1)).ravel()) @ had
        warm_profile = profile @ warm_only
        content_scores = np.asarray(profile @ content) @ content.T
        warm_content = (np.asarray(warm_profile @ content) @ content.T) * warm
        warm_cf = (np.asarray(warm_profile @ factors) @ factors.T) * warm
        scores = {
            "content": content_scores,
            "cf": np.asarray(profile @ factors) @ factors.T,
            "blend": content_scores + cf_weight * (warm_cf - warm_content),
        }
        unseen = had.toarray() == 0
        for name, block in scores.items():
            top[name].append(_top_k(np.where(unseen, block, -np.inf), k))
    return {name: np.vstack(blocks) for name, blocks in top.items()}


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column positions of each row's ``k`` highest scores, best first."""
    count = min(k, scores.shape[1])
    part = np.argpartition(-scores, count - 1, axis=1)[:, :count]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)
