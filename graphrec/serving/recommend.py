"""Serving recommendations from a saved model: ids in, ranked item ids out, on numpy arrays.

The model numbers users and items by the id maps saved with it; this module is the one place
that translates between those numbers and the ids the shop knows. A user is scored from the
items they bought as the store says now (:meth:`Recommender.history`), so a shopper the model
never saw, or a purchase made after training, is answered without retraining; purchases of
items the model does not know are left out of the score (and never recommended). A catalogue
large enough to have an :class:`~graphrec.serving.topk.ItemIndex` takes its top k from it
(:mod:`graphrec.serving.topk`); a smaller one scans every item.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from graphrec.explain.paths import NO_USER
from graphrec.model import kernel
from graphrec.model.artifact import Artifact
from graphrec.serving.ranking import Accept, ahead, top, top_accepted
from graphrec.serving.topk import ItemIndex, top_indexed


class UnknownUser(KeyError):
    """The store has no user with this id."""


class UnknownItem(KeyError):
    """The item id is not one the model was trained with."""


@dataclass(frozen=True)
class Scored:
    rank: int
    item_id: str
    score: float


class Recommender:
    """A loaded artifact with its id maps, and the index of its item rows when the catalogue
    is searched through one (``index``, built on the first ``index.size`` items: the trained
    ones, when items were folded in since; :func:`graphrec.serving.topk.top_indexed`)."""

    def __init__(self, loaded: Artifact, index: ItemIndex | None = None):
        self.artifact = loaded
        self.state = loaded.state
        self.index = index
        self.user_ids: list[str] = loaded.ids["users"]
        self.item_ids: list[str] = loaded.ids["items"]
        self._user_index = {u: i for i, u in enumerate(self.user_ids)}
        self._item_index = {item: i for i, item in enumerate(self.item_ids)}

    @property
    def version(self) -> str:
        return self.artifact.version

    def user_index(self, user_id: str) -> int:
        """The model's index of the user, :data:`~graphrec.explain.paths.NO_USER` for one it never
        saw (they are scored all the same, from their purchases)."""
        return self._user_index.get(user_id, NO_USER)

    def item_index(self, item_id: str) -> int:
        try:
            return self._item_index[item_id]
        except KeyError:
            raise UnknownItem(item_id) from None

    def history(self, bought: Iterable[str]) -> np.ndarray:
        """The indices of the bought items the model knows, ascending, without repeats."""
        known = {self._item_index[i] for i in bought if i in self._item_index}
        return np.array(sorted(known), dtype=np.int64)

    def scores(self, history: np.ndarray) -> np.ndarray:
        """The model's score of every item for a user who bought ``history``, ``[items]``."""
        return self.state.scores(history)

    def recommend(self, history: np.ndarray, k: int = 10, accept: Accept | None = None,
                  exclude: np.ndarray | None = None) -> list[Scored]:
        """The ``k`` best items neither in ``history`` nor in ``exclude``, only among those
        ``accept`` lets through when given (see :mod:`graphrec.serving.ranking`)."""
        if self.index is not None:
            excluded = history if exclude is None else np.union1d(history, exclude)
            best, best_scores = top_indexed(self.index, self.state.target,
                                            self.state.user_vector(history), k, excluded, accept)
            return [Scored(rank, self.item_ids[int(i)], float(score))
                    for rank, (i, score) in enumerate(zip(best, best_scores), start=1)]
        scores = self.scores(history)
        scores[history] = -np.inf
        if exclude is not None:
            scores[exclude] = -np.inf
        return [Scored(rank, self.item_ids[int(i)], float(scores[i]))
                for rank, i in enumerate(top_accepted(scores, k, accept), start=1)]

    def score(self, history: np.ndarray, item: int) -> float:
        """The model's score of one item for a user who bought ``history``."""
        return float(kernel.scores(self.state.user_vector(history),
                                  self.state.target[[item]])[0])

    def served_place(self, history: np.ndarray, item: int, accept: Accept,
                     exclude: np.ndarray, window: int = 50) -> tuple[float, int]:
        """``item``'s score and its place in the list :meth:`recommend` serves with these
        arguments (1 = first; ``item`` must be neither in ``history`` nor in ``exclude``, and
        accepted).

        A catalogue searched through an index is asked for its first ``window`` items as a page
        is (a request's cost then does not grow with the catalogue, and the place is the one in
        the list served, scores to the bit); an item further down, or any item of a catalogue
        scanned whole, is placed by every item's score: those ahead of it that ``accept`` lets
        through."""
        if self.index is not None:
            for scored in self.recommend(history, window, accept, exclude):
                if self._item_index[scored.item_id] == item:
                    return scored.score, scored.rank
        scores = self.scores(history)
        score = float(scores[item])
        scores[history] = -np.inf
        scores[exclude] = -np.inf
        return score, int(np.asarray(accept(np.flatnonzero(ahead(scores, item))),
                                     dtype=bool).sum()) + 1

    @cached_property
    def buyers(self) -> np.ndarray:
        """Train buyers per item, ``[items]``: what a shopper with no purchase is shown."""
        return np.bincount(np.asarray(self.artifact.data.train)[:, 1],
                           minlength=len(self.item_ids))

    def popular(self, k: int, exclude: np.ndarray) -> list[Scored]:
        """The ``k`` most bought items (train buyers as the score) not in ``exclude``."""
        counts = self.buyers.astype(np.float64)
        counts[exclude] = -np.inf
        best = top(counts, min(k, int(np.isfinite(counts).sum())))
        return [Scored(rank, self.item_ids[int(i)], float(counts[i]))
                for rank, i in enumerate(best, start=1)]
