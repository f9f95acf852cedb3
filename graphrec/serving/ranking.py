"""The top k of one user's scores, optionally only among the items a rule accepts.

graphrec serves only what it can explain: an item with no reason path to the user (no brand,
category, link, link chain or co-buyer in common with what they bought) is passed over for the
next one down. The service, ``graphrec recommend``, ``publish`` and the benchmark's evaluation
all rank through :func:`top_accepted`, so the lists that are measured are the lists that are
served. numpy only: serving never imports torch.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: ``items (int64 array) → bool array``: whether each may be recommended.
Accept = Callable[[np.ndarray], np.ndarray]


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
