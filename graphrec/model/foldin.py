r"""Items ingested after training, folded into a trained model without a gradient step.

KGRec's item embeddings are propagated over the item-side graph (:mod:`graphrec.model.kgrec`),

.. math::
    H^{(l+1)} = \sum_r w_r \hat A_r H^{(l)}, \qquad P = \frac{1}{L+1} \sum_{l=0}^{L} H^{(l)},

so an item the model never saw has every layer but the first defined by its neighbours: its
brand, its category and the items it is linked with. :func:`fold_in` computes, for each new item
:math:`n`, with :math:`\hat A_r` normalised over the graph as it is now (the new items' edges
counted in every degree, as :func:`graphrec.model.kernel.normalised_graph` counts them) and the
learnt relation weights :math:`w_r`:

.. math::
    H^{(0)}_n = \sum_r w_r (\hat A_r H^{(0)})_n, \qquad
    H^{(l+1)}_n = \sum_r w_r (\hat A_r H^{(l)})_n, \qquad
    P_n = \frac{1}{L+1} \sum_{l=0}^{L} H^{(l)}_n .

The layer-0 row, the only learnt free vector of an item, is taken as the same neighbourhood sum
as layer 1: an item's trained :math:`E_n` lies close to what its neighbours propagate to it (the
training objective pulls linked items together). Measured by folding trained items in again as
second listings with the same edges (``benchmarks/fold_in.py``; the README's live section has
the figures), this row ranks the new listing for the original's buyers far better than a zero
row or the plain mean of the neighbours' rows.

A folded item's score does not compare with a trained item's: a trained item's rows learn from
the softmax to stay out of the lists of the users who do not buy it, a folded item's are a
smoothed average of its neighbours', which aligns with every user a little. So folded items do
not compete with trained ones for a list's places; they take places of their own
(:data:`graphrec.serving.ranking.NEW_ITEM_EVERY`).

The trained nodes keep their layers: a new item receives from its neighbours and sends nothing
back (retraining does that), so the scores of every trained item are unchanged. The result is a
:class:`~graphrec.model.kernel.Propagated` of the grown catalogue whose graph holds the new
items' edges in that one direction (``folded`` says how many items at the end of the item range
are such), which is what the edge masking of :mod:`graphrec.explain.attribution` computes with.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from graphrec.dataset import GraphData
from graphrec.model.kernel import (
    Propagated,
    relation_edges,
    relation_nodes,
    symmetric_normalised,
)
from graphrec.schema import BY_NAME
from graphrec.sorted_lookup import find_sorted

#: Where a grown array is made: ``allocate(name, shape, dtype)``, ``name`` the
#: :class:`~graphrec.model.kernel.Propagated` field it becomes; its contents are all written.
Allocate = Callable[[str, tuple[int, ...], Any], np.ndarray]


def in_memory(name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """The default :data:`Allocate`: the process's own memory."""
    return np.empty(shape, dtype=dtype)


def fold_in(state: Propagated, trained: GraphData, grown: GraphData,
            allocate: Allocate = in_memory) -> Propagated:
    """``state`` (trained on ``trained``) extended to ``grown``: the same users, brands and
    categories, the trained items first in their order, then the new ones, whose edges (to any
    node, new items included) are added to those of ``trained``.

    Only the new items' rows are computed: their edges' values from the degrees the grown graph
    has (the trained graph's, read from ``state``, plus the new edges) and the learnt relation
    weights (``state.weights``, else :func:`relation_weights`); the trained edges and layers
    are kept in their order, copied once, with the new rows put between the items' and the
    brands' (a worker folds items in whenever the catalogue changes, so this costs a copy of
    the model's arrays, not a sort of its graph). ``allocate`` makes the grown arrays: a
    server's fold-in shared by its workers (:mod:`graphrec.serving.folds`) makes them in the
    files they map, written once instead of made in memory and then copied there. Raises
    ``ValueError`` for a ``state`` folded already and, for a model saved without its
    weights, when ``trained`` is not the graph ``state`` was propagated over (which deriving
    them checks).
    """
    n_old, n_new = state.num_items, grown.num_items - state.num_items
    if n_new < 0 or list(grown.items[:n_old]) != list(trained.items):
        raise ValueError("the grown catalogue must start with the trained items, in order")
    if state.folded:
        raise ValueError("the model's graph is not the one these arrays were trained on: "
                         "it has items folded in")
    if not n_new:
        return state
    weights = (relation_weights(state, trained) if state.weights is None
               else np.asarray(state.weights, dtype=np.float64))
    import scipy.sparse as sp  # here: a command on a catalogue with no new item never needs it

    nodes = state.num_nodes + n_new
    offset = {kind: start + (n_new if kind != "item" else 0)
              for kind, start in state.offset.items()}
    fresh = slice(n_old, n_old + n_new)
    degree = _with_rows(_degrees(state), n_old, n_new)
    rows, cols, kinds = [], [], []
    for r, (row, col) in enumerate(_new_entries(nodes, offset, state.relations, grown, n_old,
                                                n_new)):
        degree[r] += np.bincount(row, minlength=nodes)
        mine = (row >= n_old) & (row < n_old + n_new)
        rows.append(row[mine])
        cols.append(col[mine])
        kinds.append(np.full(int(mine.sum()), r, dtype=np.int64))
    row, col, relation = np.concatenate(rows), np.concatenate(cols), np.concatenate(kinds)
    order = np.lexsort((relation, col, row))  # a pair's relations in their order, as trained
    row, col, relation = row[order], col[order], relation[order]
    scale = np.maximum(degree, 1).astype(np.float32) ** np.float32(-0.5)
    value = (scale[relation, row] * scale[relation, col] * weights[relation]).astype(np.float32)

    layers = _with_rows(state.layers, n_old, n_new, allocate("layers", (
        state.layers.shape[0], nodes, *state.layers.shape[2:]), state.layers.dtype))
    receive = sp.csr_matrix((value, (row - n_old, col)), shape=(n_new, nodes))
    layers[0, fresh] = receive @ layers[0]
    for layer in range(1, layers.shape[0]):
        layers[layer, fresh] = receive @ layers[layer - 1]

    at = int(np.searchsorted(state.edge_row, n_old))  # the trained items' rows end here

    def between(name: str, fresh_part: np.ndarray) -> np.ndarray:
        trained_part = getattr(state, name)
        out = allocate(name, (len(trained_part) + len(fresh_part),), trained_part.dtype)
        return np.concatenate([trained_part[:at], fresh_part, trained_part[at:]], out=out)

    # the trained nodes after the new items moved, in place: at scale, the fresh memory of
    # the new model's arrays is most of what a fold-in costs
    edge_row, edge_col = between("edge_row", row), between("edge_col", col)
    edge_row[at + len(row):] += n_new  # the rows of brands and categories, in order
    for trained_cols in (edge_col[:at], edge_col[at + len(row):]):
        np.add(trained_cols, n_new, out=trained_cols, where=trained_cols >= n_old)
    target = allocate("target", (n_old + n_new, state.target.shape[1]), state.target.dtype)
    target[:n_old] = state.target
    layers[:, fresh].mean(0, out=target[n_old:])
    return Propagated(
        layers=layers, target=target, edge_row=edge_row, edge_col=edge_col,
        edge_type=between("edge_type", relation), edge_value=between("edge_value", value),
        relations=state.relations, num_items=n_old + n_new, offset=offset,
        exponent=state.exponent, folded=n_new, weights=state.weights)


def _new_entries(nodes: int, offset: Mapping[str, int], relations: Sequence[str],
                 grown: GraphData, n_old: int, n_new: int
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per relation, the ``(row, col)`` entries of ``grown``'s graph (node ids of the grown
    graph; both ways, each pair once, no self-loop: :func:`~graphrec.model.kernel.
    symmetric_normalised`) of the edges that touch a new item: those the trained graph lacks."""
    out = []
    edges = relation_edges(grown)
    for name in relations:
        src, dst = relation_nodes(offset, name, edges)
        touches = np.zeros(len(src), dtype=bool)
        for side, kind in ((src, BY_NAME[name].source), (dst, BY_NAME[name].target)):
            if kind == "item":
                touches |= (side >= n_old) & (side < n_old + n_new)
        row, col, _ = symmetric_normalised(nodes, src[touches], dst[touches])
        out.append((row, col))
    return out


def _with_rows(trained: np.ndarray, at: int, count: int, out: np.ndarray | None = None
               ) -> np.ndarray:
    """``trained`` (nodes on axis 1) with ``count`` zero rows put before node ``at``: where
    the new items go, brands and categories after them, written into ``out`` when given.
    Slices, so each part is one copy."""
    if out is None:
        out = np.empty((trained.shape[0], trained.shape[1] + count, *trained.shape[2:]),
                       dtype=trained.dtype)
    out[:, :at], out[:, at + count:] = trained[:, :at], trained[:, at:]
    out[:, at:at + count] = 0
    return out


def _degrees(state: Propagated) -> np.ndarray:
    """``[relations, nodes]``: each node's neighbours by each relation in ``state``'s graph."""
    count, nodes = len(state.relations), state.num_nodes
    degree = np.bincount(state.edge_type * nodes + state.edge_row, minlength=count * nodes)
    return degree.reshape(count, nodes).astype(np.int64)


def relation_weights(state: Propagated, trained: GraphData) -> np.ndarray:
    """The learnt :math:`w_r` of each of ``state.relations``: its weighted graph divided by the
    same graph normalised without weights, which the degrees in ``state``'s graph give.

    Raises ``ValueError`` when the graph of ``state`` is not ``trained``'s: a relation with
    more edges than ``trained`` has pairs, or a pair of ``trained`` it lacks (a state folded
    already included)."""
    count, nodes = len(state.relations), state.num_nodes
    scale = (np.maximum(_degrees(state), 1).astype(np.float32) ** np.float32(-0.5)).ravel()
    plain = (scale[state.edge_type * nodes + state.edge_row]
             * scale[state.edge_type * nodes + state.edge_col]).astype(np.float32)
    # ascending: the graph is sorted by (row, col), a pair's relations in their order
    key = (state.edge_row * nodes + state.edge_col) * count + state.edge_type
    edges = relation_edges(trained)
    for r, name in enumerate(state.relations):
        src, dst = relation_nodes(state.offset, name, edges)
        src, dst = src[src != dst], dst[src != dst]
        _, found = find_sorted(key, np.concatenate([src * nodes + dst,
                                                    dst * nodes + src]) * count + r)
        if not found.all() or int((state.edge_type == r).sum()) > 2 * len(src):
            raise ValueError("the model's graph is not the one these arrays were trained on")
    ratio = state.edge_value.astype(np.float64) / plain
    per = np.bincount(state.edge_type, minlength=count)
    return np.bincount(state.edge_type, weights=ratio, minlength=count) / np.maximum(per, 1)
