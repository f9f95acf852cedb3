"""Serving recommendations from a saved model: ids in, ranked item ids out, on numpy arrays.

The model numbers users and items by the id maps saved with it; this module is the one place
that translates between those numbers and the ids the shop knows. A user is scored from the
items they bought as the store says now (:meth:`Recommender.history`), so a shopper the model
never saw, or a purchase made after training, is answered without retraining; purchases of
items the model does not know are left out of the score (and never recommended). A shopper who
has bought nothing yet is scored from the items they viewed (:meth:`Recommender.basis`). A catalogue
large enough to have an :class:`~graphrec.serving.topk.ItemIndex` takes its top k from it
(:mod:`graphrec.serving.topk`); a smaller one scans every item. Items folded in since training
are ranked apart and take every :data:`~graphrec.serving.ranking.NEW_ITEM_EVERY`-th place.
"""
from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, NamedTuple, cast

import numpy as np

from graphrec.explain.paths import NO_USER
from graphrec.model import kernel
from graphrec.model.artifact import Artifact
from graphrec.schema import BOUGHT, VIEWED
from graphrec.serving.ranking import (
    NEW_ITEM_EVERY,
    Accept,
    ahead,
    first_accepted,
    folded_places,
    interleave,
    new_item_order,
    new_item_slots,
    top,
    top_accepted,
    trained_places,
)
from graphrec.serving.topk import ItemIndex, top_indexed
from graphrec.sorted_lookup import in_sorted

if TYPE_CHECKING:
    import scipy.sparse as sp


#: What a user is scored and explained from (:meth:`Recommender.basis`).
PURCHASES, VIEWS = "purchases", "views"
#: The relationship from the user that each basis's reason paths start with.
FIRST_HOP = {PURCHASES: BOUGHT, VIEWS: VIEWED}


class UnknownUser(KeyError):
    """The store has no user with this id."""


class UnknownItem(KeyError):
    """The item id is not one the model was trained with."""


class ItemNotReady(LookupError):
    """The catalogue holds the item, ingested since the worker's last look at it: another
    worker of the server may have listed it already; this one serves it after its next look."""


@dataclass(frozen=True)
class Scored:
    rank: int
    item_id: str
    score: float
    new: bool = False  # folded in since training: in a place of its own


class Folded(NamedTuple):
    """Folded items in the order they take their places, their scores and their link keys
    (:func:`~graphrec.serving.ranking.new_item_slots` places them)."""

    items: np.ndarray
    scores: np.ndarray
    keys: np.ndarray


def _folded_within(places: int) -> int:
    """How many folded items can take places among the first ``places`` trained ones (or
    places): two in each :data:`~graphrec.serving.ranking.NEW_ITEM_EVERY` at most (the strong
    place and the last), so two for each ``NEW_ITEM_EVERY - 2`` trained places and two for the
    block begun."""
    return 2 * (places // (NEW_ITEM_EVERY - 2) + 1)


def ids_map(ids: Sequence[str]) -> dict[str, int]:
    """Each id's index: its position in ``ids``."""
    return {value: n for n, value in enumerate(ids)}


def _extended(known: Mapping[str, int], ids: Sequence[str], first: int) -> Mapping[str, int]:
    """:func:`ids_map` of ``ids``, whose first ``first`` are mapped by ``known``."""
    if len(ids) == first:
        return known
    return ChainMap(cast("MutableMapping[str, int]", known),  # read only: ChainMap's typing
                    {value: first + n for n, value in enumerate(ids[first:])})


def scan_table(rows: np.ndarray) -> np.ndarray:
    """``rows`` (``[items, d]``) stored coordinate by coordinate (Fortran order): the table a
    catalogue's scan reads. One user's scores against it (:func:`~graphrec.model.kernel.scores`,
    unchanged: the same array, another layout) are a matrix-vector product that streams the
    table once from the first byte to the last, where the row layout's product reads it as
    ``d``-long dot products, and the table comes from memory, not from the cache, on a first
    visit (``benchmarks/results/NOTES.md``: half the time of the row layout's scan on Beauty)."""
    return np.asfortranarray(rows)


def _shared(keys: np.ndarray, listed: np.ndarray) -> np.ndarray:
    """Of the ``listed`` entries of ``keys`` (sorted), those whose key another listed entry
    has too."""
    kept = keys[listed]
    same = kept[1:] == kept[:-1]
    repeated = np.zeros(len(kept), dtype=bool)
    repeated[1:] |= same
    repeated[:-1] |= same
    out = np.zeros(len(keys), dtype=bool)
    out[np.flatnonzero(listed)[repeated]] = True
    return out


class Recommender:
    """A loaded artifact with its id maps, and how its trained items are searched: through the
    index of their rows when the catalogue has one (``index``, built on the first
    ``index.size`` items: the trained ones, when items were folded in since;
    :func:`graphrec.serving.topk.top_indexed`), else by a scan of :func:`scan_table` of their
    rows (``scan``, made here unless given: a model grown by fold-ins keeps the one of the
    model it grew from, since its trained rows are the same)."""

    def __init__(self, loaded: Artifact, index: ItemIndex | None = None,
                 scan: np.ndarray | None = None, grew_from: Recommender | None = None):
        self.artifact = loaded
        self.state = loaded.state
        self.index = index
        self.scan = scan if scan is not None or index is not None else scan_table(
            self.state.target[:self.trained_items])
        self.user_ids: list[str] = loaded.ids["users"]
        self.item_ids: list[str] = loaded.ids["items"]
        #: Each id's index. ``grew_from``: a recommender of a model whose users and items
        #: this one's start with, in order (the model before items were folded in or
        #: purchases added): its maps serve, the ids added since are looked up in maps of
        #: their own, so a worker's refresh does not map every shopper again.
        self.user_map: Mapping[str, int] = ids_map(self.user_ids) if grew_from is None \
            else _extended(grew_from.user_map, self.user_ids, len(grew_from.user_ids))
        self.item_map: Mapping[str, int] = ids_map(self.item_ids) if grew_from is None \
            else _extended(grew_from.item_map, self.item_ids, len(grew_from.item_ids))

    @property
    def version(self) -> str:
        return self.artifact.version

    def user_index(self, user_id: str) -> int:
        """The model's index of the user, :data:`~graphrec.explain.paths.NO_USER` for one it never
        saw (they are scored all the same, from their purchases)."""
        return self.user_map.get(user_id, NO_USER)

    def item_index(self, item_id: str) -> int:
        try:
            return self.item_map[item_id]
        except KeyError:
            raise UnknownItem(item_id) from None

    def history(self, bought: Iterable[str]) -> np.ndarray:
        """The indices of the bought items the model knows, ascending, without repeats."""
        known = {self.item_map[i] for i in bought if i in self.item_map}
        return np.array(sorted(known), dtype=np.int64)

    def timeline(self, ids: Sequence[str]) -> np.ndarray:
        """The indices of the items of ``ids`` (listed in the order they were bought or
        viewed, the latest last) that the model knows, each once, at its latest place."""
        index = self.item_map
        latest = dict.fromkeys(index[i] for i in reversed(ids) if i in index)
        return np.array(list(latest)[::-1], dtype=np.int64)

    def basis(self, bought: Sequence[str], viewed: Sequence[str]
              ) -> tuple[np.ndarray, np.ndarray, str]:
        """The items a user is scored and explained from, ascending; the same in the order
        they came (:meth:`timeline`: their reasons from recent ones go first,
        :class:`~graphrec.explain.ranker.PathRanker`); and what they are: the purchases
        the model knows (:data:`PURCHASES`); for a shopper with none, the items they looked at
        (:data:`VIEWS`: a customer browsing before their first purchase is answered from what
        they browsed, not from the shop's best sellers). ``bought`` and ``viewed`` are listed
        oldest first. Views never join purchases: how much a look should weigh against a
        purchase is nothing purchase data can tell, and an empty history (neither) gets the
        popular items."""
        timeline, what = self.timeline(bought), PURCHASES
        if not len(timeline):
            timeline, what = self.timeline(viewed), VIEWS
        return np.sort(timeline), timeline, what

    def scores(self, history: np.ndarray) -> np.ndarray:
        """The model's score of every item for a user who bought ``history``, ``[items]``."""
        return self.state.scores(history)

    @property
    def trained_items(self) -> int:
        """How many items the model was trained on: the first ones; those after them were
        folded in since (:mod:`graphrec.serving.newitems`)."""
        return self.state.num_items - self.state.folded

    @cached_property
    def new_links(self) -> sp.csr_matrix:
        """How strongly each item is linked with each folded item
        (:func:`~graphrec.serving.newitems.folded_links`), ``[items, folded]``."""
        from graphrec.serving.newitems import folded_links

        return folded_links(self.artifact.data, self.trained_items, self.artifact.path_index)

    def recommend(self, history: np.ndarray, k: int = 10, accept: Accept | None = None,
                  exclude: np.ndarray | None = None) -> list[Scored]:
        """The ``k`` best items neither in ``history`` nor in ``exclude``, only among those
        ``accept`` lets through when given (see :mod:`graphrec.serving.ranking`), a product
        once (:meth:`same_product`): the trained items by their scores, with places of their
        own for the items folded in since training, when there are some
        (:func:`~graphrec.serving.ranking.new_item_places`)."""
        z = self.state.user_vector(history)
        excluded = self._excluded(history, exclude, z)
        if not self.state.folded:  # the trained items alone
            best, scores = self._top_trained(z, k, excluded, accept)
            return [Scored(rank, self.item_ids[i], score) for rank, (i, score)
                    in enumerate(zip(best.tolist(), scores.tolist()), start=1)]
        folded = self._top_folded(z, history, _folded_within(k), excluded, accept)
        slots = new_item_slots(folded.keys)
        trained = self._top_trained(z, k - int((slots <= k).sum()), excluded, accept)
        if len(trained[0]) + len(folded.items) < k:  # too few trained items: folded ones follow
            folded = self._top_folded(z, history, k - len(trained[0]), excluded, accept)
            slots = new_item_slots(folded.keys)
        ranked = interleave(list(zip(trained[0].tolist(), trained[1].tolist())),
                            list(zip(folded.items.tolist(), folded.scores.tolist())), slots)
        first = self.trained_items
        return [Scored(rank, self.item_ids[i], score, i >= first)
                for rank, (i, score) in enumerate(ranked[:k], start=1)]

    def same_product(self, history: np.ndarray, exclude: np.ndarray | None = None,
                     z: np.ndarray | None = None, popular: bool = False) -> np.ndarray:
        """The listings a shopper who bought ``history`` is never served for their product
        (one :func:`~graphrec.dataset.product_keys` key), ascending: another listing of a
        product in ``history``, and of a product listed more than once, every listing but the
        one the model scores highest for them (``z``: their user vector, made here when not
        given) among those not in ``exclude``; ``popular``: the most bought one, for the list
        of the most bought items (:meth:`popular`). A list names a product once, and never one
        its shopper has.

        The best listing is the one served, or none when no reason path reaches it (never a
        lower one instead): twins share their brand, so a path to one is a path to the other
        almost always, and asking the reason-path test of every shared listing cost a request
        more than the rest of this rule."""
        keys, items = self._listings
        if not len(keys):
            return np.zeros(0, dtype=np.int64)
        product = np.asarray(self.artifact.data.item_product)
        history = np.sort(history)
        mine = np.sort(product[history[history < len(product)]])
        bought = in_sorted(history, items)
        had = in_sorted(mine, keys) & ~bought
        open_ = ~had & ~bought
        if exclude is not None:
            open_ &= ~in_sorted(np.sort(exclude), items)
        open_ &= _shared(keys, open_)  # a product left one listing has nothing to choose
        if not open_.any():
            return np.sort(items[had])
        rest, rest_keys = items[open_], keys[open_]
        if popular:
            scores = self.buyers[rest].astype(np.float64)
        else:
            scores = kernel.scores(z if z is not None else self.state.user_vector(history),
                                   self.state.target[rest])
        order = np.lexsort((-scores, rest_keys))
        lesser = np.r_[False, rest_keys[order][1:] == rest_keys[order][:-1]]
        return np.union1d(items[had], rest[order][lesser])

    def lists_twice(self, item: int) -> bool:
        """Whether ``item``'s product has another listing: only such an item can be left out
        by :meth:`same_product`, which scores the user first (an explanation asks this
        before that work)."""
        return item in self._shared

    @cached_property
    def _shared(self) -> frozenset[int]:
        return frozenset(self._listings[1].tolist())

    def listings_of(self, items: np.ndarray) -> np.ndarray:
        """``items`` (ascending) with every other listing of their products, ascending: a
        product dismissed in one listing is dismissed in all."""
        keys, listed = self._listings
        if not len(keys) or not len(items):
            return items
        product = np.asarray(self.artifact.data.item_product)
        mine = np.sort(product[items[items < len(product)]])
        return np.union1d(items, listed[in_sorted(mine, keys)])

    @cached_property
    def _listings(self) -> tuple[np.ndarray, np.ndarray]:
        """The products listed more than once: their keys, ascending, a key a listing, and the
        listings in the same order. A handful of items on a real catalogue (41 of Beauty's
        12,101), so that a request scores and looks up these, not every item's key."""
        product = np.asarray(self.artifact.data.item_product)
        order = np.argsort(product, kind="stable")
        keys = product[order]
        shared = _shared(keys, keys != 0)
        return keys[shared], order[shared].astype(np.int64)

    def _excluded(self, history: np.ndarray, exclude: np.ndarray | None, z: np.ndarray
                  ) -> np.ndarray:
        """What a shopper who bought ``history`` (user vector ``z``) is never served: it,
        ``exclude``, and the listings :meth:`same_product` leaves out, ascending."""
        excluded = history if exclude is None else np.union1d(history, exclude)
        return np.union1d(excluded, self.same_product(history, exclude, z))

    def _top_trained(self, z: np.ndarray, k: int, excluded: np.ndarray,
                     accept: Accept | None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best trained items for the user vector ``z`` and their scores."""
        target = self.state.target
        if self.state.folded:
            trained = self.trained_items
            target, excluded = target[:trained], excluded[excluded < trained]
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if self.index is not None:
            return top_indexed(self.index, target, z, k, excluded, accept)
        scores = self.trained_scores(z)
        scores[excluded] = -np.inf
        best = top_accepted(scores, k, accept)
        return best, scores[best]

    def trained_scores(self, z: np.ndarray) -> np.ndarray:
        """Every trained item's score for the user vector ``z``: a scan of the catalogue."""
        rows = self.scan if self.scan is not None else self.state.target[:self.trained_items]
        return kernel.scores(z, rows)

    def _folded_order(self, z: np.ndarray, history: np.ndarray, excluded: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every folded item not in ``excluded`` in the order they take their places
        (:func:`~graphrec.serving.ranking.new_item_order`), and every folded item's score and
        link key."""
        first = self.trained_items
        scores = kernel.scores(z, self.state.target[first:])
        scores[excluded[excluded >= first] - first] = -np.inf
        links = self.new_links
        starts, counts = links.indptr[history], np.diff(links.indptr)[history]
        at = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        key = np.bincount(links.indices[at], weights=links.data[at], minlength=len(scores))
        return new_item_order(scores, key) + first, scores, key

    def _top_folded(self, z: np.ndarray, history: np.ndarray, k: int, excluded: np.ndarray,
                    accept: Accept | None) -> Folded:
        """The first ``k`` folded items to take their places."""
        if k <= 0 or not self.state.folded:
            return Folded(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32),
                          np.zeros(0))
        order, scores, key = self._folded_order(z, history, excluded)
        best = first_accepted(order, k, accept)
        at = best - self.trained_items
        return Folded(best, scores[at], key[at])

    def score(self, history: np.ndarray, item: int) -> float:
        """The model's score of one item for a user who bought ``history``."""
        return float(kernel.scores(self.state.user_vector(history),
                                  self.state.target[[item]])[0])

    def served_place(self, history: np.ndarray, item: int, accept: Accept,
                     exclude: np.ndarray, window: int = 50) -> tuple[float, int]:
        """``item``'s score and its place in the list :meth:`recommend` serves with these
        arguments (1 = first; ``item`` must be served: neither in ``history`` nor in
        ``exclude``, nor of :meth:`same_product`, and accepted), by
        :func:`~graphrec.serving.ranking.trained_places` and
        :func:`~graphrec.serving.ranking.folded_places` from its rank among its kind.

        A trained item of a catalogue searched through an index is ranked among the first
        ``window`` trained items, as a page asks for them (a request's cost then does not grow
        with the catalogue, and the place is the one in the list served, scores to the bit); an
        item further down, or any item of a catalogue scanned whole, by every trained item's
        score: those ahead of it that ``accept`` lets through."""
        z = self.state.user_vector(history)
        excluded = self._excluded(history, exclude, z)
        first = self.trained_items
        if item >= first:
            order, scores, key = self._folded_order(z, history, excluded)
            before = order[:int(np.flatnonzero(order == item)[0])]
            if len(before):
                before = before[np.asarray(accept(before), dtype=bool)]
            slots = new_item_slots(key[np.append(before, item) - first])
            trained = self._top_trained(z, int(slots[-1]) - len(slots), excluded, accept)
            return float(scores[item - first]), int(folded_places(
                np.asarray(len(slots)), slots, len(trained[0])))
        score, rank = self._trained_rank(z, item, accept, excluded, window)
        if not self.state.folded:
            return score, rank
        folded = self._top_folded(z, history, _folded_within(rank), excluded, accept)
        return score, int(trained_places(np.asarray(rank), new_item_slots(folded.keys)))

    def _trained_rank(self, z: np.ndarray, item: int, accept: Accept, excluded: np.ndarray,
                      window: int) -> tuple[float, int]:
        """A trained ``item``'s score and its rank among the trained items served."""
        if self.index is not None:
            best, best_scores = self._top_trained(z, window, excluded, accept)
            found = np.flatnonzero(best == item)
            if len(found):
                return float(best_scores[found[0]]), int(found[0]) + 1
        scores = self.trained_scores(z)
        score = float(scores[item])
        scores[excluded[excluded < len(scores)]] = -np.inf
        return score, int(np.asarray(accept(np.flatnonzero(ahead(scores, item))),
                                     dtype=bool).sum()) + 1

    def popular_counts(self, history: np.ndarray, exclude: np.ndarray) -> np.ndarray:
        """Each item's :attr:`buyers` as the list of the most bought items ranks them for a
        shopper who bought ``history``: ``-inf`` for those it never serves them (``history``,
        ``exclude``, :meth:`same_product`)."""
        counts = self.buyers.astype(np.float64)
        counts[history] = -np.inf
        counts[exclude] = -np.inf
        counts[self.same_product(history, exclude, popular=True)] = -np.inf
        return counts

    @cached_property
    def buyers(self) -> np.ndarray:
        """Buyers per item, ``[items]``: what a shopper with no purchase is shown. Every
        purchase the store holds counts (the test split's too, which no model learns from:
        :meth:`~graphrec.dataset.GraphData.held_out_only`), so that "bought by 431 of them" and
        the list's order are what the store says; a model saved without its test purchases
        counts those it learnt from."""
        data = self.artifact.data
        counts = np.bincount(np.asarray(data.train)[:, 1], minlength=len(self.item_ids))
        held = data.held_out_only()
        if len(held):
            counts += np.bincount(held[:, 1], minlength=len(self.item_ids))
        return counts

    def popular(self, k: int, history: np.ndarray, exclude: np.ndarray) -> list[Scored]:
        """The ``k`` most bought items (:attr:`buyers` as the score) neither in ``history``
        nor in ``exclude``, a product once (:meth:`same_product`)."""
        counts = self.popular_counts(history, exclude)
        best = top(counts, min(k, int(np.isfinite(counts).sum())))
        return [Scored(rank, self.item_ids[int(i)], float(counts[i]))
                for rank, i in enumerate(best, start=1)]
