"""EASE plus the catalogue's item–item links: the knowledge graph's cheapest possible use.

Co-purchase data is thin (a Beauty user has ~7 train purchases), while Amazon's ``also_bought``,
``also_viewed`` and ``bought_together`` lists come from far more shoppers than the sample. Adding
a normalised link matrix to EASE's weights lets a user's purchases vote for linked items too:
``W = B + w · D^-1/2 S D^-1/2`` with ``S`` the symmetric 0/1 adjacency of the links and ``D``
its degrees. This is the bar a graph model has to clear to show the graph is worth more than that.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np

from graphrec.dataset import GraphData
from graphrec.evaluation.baselines.base import (
    ItemItemModel,
    ItemItemScorer,
    search,
    validation_score,
)
from graphrec.evaluation.baselines.ease import ease_weights
from graphrec.evaluation.evaluate import validation_split
from graphrec.model.kernel import symmetric_normalised
from graphrec.schema import LINK_RELATIONS


def link_matrix(data: GraphData, relations: Sequence[str] = LINK_RELATIONS) -> np.ndarray:
    """Dense ``D^-1/2 S D^-1/2`` of the in-catalogue links, ``S`` symmetric and 0/1.

    An item pair counts once however many relations or directions link it, so a pair listed as
    both ``also_bought`` and ``also_viewed`` does not outweigh the rest. Unlinked items get a zero
    row and column.
    """
    n = data.num_items
    links = np.zeros((n, n), dtype=np.float32)
    pairs = [data.links[r] for r in relations if r in data.links and len(data.links[r])]
    if pairs:
        edges = np.concatenate(pairs)
        rows, cols, values = symmetric_normalised(n, edges[:, 0], edges[:, 1], np.float64)
        links[rows, cols] = values
    return links


class EASELinks(ItemItemModel):
    """EASE whose item–item weights also get ``weight`` × the normalised link matrix.

    ``lam`` and ``weight`` left ``None`` are tuned together on a validation split: the links
    smooth the model much as λ does, so the best λ with links need not be EASE's best λ.

    Args:
        lam: EASE's λ; ``None`` searches ``lam_grid`` (ascending, stops past the peak).
        weight: the links' weight ``w``; ``None`` searches ``weight_grid`` at every λ tried.
        relations: which link relations form the adjacency.
        seed: seed of the validation split.
    """

    def __init__(self, lam: float | None = None, weight: float | None = None,
                 lam_grid: Sequence[float] = (10, 25, 50, 100, 200, 500, 1000),
                 weight_grid: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0),
                 relations: Sequence[str] = LINK_RELATIONS, seed: int = 0) -> None:
        self.lam = lam
        self.weight = weight
        self.lam_grid = tuple(lam_grid) if lam is None else (lam,)
        self.weight_grid = tuple(weight_grid) if weight is None else (weight,)
        self.relations = tuple(relations)
        self.seed = seed
        self.fit_info: dict[str, Any] = {}

    def fit(self, data: GraphData) -> Self:
        links = link_matrix(data, self.relations)
        lam, weight = self.lam, self.weight
        if lam is None or weight is None:
            lam, weight = self._tune(data, links)
        train = data.train_matrix()
        self.scorer = ItemItemScorer(train, ease_weights(train, lam) + weight * links)
        self.fit_info.update(lam=lam, weight=weight)
        return self

    def _tune(self, data: GraphData, links: np.ndarray) -> tuple[float, float]:
        """Best ``(lam, weight)`` on a validation split; records every score in ``fit_info``."""
        split = validation_split(data, seed=self.seed)
        train = split.train_matrix()
        best_weight: dict[float, float] = {}
        scores: dict[str, float] = {}

        def score_lam(lam: float) -> float:
            base = ease_weights(train, lam)

            def score_weight(weight: float) -> float:
                scores[f"lam={lam:g},w={weight:g}"] = validation_score(
                    ItemItemScorer(train, base + weight * links), split)
                return scores[f"lam={lam:g},w={weight:g}"]

            best_weight[lam], by_weight = search(self.weight_grid, score_weight)
            return by_weight[best_weight[lam]]

        lam, _ = search(self.lam_grid, score_lam)
        self.fit_info["validation_ndcg@10"] = scores
        return lam, best_weight[lam]

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(lam={self.lam}, weight={self.weight})"
