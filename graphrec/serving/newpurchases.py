"""Purchases reported since the served model read its graph, added to the graph its paths walk.

A purchase the shop reports (:mod:`graphrec.serving.events`) counts in the buyer's own answers at
once, since the service reads a user's purchases on every request. Everybody else's answers
read other shoppers' purchases from the graph the model was trained on: the co-buyer paths
("2 of the 9 shoppers who bought it"), the counts their sentences quote and the most bought
items shown to a shopper with no purchase. This module adds the purchases reported since then
to that graph without retraining, so that a new item bought live gets co-buyer paths and a new
customer is a co-buyer. The scores do not move (an item's row is what training made it; the
next ``graphrec train`` learns from these purchases, :data:`graphrec.schema.LEARNT_SPLITS`),
and a co-buyer path weighs its history item's term, as every co-buyer path does
(:mod:`graphrec.explain.attribution`).

:class:`LivePurchases` reads them (``cypher/service/live_purchases.cypher``, through the index on
``User.bought_at``), each read only what came since the one before; :func:`with_purchases`
adds them to a model's graph.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping

import numpy as np

from graphrec.adjacency import Adjacency
from graphrec.explain.paths import PathFinder
from graphrec.model.artifact import Artifact
from graphrec.schema import LEARNT_SPLITS
from graphrec.serving.recommend import Recommender, ids_map
from graphrec.sorted_lookup import sorted_unique
from graphrec.store.connection import GraphStore

#: How much earlier than the model's read of its graph the purchases are read from: a
#: purchase's time is the clock of the worker that wrote it, the read's that of the machine that
#: trained, and a purchase read twice (learnt, and read here) counts once.
CLOCK_MARGIN_MS = 10 * 60 * 1000

#: How far back of the latest purchase read the next read starts: a purchase is timed before
#: its transaction commits, so one committed later than a read may carry an earlier time.
OVERLAP_MS = 10 * 1000

Pair = tuple[str, str]
#: The erasure marker before it was first read (the marker itself may be None: nobody forgotten).
_UNREAD = object()


def read_since(trained_on: Mapping[str, object]) -> int:
    """The time (milliseconds since the Unix epoch) from which a model's purchases are read:
    its graph's read (``read_at``) less :data:`CLOCK_MARGIN_MS`; 0 (every one) for a model
    trained before reads were timed, which learnt none of them."""
    read_at = trained_on.get("read_at")
    return max(0, read_at - CLOCK_MARGIN_MS) if isinstance(read_at, int) else 0


class LivePurchases:
    """The ``(user id, item id)`` purchases reported live since ``since``, as read so far.

    Each :meth:`read` asks only for those from a little before the latest it has
    (:data:`OVERLAP_MS`): in a quiet shop none, one index lookup. Once users were forgotten
    (the erasure marker moved: ``cypher/erasure/mark.cypher``) it reads them all again from
    ``since``: a forgotten shopper's purchases leave the counts people read at the next look,
    not at the next model. A purchase removed otherwise
    (:func:`graphrec.serving.events.forget_since`, which tests and benchmarks use) stays here
    until the service's next model. ``version`` moves at every change of ``pairs``."""

    def __init__(self, since: int):
        self.since = since
        self.pairs: set[Pair] = set()
        self.latest: int | None = None
        self.version = 0
        self._erased: object = _UNREAD

    def forgotten_since(self, store: GraphStore) -> bool:
        """Whether users were forgotten since the last :meth:`read` (one lookup: the erasure
        marker): a read is then due whatever its spacing, since the counts people read must
        lose them at once. StoreUnavailable when the store cannot be read."""
        return store.read_once("service/erasures")[0]["changed"] != self._erased

    def read(self, store: GraphStore) -> bool:
        """Read the purchases reported since the last read (two lookups: the erasure marker,
        then the purchases); whether ``pairs`` changed. StoreUnavailable when the store cannot
        be read (nothing changes then)."""
        erased = store.read_once("service/erasures")[0]["changed"]
        before = self.version
        if erased != self._erased:  # users forgotten since (or a first read): all again
            if self.pairs:
                self.version += 1
            self.pairs, self.latest = set(), None
        start = self.since if self.latest is None else max(self.since,
                                                           self.latest - OVERLAP_MS)
        rows = store.read_once("service/live_purchases", since=start,
                               splits=list(LEARNT_SPLITS))
        self._erased = erased  # after both reads: a failed one reads again whole
        count = len(self.pairs)
        for row in rows:
            user = str(row["user_id"])
            self.pairs.update((user, str(item)) for item in row["items"])
            latest = int(row["latest"])
            self.latest = latest if self.latest is None else max(self.latest, latest)
        if len(self.pairs) > count:
            self.version += 1
        return self.version != before


def with_purchases(model: Artifact, pairs: Collection[Pair],
                   known: Recommender | None = None) -> Artifact:
    """``model`` with ``pairs`` among its graph's purchases (``data.train``, which the path
    finder, the sentences' counts and the most bought items read), a buyer it does not know
    added after its users; pairs of an item it does not know are left out (a new item not
    folded in). ``model`` itself when nothing is added. ``known``: a recommender of ``model``,
    whose id maps are used instead of made again.

    When the model has its path index and its purchases are in order (as a model's are), the
    pairs are merged into its purchases and their index (:meth:`Adjacency.with_pairs`): each
    worker does this at every set of purchases it reads, so it costs a copy of the purchases
    learnt, not a sort of them (which grows with the shop: NOTES.md). Else they are indexed
    again."""
    users = known.user_map if known is not None else ids_map(model.ids["users"])
    items = known.item_map if known is not None else ids_map(model.ids["items"])
    found = sorted({(user, items[item]) for user, item in pairs if item in items})
    if not found:
        return model
    new = sorted({user for user, _ in found} - users.keys())
    first = len(model.ids["users"])
    numbers = {user: first + n for n, user in enumerate(new)}
    rows = np.array([users[user] if user in users else numbers[user] for user, _ in found],
                    dtype=np.int64)
    cols = np.array([item for _, item in found], dtype=np.int64)
    data, n_users = model.data, first + len(new)
    users_now = np.concatenate([data.users, np.array(new, dtype=object)])
    train = np.asarray(data.train, dtype=np.int64).reshape(-1, 2)
    index = model.path_index
    if index is not None and _in_order(train, data.num_items):
        user_items = Adjacency(index["user_items_indptr"], index["user_items_indices"]
                               ).with_pairs(rows, cols, n_users)
        item_users = Adjacency(index["item_users_indptr"], index["item_users_indices"]
                               ).with_pairs(cols, rows, data.num_items)
        grown = dataclasses.replace(data, users=users_now, train=np.stack(
            [np.arange(n_users).repeat(user_items.degrees), user_items.indices], axis=1))
        index = {**index, **dict(zip(PathFinder.INDEX[:4], (*user_items, *item_users)))}
    else:
        key = sorted_unique(np.concatenate([train[:, 0] * data.num_items + train[:, 1],
                                            rows * data.num_items + cols]))
        grown = dataclasses.replace(data, users=users_now, train=np.stack(
            [key // data.num_items, key % data.num_items], axis=1))
        if index is not None:  # the links are the same: only the purchases are indexed again
            index = {**index, **PathFinder.purchases_index(grown)}
    return dataclasses.replace(model, data=grown, path_index=index,
                               ids={**model.ids, "users": [*model.ids["users"], *new]})


def _in_order(pairs: np.ndarray, num_items: int) -> bool:
    """Whether ``[user, item]`` pairs are ascending by user, then item, each once."""
    key = pairs[:, 0] * num_items + pairs[:, 1]
    return bool((key[1:] > key[:-1]).all())
