r"""Items ingested after training, folded into a trained model without a gradient step.

KGRec's item embeddings are propagated over the item-side graph (:mod:`graphrec.model.kgrec`),

.. math::
    H^{(l+1)} = \sum_r w_r \hat A_r H^{(l)}, \qquad P = \frac{1}{L+1} \sum_{l=0}^{L} H^{(l)},

so an item the model never saw has every layer but the first defined by its neighbours: its
brand, its category and the items it is linked with. :func:`fold_in` computes, for each new item
:math:`n`, with :math:`\hat A_r` normalised over the graph as it is now (the new items' edges
counted in every degree, :func:`graphrec.model.kernel.normalised_graph`) and the learnt relation
weights :math:`w_r`:

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

import numpy as np

from graphrec.dataset import GraphData
from graphrec.model.kernel import Propagated, normalised_graph, relation_edges


def fold_in(state: Propagated, trained: GraphData, grown: GraphData) -> Propagated:
    """``state`` (trained on ``trained``) extended to ``grown``: the same users, brands and
    categories, the trained items first in their order, then the new ones, whose edges (to any
    node, new items included) are added to those of ``trained``.

    Raises ``ValueError`` when ``trained`` is not the graph ``state`` was propagated over (a
    ``state`` folded already included).
    """
    n_old, n_new = state.num_items, grown.num_items - state.num_items
    if n_new < 0 or list(grown.items[:n_old]) != list(trained.items):
        raise ValueError("the grown catalogue must start with the trained items, in order")
    if not n_new:
        return state
    import scipy.sparse as sp  # here: a command on a catalogue with no new item never needs it

    weights = relation_weights(state, trained)
    nodes = state.num_nodes + n_new
    offset = {kind: start + (n_new if kind != "item" else 0)
              for kind, start in state.offset.items()}
    row, col, value, relation = normalised_graph(nodes, offset, state.relations,
                                                 relation_edges(grown))
    fresh = (row >= n_old) & (row < n_old + n_new)  # what the new items receive
    row, col, relation = row[fresh], col[fresh], relation[fresh]
    value = (value[fresh] * weights[relation]).astype(np.float32)

    moved = np.arange(state.num_nodes)
    moved[n_old:] += n_new  # brands and categories come after the new items now
    layers = np.zeros((state.layers.shape[0], nodes, state.layers.shape[2]), dtype=np.float32)
    layers[:, moved] = state.layers
    receive = sp.csr_matrix((value, (row - n_old, col)), shape=(n_new, nodes))
    new = slice(n_old, n_old + n_new)
    layers[0, new] = receive @ layers[0]
    for layer in range(1, layers.shape[0]):
        layers[layer, new] = receive @ layers[layer - 1]

    edge_row = np.concatenate([moved[state.edge_row], row])
    edge_col = np.concatenate([moved[state.edge_col], col])
    order = np.argsort(edge_row * nodes + edge_col, kind="stable")
    return Propagated(
        layers=layers, target=np.concatenate([state.target, layers[:, new].mean(0)]),
        edge_row=edge_row[order], edge_col=edge_col[order],
        edge_type=np.concatenate([state.edge_type, relation])[order],
        edge_value=np.concatenate([state.edge_value, value])[order],
        relations=state.relations, num_items=n_old + n_new, offset=offset,
        exponent=state.exponent, folded=n_new)


def relation_weights(state: Propagated, trained: GraphData) -> np.ndarray:
    """The learnt :math:`w_r` of each of ``state.relations``: its weighted graph divided by the
    same graph normalised without weights."""
    row, col, value, relation = normalised_graph(state.num_nodes, state.offset,
                                                 state.relations, relation_edges(trained))
    if not (np.array_equal(row, state.edge_row) and np.array_equal(col, state.edge_col)
            and np.array_equal(relation, state.edge_type)):
        raise ValueError("the model's graph is not the one these arrays were trained on")
    ratio = state.edge_value.astype(np.float64) / value
    count = np.bincount(relation, minlength=len(state.relations))
    return np.bincount(relation, weights=ratio, minlength=len(state.relations)) / np.maximum(
        count, 1)
