"""What every baseline honours, and the small pieces several of them share.

The contract is two methods, as in benfred/implicit's ``RecommenderBase``: ``fit(data)`` learns
from ``data.train`` only (and tunes on a validation split carved from it), ``score_users(users)``
scores every item for a batch of users. Masking of train items and the top-k cut belong to
:mod:`graphrec.evaluation.evaluate`, so no model can get them wrong.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol, Self

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.dataset import GraphData
from graphrec.evaluation.evaluate import Scorer, evaluate

TUNING_METRIC = "ndcg@10"


class Baseline(Protocol):
    """A model the benchmark can fit, score and report (graphrec's own model too, through
    :class:`graphrec.model.train.KGRecRecommender`; serving's model is another thing,
    :class:`graphrec.serving.recommend.Recommender`).

    ``fit_info`` holds what fitting chose and measured (tuned hyper-parameters, ``epochs``,
    ``seconds_per_epoch``), so the benchmark can report it without knowing the model.
    """

    fit_info: dict[str, Any]

    def fit(self, data: GraphData) -> Self: ...

    def score_users(self, users: np.ndarray) -> torch.Tensor | np.ndarray: ...


class ItemItemScorer:
    """Scores ``X[users] @ W`` for a users × items matrix ``X`` and item–item weights ``W``.

    The shape shared by item-kNN, EASE, EASE with links and RP3β: a user's score for an item is
    the sum of the weights from the items they bought to it. ``weights`` may be sparse (RP3β
    keeps a few hundred per item), and then stays so.
    """

    def __init__(self, train: sp.csr_matrix, weights: np.ndarray | sp.spmatrix) -> None:
        self.train = train
        self.weights: np.ndarray | sp.csr_matrix = (
            sp.csr_matrix(weights, dtype=np.float32) if sp.issparse(weights)
            else np.ascontiguousarray(weights, dtype=np.float32))

    def score_users(self, users: np.ndarray) -> np.ndarray:
        return self.score_history(self.train[np.asarray(users)])

    def score_history(self, history: sp.csr_matrix) -> np.ndarray:
        """Scores of every item for each row of a users × items 0/1 matrix (fold-in: the
        users need not be those of the train matrix)."""
        scores = history @ self.weights
        return np.asarray(scores.toarray() if sp.issparse(scores) else scores, dtype=np.float32)


class ItemItemModel:
    """A baseline whose fit ends in an :class:`ItemItemScorer` (item-kNN, EASE, EASE with links,
    RP3β): it scores the users it was fitted with, or any history (fold-in), through that
    scorer. Subclasses set ``scorer`` in ``fit``."""

    scorer: ItemItemScorer | None = None

    def score_users(self, users: np.ndarray) -> np.ndarray:
        assert self.scorer is not None, "fit first"
        return self.scorer.score_users(users)

    def score_history(self, history: sp.csr_matrix) -> np.ndarray:
        """Scores for the histories of a users × items matrix (fold-in)."""
        assert self.scorer is not None, "fit first"
        return self.scorer.score_history(history)


def validation_score(scorer: Scorer, split: GraphData) -> float:
    """The tuning metric of ``scorer`` on a validation split (its ``test`` is held-out train)."""
    return evaluate(scorer, split)[TUNING_METRIC]


def search(grid: Iterable[float], score: Callable[[float], float],
           stop_past_peak: bool = True) -> tuple[float, dict[float, float]]:
    """Best value of an ascending grid by validation score, and every score computed.

    With ``stop_past_peak`` the search ends at the first value that scores worse than the best so
    far: validation curves over a regulariser are unimodal in practice and every point can cost a
    full fit (EASE: a 12k × 12k inverse). Neighbourhood sizes are not unimodal (item-kNN on
    Beauty dips between 20 and 100 neighbours), so cheap searches look at the whole grid.
    """
    scores: dict[float, float] = {}
    best: float | None = None
    for value in grid:
        scores[value] = score(value)
        if best is None or scores[value] >= scores[best]:
            best = value
        elif stop_past_peak:
            break
    assert best is not None, "empty grid"
    return best, scores
