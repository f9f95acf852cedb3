"""RP3β (Paudel et al., ACM TiiS 2017): a random walk of three steps, popularity penalised.

A walk user → item → user → item scores item ``j`` for a user by the probability of ending
there: ``W = P_iu · P_ui`` with ``P_ui`` each user's purchases as transition probabilities
(rows of ``X`` divided by their sums) and ``P_iu`` the same for items (rows of ``Xᵀ``). RP3β
raises every transition probability to the power ``α`` and divides column ``j`` by its
popularity to the power ``β``, so a walk to a best-seller counts for less; then, as in the
implementation that Dacrema et al. (RecSys 2019) found among the strongest of the simple
baselines, only each item's ``k`` largest weights are kept and each row is scaled to sum to 1.
A user's score is ``X · W``: the sum over the items they bought.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from graphrec.dataset import GraphData
from graphrec.evaluation.baselines.base import (
    ItemItemModel,
    ItemItemScorer,
    search,
    validation_score,
)
from graphrec.evaluation.evaluate import validation_split


def _row_stochastic(matrix: sp.csr_matrix, alpha: float) -> sp.csr_matrix:
    """``matrix`` with each row divided by its sum, every entry then raised to ``alpha``."""
    sums = np.asarray(matrix.sum(axis=1), dtype=np.float64).ravel()
    scale = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
    out = (sp.diags(scale) @ matrix).tocsr()
    out.data **= alpha
    return out


def walk_weights(train: sp.csr_matrix, alpha: float, beta: float) -> sp.csr_matrix:
    """The item × item weights of the three-step walk, before pruning: ``(P_iu^α P_ui^α)``
    with column ``j`` divided by ``popularity_j^β`` (``popularity`` counts ``j``'s buyers)."""
    train = train.astype(np.float64).tocsr()
    item_user = _row_stochastic(train.T.tocsr(), alpha)
    user_item = _row_stochastic(train, alpha)
    weights = (item_user @ user_item).tocsr()
    popularity = np.asarray(train.sum(axis=0), dtype=np.float64).ravel()
    penalty = np.divide(1.0, popularity ** beta, out=np.zeros_like(popularity),
                        where=popularity > 0)
    weights.data *= penalty[weights.indices]
    weights.setdiag(0.0)
    weights.eliminate_zeros()
    return weights


class RowRanks:
    """Each entry's rank within its row of a CSR matrix (0: the largest), computed once so that
    keeping the top ``k`` for several ``k`` costs one mask each."""

    def __init__(self, weights: sp.csr_matrix) -> None:
        self.weights = weights
        rows = np.repeat(np.arange(weights.shape[0]), np.diff(weights.indptr))
        order = np.lexsort((-weights.data, rows))  # by row, largest first within a row
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order)) - weights.indptr[rows[order]]
        self.rank = rank

    def top(self, k: int) -> sp.csr_matrix:
        """The ``k`` largest entries of every row, each row then scaled to sum to 1."""
        kept = self.weights.copy()
        kept.data = np.where(self.rank < k, kept.data, 0.0)
        kept.eliminate_zeros()
        sums = np.asarray(kept.sum(axis=1), dtype=np.float64).ravel()
        scale = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
        return (sp.diags(scale) @ kept).astype(np.float32).tocsr()


def rp3beta_weights(train: sp.csr_matrix, alpha: float, beta: float, k: int) -> sp.csr_matrix:
    """RP3β's pruned, row-normalised item × item weights for a users × items train matrix."""
    return RowRanks(walk_weights(train, alpha, beta)).top(k)


class RP3Beta(ItemItemModel):
    """RP3β with walk exponent ``alpha``, popularity exponent ``beta`` and ``k`` neighbours.

    Any of the three left ``None`` is tuned on a validation split carved from train: for each
    ``alpha`` (ascending, stopping past the peak) the best ``beta`` (likewise), and for each of
    those every ``k`` of ``k_grid`` (neighbourhood sizes are not unimodal, see
    :func:`~graphrec.evaluation.baselines.base.search`). Dacrema et al. tuned the same three. The
    grids reach below what Beauty's validation split chose (α 0.5, β 0, k 20; a first grid that
    started at α 0.5 and k 50 chose both of its smallest values).

    Args:
        alpha: exponent of the transition probabilities (1: the plain walk, P3α).
        beta: exponent of the popularity penalty (0: none).
        k: largest weights kept per item.
        alpha_grid, beta_grid, k_grid: ascending candidates for what is left ``None``.
        seed: seed of the validation split.
    """

    def __init__(self, alpha: float | None = None, beta: float | None = None,
                 k: int | None = None,
                 alpha_grid: Sequence[float] = (0.25, 0.5, 0.75, 1.0, 1.25),
                 beta_grid: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8),
                 k_grid: Sequence[int] = (5, 10, 20, 50, 100, 200, 500, 1000),
                 seed: int = 0) -> None:
        self.alpha, self.beta, self.k = alpha, beta, k
        self.alpha_grid = tuple(alpha_grid) if alpha is None else (alpha,)
        self.beta_grid = tuple(beta_grid) if beta is None else (beta,)
        self.k_grid = tuple(k_grid) if k is None else (k,)
        self.seed = seed
        self.fit_info: dict[str, Any] = {}

    def fit(self, data: GraphData) -> Self:
        alpha, beta, k = self.alpha, self.beta, self.k
        if alpha is None or beta is None or k is None:
            alpha, beta, k = self._tune(data)
        train = data.train_matrix()
        self.scorer = ItemItemScorer(train, rp3beta_weights(train, alpha, beta, k))
        self.fit_info.update(alpha=alpha, beta=beta, k=k)
        return self

    def _tune(self, data: GraphData) -> tuple[float, float, int]:
        """Best ``(alpha, beta, k)`` on a validation split; every score goes to ``fit_info``."""
        split = validation_split(data, seed=self.seed)
        train = split.train_matrix()
        scores: dict[str, float] = {}
        best: dict[tuple[float, float], float] = {}
        best_beta: dict[float, float] = {}

        def score_alpha(alpha: float) -> float:
            def score_beta(beta: float) -> float:
                ranks = RowRanks(walk_weights(train, alpha, beta))

                def score_k(k: float) -> float:
                    key = f"alpha={alpha:g},beta={beta:g},k={int(k)}"
                    scores[key] = validation_score(ItemItemScorer(train, ranks.top(int(k))),
                                                   split)
                    return scores[key]

                best[alpha, beta], by_k = search(self.k_grid, score_k, stop_past_peak=False)
                return by_k[best[alpha, beta]]

            best_beta[alpha], by_beta = search(self.beta_grid, score_beta)
            return by_beta[best_beta[alpha]]

        alpha, _ = search(self.alpha_grid, score_alpha)
        self.fit_info["validation_ndcg@10"] = scores
        beta = best_beta[alpha]
        return alpha, beta, int(best[alpha, beta])

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(alpha={self.alpha}, beta={self.beta}, k={self.k})"
