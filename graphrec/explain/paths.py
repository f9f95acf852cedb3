"""Candidate reason paths from a user to an item in the knowledge graph, in process.

A path is a walk of at most three hops that starts at the user, goes through one item the user
bought, and ends at the recommended item (for a shopper who has bought nothing yet, an item they
viewed: :meth:`ReasonPath.starting_with`). The user's purchases are given by the caller (the
service reads them from the store on every request, so a purchase made after training is a
path's start at once); the other shoppers of a collaborative path are those of the train
purchases the finder was built from:

=================  ============================================================
kind               walk
=================  ============================================================
``brand``          user →BOUGHT→ item →HAS_BRAND→ brand ←HAS_BRAND← rec
``category``       user →BOUGHT→ item →IN_CATEGORY→ category ←IN_CATEGORY← rec
``also_bought``    user →BOUGHT→ item →ALSO_BOUGHT→ rec (or rec →ALSO_BOUGHT→ item)
``also_viewed``    likewise with ALSO_VIEWED
``bought_together`` likewise with BOUGHT_TOGETHER
``collaborative``  user →BOUGHT→ item ←BOUGHT← other user →BOUGHT→ rec
``link_chain``     user →BOUGHT→ item –link– middle item –link– rec (any link type,
                   either direction; the model's two-layer propagation walks these)
=================  ============================================================

Adjacency is kept as CSR arrays and sorted link keys built once from
:class:`~graphrec.dataset.GraphData`, so the candidates of all the items of a page are a few
array operations (:meth:`PathFinder.table`: no store round trip, no loop over the items or the
history, no path object until an answer shows it); the same walks are in ``cypher/explain/``
for Neo4j Browser.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import NamedTuple

import numpy as np

from graphrec.adjacency import Adjacency
from graphrec.dataset import GraphData
from graphrec.schema import BOUGHT, BY_NAME
from graphrec.sorted_lookup import find_sorted, in_sorted, sorted_unique

#: The user index of a path's first node when the user is not one of the finder's users (a
#: shopper who signed up after the graph was read); :func:`graphrec.explain.reasons.describe` is
#: then given their id.
NO_USER = -1


@dataclass(frozen=True)
class Hop:
    """One relationship of a path: ``type`` from node ``source`` to node ``target`` (positions
    in the path's node list), whatever the direction in which the walk crosses it."""

    type: str
    source: int
    target: int


@dataclass(frozen=True)
class ReasonPath:
    """A walk from a user to an item. ``nodes`` are ``(node type, index)`` pairs."""

    kind: str
    nodes: tuple[tuple[str, int], ...]
    hops: tuple[Hop, ...]

    @property
    def via_item(self) -> int:
        """The item of the user's history that the path goes through."""
        return self.nodes[1][1]

    def starting_with(self, relation: str) -> ReasonPath:
        """The same walk with its first hop, from the user to their item, of type
        ``relation``: ``VIEWED`` for a shopper scored from their views
        (:meth:`graphrec.serving.recommend.Recommender.basis`). The finder walks from a history
        whatever it holds, so its paths start with ``BOUGHT`` until the caller says."""
        if self.hops[0].type == relation:
            return self
        return replace(self, hops=(replace(self.hops[0], type=relation), *self.hops[1:]))


def _first_of_each(owner: np.ndarray, values: np.ndarray, key: np.ndarray, limit: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The ``limit`` values of each owner with the lowest ``key`` (then the lowest value),
    owners ascending: ``(owner, value)`` of those kept, in that order."""
    order = np.lexsort((values, key, owner))
    owner, values = owner[order], values[order]
    starts = np.flatnonzero(np.diff(owner, prepend=-1))
    place = np.arange(len(owner)) - np.repeat(starts, np.diff(np.append(starts, len(owner))))
    return owner[place < limit], values[place < limit]


def _telling(pairs: np.ndarray, n_items: int, n_values: int) -> Adjacency:
    """``[item, value]`` pairs as each item's values, less a value every item has (when there
    is more than one item)."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    every = Adjacency.of(pairs[:, 0], pairs[:, 1], n_items, n_values)
    shared = np.bincount(every.indices, minlength=n_values) >= n_items
    if n_items < 2 or not shared.any():
        return every
    keep = ~shared[every.indices]
    items = np.repeat(np.arange(n_items), every.degrees)
    return Adjacency.of(items[keep], every.indices[keep], n_items, n_values)


#: A brand or category that at least this share of the catalogue's items has is broad: a path
#: through it ("this is also in Women", 64 % of Clothing's items read as sets) is a reason most
#: candidates share, and it goes after the other paths of its purchase that weigh about as
#: much (:meth:`graphrec.explain.ranker.PathRanker._strength`). One in five: Clothing's
#: "Men", "Shoes" and "Shoes & Accessories: International Shipping Available" (21-26 %) are
#: broad, its largest leaf category (2 %) and every category and brand of Beauty (6 % at most)
#: are not.
BROAD_SHARE = 0.2


def _broad(values: Adjacency, n_items: int, n_values: int) -> np.ndarray:
    """Whether each of ``n_values`` values is held by at least :data:`BROAD_SHARE` of the
    ``n_items`` items (``values``: each item's)."""
    return np.bincount(values.indices, minlength=n_values) >= BROAD_SHARE * max(n_items, 1)


def _by_value(values: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(values, owner)`` ordered by value."""
    order = np.argsort(values, kind="stable")
    return values[order], owner[order]


def _matching(values: np.ndarray, owner: np.ndarray, wanted: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(position in wanted, owner, value)`` of every entry of the ascending ``values`` that
    is one of ``wanted``, wanted entry by wanted entry: a range of ``values`` per wanted value,
    found by binary search."""
    low = values.searchsorted(wanted, "left")
    counts = values.searchsorted(wanted, "right") - low
    at = np.arange(counts.sum()) + (low - counts.cumsum() + counts).repeat(counts)
    return np.arange(len(wanted)).repeat(counts), owner[at], values[at]


Columns = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _columns(owner: np.ndarray | None = None, via: np.ndarray | None = None,
             middle: np.ndarray | None = None, first: np.ndarray | None = None,
             second: np.ndarray | None = None) -> Columns:
    """One kind's paths as :meth:`PathFinder.table` gathers them, -1 in the columns not given
    (nothing at all when no column is)."""
    size = 0 if owner is None else len(owner)
    return tuple(np.full(size, -1, dtype=np.int64) if column is None
                 else np.asarray(column, dtype=np.int64)
                 for column in (owner, via, middle, first, second))  # type: ignore[return-value]


def _either_way(links: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, cols)`` of every link of ``links`` (``[n, 2]`` arrays) both ways round, but for
    an item linked to itself: the entries of :attr:`PathFinder.linked`."""
    pairs = np.concatenate([np.zeros((0, 2), dtype=np.int64), *links])
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return (np.concatenate([pairs[:, 0], pairs[:, 1]]),
            np.concatenate([pairs[:, 1], pairs[:, 0]]))


def _link_codes(links: Sequence[np.ndarray], n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """For each linked pair of items ``(a, b)`` and each relation that links them, its key
    ``a * n_items + b`` and the link's code: ``2 r`` for relation ``r`` (``links[r]``, its
    pairs as stored) stored ``a → b``, else ``2 r + 1`` (``b → a``); sorted by key, then code.
    Made once per model (:attr:`PathFinder.link_code`): a pair's links and the one a chain's
    hop names (the lowest code: the first relation, forward before backward) are then a
    binary search."""
    n_codes = 2 * max(1, len(links))
    keys = [np.zeros(0, dtype=np.int64)]
    for r, pairs in enumerate(links):
        row, col = pairs[:, 0], pairs[:, 1]
        keys += [(row * n_items + col) * n_codes + 2 * r,
                 (col * n_items + row) * n_codes + 2 * r + 1]
    # one sort of (pair, code) in one integer; unique drops a link listed twice
    packed = sorted_unique(np.concatenate(keys))
    key, code = packed // n_codes, packed % n_codes
    # one code a pair and relation: forward, when the link is stored both ways
    first = np.ones(len(key), dtype=bool)
    first[1:] = (key[1:] != key[:-1]) | (code[1:] // 2 != code[:-1] // 2)
    return key[first], code[first]


class PathFinder:
    """Enumerates :class:`ReasonPath` candidates of (user, item) pairs of one GraphData.

    What it walks is indexed once per graph (:meth:`index`): who bought what and the reverse,
    the items linked either way, and every link's relation by pair. A model's artifact keeps
    that index (:mod:`graphrec.model.artifact`), so that a command or a worker reads it instead
    of sorting the graph again (``index=``); given only the purchases' arrays
    (:meth:`purchases_index`), the finder indexes the links itself."""

    #: The arrays of :meth:`index`, by name.
    INDEX = ("user_items_indptr", "user_items_indices", "item_users_indptr",
             "item_users_indices", "linked_indptr", "linked_indices", "link_keys", "link_codes")

    def __init__(self, data: GraphData, max_collaborative_per_item: int = 2,
                 max_chains_per_item: int = 1, index: Mapping[str, np.ndarray] | None = None):
        self.data = data
        self.max_collaborative = max_collaborative_per_item
        self.max_chains = max_chains_per_item
        n_items = data.num_items
        #: Each item's brands and categories (an item may sit in several categories), less
        #: any that every item has: a path through it (a catalogue's root category read as a
        #: set) lifts every candidate alike and tells nothing.
        self.brands = _telling(data.item_brand, n_items, len(data.brands))
        self.categories = _telling(data.item_category, n_items, len(data.categories))
        #: Whether each brand, and each category, is broad (:meth:`broad`).
        self._broad = (_broad(self.brands, n_items, len(data.brands)),
                       _broad(self.categories, n_items, len(data.categories)))
        self.any_broad = any(bool(broad.any()) for broad in self._broad)
        #: Each link relation's pairs, as stored (``source → target``).
        self.links = {rel: np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
                      for rel, pairs in data.links.items()}
        index = index if index is not None else self.purchases_index(data)
        if "linked_indptr" in index:
            #: Any link, either way (no item is linked to itself).
            self.linked = Adjacency(index["linked_indptr"], index["linked_indices"])
            self.link_code = (index["link_keys"], index["link_codes"])
        else:
            self.linked = Adjacency.of(*_either_way(self.links.values()), n_items, n_items)
            self.link_code = _link_codes(list(self.links.values()), n_items)
        self.user_items = Adjacency(index["user_items_indptr"], index["user_items_indices"])
        self.item_users = Adjacency(index["item_users_indptr"], index["item_users_indices"])
        self.activity = self.user_items.degrees  # purchases per user
        self.degree = self.linked.degrees  # linked items per item
        self.link_names = [BY_NAME[relation].type for relation in self.links]
        #: The kind of each of :meth:`table`'s kind codes: the order a pair's paths are listed
        #: in (and ties among their weights keep).
        self.kinds = (BY_NAME["has_brand"].target, BY_NAME["in_category"].target, *self.links,
                      "collaborative", "link_chain")
        #: The :attr:`kinds` codes of a path of one link, and of a chain of two.
        self.link_kinds = range(2, 2 + len(self.links))
        self.chain_kind = len(self.kinds) - 1

    def broad(self, kind: np.ndarray, middle: np.ndarray) -> np.ndarray:
        """Whether each path of :meth:`table`'s ``kind`` codes and ``middle`` nodes goes through
        a broad brand or category (:data:`BROAD_SHARE`)."""
        out = np.zeros(len(kind), dtype=bool)
        for code, broad in enumerate(self._broad):  # the kinds' first codes: brand, category
            rows = np.flatnonzero(kind == code)
            out[rows] = broad[middle[rows]]
        return out

    @classmethod
    def purchases_index(cls, data: GraphData) -> dict[str, np.ndarray]:
        """The arrays of :attr:`INDEX` that index ``data``'s purchases (who bought what and the
        reverse), by name: with another graph's link arrays, the index of a graph that differs
        from it by purchases alone (:func:`graphrec.serving.newpurchases.with_purchases`)."""
        users, items = data.train[:, 0], data.train[:, 1]
        return dict(zip(cls.INDEX[:4], (
            *Adjacency.of(users, items, data.num_users, data.num_items),
            *Adjacency.of(items, users, data.num_items, data.num_users))))

    @classmethod
    def with_items(cls, index: Mapping[str, np.ndarray], num_items: int
                   ) -> dict[str, np.ndarray]:
        """The purchases' arrays of ``index`` (:meth:`index` of a graph) in a catalogue grown
        to ``num_items`` items, the new ones after the others and bought by nobody: what a
        fold-in keeps of a model's index (:meth:`grown_index`)."""
        indptr = index["item_users_indptr"]
        grown = np.concatenate([indptr, np.full(num_items + 1 - len(indptr), indptr[-1],
                                                dtype=indptr.dtype)])
        return {**{name: index[name] for name in cls.INDEX[:4]}, "item_users_indptr": grown}

    @classmethod
    def grown_index(cls, index: Mapping[str, np.ndarray], data: GraphData, first_new: int
                    ) -> dict[str, np.ndarray]:
        """:meth:`index` of ``data``, given ``index`` of the graph it grew from by items alone:
        the same items up to ``first_new`` with their links, then new ones, bought by nobody,
        linked to any item. The purchases' arrays kept (:meth:`with_items`); the links with a
        new item at either end (every other one was indexed) merged into the links' arrays,
        whose pairs are numbered again for the grown catalogue without a sort: a fold-in of a
        hundred items then costs a copy of the links' index, not a sort of every link."""
        n_items = data.num_items
        links = [np.asarray(pairs, dtype=np.int64).reshape(-1, 2) for pairs in data.links.values()]
        links = [pairs[pairs.max(1, initial=-1) >= first_new] for pairs in links]
        linked = Adjacency(index["linked_indptr"], index["linked_indices"]).with_pairs(
            *_either_way(links), n_items)
        # a * first_new + b again as a * n_items + b: the same order, b < first_new
        keys = index["link_keys"] // first_new * n_items + index["link_keys"] % first_new
        new_keys, new_codes = _link_codes(links, n_items)
        at = keys.searchsorted(new_keys)  # none of them is among keys: each has a new item
        return {**cls.with_items(index, n_items), "linked_indptr": linked.indptr,
                "linked_indices": linked.indices, "link_keys": np.insert(keys, at, new_keys),
                "link_codes": np.insert(index["link_codes"], at, new_codes)}

    def index(self) -> dict[str, np.ndarray]:
        """What this finder indexed of its graph, by the names of :attr:`INDEX`: give it back
        as ``index=`` to make a finder of the same graph without indexing it again."""
        keys, codes = self.link_code
        return dict(zip(self.INDEX, (*self.user_items, *self.item_users, *self.linked, keys,
                                     codes)))

    def history(self, user: int) -> np.ndarray:
        """The items ``user`` bought in train, ascending."""
        return self.user_items.row(user)

    def buyers(self, item: int) -> np.ndarray:
        return self.item_users.row(item)

    def candidates(self, history: np.ndarray, item: int, user: int = NO_USER
                   ) -> list[ReasonPath]:
        """Every brand, category and link path from the items of ``history`` to ``item``, and a
        few collaborative ones per history item; ``user`` is the first node's index (and is
        never taken for another shopper)."""
        return self.candidates_items(history, [item], user)[0]

    def walks(self, history: np.ndarray) -> HistoryWalks:
        """What the walks from ``history`` gather before they reach an item, gathered once for
        a request: pass it to :meth:`has_candidates` and :meth:`candidates_items`."""
        return HistoryWalks(self, history)

    def candidates_items(self, history: np.ndarray, items: Sequence[int], user: int = NO_USER,
                         walks: HistoryWalks | None = None) -> list[list[ReasonPath]]:
        """:meth:`candidates` of each of ``items`` for one user: :meth:`table`'s paths, each
        made a :class:`ReasonPath`."""
        table = self.table(history, items, user, walks)
        return [table.paths(rows) for rows in table.by_item()]

    def table(self, history: np.ndarray, items: Sequence[int], user: int = NO_USER,
              walks: HistoryWalks | None = None) -> CandidatePaths:
        """The candidate paths of each of ``items`` from ``history`` (those of :meth:`candidates`,
        in its order) as columns, for all the items at once: every kind of walk is a few array
        operations over the page's items and the history together, not a loop over either, and
        no path object is made (a page of a long history has a thousand candidates, of which
        the answer shows a few: :meth:`CandidatePaths.paths` makes those).

        A history item that is one of ``items`` starts no path to itself. What the walks gather
        from the history alone is ``walks``' (:meth:`walks`), made here when not given."""
        history = np.asarray(history, dtype=np.int64)
        page = np.asarray(items, dtype=np.int64).reshape(-1)
        if walks is None:
            walks = HistoryWalks(self, history)
        linked = self._linked(history, page)
        parts = [self._shared(page, walks.attributes[0]),
                 self._shared(page, walks.attributes[1]), linked,
                 self._collaborative(history, page, user, walks),
                 self._chains(history, page, walks)]
        collaborative = len(self.kinds) - 2
        kind = np.concatenate([np.zeros(len(parts[0][0]), dtype=np.int64),
                               np.ones(len(parts[1][0]), dtype=np.int64), 2 + linked[3] // 2,
                               np.full(len(parts[3][0]), collaborative),
                               np.full(len(parts[4][0]), collaborative + 1)])
        owner, via, middle, first, second = (np.concatenate([part[c] for part in parts])
                                             for c in range(5))
        keep = history[via] != page[owner]  # the item itself is not a way to it
        order = np.argsort(owner[keep], kind="stable")  # by item; each kind's order kept
        return CandidatePaths(self, user, page, *(column[keep][order] for column in (
            owner, kind, history[via], middle, first, second)))

    def has_candidates(self, history: np.ndarray, items: np.ndarray,
                       walks: HistoryWalks | None = None) -> np.ndarray:
        """Whether each of ``items`` (none of them in ``history``) has at least one candidate
        path from ``history``; the answer of ``bool(candidates(history, item))`` without
        listing the paths.

        The items' buyers, links and linked items are gathered from the matrices' rows and
        looked up among those of the history (never the other way: the items that the history's
        co-buyers bought run to thousands), so a window of items costs a few array operations,
        not a sparse product nor a loop over the items or the history. What comes from the
        history alone is ``walks``' (:meth:`walks`), made here when not given."""
        if walks is None:
            walks = HistoryWalks(self, history)
        items = np.asarray(items, dtype=np.int64)
        found = np.zeros(len(items), dtype=bool)
        for attribute in walks.attributes:
            values, owner = attribute.of.gather(items)
            found[owner[in_sorted(attribute.values, values)]] = True
        near = walks.near  # every link, either way
        found |= in_sorted(near, items)
        if self.max_collaborative:  # bought by someone who bought a history item
            buyers, owner = self.item_users.gather(items)
            found[owner[in_sorted(walks.co_buyers, buyers)]] = True
        if self.max_chains:  # linked to an item linked to the history: a chain's middle
            rest = np.flatnonzero(~found)
            middles, owner = self.linked.gather(items[rest])
            found[rest[owner[in_sorted(near, middles)]]] = True
        return found

    def has_train_candidates(self, user: int, items: np.ndarray) -> np.ndarray:
        """:meth:`has_candidates` from the user's train history (the evaluation's rule)."""
        return self.has_candidates(self.history(user), items)

    # Each kind of walk for all the items at once: ``(owner, history position, middle, first
    # hop code, second hop code)`` of its paths, by owner then as the kind orders them; -1 where
    # a column means nothing for the kind.

    @staticmethod
    def _shared(items: np.ndarray, attribute: SharedAttribute) -> Columns:
        """Paths through a node that ``attribute`` gives both an item and a history item (a
        brand, a category): by item, then history position, then node."""
        values, owner = attribute.of.gather(items)
        found, via, value = _matching(attribute.values, attribute.positions, values)
        owner = owner[found]
        order = np.lexsort((value, via, owner))
        return _columns(owner[order], via[order], value[order])

    def _linked(self, history: np.ndarray, items: np.ndarray) -> Columns:
        """Paths over one link between a history item and an item, for every link relation
        at once (a path a relation, in its stored direction history → item when it runs both
        ways): by relation, then item, then history position; ``first`` is the hop's code."""
        wanted = history[None, :] * self.data.num_items + items[:, None]  # [items, history]
        found, code, _ = _matching(*self.link_code, wanted.ravel())
        owner, via = np.divmod(found, len(history))
        order = np.lexsort((via, owner, code // 2))
        return _columns(owner[order], via[order], first=code[order])

    def _collaborative(self, history: np.ndarray, items: np.ndarray, user: int,
                       walks: HistoryWalks) -> Columns:
        """Other buyers of an item (never ``user``) who share a history item, at most
        ``max_collaborative`` per (item, history item); the least active first, since a shopper
        with a short history says more about the pair than one who buys everything."""
        if not self.max_collaborative or not len(history):
            return _columns()
        buyers, owner = self.item_users.gather(items)
        buyers, owner = buyers[buyers != user], owner[buyers != user]
        found, via, others = _matching(*walks.buyers_sorted, buyers)  # bought a history item
        return self._first_per_pair(owner[found], via, others, self.activity[others],
                                    self.max_collaborative, len(history))

    def _chains(self, history: np.ndarray, items: np.ndarray, walks: HistoryWalks) -> Columns:
        """Items linked to both a history item and an item; the least linked middle first (the
        most specific), ``max_chains`` per (item, history item)."""
        if not self.max_chains or not len(history):
            return _columns()
        neighbours, owner = self.linked.gather(items)
        found, via, middles = _matching(*walks.linked_sorted, neighbours)
        owner = owner[found]
        keep = (middles != items[owner]) & (middles != history[via])
        paths = self._first_per_pair(owner[keep], via[keep], middles[keep],
                                     self.degree[middles[keep]], self.max_chains, len(history))
        owner, via, middles = paths[:3]
        return _columns(owner, via, middles, self._link_hops(history[via], middles),
                        self._link_hops(middles, items[owner]))

    @staticmethod
    def _first_per_pair(owner: np.ndarray, via: np.ndarray, values: np.ndarray, key: np.ndarray,
                        limit: int, length: int) -> Columns:
        """The ``limit`` values of each (owner, history position) pair with the lowest ``key``,
        pairs ascending."""
        pair, values = _first_of_each(owner * length + via, values, key, limit)
        return _columns(pair // length, pair % length, values)

    def _neighbours(self, item: int) -> np.ndarray:
        return self.linked.row(item)

    def _link_hops(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The lowest :attr:`link_code` of each pair ``(a[k], b[k])``; ValueError for a pair
        that is not linked."""
        keys, codes = self.link_code
        at, found = find_sorted(keys, np.asarray(a, dtype=np.int64) * self.data.num_items + b)
        if not found.all():
            missing = np.flatnonzero(~found)[0]
            raise ValueError(f"items {a[missing]} and {b[missing]} are not linked")
        return codes[at]

    def _hop(self, code: int, pos_a: int, pos_b: int) -> Hop:
        name = self.link_names[code // 2]
        return Hop(name, pos_a, pos_b) if code % 2 == 0 else Hop(name, pos_b, pos_a)


@dataclass(frozen=True)
class CandidatePaths:
    """Candidate paths of several items for one user as columns, one row a path
    (:meth:`PathFinder.table`): by item (``owner``, a position in ``items``), then in the order
    :meth:`PathFinder.candidates` lists them. ``kind`` codes :attr:`PathFinder.kinds`; ``via``
    is the history item a path goes through; ``middle`` its third node (a brand, a category,
    another shopper, a chain's middle item; -1 for a link); ``first`` and ``second`` the link
    codes of its link hops (:meth:`PathFinder._hop`; -1 where it has none)."""

    finder: PathFinder
    user: int
    items: np.ndarray
    owner: np.ndarray
    kind: np.ndarray
    via: np.ndarray
    middle: np.ndarray
    first: np.ndarray
    second: np.ndarray

    def __len__(self) -> int:
        return len(self.owner)

    def by_item(self) -> list[np.ndarray]:
        """The rows of each item, in ``items``' order."""
        counts = np.bincount(self.owner, minlength=len(self.items))
        return np.split(np.arange(len(self)), np.cumsum(counts)[:-1])

    @property
    def edge_types(self) -> tuple[str, ...]:
        """The relationship types :meth:`masked_edges` codes: ``HAS_BRAND``, ``IN_CATEGORY``,
        then the link relations' (a link code ``c`` is type ``2 + c // 2``)."""
        return (BY_NAME["has_brand"].type, BY_NAME["in_category"].type,
                *self.finder.link_names)

    def masked_edges(self) -> list[tuple[np.ndarray, str, np.ndarray, str, np.ndarray,
                                         np.ndarray]]:
        """The knowledge-graph edges of the paths (the edges of :meth:`paths`' hops other than
        ``BOUGHT``), in groups of one shape: ``(rows, source type, sources, target type,
        targets, relationship type codes)`` (:attr:`edge_types`), in the order a path lists its
        hops."""
        finder, item = self.finder, self.items[self.owner]
        groups = []
        for code, relation in enumerate(("has_brand", "in_category")):
            rows = np.flatnonzero(self.kind == code)
            kind, types = BY_NAME[relation].target, np.full(len(rows), code)
            groups += [(rows, "item", self.via[rows], kind, self.middle[rows], types),
                       (rows, "item", item[rows], kind, self.middle[rows], types)]
        links = finder.link_kinds
        rows = np.flatnonzero((self.kind >= links.start) & (self.kind < links.stop))
        groups.append((rows, "item", self.via[rows], "item", item[rows],
                       2 + self.first[rows] // 2))
        rows = np.flatnonzero(self.kind == finder.chain_kind)
        groups += [(rows, "item", self.via[rows], "item", self.middle[rows],
                    2 + self.first[rows] // 2),
                   (rows, "item", self.middle[rows], "item", item[rows],
                    2 + self.second[rows] // 2)]
        return groups

    def paths(self, rows: Sequence[int] | np.ndarray) -> list[ReasonPath]:
        """Rows ``rows`` as :class:`ReasonPath` objects."""
        finder, user = self.finder, self.user
        kinds, chain = finder.kinds, finder.chain_kind
        columns = (self.kind, self.items[self.owner], self.via, self.middle, self.first,
                   self.second)
        out = []
        for code, item, via, middle, first, second in zip(
                *(column[rows].tolist() for column in columns)):
            kind = kinds[code]
            start = ("user", user), ("item", via)
            if code < 2:
                rel = BY_NAME["has_brand" if code == 0 else "in_category"].type
                out.append(ReasonPath(kind, (*start, (kind, middle), ("item", item)),
                                      (Hop(BOUGHT, 0, 1), Hop(rel, 1, 2), Hop(rel, 3, 2))))
            elif code == chain:
                out.append(ReasonPath(kind, (*start, ("item", middle), ("item", item)),
                                      (Hop(BOUGHT, 0, 1), finder._hop(first, 1, 2),
                                       finder._hop(second, 2, 3))))
            elif code == chain - 1:
                out.append(ReasonPath(kind, (*start, ("user", middle), ("item", item)),
                                      (Hop(BOUGHT, 0, 1), Hop(BOUGHT, 2, 1),
                                       Hop(BOUGHT, 2, 3))))
            else:
                out.append(ReasonPath(kind, (*start, ("item", item)),
                                      (Hop(BOUGHT, 0, 1), finder._hop(first, 1, 2))))
        return out


class HistoryWalks:
    """The first steps of the walks from one history (:meth:`PathFinder.walks`), each gathered
    on first use and kept for every item asked about: which items may be recommended
    (:meth:`PathFinder.has_candidates`) and the paths of each (:meth:`PathFinder.candidates_items`)
    read the same rows of the history's items, once a request."""

    def __init__(self, finder: PathFinder, history: np.ndarray):
        self.finder, self.history = finder, np.asarray(history, dtype=np.int64)

    @cached_property
    def buyers(self) -> tuple[np.ndarray, np.ndarray]:
        """Each history item's buyers: ``(buyers, position in the history of each one's
        item)``."""
        return self.finder.item_users.gather(self.history)

    @cached_property
    def linked(self) -> tuple[np.ndarray, np.ndarray]:
        """Each history item's linked items, either way, likewise."""
        return self.finder.linked.gather(self.history)

    @cached_property
    def buyers_sorted(self) -> tuple[np.ndarray, np.ndarray]:
        """:attr:`buyers` ordered by buyer: ``(buyers ascending, their history positions)``, so
        that an item's buyers are looked up among them (:func:`_matching`) at the cost of the
        item's buyers, not of the history's."""
        return _by_value(*self.buyers)

    @cached_property
    def linked_sorted(self) -> tuple[np.ndarray, np.ndarray]:
        """:attr:`linked` ordered by linked item, likewise."""
        return _by_value(*self.linked)

    @cached_property
    def co_buyers(self) -> np.ndarray:
        """Everyone who bought a history item, ascending (repeats kept)."""
        return np.sort(self.buyers[0]) if len(self.history) else np.zeros(0, dtype=np.int64)

    @cached_property
    def near(self) -> np.ndarray:
        """Every item linked to a history item, ascending (repeats kept)."""
        return np.sort(self.linked[0]) if len(self.history) else np.zeros(0, dtype=np.int64)

    @cached_property
    def attributes(self) -> tuple[SharedAttribute, SharedAttribute]:
        """The history's brands, then its categories, each with the items holding them."""
        brands, categories = (SharedAttribute(of, *_by_value(*of.gather(self.history)))
                              for of in (self.finder.brands, self.finder.categories))
        return brands, categories


class SharedAttribute(NamedTuple):
    """What a history holds of one attribute (brand or category): ``of``, each item's values;
    ``values``, those of the history's items, ascending, with ``positions``, the history
    position of each one's item."""

    of: Adjacency
    values: np.ndarray
    positions: np.ndarray
