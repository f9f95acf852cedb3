"""The top k of one user's scores, optionally only among the items a rule accepts.

graphrec serves only what it can explain: an item with no reason path to the user (no brand,
category, link, link chain or co-buyer in common with what they bought) is passed over for the
next one down. The service, ``graphrec recommend``, ``publish`` and the benchmark's evaluation
all rank through :func:`top_accepted`, so the lists that are measured are the lists that are
served. Items folded in since training do not compete with the trained ones: they take places
of their own (:data:`NEW_ITEM_EVERY`), by a rule the service and the cold-start benchmark share.
numpy only: serving never imports torch.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

import numpy as np

#: ``items (int64 array) → bool array``: whether each may be recommended.
Accept = Callable[[np.ndarray], np.ndarray]
T = TypeVar("T")


def top(scores: np.ndarray, size: int) -> np.ndarray:
    """Indices of the ``size`` highest scores, best first (ties: the lower index first, also
    among the items tied at the cut)."""
    if size <= 0:
        return np.zeros(0, dtype=np.int64)
    if size < len(scores):
        part = np.argpartition(-scores, size - 1)[:size]
        last = scores[part].min()
        if last > -np.inf:  # argpartition keeps any of the items tied with the last: all of them
            part = np.flatnonzero(scores >= last)
    else:
        part = np.arange(len(scores))
    return part[np.lexsort((part, -scores[part]))][:size].astype(np.int64)


def top_accepted(scores: np.ndarray, k: int, accept: Accept | None = None,
                 window: int | None = None) -> np.ndarray:
    """Indices of the ``k`` best finite scores (``-inf`` marks what must not be recommended)
    that ``accept`` lets through, best first; fewer when fewer exist; ties as :func:`top`
    breaks them.

    The rule is asked about a window of the best items (``window``, default ``2k``), then, while
    too few pass, about the items down to four times as deep (:func:`_accepted`): the usual
    case, nearly every top item accepted, asks about ``2k`` items once, and no item is asked
    about twice.
    """
    scores = np.asarray(scores)
    finite = int(np.isfinite(scores).sum())
    if accept is None:
        return top(scores, min(finite, k))
    return _accepted((top(scores, depth)[start:]
                      for start, depth in _depths(window or 2 * k, finite)), k, accept)


def _depths(first: int, total: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of the windows a rule is asked about: the first ``first`` items, then
    down to four times as deep each time, until ``total``."""
    start, stop = 0, min(first, total)
    while start < stop:
        yield start, stop
        start, stop = stop, min(stop * 4, total)


def _accepted(windows: Iterable[np.ndarray], k: int, accept: Accept) -> np.ndarray:
    """The first ``k`` items of ``windows`` (best first, one after the other) that ``accept``
    lets through, asking it about no window after the one that completes them."""
    kept: list[np.ndarray] = []
    found = 0
    for items in windows if k > 0 else ():
        kept.append(items[np.asarray(accept(items), dtype=bool)])
        found += len(kept[-1])
        if found >= k:
            break
    return np.concatenate(kept)[:k] if kept else np.zeros(0, dtype=np.int64)


def ahead(scores: np.ndarray, index: int) -> np.ndarray:
    """Which items rank before ``index`` in :func:`top`'s order: a higher score, or an equal
    one and a lower index."""
    before = scores > scores[index]
    before[:index] |= scores[:index] == scores[index]
    return before


# --- items folded in since training: places of their own ----------------------------------------

#: Every this-many-th place of a list (the 10th, the 20th, …) is kept for an item ingested after
#: training (:mod:`graphrec.serving.newitems`), the rest go to the trained items. A folded item's
#: embedding is a smoothed average of its neighbours' and its score does not compare with a
#: trained item's: let compete, new items either crowd the lists or never show. A place of their
#: own, filled by the new item most linked to the user's purchases (:func:`new_item_order`), finds
#: more of the new items bought and displaces fewer of the trained ones than any scale of their
#: scores measured (the README's cold-start section has the figures). The rule depends on a
#: place and on the new items ahead, never on the length of the list, so an item's rank is the
#: same in a list of 10 and one of 50, and ``explain`` can give it without building the list.
NEW_ITEM_EVERY = 10

#: A new item the user's purchases link to at least this strongly (:data:`LINK_WEIGHTS` summed:
#: one purchase linked by all three relations, say, or two bought together with it) is as likely
#: a buy as the trained items near the top of the list, so such items also take the
#: :data:`STRONG_PLACE`-th place of each ten (the 3rd, 13th, …). Chosen on Beauty's validation
#: against the lists' NDCG over warm and new purchases together (NOTES.md).
STRONG_LINKS = 6.0
STRONG_PLACE = 3

#: What a relation between a folded item and a purchase counts for in :func:`new_item_order` (a
#: relation not named counts 1): an item bought together with a purchase is the likeliest next
#: buy, one viewed with it the least. Counting each relation, not only whether any links the two,
#: finds half as many new items again (Beauty's validation; NOTES.md).
LINK_WEIGHTS: dict[str, float] = {"bought_together": 3.0, "also_bought": 2.0, "also_viewed": 1.0}


def new_item_places(count: int, strong: int) -> np.ndarray:
    """The places (1 = first) of the first ``count`` folded items in their order
    (:func:`new_item_order`), the first ``strong`` of them strongly linked
    (:data:`STRONG_LINKS`), when there are trained items enough to fill the places between:
    strongly linked items take the :data:`STRONG_PLACE`-th and the last place of each ten in
    turn, the others the last places of the tens after them."""
    ranks = np.arange(1, count + 1, dtype=np.int64)
    strong = min(strong, count)
    alternate = np.where(ranks % 2 == 1, STRONG_PLACE + NEW_ITEM_EVERY * ((ranks - 1) // 2),
                         NEW_ITEM_EVERY * (ranks // 2))
    return np.where(ranks <= strong, alternate,
                    NEW_ITEM_EVERY * (strong // 2 + ranks - strong))


def new_item_slots(keys: np.ndarray) -> np.ndarray:
    """:func:`new_item_places` of folded items whose link keys, in their order, are ``keys``:
    those of :data:`STRONG_LINKS` or more are strongly linked."""
    return new_item_places(len(keys), int((np.asarray(keys) >= STRONG_LINKS).sum()))


def trained_places(ranks: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """The places of the trained items of ``ranks`` (1 = best trained item) in a list whose
    folded items take ``slots`` (:func:`new_item_places`; at least those ahead of the items
    asked about): the ``r``-th free place."""
    ranks = np.asarray(ranks, dtype=np.int64)
    free_before = slots - np.arange(1, len(slots) + 1)  # trained places ahead of each slot
    return ranks + np.searchsorted(free_before, ranks, side="left")


def folded_places(ranks: np.ndarray, slots: np.ndarray, trained: int) -> np.ndarray:
    """The places of the folded items of ``ranks`` (1 = best folded item) in a list that has
    ``trained`` trained items to give (or more): their slots, or after the last trained item
    when there are too few of those to reach them."""
    ranks = np.asarray(ranks, dtype=np.int64)
    slot = slots[ranks - 1]
    return np.where(slot - ranks <= trained, slot, trained + ranks)


def interleave(trained: Sequence[T], folded: Sequence[T], slots: np.ndarray) -> list[T]:
    """One list of ``trained`` and ``folded`` (each best first; ``slots`` the folded items'
    :func:`new_item_places`) by :func:`trained_places` and :func:`folded_places`."""
    if not folded or not trained:  # the usual case, no item folded in: nothing to place
        return [*trained, *folded]
    places = np.concatenate([trained_places(np.arange(1, len(trained) + 1), slots),
                             folded_places(np.arange(1, len(folded) + 1), slots, len(trained))])
    both = [*trained, *folded]
    return [both[i] for i in np.argsort(places, kind="stable")]


def new_item_order(scores: np.ndarray, links: np.ndarray) -> np.ndarray:
    """Positions of the finite ``scores`` best first by ``links`` (how strongly the user's
    purchases link to each item: :data:`LINK_WEIGHTS` summed over the links), then the score,
    then the lower position: the order in which folded items take their places. A link to a purchase
    is the strongest evidence a new item has (it has no buyer yet), and the same link is a
    reason path shown with it."""
    finite = np.flatnonzero(np.isfinite(scores))
    return finite[np.lexsort((finite, -scores[finite], -links[finite]))]


def first_accepted(order: np.ndarray, k: int, accept: Accept | None = None) -> np.ndarray:
    """The first ``k`` of ``order`` that ``accept`` lets through, asked about windows that grow
    as :func:`top_accepted`'s do."""
    if accept is None:
        return order[:k]
    return _accepted((order[start:stop] for start, stop in _depths(2 * k, len(order))), k,
                     accept)
