r"""Path weights from the model itself: the score a pair loses when a path's edges are masked.

:class:`~graphrec.model.kgrec.KGRec` scores a pair as (:mod:`graphrec.model.kernel`)

.. math::
    s(u, i) = \gamma_u \sum_{j \in N(u)} P_j^\top P_i, \qquad
    P = \tfrac{1}{L+1} \sum_l H^{(l)},\quad H^{(l+1)} = \hat A H^{(l)}

where :math:`N(u)` is the history the caller gives (the user's purchases as the store holds
them now). Masking a reason path runs this computation
with the path's edges removed, as a masked message would be: its ``BOUGHT`` edge takes the
history item :math:`j` out of the user's sum, and its knowledge-graph edges (``HAS_BRAND``,
``IN_CATEGORY``, an item link) are zeroed in :math:`\hat A` — for the one relation the path
names, without renormalising anything. The weight of a path is the score it then loses. The
other shopper's ``BOUGHT`` edges of a collaborative path carry nothing at serving time (users
are not nodes of the propagation; other shoppers' purchases shaped the embeddings in training),
so such a path weighs exactly its history item's term.

The propagation is linear, so the change it makes is local and exact without propagating again:

.. math::
    \Delta H^{(0)} = 0, \qquad
    \Delta H^{(l+1)} = \Delta\hat A\,(H^{(l)} + \Delta H^{(l)}) + \hat A\,\Delta H^{(l)},

with :math:`\Delta\hat A` non-zero on the masked edges only, so :math:`\Delta H^{(l)}` lives on
the nodes within :math:`l` hops of them. One path costs a few small array operations, which is
what lets an explanation weigh every candidate path of a pair within a request.

Items folded in after training (:mod:`graphrec.model.foldin`) receive from their neighbours and
send nothing back, so :math:`\hat A` is symmetric only without them: every entry is looked up in
the direction it carries a message (row receives from column), and :math:`\hat A \Delta H` is
spread along the columns of the graph when it holds folded items. A folded item's layer-0 row
counts as given, like a trained one: masking its edges takes them out of its later layers.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from graphrec.explain.paths import CandidatePaths, ReasonPath
from graphrec.model.kernel import Propagated, scores, user_vectors
from graphrec.schema import BOUGHT, BY_TYPE
from graphrec.sorted_lookup import find_sorted


@dataclass(frozen=True)
class Mask:
    """What to remove: history items of the user (their ``BOUGHT`` edges) and typed edges of
    the propagation graph as ``(node, node, relation index)`` in the model's node numbering."""

    history: frozenset[int] = frozenset()
    edges: frozenset[tuple[int, int, int]] = frozenset()

    def __or__(self, other: Mask) -> Mask:
        return Mask(self.history | other.history, self.edges | other.edges)


class _Rows:
    """A matrix that is zero outside ``rows`` (sorted): ``values[k]`` is row ``rows[k]``."""

    def __init__(self, rows: np.ndarray, values: np.ndarray):
        self.rows, self.values = rows, values

    @classmethod
    def empty(cls, dim: int) -> _Rows:
        return cls(np.zeros(0, dtype=np.int64), np.zeros((0, dim), dtype=np.float32))

    def at(self, rows: np.ndarray) -> np.ndarray:
        """Rows ``rows`` of the matrix (zeros where it has none)."""
        out = np.zeros((len(rows), self.values.shape[1]), dtype=np.float32)
        pos, hit = find_sorted(self.rows, rows)
        out[hit] = self.values[pos[hit]]
        return out

    def __add__(self, other: _Rows) -> _Rows:
        if not len(self.rows) or not len(other.rows):
            return other if not len(self.rows) else self
        rows = np.union1d(self.rows, other.rows)
        values = np.zeros((len(rows), self.values.shape[1]), dtype=np.float32)
        values[np.searchsorted(rows, self.rows)] += self.values
        values[np.searchsorted(rows, other.rows)] += other.values
        return _Rows(rows, values)


class EdgeMasking:
    """Exact scores of a trained model (:class:`~graphrec.model.kernel.Propagated`) with parts of
    the graph masked, for a user given by their history (item indices).

    Made once per loaded model from its arrays, then answers with numpy alone.
    """

    #: What a masking derives from its state's arrays (the spread as ``spread_*``): saved
    #: beside a fold-in that several workers share (:mod:`graphrec.serving.folds`), so that
    #: each maps them instead of deriving its own copy, as large as the graph.
    DERIVED = ("edge_key", "typed_key", "typed_value", "adj_key", "adj_value", "edge_count",
               "edge_indptr", "spread_indptr", "spread_count", "spread_index", "spread_value")

    def __init__(self, state: Propagated, derived: Mapping[str, np.ndarray] | None = None):
        """``derived``: :meth:`derived` of a masking of the same arrays (mapped from a shared
        fold-in), taken instead of computed."""
        self.state = state
        # Plain views of the memory-mapped arrays (the same pages): indexing a np.memmap goes
        # through its Python __getitem__, hundreds of times a page.
        self.layers = [np.asarray(layer) for layer in state.layers]
        self.target = np.asarray(state.target)
        self.num_items, self.num_nodes = state.num_items, state.num_nodes
        self.offset = state.offset
        self.relation_index = {name: r for r, name in enumerate(state.relations)}
        # a hop's relationship type → the model's index of its relation (a few per path)
        self.hop_relation = {kind: self.relation_index[relation.name]
                             for kind, relation in BY_TYPE.items()
                             if relation.name in self.relation_index}
        self.edge_type, self.edge_value = np.asarray(state.edge_type), np.asarray(state.edge_value)
        self.edge_col = np.asarray(state.edge_col)
        self.exponent = state.exponent
        if derived is not None:
            got = {name: np.asarray(derived[name]) for name in self.DERIVED}
            self.edge_key, self.typed_key, self.typed_value = (
                got["edge_key"], got["typed_key"], got["typed_value"])
            self.adj_key, self.adj_value = got["adj_key"], got["adj_value"]
            self.edge_count, self.edge_indptr = got["edge_count"], got["edge_indptr"]
            self.spread = (got["spread_indptr"], got["spread_count"], got["spread_index"],
                           got["spread_value"])
            return
        row = np.asarray(state.edge_row)
        # Sorted, and by relation within a node pair: the model stores the graph so
        # (kernel.normalised_graph), which spares a worker's start two sorts of every edge.
        self.edge_key = row * self.num_nodes + self.edge_col
        typed = np.asarray(self._typed(self.edge_key, self.edge_type))
        if (typed[1:] < typed[:-1]).any():
            order = np.argsort(typed, kind="stable")
            self.typed_key, self.typed_value = typed[order], self.edge_value[order]
        else:
            self.typed_key, self.typed_value = typed, self.edge_value
        # where each node pair's entries start (Â, relations summed): a mask, not np.diff's
        # integer copy of the keys, since at scale a new model's fresh memory is most of what
        # making it costs a worker (a fold-in)
        change = np.ones(len(self.edge_key), dtype=bool)
        np.not_equal(self.edge_key[1:], self.edge_key[:-1], out=change[1:])
        starts = np.flatnonzero(change)
        self.adj_key = self.edge_key[starts]
        self.adj_value = (np.add.reduceat(self.edge_value, starts) if len(starts)
                          else np.zeros(0, dtype=np.float32))
        self.edge_count = np.bincount(row, minlength=self.num_nodes)
        self.edge_indptr = np.concatenate([[0], np.cumsum(self.edge_count)])
        # ``Â @ delta`` reads, for each row of delta, the rows it reaches and their entries: the
        # graph's own rows while it is symmetric, its columns once it holds folded items.
        self.spread = (self.edge_indptr, self.edge_count, self.edge_col, self.edge_value)
        if state.folded:
            self.spread = self._columns(row, self.edge_col)

    def derived(self) -> dict[str, np.ndarray]:
        """What this masking derived from its state, by the names of :attr:`DERIVED`."""
        spread = dict(zip(("spread_indptr", "spread_count", "spread_index", "spread_value"),
                          self.spread))
        return {name: spread[name] if name in spread else getattr(self, name)
                for name in self.DERIVED}

    def _columns(self, row: np.ndarray, col: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The graph of a state with folded items by column, as :attr:`spread` reads it: each
        column's rows, ascending (a pair's relations in their order), and their entries. Its
        trained part is symmetric, so by column it is its own rows: only the folded items'
        rows (those they receive by) are sorted, and put in the columns they name, not the
        whole graph sorted again at each fold-in."""
        nodes = self.num_nodes
        lo, hi = np.searchsorted(row, [self.num_items - self.state.folded, self.num_items])
        fresh = slice(lo, hi)
        key = col[fresh] * nodes + row[fresh]
        order = np.argsort(key, kind="stable")
        key = key[order]
        # where each goes among the trained entries: the folded rows' keys lie between theirs
        at = self.edge_key.searchsorted(key)
        at = np.where(at >= hi, at - (hi - lo), np.minimum(at, lo))

        def merged(trained: np.ndarray, folded: np.ndarray) -> np.ndarray:
            return np.insert(np.concatenate([trained[:lo], trained[hi:]]), at, folded[order])

        count = np.bincount(col, minlength=nodes)
        return (np.concatenate([[0], np.cumsum(count)]), count, merged(col, row[fresh]),
                merged(self.edge_value, self.edge_value[fresh]))

    # --- what a path masks --------------------------------------------------------------------

    def path_mask(self, path: ReasonPath) -> Mask:
        """The path's edges that the model computes with: its first ``BOUGHT`` edge (from the
        user) and its knowledge-graph edges of relations the model has."""
        history, edges = set(), set()
        offset, nodes = self.offset, path.nodes
        for hop in path.hops:
            (src_type, src), (dst_type, dst) = nodes[hop.source], nodes[hop.target]
            if hop.type == BOUGHT:
                if src_type == "user" and src == nodes[0][1]:
                    history.add(dst)
                continue
            relation = self.hop_relation.get(hop.type)
            if relation is not None:
                a, b = src + offset[src_type], dst + offset[dst_type]
                edges.add((a, b, relation) if a <= b else (b, a, relation))
        return Mask(frozenset(history), frozenset(edges))

    def _edge_weight(self, a: int, b: int, relation: int) -> float:
        """The weighted entry of ``Â`` for ``(a, b)`` in ``relation`` (0 when absent)."""
        key = a * self.num_nodes + b
        lo, hi = np.searchsorted(self.edge_key, [key, key + 1])
        hit = np.flatnonzero(self.edge_type[lo:hi] == relation)
        return float(self.edge_value[lo + hit[0]]) if len(hit) else 0.0

    # --- the masked computation ---------------------------------------------------------------

    def _layer_deltas(self, layers: list[np.ndarray], edges: Iterable[tuple[int, int, int]],
                      rows: np.ndarray | None) -> _Rows:
        """:math:`\\sum_l \\Delta H^{(l)} / (L+1)`, exactly; only ``rows`` of it when given."""
        dim = layers[0].shape[1]
        # both directions of each edge: (receiving node, sending node, entry of Â)
        weighted = [(a, b, w) for x, y, r in edges for a, b in ((x, y), (y, x))
                    if (w := self._edge_weight(a, b, r))]
        delta, total = _Rows.empty(dim), _Rows.empty(dim)
        if not weighted:
            return total
        ends = np.array([(a, b) for a, b, _ in weighted])
        scale = np.array([w for *_, w in weighted], dtype=np.float32)[:, None]
        for layer in range(1, len(layers)):
            last = layer == len(layers) - 1
            before = layers[layer - 1][ends[:, 1]] + delta.at(ends[:, 1])
            masked = _Rows(*_sum_rows(ends[:, 0], -scale * before))
            delta = masked + self._spread(delta, rows if last else None)
            total = total + delta
        total.values /= len(layers)
        return total

    def _spread(self, delta: _Rows, rows: np.ndarray | None) -> _Rows:
        """``Â @ delta``, restricted to ``rows`` when given (:attr:`spread` lists, for each
        row of ``delta``'s support, the entries it reaches)."""
        if not len(delta.rows):
            return delta
        indptr, count, reached, value = self.spread
        starts, counts = indptr[delta.rows], count[delta.rows]
        source = np.repeat(np.arange(len(delta.rows)), counts)
        entry = np.arange(counts.sum()) + np.repeat(starts - np.cumsum(counts) + counts, counts)
        targets = reached[entry]
        if rows is not None:
            wanted = np.zeros(self.num_nodes, dtype=bool)
            wanted[rows] = True
            keep = wanted[targets]
            entry, source, targets = entry[keep], source[keep], targets[keep]
        return _Rows(*_sum_rows(targets, value[entry, None] * delta.values[source]))

    def _user_vector(self, history: np.ndarray, mask: Mask, delta: _Rows) -> np.ndarray:
        """:math:`z_u` with the masked history items left out of the sum (the user's degree
        stays as before masking) and the propagation's deltas added to the rows kept."""
        kept = history[~np.isin(history, list(mask.history))] if mask.history else history
        return user_vectors((self.target[kept] + delta.at(kept)).sum(0),
                            np.asarray(len(history)), self.exponent)

    def score(self, history: np.ndarray, item: int, mask: Mask = Mask()) -> float:
        """The model's score of ``item`` for a user who bought ``history``, ``mask`` applied."""
        delta = self._layer_deltas(self.layers, mask.edges, np.append(history, item))
        z = self._user_vector(history, mask, delta)
        return float(scores(z, self.target[[item]] + delta.at(np.array([item])))[0])

    def scores(self, history: np.ndarray, mask: Mask = Mask()) -> np.ndarray:
        """The model's score of every item for a user who bought ``history``, ``mask`` applied,
        ``[items]``."""
        delta = self._layer_deltas(self.layers, mask.edges, None)
        z = self._user_vector(history, mask, delta)
        out = scores(z, self.target)
        changed = delta.rows < self.num_items
        out[delta.rows[changed]] += scores(z, delta.values[changed])
        return out

    def score_rank(self, history: np.ndarray, item: int, mask: Mask = Mask()) -> int:
        """``item``'s place (1 = first) by score alone among the items not in ``history``, under
        ``mask``: not the ``rank`` the service answers, which counts only the items it would
        serve (those with a reason path)."""
        ranked = self.scores(history, mask)
        ranked[history] = -np.inf
        return int((ranked > ranked[item]).sum()) + 1

    def path_weights(self, history: np.ndarray, item: int, paths: Sequence[ReasonPath]
                     ) -> list[float]:
        """For each path, the score of ``item`` lost when its edges are masked."""
        return self.items_path_weights(history, [item], [paths])[0]

    def items_path_weights(self, history: np.ndarray, items: Sequence[int],
                           paths: Sequence[Sequence[ReasonPath]]) -> list[list[float]]:
        """:meth:`path_weights` of several items for one user: ``paths[n]`` are paths to
        ``items[n]``.

        With up to two layers, every path of every item is masked at once in a few array
        operations (:meth:`_batched_scores`), so the ten items of a page cost one batched
        computation rather than ten; deeper models take one path at a time."""
        masks = [[self.path_mask(p) for p in item_paths] for item_paths in paths]
        if any(masks):  # the user's vector once, not once an item (as :meth:`score` forms it)
            z = self._user_vector(history, Mask(), _Rows.empty(self.target.shape[1]))
        base = [float(scores(z, self.target[[item]])[0]) if item_masks else 0.0
                for item, item_masks in zip(items, masks)]
        if len(self.layers) > 3:
            return [[b - self.score(history, item, mask) for mask in item_masks]
                    for item, b, item_masks in zip(items, base, masks)]
        flat = [mask for item_masks in masks for mask in item_masks]
        if not flat:
            return [[] for _ in items]
        owner = np.repeat(np.arange(len(items)), [len(item_masks) for item_masks in masks])
        lost = np.asarray(base)[owner] - self._batched_scores(
            history, np.asarray(items, dtype=np.int64)[owner], flat)
        bounds = np.cumsum([0, *(len(item_masks) for item_masks in masks)])
        return [lost[start:end].tolist() for start, end in zip(bounds[:-1], bounds[1:])]

    def table_weights(self, history: np.ndarray, table: CandidatePaths) -> np.ndarray:
        """:meth:`items_path_weights` of the paths of a :class:`~graphrec.explain.paths
        .CandidatePaths` (a page's candidates as columns), one weight a row: what a path masks
        is read from the columns, not from path objects, so the thousand candidates of a long
        history cost array operations, not a thousand masks."""
        if not len(table):
            return np.zeros(0)
        if len(self.layers) > 3:
            weights = self.items_path_weights(history, table.items.tolist(),
                                              [table.paths(rows) for rows in table.by_item()])
            return np.asarray([w for item_weights in weights for w in item_weights])
        z = self._user_vector(history, Mask(), _Rows.empty(self.target.shape[1]))
        # item by item (one product a row, as the masked scores): an item's weights are the
        # same to the bit whether it is weighed alone or with the rest of a page
        items = self.target[table.items][:, None, :]
        base = scores(np.broadcast_to(z, items.shape), items)[:, 0, 0].astype(np.float64)
        # the model's index of each relationship type; -1: not one the model propagates over
        relation_of = np.array([self.hop_relation.get(name, -1) for name in table.edge_types],
                               dtype=np.int64)
        edges: list[tuple[np.ndarray, ...]] = []
        for rows, source_type, source, target_type, target, types in table.masked_edges():
            relation = relation_of[types]
            known = relation >= 0
            a = source[known] + self.offset[source_type]
            b = target[known] + self.offset[target_type]
            edges.append((rows[known], np.minimum(a, b), np.maximum(a, b), relation[known]))
        path, a, b, r = (np.concatenate([group[c] for group in edges]) for c in range(4))
        order = np.argsort(path, kind="stable")  # a path's edges in the order of its hops
        masked = self._masked_scores(history, table.items[table.owner], table.via[:, None],
                                     (path[order], a[order], b[order], r[order]))
        return base[table.owner] - masked

    # --- all masks at once (models of at most two layers) -------------------------------------

    def _batched_scores(self, history: np.ndarray, items: np.ndarray | int,
                        masks: Sequence[Mask]) -> np.ndarray:
        """The score of ``items[n]`` under ``masks[n]`` (``items`` one item for all masks, or
        one a mask), ``[len(masks)]``: :meth:`_masked_scores` of the masks' arrays."""
        width = max(len(mask.history) for mask in masks)
        removed = np.full((len(masks), width), -1, dtype=np.int64)
        rows, slots = _slots([len(mask.history) for mask in masks])
        removed[rows, slots] = [item for mask in masks for item in mask.history]
        edge_rows = np.repeat(np.arange(len(masks)), [len(mask.edges) for mask in masks])
        a, b, r = np.array([edge for mask in masks for edge in mask.edges],
                           dtype=np.int64).reshape(-1, 3).T
        return self._masked_scores(history, items, removed, (edge_rows, a, b, r))

    def _masked_scores(self, history: np.ndarray, items: np.ndarray | int,
                       removed: np.ndarray, edges: tuple[np.ndarray, ...]) -> np.ndarray:
        r"""The score of ``items[n]`` (one item for all masks, or one a mask) with mask ``n``
        applied: the history items ``removed[n]`` taken out (``[masks, width]``, padded with
        -1) and the edges ``(rows, a, b, relation)`` of ``edges`` whose row is ``n`` zeroed
        (``rows`` ascending), ``[masks]``.

        Only the user's history and each mask's item are read, and only the sums the score
        takes of their deltas are formed (the history's kept rows, the item's row:
        :meth:`_deltas`), never a ``[masks, rows, d]`` array.
        """
        count = len(removed)
        items = np.broadcast_to(np.asarray(items, dtype=np.int64), (count,))
        ends, partner, weight = self._mask_entries(count, *edges)
        kept = (history[None, :, None] != removed[:, None, :]).all(-1).astype(np.float32)
        user_delta, item_delta = self._deltas(history, kept, items, ends, partner, weight)
        bought = (kept[:, None, :] @ self.target[history])[:, 0]  # mask by mask: ties stay ties
        z = user_vectors(bought + user_delta, np.asarray(len(history)), self.exponent)
        return scores(z[:, None, :], (self.target[items] + item_delta)[:, None, :])[:, 0, 0]

    def _mask_entries(self, count: int, edge_rows: np.ndarray, a: np.ndarray, b: np.ndarray,
                      r: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(node, other end, weight)`` of both directions of every masked edge, ``[masks,
        entries]``, padded with weight 0; edge ``k`` is mask ``edge_rows[k]``'s (ascending)."""
        rows, slots = _slots(np.bincount(edge_rows, minlength=count).tolist())
        width = 2 * (int(slots.max()) + 1 if len(slots) else 0)
        ends = np.zeros((count, width), dtype=np.int64)
        partner = np.zeros_like(ends)
        keys = np.full((count, width), -1, dtype=np.int64)
        if len(rows):  # each mask's edges in its slots, in the order they are given
            for half, (one, other) in enumerate(((a, b), (b, a))):
                ends[rows, 2 * slots + half] = one
                partner[rows, 2 * slots + half] = other
                keys[rows, 2 * slots + half] = self._typed(one * self.num_nodes + other, r)
        weight = _lookup(self.typed_key, self.typed_value, keys)
        return ends, partner, weight

    def _typed(self, key: np.ndarray | int, relation: np.ndarray | int) -> np.ndarray | int:
        """The key of an ``Â`` entry of one relation: the node pair's key, then the relation
        (what :attr:`typed_key` is sorted by)."""
        return key * len(self.relation_index) + relation

    def _deltas(self, history: np.ndarray, kept: np.ndarray, items: np.ndarray,
                ends: np.ndarray, partner: np.ndarray, weight: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
        r"""Each mask's :math:`\sum_r c_r \sum_l \Delta H^{(l)}_r / (L+1)` over the history's
        rows with their ``kept`` coefficients ``[masks, rows]``, and over its item's row alone:
        ``([masks, d], [masks, d])`` (``L`` at most 2).

        Each masked edge ``(a, b)`` of weight ``w`` gives two entries of :math:`\Delta H^{(1)}`,
        ``-w H^{(0)}_b`` at ``a`` and ``-w H^{(0)}_a`` at ``b``; :math:`\Delta H^{(2)}` at a
        node ``r`` is the masked edges' term at their ends,
        :math:`-w (H^{(1)}_b + \Delta H^{(1)}_b)`, plus
        :math:`\sum_e \hat A_{r, e} \Delta H^{(1)}_e`. Every delta is so a combination of the
        rows of :math:`H^{(0)}` and :math:`H^{(1)}` at the entries' other ends (``partner``): the
        combination's coefficients are formed first, ``[masks, 2, entries]`` a layer (a few
        numbers an entry), and then each mask's two sums are two small products of them with
        those rows, instead of every delta as a vector first."""
        layers = self.layers
        if len(layers) < 2 or not ends.shape[1]:
            zero = np.zeros((len(kept), layers[0].shape[1]), dtype=np.float32)
            return zero, zero
        # an end's coefficient among the rows summed: its history row's (kept or not), and 1
        # for the mask's item
        order = np.argsort(history)
        at, in_history = find_sorted(history[order], ends)
        on = np.stack([np.where(in_history, np.take_along_axis(kept, order[at], 1), 0),
                       ends == items[:, None]], axis=1).astype(np.float32)
        scale = -weight[:, None, :]
        if len(layers) == 2:
            both = (on * scale / 2) @ layers[0][partner]
            return both[:, 0], both[:, 1]
        # the rows' edges to the ends in Â, summed with the rows' coefficients
        near = np.stack([(kept[:, None, :] @ self._adjacency(
            np.broadcast_to(history, kept.shape), ends))[:, 0],
            self._adjacency(items[:, None], ends)[:, 0]], axis=1)
        meets = (ends[:, None, :] == partner[:, :, None]).astype(np.float32)  # [m, k, k']
        second = on * scale  # on H^(1) at the partners
        first = (on + near) * scale + (second @ meets) * scale  # on H^(0) at the partners
        both = (first @ layers[0][partner] + second @ layers[1][partner]) / 3
        return both[:, 0], both[:, 1]

    def _adjacency(self, rows: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """``Â[rows[m, r], ends[m, e]]``, ``[masks, rows, entries]``. When every mask has the
        same rows (the user's history), each (history row, end) pair is looked up once, not
        once a mask: a page's masks share most of their ends (its history items, brands,
        categories), and a long history would otherwise cost a lookup per row per path."""
        if len(rows) > 1 and (rows == rows[:1]).all():
            nodes, where = np.unique(ends, return_inverse=True)
            table = _lookup(self.adj_key, self.adj_value,
                            rows[0][:, None] * self.num_nodes + nodes[None, :])
            # contiguous, as the lookup's own answer: the products that take it then sum in
            # the same order, and the weights come out the same to the bit
            return np.ascontiguousarray(table[:, where.reshape(ends.shape)].transpose(1, 0, 2))
        return _lookup(self.adj_key, self.adj_value,
                       rows[:, :, None] * self.num_nodes + ends[:, None, :])


def _slots(counts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """``(row, slot)`` of each of ``counts[n]`` values of each row ``n``, laid out row after
    row from slot 0 (to fill a padded ``[rows, max(counts)]`` array in one assignment)."""
    sizes = np.asarray(counts, dtype=np.int64)
    rows = np.repeat(np.arange(len(sizes)), sizes)
    return rows, np.arange(len(rows)) - np.repeat(np.cumsum(sizes) - sizes, sizes)


def _lookup(keys: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """``values`` at ``wanted`` in the sorted ``keys``, 0 where absent (same shape as
    ``wanted``)."""
    out = np.zeros(wanted.shape, dtype=np.float32)
    pos, hit = find_sorted(keys, wanted)
    out[hit] = values[pos[hit]]
    return out


def _sum_rows(rows: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows with repeated indices added up: ``(sorted unique rows, their sums)``."""
    if not len(rows):
        return rows, values
    order = np.argsort(rows, kind="stable")
    rows, values = rows[order], values[order]
    starts = np.flatnonzero(np.concatenate([[True], rows[1:] != rows[:-1]]))
    return rows[starts], np.add.reduceat(values, starts, axis=0).astype(np.float32)
