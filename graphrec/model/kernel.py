r"""KGRec's scoring kernel and the trained model as plain arrays.

A user is the items they bought: with :math:`P` the propagated item embeddings,

.. math::
    z_u = |N(u)|^{-\gamma} \sum_{j \in N(u)} P_j, \qquad s(u, i) = z_u^\top P_i .

:func:`user_vectors` and :func:`scores` are that formula, written with operators that numpy
arrays and torch tensors share, so that training (torch, sparse batches of histories), serving
(numpy, one live history) and the edge masking of :mod:`graphrec.explain.attribution` (numpy, the
same sums with the masked deltas added) all compute it through these two functions.

:class:`Propagated` is what serving needs of a trained model: the propagation's layers and its
weighted graph as numpy arrays (saved as ``.npy`` files in the artifact and memory-mapped, so
that the workers of one server share their pages). This module never imports torch.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from graphrec.schema import BY_NAME
from graphrec.sorted_lookup import sorted_unique

if TYPE_CHECKING:
    from graphrec.dataset import GraphData


def relation_edges(data: GraphData) -> dict[str, np.ndarray]:
    """``data``'s relations (:meth:`~graphrec.dataset.GraphData.relation_pairs`) as the
    ``[2, m]`` node-type-local edges that :func:`normalised_graph` takes."""
    return {name: np.ascontiguousarray(np.asarray(pairs, dtype=np.int64).reshape(-1, 2).T)
            for name, pairs in data.relation_pairs().items()}


def user_vectors(sums: Any, counts: Any, exponent: float) -> Any:
    r""":math:`z_u = |N(u)|^{-\gamma} \sum_j P_j` from the sums of the history rows ``[..., d]``
    and the history sizes ``[...]`` (a user without history keeps a zero vector)."""
    return sums * ((counts + (counts == 0)) ** -exponent)[..., None]


def scores(z: Any, items: Any) -> Any:
    """:math:`z^\\top P_i` of user vectors ``z`` ``[..., d]`` with item rows ``[..., n, d]``."""
    return z @ items.swapaxes(-1, -2)


def symmetric_normalised(num_nodes: int, src: np.ndarray, dst: np.ndarray,
                         dtype: type[np.floating[Any]] = np.float32
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r""":math:`D^{-1/2} A D^{-1/2}` of the undirected 0/1 graph with the edges
    ``src[k]``–``dst[k]``: ``(row, col, value)`` sorted by ``(row, col)``, ``value`` in ``dtype``.

    The one symmetric normalisation of the project: the model's relations
    (:func:`normalised_graph`), LightGCN's purchase graph and EASE's link matrix all take it from
    here. A pair listed more than once or in both directions counts once (so a degree counts
    neighbours, not listings) and self-loops are dropped. ``dtype`` is the precision the degrees
    are scaled in: float32 for the networks, float64 where the result meets a float64 solve."""
    src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
    keep = src != dst
    key = sorted_unique(np.concatenate([src[keep] * num_nodes + dst[keep],
                                        dst[keep] * num_nodes + src[keep]]))
    row, col = key // num_nodes, key % num_nodes
    degree = np.bincount(row, minlength=num_nodes).astype(dtype)
    scale = np.maximum(degree, 1) ** dtype(-0.5)
    return row, col, scale[row] * scale[col]


def relation_nodes(offset: Mapping[str, int], name: str, edges: Mapping[str, np.ndarray]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``(src, dst)`` of relation ``name``'s edges (``edges[name]``, ``[2, m]`` in
    node-type-local indices) as node ids of the graph whose node types start at ``offset``."""
    index = np.asarray(edges[name], dtype=np.int64)
    return index[0] + offset[BY_NAME[name].source], index[1] + offset[BY_NAME[name].target]


def normalised_graph(num_nodes: int, offset: Mapping[str, int], relations: Sequence[str],
                     edges: Mapping[str, np.ndarray]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""``(row, col, value, relation)`` of :math:`\sum_r \hat A_r` (unweighted), sorted by
    ``(row, col)``: each relation symmetric and normalised on its own,
    :math:`\hat A_r = D_r^{-1/2} A_r D_r^{-1/2}` (:func:`symmetric_normalised`). ``edges[r]`` is
    ``[2, m]`` in node-type-local indices."""
    rows, cols, values, types = [], [], [], []
    for r, name in enumerate(relations):
        row, col, value = symmetric_normalised(num_nodes, *relation_nodes(offset, name, edges))
        rows.append(row)
        cols.append(col)
        values.append(value)
        types.append(np.full(len(row), r, dtype=np.int64))
    empty = np.zeros(0, dtype=np.int64)
    row, col = np.concatenate(rows or [empty]), np.concatenate(cols or [empty])
    value = np.concatenate(values or [np.zeros(0, dtype=np.float32)]).astype(np.float32)
    relation = np.concatenate(types or [empty])
    order = np.argsort(row * num_nodes + col, kind="stable")
    return row[order], col[order], value[order], relation[order]


@dataclass(frozen=True)
class Propagated:
    """A trained KGRec as arrays: what serving and edge masking compute with.

    ``layers`` ``[L+1, nodes, d]`` are :math:`H^{(0..L)}` of the typed propagation, ``target``
    ``[items, d]`` their mean over the item rows (:math:`P`); ``edge_*`` the graph sorted by
    ``(row, col)`` with ``edge_value`` already multiplied by the learnt relation weights.

    ``folded`` counts the items at the end of the item range that were folded in after training
    (:func:`graphrec.model.foldin.fold_in`): their rows of the graph say what they receive from
    their neighbours, and no row says that they send anything back, so the graph is symmetric
    only when ``folded`` is 0.

    ``weights`` are the learnt relation weights :math:`w_r` (one per relation) that
    ``edge_value`` was multiplied by: a fold-in weighs the new items' edges with them. ``None``
    in a model saved before they were kept, whose fold-in derives them from the graph
    (:func:`graphrec.model.foldin.relation_weights`).
    """

    layers: np.ndarray
    target: np.ndarray
    edge_row: np.ndarray
    edge_col: np.ndarray
    edge_type: np.ndarray
    edge_value: np.ndarray
    relations: tuple[str, ...]
    num_items: int
    offset: Mapping[str, int]
    exponent: float
    folded: int = 0
    weights: tuple[float, ...] | None = None

    #: The arrays saved in an artifact, one ``.npy`` file each.
    ARRAYS = ("layers", "target", "edge_row", "edge_col", "edge_type", "edge_value")

    @property
    def num_nodes(self) -> int:
        return int(self.layers.shape[1])

    def user_vector(self, history: np.ndarray) -> np.ndarray:
        """:math:`z_u` of a history (item indices, no repeats), in the model's precision.

        The degree scale is a float64 array, so the product comes out float64; a float64
        vector against the float32 table is a matrix product numpy runs outside BLAS, tens of
        times slower than the float32 one (which is also the precision training scores in)."""
        z = user_vectors(self.target[history].sum(0), np.asarray(len(history)), self.exponent)
        return z.astype(self.target.dtype, copy=False)

    def scores(self, history: np.ndarray) -> np.ndarray:
        """The score of every item for a user who bought ``history``, ``[items]``."""
        return scores(self.user_vector(history), self.target)

    def meta(self) -> dict[str, Any]:
        """What is not an array, JSON-able."""
        return {"relations": list(self.relations), "num_items": self.num_items,
                "offset": dict(self.offset), "exponent": self.exponent,
                **({} if self.weights is None else {"weights": list(self.weights)}),
                **({"folded": self.folded} if self.folded else {})}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]
                    ) -> Propagated:
        return cls(layers=arrays["layers"], target=arrays["target"], edge_row=arrays["edge_row"],
                   edge_col=arrays["edge_col"], edge_type=arrays["edge_type"],
                   edge_value=arrays["edge_value"], relations=tuple(meta["relations"]),
                   num_items=int(meta["num_items"]), offset=dict(meta["offset"]),
                   exponent=float(meta["exponent"]), folded=int(meta.get("folded", 0)),
                   weights=(tuple(float(w) for w in meta["weights"]) if "weights" in meta
                            else None))
