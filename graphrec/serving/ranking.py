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

from collections.abc import Callable, Sequence
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

    The rule is asked about a window of the best items (``window``, default ``2k``) and the
    window grows fourfold while too few pass, so the usual case, nearly every top item
    accepted, asks about ``2k`` items once.
    """
    scores = np.asarray(scores)
    finite = int(np.isfinite(scores).sum())
    size = min(finite, k if accept is None else (window or 2 * k))
    while True:
        best = top(scores, size)
        if accept is None:
            return best[:k]
        kept = best[np.asarray(accept(best), dtype=bool)][:k]
        if len(kept) == k or size == finite:
            return kept
        size = min(finite, size * 4)


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
#: place only, never on the length of the list, so an item's rank is the same in a list of 10
#: and one of 50, and ``explain`` can give it without building the list.
NEW_ITEM_EVERY = 10


#: What a relation between a folded item and a purchase counts for in :func:`new_item_order` (a
#: relation not named counts 1): an item bought together with a purchase is the likeliest next
#: buy, one viewed with it the least. Counting each relation, not only whether any links the two,
#: finds half as many new items again (Beauty's validation; NOTES.md).
LINK_WEIGHTS: dict[str, float] = {"bought_together": 3.0, "also_bought": 2.0, "also_viewed": 1.0}


def trained_places(ranks: np.ndarray, folded: int) -> np.ndarray:
    """The places (1 = first) of the trained items of ``ranks`` (1 = best trained item) in a
    list that has ``folded`` folded items to give (or more): each kept place ahead of one
    pushes it down by one while folded items last."""
    ranks = np.asarray(ranks, dtype=np.int64)
    return ranks + np.minimum(folded, (ranks - 1) // (NEW_ITEM_EVERY - 1))


def folded_places(ranks: np.ndarray, trained: int) -> np.ndarray:
    """The places of the folded items of ``ranks`` (1 = best folded item) in a list that has
    ``trained`` trained items to give (or more): the ``q``-th takes place ``q × NEW_ITEM_EVERY``,
    or follows the last trained item when there are too few of those to reach it."""
    ranks = np.asarray(ranks, dtype=np.int64)
    return np.where(trained >= (NEW_ITEM_EVERY - 1) * ranks, NEW_ITEM_EVERY * ranks,
                    trained + ranks)


def interleave(trained: Sequence[T], folded: Sequence[T]) -> list[T]:
    """One list of ``trained`` and ``folded`` (each best first) by :func:`trained_places` and
    :func:`folded_places`."""
    if not folded or not trained:  # the usual case, no item folded in: nothing to place
        return [*trained, *folded]
    places = np.concatenate([trained_places(np.arange(1, len(trained) + 1), len(folded)),
                             folded_places(np.arange(1, len(folded) + 1), len(trained))])
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
    fourfold (as :func:`top_accepted` does)."""
    if accept is None:
        return order[:k]
    kept: list[np.ndarray] = []
    found, start, size = 0, 0, 2 * k
    while found < k and start < len(order):
        window = order[start:start + size]
        passed = window[np.asarray(accept(window), dtype=bool)]
        kept.append(passed)
        found += len(passed)
        start, size = start + size, size * 4
    return np.concatenate(kept)[:k] if kept else order[:0]
