"""Reasons for one recommendation: the candidate paths of a pair, ranked by what they carry.

The one place where path finding (:mod:`graphrec.explain.paths`) meets the model's attribution
(:mod:`graphrec.explain.attribution`); the CLI, the HTTP service, ``graphrec publish`` and the
benchmark all rank paths through :meth:`PathRanker.ranked`.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from graphrec.explain.attribution import EdgeMasking
from graphrec.explain.paths import NO_USER, HistoryWalks, PathFinder, ReasonPath
from graphrec.model.kernel import Propagated
from graphrec.schema import BOUGHT

K = TypeVar("K")

#: A reason path with the score it carries (:meth:`PathRanker.ranked`).
WeightedPath = tuple[float, ReasonPath]


def starting_with(ranked: dict[K, list[WeightedPath]], relation: str
                  ) -> dict[K, list[WeightedPath]]:
    """``ranked`` with each path's first hop of type ``relation``
    (:meth:`~graphrec.explain.paths.ReasonPath.starting_with`): the weights are those of the
    history whatever it holds, the hop says what it holds. ``ranked`` itself for ``BOUGHT``,
    the hop every path of the finder starts with (a request of a shopper with purchases
    copies nothing)."""
    if relation == BOUGHT:
        return ranked
    return {key: [(weight, path.starting_with(relation)) for weight, path in paths]
            for key, paths in ranked.items()}


class PathRanker:
    """Ranks the candidate reason paths of ``(history, item)`` pairs by the score each carries
    (edge masking). Named for what it does: it is not ``torch_geometric.explain.Explainer``."""

    def __init__(self, state: Propagated, paths: PathFinder):
        self.paths = paths
        self.masking = EdgeMasking(state)

    def ranked(self, history: np.ndarray, item: int, user: int = NO_USER) -> list[WeightedPath]:
        """Every candidate path from ``history`` to ``item`` with the score it carries, the
        strongest first (ties keep the finder's order: brand, category, links,
        collaborative); ``user`` is the paths' first node (see :meth:`PathFinder.candidates`)."""
        return self.ranked_items(history, [item], user)[0]

    def ranked_items(self, history: np.ndarray, items: Sequence[int], user: int = NO_USER,
                     walks: HistoryWalks | None = None, limit: int | None = None
                     ) -> list[list[WeightedPath]]:
        """:meth:`ranked` of each of ``items`` for one user, the strongest ``limit`` of each (all
        when ``None``): every path of every item found and weighed together, as columns
        (:meth:`PathFinder.table`, :meth:`EdgeMasking.table_weights`: a page's items cost one
        masking, not one per item), and only the paths returned made objects. ``walks``:
        :meth:`PathFinder.walks` of ``history`` when the caller has it."""
        table = self.paths.table(history, items, user, walks)
        weights = self.masking.table_weights(history, table)
        out = []
        for rows in table.by_item():  # strongest first; ties keep the finder's order
            rows = rows[np.lexsort((rows, -weights[rows]))][:limit]
            out.append(list(zip(weights[rows].tolist(), table.paths(rows))))
        return out
