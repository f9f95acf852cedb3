"""What a worker keeps of its answers: each pair's strongest reason paths and each user's last
list, keyed by what they depend on (:class:`ReasonCache`)."""
from __future__ import annotations

import hashlib
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence

import numpy as np

from graphrec.explain.ranker import WeightedPath
from graphrec.serving.recommend import Scored

__all__ = ["RankedPaths", "ReasonCache", "digest", "user_key"]

#: An item's reason paths with their weights, strongest first.
RankedPaths = list[WeightedPath]


class ReasonCache:
    """The strongest ``keep`` reason paths of the (user, item) pairs asked for last, at most
    ``size`` pairs (0: none kept).

    Ranking a pair's paths is most of what a request costs (with edge masking, milliseconds a
    pair), and its answer depends only on the model, the graph it was trained on (both fixed for
    the life of a cache: the service starts a new one whenever it serves another model, new
    items folded in included) and the user's purchases, which are part of the key: a kept answer
    never goes stale, and a new purchase simply misses. The page asks for a user's
    recommendations with their top reasons, then for the explanation of the one clicked, which
    is then already here; so are the reasons of a page seen again.

    The list a user was served is kept too (:meth:`keep_list`), so that the page seen again
    (:meth:`served_list`) and the explanation clicked on it (:meth:`place`) say where each item
    stands without scoring the whole catalogue again. A list depends on the purchases and on the
    items dismissed, and on its length not at all (a list of 10 is the first 10 of a list of
    50); the dismissed ones are part of its key, so a dismissal made since simply misses.

    A pair and a list are kept pickled (a pair about 400 bytes, 5 us to load) rather than as
    objects: bytes are not tracked by Python's garbage collector, so a full cache adds nothing
    to the pauses of its full collections, where 20,000 pairs as objects (over a million of
    them) would add hundreds of milliseconds to each.
    """

    def __init__(self, size: int, keep: int = 6):
        self.size, self.keep = size, keep
        self._pairs: OrderedDict[tuple[Hashable, str], bytes] = OrderedDict()
        #: user → (what else the list depends on, the list pickled, its length)
        self._lists: OrderedDict[Hashable, tuple[Hashable, bytes, int]] = OrderedDict()
        self._listed = 0  # items in the kept lists
        self._lock = threading.Lock()

    def get(self, user: Hashable, item_ids: Sequence[str],
            rank: Callable[[list[str]], dict[str, RankedPaths]]) -> dict[str, RankedPaths]:
        """Each item's kept paths for ``user`` (a key naming the user and their purchases);
        those of the pairs not kept are ranked by ``rank(items)``."""
        found: dict[str, RankedPaths] = {}
        missing = []
        with self._lock:
            for item_id in item_ids:
                kept = self._pairs.get((user, item_id))
                if kept is None:
                    missing.append(item_id)
                else:
                    self._pairs.move_to_end((user, item_id))
                    found[item_id] = pickle.loads(kept)
        if missing:
            ranked = rank(missing)  # outside the lock: other requests go on meanwhile
            with self._lock:
                for item_id in missing:
                    found[item_id] = ranked[item_id][: self.keep]
                    if self.size:
                        self._pairs[(user, item_id)] = pickle.dumps(found[item_id])
                while len(self._pairs) > self.size:
                    self._pairs.popitem(last=False)
        return found

    def keep_list(self, user: Hashable, served: Hashable, ranked: Sequence[Scored]) -> None:
        """Keep the list served to ``user`` (the key of :meth:`get`) with ``served`` (a key
        naming what else it depended on: the items dismissed) in place of the one kept before;
        the lists last kept stay, at most ``size`` items in all."""
        if not self.size:
            return
        kept = pickle.dumps([(r.item_id, r.score, r.new) for r in ranked])
        with self._lock:
            old = self._lists.pop(user, None)
            self._listed += len(ranked) - (old[2] if old else 0)
            self._lists[user] = (served, kept, len(ranked))
            while self._listed > self.size:
                self._listed -= self._lists.popitem(last=False)[1][2]

    def recent_lists(self) -> list[tuple[Hashable, int]]:
        """The users whose lists are kept (the keys of :meth:`keep_list`), the latest kept or
        seen again first, each with the length of their list."""
        with self._lock:
            return [(user, kept[2]) for user, kept in reversed(self._lists.items())]

    def served_list(self, user: Hashable, served: Hashable, k: int | None = None
                    ) -> list[Scored] | None:
        """The first ``k`` (all when None) of the list kept for ``user`` with ``served``; None
        when none is kept or it is shorter."""
        with self._lock:
            kept = self._lists.get(user)
            if kept is not None:
                self._lists.move_to_end(user)
        if kept is None or kept[0] != served or (k is not None and kept[2] < k):
            return None
        return [Scored(rank, *item) for rank, item in enumerate(pickle.loads(kept[1])[:k],
                                                                start=1)]

    def place(self, user: Hashable, served: Hashable, item_id: str) -> tuple[float, int] | None:
        """The score and place of ``item_id`` in the list kept for ``user`` with ``served``;
        None when it is not in it."""
        ranked = self.served_list(user, served) or []
        return next(((r.score, r.rank) for r in ranked if r.item_id == item_id), None)


def digest(indices: np.ndarray) -> bytes:
    """A short key of an array of item indices (a history, the items dismissed)."""
    return hashlib.blake2b(np.ascontiguousarray(indices).tobytes(), digest_size=16).digest()


#: The key a user's answers are kept under (:func:`user_key`).
UserKey = tuple[str, bytes]


def user_key(user_id: str, timeline: np.ndarray) -> UserKey:
    """What the cache keeps a user's answers under: the user and their purchases now, in the
    order they were made (which of two reasons about as strong is shown first depends on it:
    :mod:`graphrec.explain.ranker`)."""
    return user_id, digest(timeline)
