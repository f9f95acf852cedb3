"""Candidate reason paths from a user to an item in the knowledge graph, in process.

A path is a walk of at most three hops that starts at the user, goes through one item the user
bought, and ends at the recommended item. The user's purchases are given by the caller (the
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

Adjacency is kept as CSR arrays built once from :class:`~graphrec.dataset.GraphData`, so
enumerating the candidates of one pair costs a few array lookups (no store round trip); the
same walks are in ``cypher/explain/`` for Neo4j Browser.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from graphrec.dataset import GraphData
from graphrec.schema import BOUGHT, BY_NAME, Relation
from graphrec.sorted_lookup import find_sorted, in_sorted

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


def _csr(pairs: np.ndarray, rows: int, cols: int) -> sp.csr_matrix:
    data = np.ones(len(pairs), dtype=np.int8)
    matrix = sp.csr_matrix((data, (pairs[:, 0], pairs[:, 1])), shape=(rows, cols))
    matrix.sum_duplicates()
    return matrix


def _row(matrix: sp.csr_matrix, row: int) -> np.ndarray:
    """The columns of the entries of one row of a CSR matrix, ascending."""
    return matrix.indices[matrix.indptr[row]:matrix.indptr[row + 1]]


def _gather(matrix: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The entries of ``rows`` of a CSR matrix, row after row, in a few array operations (no
    Python loop over the rows): ``(their columns, the position in rows of each one's row)``."""
    rows = np.asarray(rows, dtype=np.int64)
    starts = matrix.indptr[rows].astype(np.int64)
    counts = matrix.indptr[rows + 1] - starts
    owner = np.repeat(np.arange(len(rows)), counts)
    entries = np.arange(len(owner)) + np.repeat(starts - np.cumsum(counts) + counts, counts)
    return matrix.indices[entries], owner


def _first_of_each(owner: np.ndarray, values: np.ndarray, key: np.ndarray, limit: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The ``limit`` values of each owner with the lowest ``key`` (then the lowest value),
    owners ascending: ``(owner, value)`` of those kept, in that order."""
    order = np.lexsort((values, key, owner))
    owner, values = owner[order], values[order]
    starts = np.flatnonzero(np.diff(owner, prepend=-1))
    place = np.arange(len(owner)) - np.repeat(starts, np.diff(np.append(starts, len(owner))))
    return owner[place < limit], values[place < limit]


def _by_value(values: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(values, owner)`` ordered by value."""
    order = np.argsort(values, kind="stable")
    return values[order], owner[order]


def _matching(values: np.ndarray, owner: np.ndarray, wanted: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """``(owner, value)`` of every entry of the ascending ``values`` that is one of ``wanted``
    (no repeats): a range of ``values`` per wanted value, found by binary search."""
    low = np.searchsorted(values, wanted, "left")
    counts = np.searchsorted(values, wanted, "right") - low
    at = np.arange(counts.sum()) + np.repeat(low - np.cumsum(counts) + counts, counts)
    return owner[at], values[at]



class PathFinder:
    """Enumerates :class:`ReasonPath` candidates of (user, item) pairs of one GraphData."""

    def __init__(self, data: GraphData, max_collaborative_per_item: int = 2,
                 max_chains_per_item: int = 1):
        self.data = data
        self.max_collaborative = max_collaborative_per_item
        self.max_chains = max_chains_per_item
        n_users, n_items = data.num_users, data.num_items
        self.user_items = _csr(data.train, n_users, n_items)
        self.item_users = self.user_items.T.tocsr()
        self.brand_of = np.full(n_items, -1, dtype=np.int64)
        self.brand_of[data.item_brand[:, 0]] = data.item_brand[:, 1]
        self.category_of = np.full(n_items, -1, dtype=np.int64)
        self.category_of[data.item_category[:, 0]] = data.item_category[:, 1]
        self.links = {rel: _csr(pairs, n_items, n_items) for rel, pairs in data.links.items()}
        linked = sum((m + m.T for m in self.links.values()), sp.csr_matrix((n_items, n_items)))
        linked.setdiag(0)
        linked.eliminate_zeros()
        self.linked = (linked > 0).astype(np.int8).tocsr()  # any link, either way
        self.links_to = {rel: matrix.T.tocsr() for rel, matrix in self.links.items()}
        self.activity = np.diff(self.user_items.indptr)  # purchases per user
        self.degree = np.diff(self.linked.indptr)  # linked items per item
        self.link_names = [BY_NAME[relation].type for relation in self.links]
        self.link_code = self._link_codes()

    def history(self, user: int) -> np.ndarray:
        """The items ``user`` bought in train, ascending."""
        return _row(self.user_items, user)

    def buyers(self, item: int) -> np.ndarray:
        return _row(self.item_users, item)

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
        """:meth:`candidates` of each of ``items`` for one user. What the walks gather from the
        history alone (each history item's buyers and linked items, the bulk of the work for a
        long history) is gathered once for all the items of a page, not once an item
        (``walks``: :meth:`walks` of ``history``, when the caller has it already)."""
        history = np.asarray(history, dtype=np.int64)
        shared = walks if walks is not None else HistoryWalks(self, history)
        out = []
        for item in items:
            own = history[history != item]
            walks = shared if len(own) == len(history) else HistoryWalks(self, own)
            paths = self._shared(user, item, own, BY_NAME["has_brand"], self.brand_of)
            paths += self._shared(user, item, own, BY_NAME["in_category"], self.category_of)
            for relation, matrix in self.links.items():
                paths += self._linked(user, item, own, relation, matrix)
            paths += self._collaborative(user, item, own, walks)
            paths += self._chains(user, item, own, walks)
            out.append(paths)
        return out

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
        for attribute, shared in walks.attributes:
            found |= in_sorted(shared, attribute[items])
        near = walks.near  # every link, either way
        found |= in_sorted(near, items)
        if self.max_collaborative:  # bought by someone who bought a history item
            buyers, owner = _gather(self.item_users, items)
            found[owner[in_sorted(walks.co_buyers, buyers)]] = True
        if self.max_chains:  # linked to an item linked to the history: a chain's middle
            rest = np.flatnonzero(~found)
            middles, owner = _gather(self.linked, items[rest])
            found[rest[owner[in_sorted(near, middles)]]] = True
        return found

    def has_train_candidates(self, user: int, items: np.ndarray) -> np.ndarray:
        """:meth:`has_candidates` from the user's train history (the evaluation's rule)."""
        return self.has_candidates(self.history(user), items)

    def _shared(self, user: int, item: int, history: np.ndarray, relation: Relation,
                attribute: np.ndarray) -> list[ReasonPath]:
        """Paths through the node that ``relation`` gives both the item and a history item (its
        brand, its category): the path's kind is that node's type."""
        value = attribute[item]
        if value < 0:
            return []
        kind, rel = relation.target, relation.type
        return [ReasonPath(kind, (("user", user), ("item", int(i)), (kind, int(value)),
                                  ("item", item)),
                           (Hop(BOUGHT, 0, 1), Hop(rel, 1, 2), Hop(rel, 3, 2)))
                for i in history[attribute[history] == value]]

    def _linked(self, user: int, item: int, history: np.ndarray, relation: str,
                matrix: sp.csr_matrix) -> list[ReasonPath]:
        rel = BY_NAME[relation].type
        forward = in_sorted(_row(self.links_to[relation], item), history)  # history → item
        backward = in_sorted(_row(matrix, item), history)  # item → history
        paths = []
        for n in np.flatnonzero(forward | backward):  # one path when the link runs both ways
            nodes = (("user", user), ("item", int(history[n])), ("item", item))
            link = Hop(rel, 1, 2) if forward[n] else Hop(rel, 2, 1)
            paths.append(ReasonPath(relation, nodes, (Hop(BOUGHT, 0, 1), link)))
        return paths

    def _collaborative(self, user: int, item: int, history: np.ndarray, walks: HistoryWalks
                       ) -> list[ReasonPath]:
        """Other buyers of the item who share a history item; the least active first, since a
        shopper with a short history says more about the pair than one who buys everything."""
        buyers = self.buyers(item)
        buyers = buyers[buyers != user]
        if not len(buyers):
            return []
        owner, others = _matching(*walks.buyers_sorted, buyers)  # who bought a history item
        owner, others = _first_of_each(owner, others, self.activity[others],
                                       self.max_collaborative)
        return [ReasonPath("collaborative",
                           (("user", user), ("item", int(history[n])), ("user", int(v)),
                            ("item", item)),
                           (Hop(BOUGHT, 0, 1), Hop(BOUGHT, 2, 1), Hop(BOUGHT, 2, 3)))
                for n, v in zip(owner, others)]

    def _chains(self, user: int, item: int, history: np.ndarray, walks: HistoryWalks
                ) -> list[ReasonPath]:
        """Items linked to both a history item and the rec; the least linked middle first (the
        most specific), one per history item by default."""
        owner, middles = _matching(*walks.linked_sorted, self._neighbours(item))
        keep = (middles != item) & (middles != history[owner])  # linked to a history item
        owner, middles = _first_of_each(owner[keep], middles[keep], self.degree[middles[keep]],
                                        self.max_chains)
        if not len(owner):
            return []
        first = self._link_hops(history[owner], middles).tolist()
        second = self._link_hops(middles, np.full(len(middles), item)).tolist()
        return [ReasonPath("link_chain",
                           (("user", user), ("item", int(history[n])), ("item", int(m)),
                            ("item", item)),
                           (Hop(BOUGHT, 0, 1), self._hop(one, 1, 2), self._hop(two, 2, 3)))
                for n, m, one, two in zip(owner, middles, first, second)]

    def _neighbours(self, item: int) -> np.ndarray:
        return _row(self.linked, item)

    def _link_codes(self) -> tuple[np.ndarray, np.ndarray]:
        """For each linked pair of items ``(a, b)`` (its key ``a * items + b``, ascending),
        which link :meth:`_link_hops` names: ``2 r`` for relation ``r`` (in :attr:`links`'
        order) stored ``a → b``, ``2 r + 1`` for ``b → a``, the lowest code of the pair where
        several apply (the first relation, forward before backward). Made once per model, so
        that the hops of a page's chains are one lookup."""
        n_items = self.data.num_items
        keys, codes = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
        for r, matrix in enumerate(self.links.values()):
            coo = matrix.tocoo()
            row, col = coo.row.astype(np.int64), coo.col.astype(np.int64)
            keys += [row * n_items + col, col * n_items + row]
            codes += [np.full(coo.nnz, 2 * r), np.full(coo.nnz, 2 * r + 1)]
        key, code = np.concatenate(keys), np.concatenate(codes)
        order = np.lexsort((code, key))
        key, code = key[order], code[order]
        first = np.concatenate([[True], key[1:] != key[:-1]])
        return key[first], code[first]

    def _link_hops(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """:attr:`link_code`'s code of each pair ``(a[k], b[k])``; ValueError for a pair that
        is not linked."""
        keys, codes = self.link_code
        at, found = find_sorted(keys, np.asarray(a, dtype=np.int64) * self.data.num_items + b)
        if not found.all():
            missing = np.flatnonzero(~found)[0]
            raise ValueError(f"items {a[missing]} and {b[missing]} are not linked")
        return codes[at]

    def _link_hop(self, a: int, b: int, pos_a: int, pos_b: int) -> Hop:
        """The first link relation between items ``a`` and ``b``, in its stored direction."""
        return self._hop(int(self._link_hops(np.array([a]), np.array([b]))[0]), pos_a, pos_b)

    def _hop(self, code: int, pos_a: int, pos_b: int) -> Hop:
        name = self.link_names[code // 2]
        return Hop(name, pos_a, pos_b) if code % 2 == 0 else Hop(name, pos_b, pos_a)


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
        return _gather(self.finder.item_users, self.history)

    @cached_property
    def linked(self) -> tuple[np.ndarray, np.ndarray]:
        """Each history item's linked items, either way, likewise."""
        return _gather(self.finder.linked, self.history)

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
    def attributes(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(item → brand, the history's brands)``, the same for categories (sorted)."""
        out = []
        for attribute in (self.finder.brand_of, self.finder.category_of):
            shared = np.unique(attribute[self.history])
            out.append((attribute, shared[shared >= 0]))
        return out
