"""Reasons for one recommendation: the candidate paths of a pair, ranked by what they carry.

The one place where path finding (:mod:`graphrec.explain.paths`) meets the model's attribution
(:mod:`graphrec.explain.attribution`); the CLI, the HTTP service, ``graphrec publish`` and the
benchmark all rank paths through :meth:`PathRanker.ranked`.

Of the reasons that carry about as much of the score as the strongest (:data:`RECENT_WITHIN`),
the one from the latest purchase is shown first. Two purchases often explain an item about
equally (several of a user's items share its brand, or were bought with it), and then the
masking's small difference between them says less to a shopper than which one they bought last
week: a reason from a recent purchase is the one they remember and the one their current needs
follow. Balloccu et al. (SIGIR 2022) measure this as LIR and reorder paths for it the same way,
after the ranking; here only paths the model weighs nearly alike may trade places, so the
reason shown first still carries nearly the most of the score (what fidelity and necessity
measure, :mod:`graphrec.evaluation.fidelity`).

A direct item link goes ahead of a chain of two links from the same purchase that weighs
within the same margin more. Both lean on the purchase's ``BOUGHT`` edge, which carries most
of either's weight, so a chain often outranks the link it starts with by a hair; "shoppers who
bought it also bought this" then says what the detour through a middle item says, more plainly.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from graphrec.explain.attribution import EdgeMasking
from graphrec.explain.paths import (
    NO_USER,
    CandidatePaths,
    HistoryWalks,
    PathFinder,
    ReasonPath,
)
from graphrec.model.kernel import Propagated
from graphrec.schema import BOUGHT
from graphrec.sorted_lookup import find_sorted

K = TypeVar("K")

#: A reason path with the score it carries (:meth:`PathRanker.ranked`).
WeightedPath = tuple[float, ReasonPath]

#: A path whose weight is within this share of the strongest path's may be shown first when it
#: starts from a later purchase (see the module's docstring).
RECENT_WITHIN = 0.1


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

    def __init__(self, state: Propagated, paths: PathFinder,
                 recent_within: float = RECENT_WITHIN, masking: EdgeMasking | None = None):
        """``masking``: the :class:`EdgeMasking` of ``state`` when the caller has it (it
        depends on the propagated arrays alone), else made here."""
        if masking is not None and masking.state is not state:
            raise ValueError("the edge masking given is another model's")
        self.paths = paths
        self.masking = EdgeMasking(state) if masking is None else masking
        self.recent_within = recent_within

    def ranked(self, history: np.ndarray, item: int, user: int = NO_USER,
               timeline: np.ndarray | None = None) -> list[WeightedPath]:
        """Every candidate path from ``history`` to ``item`` with the score it carries, the
        strongest first (ties keep the finder's order: brand, category, links,
        collaborative), except that the first is the one from the latest purchase of those
        within :attr:`recent_within` of the strongest; ``timeline`` is ``history`` in the order
        it was bought, the latest last (``None``: order unknown, strongest first throughout);
        ``user`` is the paths' first node (see :meth:`PathFinder.candidates`)."""
        return self.ranked_items(history, [item], user, timeline=timeline)[0]

    def ranked_items(self, history: np.ndarray, items: Sequence[int], user: int = NO_USER,
                     walks: HistoryWalks | None = None, limit: int | None = None,
                     timeline: np.ndarray | None = None) -> list[list[WeightedPath]]:
        """:meth:`ranked` of each of ``items`` for one user, the first ``limit`` of each (all
        when ``None``): every path of every item found and weighed together, as columns
        (:meth:`PathFinder.table`, :meth:`EdgeMasking.table_weights`: a page's items cost one
        masking, not one per item), and only the paths returned made objects. ``walks``:
        :meth:`PathFinder.walks` of ``history`` when the caller has it."""
        table = self.paths.table(history, items, user, walks)
        weights = self.masking.table_weights(history, table)
        strength = self._strength(table, weights)
        bought_at = None if timeline is None else _places(timeline, table.via)
        out = []
        for rows in table.by_item():
            rows = self._ordered(rows, strength, bought_at)[:limit]
            out.append(list(zip(weights[rows].tolist(), table.paths(rows))))
        return out

    def _ordered(self, rows: np.ndarray, strength: np.ndarray, bought_at: np.ndarray | None
                 ) -> np.ndarray:
        """One item's ``rows`` in the order shown: strongest first by ``strength`` (ties in
        the finder's order), then the latest purchase's first (:meth:`_latest_first`)."""
        rows = rows[np.lexsort((rows, -strength[rows]))]
        if bought_at is not None and len(rows) > 1:
            rows = self._latest_first(rows, strength, bought_at)
        return rows

    def _strength(self, table: CandidatePaths, weights: np.ndarray) -> np.ndarray:
        """What the paths of ``table`` are ordered by: their ``weights``, but two kinds of path
        give way to another path of the same purchase to the same item that comes within
        :attr:`recent_within` below them, taking just under its strength so that it goes
        ahead: a chain of two links to the purchase's direct link, and a path through a broad
        brand or category (:meth:`PathFinder.broad`: "also in Women", a reason most
        candidates share) to any path that is not. Paths of one purchase weigh nearly alike
        (masking either takes out its ``BOUGHT`` edge), so the order among them is a hair's."""
        kind, links = table.kind, self.paths.link_kinds
        strength = weights
        if not len(table):
            return strength
        group = table.owner * (int(table.via.max()) + 1) + table.via  # (item, purchase)
        chains = np.flatnonzero(kind == self.paths.chain_kind)
        if len(chains):
            strength = self._give_way(group, strength, chains, np.flatnonzero(
                (kind >= links.start) & (kind < links.stop)))
        if self.paths.any_broad:
            broad = self.paths.broad(kind, table.middle)
            strength = self._give_way(group, strength, np.flatnonzero(broad),
                                      np.flatnonzero(~broad))
        return strength

    def _give_way(self, group: np.ndarray, strength: np.ndarray, give: np.ndarray,
                  take: np.ndarray) -> np.ndarray:
        """``strength`` where each row of ``give`` whose item and purchase (``group``, one key
        a pair) have a row of ``take`` at most :attr:`recent_within` weaker takes just under
        the strongest such row's strength."""
        if not len(give) or not len(take):
            return strength
        order = take[np.lexsort((-strength[take], group[take]))]
        keys, first = np.unique(group[order], return_index=True)
        at, found = find_sorted(keys, group[give])
        best = np.where(found, strength[order[first]][np.minimum(at, len(keys) - 1)], -np.inf)
        own = strength[give]
        gives = found & (best < own) & (best >= own - self.recent_within * np.abs(own))
        out = strength.copy()
        out[give[gives]] = np.nextafter(best[gives], -np.inf)
        return out

    def _latest_first(self, rows: np.ndarray, strength: np.ndarray, bought_at: np.ndarray
                      ) -> np.ndarray:
        """``rows`` (strongest first by ``strength``) with the path from the latest purchase
        among those within :attr:`recent_within` of the strongest moved to the front (the
        strongest of them when several start from that purchase); the others keep their
        order."""
        strongest = strength[rows[0]]
        near = int(np.count_nonzero(
            strength[rows] >= strongest - self.recent_within * abs(strongest)))
        first = int(np.argmax(bought_at[rows[:near]]))
        if not first:
            return rows
        return np.concatenate([rows[first:first + 1], rows[:first], rows[first + 1:]])


def _places(timeline: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Each of ``items``' place in ``timeline`` (0 the first bought), -1 where absent."""
    order = np.argsort(timeline, kind="stable")
    position, found = find_sorted(timeline[order], items)
    return np.where(found, order[position], -1)
