"""Item-kNN on co-purchases (Sarwar et al., WWW 2001): the classic neighbourhood baseline."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.dataset import GraphData
from graphrec.evaluation.baselines.base import (
    ItemItemModel,
    ItemItemScorer,
    search,
    validation_score,
)
from graphrec.evaluation.evaluate import validation_split


def cosine_similarity(train: sp.csr_matrix) -> torch.Tensor:
    """Dense item × item cosine of the item columns of ``train``, zero diagonal.

    Dense because the catalogue (~12k items, 0.6 GB in float32) fits, and pruning to the top-k of
    every column is then one ``torch.topk``.
    """
    gram = torch.from_numpy(np.ascontiguousarray((train.T @ train).toarray(), dtype=np.float32))
    norms = gram.diagonal().sqrt()
    inv = torch.where(norms > 0, 1.0 / norms, torch.zeros_like(norms))
    sim = gram.mul_(inv[:, None]).mul_(inv[None, :])
    sim.fill_diagonal_(0.0)
    return sim


def keep_top_k(sim: torch.Tensor, k: int) -> np.ndarray:
    """``sim`` with all but the ``k`` largest entries of every column set to zero.

    Column ``j`` holds the neighbours that may vote for item ``j``, so each candidate is scored by
    its ``k`` most similar items only.
    """
    k = min(k, sim.shape[0])
    values, rows = torch.topk(sim, k, dim=0)
    out = torch.zeros_like(sim)
    out.scatter_(0, rows, values)
    return out.numpy()


class ItemKNN(ItemItemModel):
    """Score of item ``j`` for a user: summed cosine similarity of ``j`` to the user's items.

    Args:
        k: neighbours kept per item; ``None`` tunes it on a validation split over ``grid``.
        grid: ascending candidates for ``k``.
        seed: seed of the validation split.
    """

    def __init__(self, k: int | None = None,
                 grid: Sequence[int] = (20, 50, 100, 200, 500, 1000, 2000, 5000),
                 seed: int = 0) -> None:
        self.k = k
        self.grid = tuple(grid)
        self.seed = seed
        self.fit_info: dict[str, Any] = {}

    def fit(self, data: GraphData) -> Self:
        k: float | None = self.k
        if k is None:
            split = validation_split(data, seed=self.seed)
            train, sim = split.train_matrix(), cosine_similarity(split.train_matrix())
            k, scores = search(self.grid, lambda kk: validation_score(
                ItemItemScorer(train, keep_top_k(sim, int(kk))), split), stop_past_peak=False)
            self.fit_info["validation_ndcg@10"] = scores
            del sim
        train = data.train_matrix()
        self.scorer = ItemItemScorer(train, keep_top_k(cosine_similarity(train), int(k)))
        self.fit_info["k"] = int(k)
        return self

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(k={self.k})"
