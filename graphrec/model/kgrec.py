"""graphrec's recommender: linear graph convolution over the typed knowledge graph.

One class, :class:`KGRec`. Its score is a dot product whose terms are tied to paths in the graph,
so that the explanation module can weigh ``user →BOUGHT→ item →…→ rec`` by what it adds.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable
from torch_geometric import EdgeIndex

from graphrec.dataset import GraphData
from graphrec.model import kernel
from graphrec.model.kernel import Propagated
from graphrec.schema import BY_NAME, GRAPH_NODE_TYPES, RELATIONS


def _softplus_inverse(weight: float) -> float:
    """The logit whose softplus is ``weight`` (``weight > 0``)."""
    return math.log(math.expm1(weight))


#: softplus⁻¹(1): the offset that makes a zero logit a unit weight.
_UNIT_LOGIT = _softplus_inverse(1.0)


class _TypedGraph(NamedTuple):
    r""":math:`\sum_r w_r \hat A_r` before the weights: every relation's entries in one
    row-sorted CSR (symmetric, as each :math:`\hat A_r` is; its arrays those of PyG's
    :class:`~torch_geometric.EdgeIndex` of the graph), their values and relations."""

    pattern: Tensor
    value: Tensor
    relation: Tensor

    def weighted(self, weights: Tensor) -> Tensor:
        r"""The CSR matrix :math:`\sum_r w_r \hat A_r` (no gradient)."""
        with _csr_quiet():
            return torch.sparse_csr_tensor(self.pattern.crow_indices(),
                                           self.pattern.col_indices(),
                                           self.value * weights.detach()[self.relation],
                                           size=self.pattern.shape)

    def products(self, matrix: Tensor, x: Tensor, count: int,
                 workspace: Workspace | None = None) -> list[Tensor]:
        """``[x, Mx, M²x, …]``, ``count`` products of ``matrix`` (:meth:`weighted`), each
        written into a buffer of ``workspace`` when given."""
        out = [x]
        for layer in range(1, count + 1):
            into = None if workspace is None else workspace.take(
                f"layer {layer}", x.shape[0], x.shape[1], x)
            out.append(torch.mm(matrix, out[-1]) if into is None
                       else torch.mm(matrix, out[-1], out=into))
        return out


@contextmanager
def _csr_quiet() -> Iterator[None]:
    """Without the warnings torch gives once per process about CSR tensors (their support is
    in beta, their invariants go unchecked): every command would print both, and only the
    indices built here go into them."""
    with warnings.catch_warnings():
        for message in ("Sparse CSR tensor support is in beta",
                        "Sparse invariant checks are implicitly disabled"):
            warnings.filterwarnings("ignore", message=message, category=UserWarning)
        yield


class _MeanPropagation(torch.autograd.Function):
    r"""The first ``rows`` rows of :math:`P = \frac{1}{L+1} \sum_{l=0}^{L} H^{(l)}`,
    :math:`H^{(l+1)} = M H^{(l)}`, :math:`M = \sum_r w_r \hat A_r`, every ``[nodes, d]`` table
    of the forward and backward pass written into a buffer of a :class:`Workspace`.

    On a large catalogue those tables are hundreds of megabytes each, and autograd's own
    products, sums and gradients allocate a fresh one for each: glibc maps blocks that large
    afresh and unmaps them when freed, so every step had each one zeroed and faulted in page by
    page, a cost that grew faster than the graph. With a workspace kept for the epoch the
    pages are faulted in once.

    Backward, with :math:`G = \partial P / (L+1)` (zero below ``rows``) and :math:`M`
    symmetric: :math:`\partial H^{(L)} = G`, :math:`\partial H^{(l)} = G + M \partial
    H^{(l+1)}`; the weights' :math:`\partial w_r = \sum_l \sum_{(i, j) \in r} (\hat A_r)_{ij}
    \, \partial H^{(l+1)}_i \cdot H^{(l)}_j`, one sampled product a layer
    (:func:`torch.sparse.sampled_addmm`, a dot product per entry) summed by relation, where a
    product per relation would write one more table per relation for one number each.

    ``folded`` (``[nodes]`` bool, or None): rows whose layer 0 is their layer 1
    (:meth:`KGRec.layers`). The output and the buffers are the workspace's until its next
    use: the caller finishes the backward pass first."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weights: Tensor, graph: _TypedGraph, num_layers: int,
                rows: int, folded: Tensor | None, workspace: Workspace) -> Tensor:
        matrix = graph.weighted(weights)
        layers = graph.products(matrix, x.detach(), num_layers, workspace)
        mean = workspace.take("mean", rows, x.shape[1], x)
        first = layers[0][:rows]
        if folded is not None and num_layers:
            first = torch.where(folded[:rows, None], layers[1][:rows], first)
        mean.copy_(first)
        for layer in layers[1:]:
            mean.add_(layer[:rows])
        ctx.matrix, ctx.graph, ctx.layers = matrix, graph, layers
        ctx.rows, ctx.folded, ctx.workspace, ctx.relations = rows, folded, workspace, len(weights)
        return mean.div_(num_layers + 1)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        layers: list[Tensor] = ctx.layers
        x, rows, folded, graph = layers[0], ctx.rows, ctx.folded, ctx.graph
        scaled = ctx.workspace.take("mean grad", x.shape[0], x.shape[1], x)
        scaled[:rows].copy_(grad).div_(len(layers))
        scaled[rows:].zero_()
        grad_w = torch.zeros(ctx.relations, dtype=torch.float64, device=x.device)
        if folded is not None and len(layers) > 1:
            kept = scaled * (~folded)[:, None]  # layer 0's own share of the mean
            to_first = scaled * folded[:, None]  # what folded rows took from layer 1
        else:
            kept, to_first = scaled, None
        down = scaled  # ∂H^(L)
        for layer in range(len(layers) - 1, 0, -1):
            if layer == 1 and to_first is not None:
                down = down + to_first
            dots = torch.sparse.sampled_addmm(graph.pattern, down, layers[layer - 1].T,
                                              beta=0.0)
            grad_w += torch.bincount(graph.relation, (dots.values() * graph.value).double(),
                                     minlength=ctx.relations)
            base = kept if layer == 1 else scaled
            into = torch.empty_like(x) if layer == 1 else ctx.workspace.take(
                f"layer grad {layer % 2}", x.shape[0], x.shape[1], x)
            down = torch.addmm(base, ctx.matrix, down, out=into)
        grad_x = down if len(layers) > 1 else kept.clone()
        return grad_x, grad_w.to(x.dtype), None, None, None, None, None


class Workspace:
    """Float buffers that consecutive batches and steps write their largest tables into, one
    per name, kept and grown as needed.

    A batch's logits are thousands of users × thousands of candidates, and a step's propagation
    writes tables of ``[nodes, d]``: tens to hundreds of megabytes. glibc serves blocks that
    large from fresh mappings and unmaps them when they are freed, so a block allocated per
    batch is zeroed and faulted in anew, page by page, every batch. The owner must finish one
    batch's (step's) backward pass before the next one's forward pass."""

    def __init__(self) -> None:
        self._buffers: dict[str, Tensor] = {}

    def take(self, name: str, rows: int, cols: int, like: Tensor) -> Tensor:
        """A ``[rows, cols]`` view of the buffer ``name`` (grown, on ``like``'s device and
        dtype)."""
        buffer = self._buffers.get(name)
        if (buffer is None or buffer.numel() < rows * cols or buffer.device != like.device
                or buffer.dtype != like.dtype):
            buffer = self._buffers[name] = torch.empty(rows * cols, device=like.device,
                                                       dtype=like.dtype)
        return buffer[: rows * cols].view(rows, cols)


class _BufferedSoftmax(torch.autograd.Function):
    r"""Mean cross-entropy of ``targets`` under the softmax of
    :math:`z_u^\top c_j - \log q_j` over candidate rows ``c`` (every item's, or a
    sample's with its correction :math:`\log q`): the kernel's scores
    (:func:`graphrec.model.kernel.scores`) written with ``out=`` into one buffer
    (:class:`Workspace`) that the softmax and its gradient then overwrite in place.

    Autograd's ``logsumexp`` keeps the logits, their exponentials and the gradient as tensors
    of their own (some six blocks of the logits' size a batch); here one block serves all, so
    the backward pass can run once only (it turns the exponentials into the gradient)."""

    @staticmethod
    def forward(ctx: Any, z: Tensor, candidates: Tensor, log_q: Tensor, rows: Tensor,
                position: Tensor, workspace: Workspace) -> Tensor:
        logits = workspace.take("logits", z.shape[0], candidates.shape[0], z)
        torch.matmul(z, candidates.T, out=logits)
        logits.sub_(log_q)
        picked = logits[rows, position].sum()
        peak = logits.amax(1, keepdim=True)
        exp = logits.sub_(peak).exp_()  # the softmax's numerators, in place of the logits
        total = exp.sum(1, keepdim=True)
        per_row = torch.bincount(rows, minlength=z.shape[0]).to(z.dtype)
        log_norm = (peak + total.log()).squeeze(1)
        ctx.save_for_backward(z, candidates, rows, position, total, per_row)
        ctx.exp = exp
        return ((log_norm * per_row).sum() - picked) / max(1, len(rows))

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        z, candidates, rows, position, total, per_row = ctx.saved_tensors
        scale = grad / max(1, len(rows))
        if getattr(ctx, "exp", None) is None:
            raise RuntimeError("the buffered softmax's backward pass runs once: its buffer "
                               "became the gradient (retain_graph is not supported)")
        # d loss / d logits = (count_u softmax_u - one-hot of u's targets) / t, in place
        softmax = ctx.exp.div_(total).mul_(per_row[:, None] * scale)
        softmax.index_put_((rows, position), -scale.expand(len(rows)), accumulate=True)
        del ctx.exp
        return softmax @ candidates, softmax.T @ z, None, None, None, None


def sparse_matrix(index: Tensor, values: Tensor, size: tuple[int, int]) -> Tensor:
    """A coalesced sparse COO matrix from ``[2, n]`` indices (duplicates are summed)."""
    return torch.sparse_coo_tensor(index, values, size, check_invariants=False).coalesce()


class KGRec(torch.nn.Module):
    r"""Item-based linear graph convolution over the typed knowledge graph.

    Items, brands and categories are nodes of one graph whose edges are typed by relation
    (:data:`graphrec.schema.RELATIONS`); every relation is used in both directions and
    normalised on its own, :math:`\hat A_r = D_r^{-1/2} A_r D_r^{-1/2}`. Layer-0 embeddings
    :math:`E` are propagated LightGCN-style (no weights, no non-linearity) with one learnt
    weight per relation (a layer is one sparse product whose entries carry their relation's
    weight, forward and backward written out in :class:`_MeanPropagation`):

    .. math::
        H^{(l+1)} = \sum_r w_r \hat A_r H^{(l)}, \qquad
        P = \frac{1}{L+1} \sum_{l=0}^{L} H^{(l)}, \qquad w_r = \mathrm{softplus}(\theta_r).

    Users are not nodes: a user is the items they bought (:mod:`graphrec.model.kernel`),

    .. math::
        z_u = |N(u)|^{-\gamma} \sum_{j \in N(u)} P_j, \qquad s(u, i) = z_u^\top P_i .

    So :math:`s(u, i) = \sum_{j \in N(u)} |N(u)|^{-\gamma} P_j^\top P_i`: every bought item
    :math:`j` adds one term, and :math:`P_j^\top P_i` unrolls (bilinearly) into the graph walks
    from :math:`j` and from :math:`i` that the propagation sums. Because a user is only their
    items, a history the model never saw (a new user, a purchase made after training) is scored
    by the same formula, without retraining.

    Training (see :mod:`graphrec.model.train`) drops a fraction of each user's history from the
    input and asks for the dropped items under a softmax over the whole catalogue
    (:meth:`full_loss`): the task of the evaluation, "find the items not in the input". The
    architecture was chosen on a validation split carved from train (the README's model
    section has the table).

    Args:
        num_users: number of users.
        num_items: number of items.
        num_brands: number of brand nodes (0 without brands).
        num_categories: number of category nodes (0 without categories).
        history: ``[2, n]`` train purchases ``(user, item)``: the histories that
            :meth:`score_users` and :meth:`recommend` score (evaluation).
        edges: relation name (see :data:`graphrec.schema.RELATIONS`) → ``[2, m]`` edges in
            node-type-local indices; missing or empty relations are left out of the graph.
        embedding_dim: size of the embeddings. (default: ``64``)
        num_layers: propagation layers :math:`L`. (default: ``2``)
        history_exponent: :math:`\gamma` in the user representation's normalisation
            (``0`` sums, ``1`` averages). (default: ``0.5``)
        init_std: standard deviation of the normal initialisation. (default: ``0.1``)
        relation_weight_init: every :math:`w_r` at initialisation. Adam moves
            :math:`\theta_r` by about ``lr`` a step whatever its gradient, so the weights
            drift slowly from where they start: the start decides where they are after a few
            dozen epochs. (default: ``1.0``)
    """

    # Buffers (saved with the weights): the typed graph in CSR order, and the train histories.
    graph_index: Tensor
    graph_value: Tensor
    graph_type: Tensor
    history_indptr: Tensor
    history_items: Tensor

    def __init__(self, num_users: int, num_items: int, num_brands: int, num_categories: int,
                 history: Tensor, edges: Mapping[str, Tensor], *, embedding_dim: int = 64,
                 num_layers: int = 2, history_exponent: float = 0.5,
                 init_std: float = 0.1, relation_weight_init: float = 1.0) -> None:
        super().__init__()
        self.num_users, self.num_items = num_users, num_items
        self.num_brands, self.num_categories = num_brands, num_categories
        self.embedding_dim, self.num_layers = embedding_dim, num_layers
        self.history_exponent, self.init_std = history_exponent, init_std
        if not relation_weight_init > 0:
            raise ValueError(f"relation_weight_init must be positive (softplus), "
                             f"not {relation_weight_init}")
        self.relation_weight_init = relation_weight_init
        self.num_nodes = num_items + num_brands + num_categories
        starts = np.cumsum([0, num_items, num_brands])
        self.offset = {kind: int(start) for kind, start in zip(GRAPH_NODE_TYPES, starts)}

        known = {relation.name for relation in RELATIONS}
        unknown = set(edges) - known
        if unknown:
            raise ValueError(f"unknown relations {sorted(unknown)}; known: {sorted(known)}")
        self.relations = tuple(r.name for r in RELATIONS
                               if r.name in edges and edges[r.name].numel() > 0)
        self._build_graph(edges)
        self._build_history(history)

        self.relation_logit = torch.nn.Parameter(torch.empty(len(self.relations)))
        self.embedding = torch.nn.Parameter(torch.empty(self.num_nodes, embedding_dim))
        self._cache: Tensor | None = None
        self._graph_cache: _TypedGraph | None = None
        self.reset_parameters()

    @classmethod
    def from_data(cls, data: GraphData, *, brands: bool = True, categories: bool = True,
                  item_links: bool = True, **kwargs: Any) -> KGRec:
        """A model for ``data``'s train graph; the flags leave parts of the graph out."""
        left_out = {"brand"} if not brands else set()
        left_out |= {"category"} if not categories else set()
        edges = {name: torch.from_numpy(pairs)
                 for name, pairs in kernel.relation_edges(data).items()
                 if not {BY_NAME[name].source, BY_NAME[name].target} & left_out
                 and (item_links or not BY_NAME[name].is_link)}
        train = torch.from_numpy(np.ascontiguousarray(data.train.T, dtype=np.int64))
        return cls(data.num_users, data.num_items, len(data.brands) if brands else 0,
                   len(data.categories) if categories else 0, train, edges, **kwargs)

    # --- construction -------------------------------------------------------------------------

    def _build_graph(self, edges: Mapping[str, Tensor]) -> None:
        """One symmetric CSR of all relations (each normalised alone), with each entry's
        relation (:func:`graphrec.model.kernel.normalised_graph`)."""
        arrays = {name: edges[name].long().cpu().numpy() for name in self.relations}
        row, col, value, edge_type = kernel.normalised_graph(self.num_nodes, self.offset,
                                                             self.relations, arrays)
        self.register_buffer("graph_index", torch.from_numpy(np.stack([row, col])))
        self.register_buffer("graph_value", torch.from_numpy(value))
        self.register_buffer("graph_type", torch.from_numpy(edge_type))

    @property
    def graph_row(self) -> Tensor:
        """Each graph entry's row (a view of ``graph_index``)."""
        return self.graph_index[0]

    @property
    def graph_col(self) -> Tensor:
        """Each graph entry's column (a view of ``graph_index``)."""
        return self.graph_index[1]

    def _build_history(self, history: Tensor) -> None:
        history = history.long().cpu()
        key = torch.unique(history[0] * self.num_items + history[1])
        users, items = key // self.num_items, key % self.num_items
        indptr = torch.zeros(self.num_users + 1, dtype=torch.long)
        indptr[1:] = torch.cumsum(torch.bincount(users, minlength=self.num_users), 0)
        self.register_buffer("history_indptr", indptr)
        self.register_buffer("history_items", items)

    def reset_parameters(self) -> None:
        # θ_r = softplus⁻¹(w₀) less relation_weights' offset; exactly 0 for w₀ = 1
        torch.nn.init.constant_(self.relation_logit,
                                _softplus_inverse(self.relation_weight_init) - _UNIT_LOGIT)
        torch.nn.init.normal_(self.embedding, std=self.init_std)
        self._cache = None

    def hparams(self) -> dict[str, Any]:
        """The constructor's keyword arguments and sizes, JSON-able (the artifact's config)."""
        return {"num_users": self.num_users, "num_items": self.num_items,
                "num_brands": self.num_brands, "num_categories": self.num_categories,
                "relations": list(self.relations), "embedding_dim": self.embedding_dim,
                "num_layers": self.num_layers, "history_exponent": self.history_exponent,
                "init_std": self.init_std, "relation_weight_init": self.relation_weight_init}

    @classmethod
    def from_state_dict(cls, hparams: Mapping[str, Any], state: Mapping[str, Tensor]) -> KGRec:
        """Rebuild a saved model from :meth:`hparams` and its ``state_dict`` (graph included)."""
        hp = dict(hparams)
        relations = hp.pop("relations")
        sizes = [hp.pop(key) for key in ("num_users", "num_items", "num_brands", "num_categories")]
        # Placeholder graph of the right relations; the saved buffers replace it below.
        edges = {name: torch.zeros(2, 1, dtype=torch.long) for name in relations}
        history = torch.zeros(2, 0, dtype=torch.long)
        model = cls(*sizes, history, edges, **hp)  # type: ignore[call-arg, arg-type]
        if "graph_index" not in state and {"graph_row", "graph_col"} <= state.keys():
            # weights saved before the graph's rows and columns were one buffer
            state = dict(state)
            state["graph_index"] = torch.stack([state.pop("graph_row"), state.pop("graph_col")])
        for name in ("graph_index", "graph_value", "graph_type", "history_indptr",
                     "history_items"):
            if name not in state:
                raise KeyError(name)
            setattr(model, name, state[name].clone())
        model._graph_cache = None
        model.load_state_dict(state)
        return model

    # --- the model ----------------------------------------------------------------------------

    def relation_weights(self) -> Tensor:
        """:math:`w_r` per relation, in the order of :attr:`relations` (``relation_weight_init``
        at initialisation)."""
        return F.softplus(self.relation_logit + _UNIT_LOGIT)

    def _typed_graph(self) -> _TypedGraph:
        """The graph of :meth:`layers`, built from the buffers on their device: its CSR
        arrays by PyG's :class:`~torch_geometric.EdgeIndex` (the graph is sorted by row)."""
        whole = EdgeIndex(self.graph_index,  # wrapped, not copied: the graph's largest array
                          sparse_size=(self.num_nodes, self.num_nodes), sort_order="row",
                          is_undirected=True)
        (rowptr, col), _ = whole.get_csr()
        with _csr_quiet():
            pattern = torch.sparse_csr_tensor(rowptr, col, self.graph_value,
                                              size=(self.num_nodes, self.num_nodes))
        return _TypedGraph(pattern, self.graph_value, self.graph_type)

    def _graph(self, device: torch.device) -> _TypedGraph:
        graph = self._graph_cache
        if graph is None or graph.value.device != device:
            graph = self._graph_cache = self._typed_graph()
        return graph

    def layers(self, x: Tensor, folded: Tensor | None = None) -> list[Tensor]:
        r"""Layers :math:`H^{(0)} = x, \dots, H^{(L)}` of the typed propagation of ``x``, as
        values (no gradient: training differentiates :meth:`propagate`).

        ``folded`` (``[nodes]`` bool) marks rows whose layer 0 is replaced by what their
        neighbours propagate to them, :math:`H^{(0)}_n = H^{(1)}_n`: the row an item folded in
        after training gets (:mod:`graphrec.model.foldin`), for training with fold-in dropout.

        Each layer is one sparse product over every relation at once, the entries weighted by
        their relation (:meth:`_TypedGraph.weighted`): a product per relation would write a
        ``[nodes, d]`` result per relation and add them up, several passes over memory for
        every one the single product makes."""
        x = x.detach()
        if not self.relations:
            return [x] * (self.num_layers + 1)
        graph = self._graph(x.device)
        out = graph.products(graph.weighted(self.relation_weights()), x, self.num_layers)
        if folded is not None and len(out) > 1:
            out[0] = torch.where(folded[:, None], out[1], out[0])
        return out

    def propagate(self, x: Tensor, folded: Tensor | None = None, rows: int | None = None,
                  workspace: Workspace | None = None) -> Tensor:
        """The first ``rows`` rows (all when None) of the mean of layers 0..L of the typed
        propagation of node features ``x`` ``[nodes, d]`` (``folded``: :meth:`layers`),
        differentiable in ``x`` and the relation weights (:class:`_MeanPropagation`).
        ``workspace``: where its tables are written (:class:`Workspace`; a fresh one when not
        given), so that a training step reuses the last step's pages."""
        rows = self.num_nodes if rows is None else rows
        if not self.relations:  # every layer is x: their mean is x, as a tensor of its own
            return x[:rows].clone()
        return _MeanPropagation.apply(x, self.relation_weights(), self._graph(x.device),
                                      self.num_layers, rows, folded, workspace or Workspace())

    def item_representations(self, folded: Tensor | None = None,
                             workspace: Workspace | None = None) -> Tensor:
        """:math:`P`, the propagated item embeddings, ``[items, d]``; with ``folded``
        (``[items]`` bool) those items as if folded in from their neighbours. With a
        ``workspace`` (training: :meth:`propagate`) the rows are its buffer's until its next
        use."""
        if folded is not None:
            folded = torch.cat([folded, folded.new_zeros(self.num_nodes - self.num_items)])
        return self.propagate(self.embedding, folded, self.num_items, workspace)

    def history_matrix(self, users: Tensor) -> Tensor:
        """The train purchases of ``users`` as a sparse ``[len(users), items]`` 0/1 matrix."""
        users = users.to(self.history_indptr.device)
        start, end = self.history_indptr[users], self.history_indptr[users + 1]
        counts = end - start
        rows = torch.repeat_interleave(torch.arange(len(users), device=users.device), counts)
        offsets = torch.arange(int(counts.sum()), device=users.device) - torch.repeat_interleave(
            torch.cumsum(counts, 0) - counts, counts)
        cols = self.history_items[torch.repeat_interleave(start, counts) + offsets]
        values = torch.ones(len(cols), device=users.device)
        return sparse_matrix(torch.stack([rows, cols]), values, (len(users), self.num_items))

    def forward(self, users: Tensor, history: Tensor | None = None,
                folded: Tensor | None = None) -> Tensor:
        """Scores ``[len(users), items]``. ``history`` (sparse ``[len(users), items]``) replaces
        the stored train purchases as input, as in training with dropped items; ``folded``
        (``[items]`` bool) scores those items as if folded in (:meth:`item_representations`)."""
        users = torch.as_tensor(users, dtype=torch.long, device=self.embedding.device)
        if history is None:
            history = self.history_matrix(users)
        return self.score(history, self.item_representations(folded))

    def _user_vectors(self, history: Tensor, target: Tensor) -> Tensor:
        """:math:`z_u` of a sparse batch of histories ``[users, items]``."""
        counts = torch.sparse.sum(history, 1).to_dense() if history._nnz() else torch.zeros(
            history.shape[0], device=target.device)
        return kernel.user_vectors(torch.sparse.mm(history, target), counts,
                                   self.history_exponent)

    def score(self, history: Tensor, target: Tensor) -> Tensor:
        """The kernel on a sparse batch of histories ``[users, items]`` against item rows
        ``target`` (:meth:`item_representations`, or a leaf cut from them in training)."""
        return kernel.scores(self._user_vectors(history, target), target)

    def full_loss(self, history: Tensor, targets: Tensor, item_rows: Tensor,
                  workspace: Workspace | None = None) -> Tensor:
        """Softmax cross-entropy over all items, averaged over target purchases ``targets``
        (``[2, t]``: row of ``history``, item), of the scores of ``history`` (sparse
        ``[rows, items]``) against every item's row ``item_rows``; its logits in
        ``workspace``'s buffer (:class:`Workspace`; a fresh one when not given) rather than in
        blocks of their own."""
        rows, items = targets
        return _BufferedSoftmax.apply(self._user_vectors(history, item_rows), item_rows,
                                      item_rows.new_zeros(item_rows.shape[0]), rows, items,
                                      workspace or Workspace())

    def in_batch_loss(self, history: Tensor, targets: Tensor, log_q: Tensor,
                      candidates: Tensor | None = None, item_rows: Tensor | None = None,
                      workspace: Workspace | None = None) -> Tensor:
        r"""Sampled softmax cross-entropy whose negatives are the batch's other targets.

        The softmax of :meth:`full_loss` runs over the items that are some row's target in this
        batch instead of the whole catalogue, so its cost grows with the batch, not with the
        catalogue. Those items were drawn in proportion to their popularity, so each logit is
        corrected by :math:`-\log q_i` (``log_q``, ``[items]``, up to a constant) to keep the
        estimate of the full softmax unbiased towards popular items.
        ``history`` is the sparse ``[rows, items]`` input, ``targets`` ``[2, t]`` (row, item).
        ``candidates`` (sorted, unique, a superset of the targets' items) replaces the targets'
        items as the softmax's: the whole batch's targets when a batch is split across
        processes (each process's rows take the softmax one process would), and the uniformly
        drawn extra negatives of ``TrainConfig.sampled_negatives``. ``item_rows``: the
        item rows to score with (:meth:`item_representations` when not given). ``workspace``:
        the buffer of the logits (:class:`Workspace`; a fresh one when not given).
        """
        rows, items = targets
        if candidates is None:
            candidates, position = torch.unique(items, return_inverse=True)
        else:
            position = torch.searchsorted(candidates, items)
        target = self.item_representations() if item_rows is None else item_rows
        z = self._user_vectors(history, target)
        return _BufferedSoftmax.apply(z, target[candidates], log_q[candidates], rows, position,
                                     workspace or Workspace())

    # --- inference ----------------------------------------------------------------------------

    def train(self, mode: bool = True) -> KGRec:
        self._cache = None
        return super().train(mode)

    @torch.no_grad()
    def score_users(self, users: Tensor | np.ndarray | Sequence[int]) -> Tensor:
        """Scores of every item for ``users``' train histories, ``[len(users), items]`` (train
        items included)."""
        users = torch.as_tensor(np.asarray(users), dtype=torch.long,
                                device=self.embedding.device)
        return self.score(self.history_matrix(users), self._representations())

    @torch.no_grad()
    def score_history(self, history: Tensor) -> Tensor:
        """Scores of every item for the histories of a sparse ``[users, items]`` 0/1 matrix,
        whoever bought them: a user the model never saw is scored as one it trained on."""
        return self.score(history.to(self.embedding.device), self._representations())

    def history(self, user: int) -> Tensor:
        """The items ``user`` bought in train."""
        return self.history_items[self.history_indptr[user]:self.history_indptr[user + 1]]

    def _representations(self) -> Tensor:
        """:meth:`item_representations`, computed once per trained state (inference only)."""
        if self._cache is None or self.training:
            self._cache = self.item_representations()
        return self._cache

    @torch.no_grad()
    def recommend(self, users: Tensor | np.ndarray | Sequence[int], k: int = 10,
                  exclude_train: bool = True) -> tuple[Tensor, Tensor]:
        """``(scores, items)``, each ``[len(users), k]``, best first; train purchases never
        recommended unless ``exclude_train=False``."""
        users = torch.as_tensor(np.asarray(users), dtype=torch.long,
                                device=self.embedding.device)
        history = self.history_matrix(users)
        scores = self.score(history, self._representations())
        if exclude_train:
            seen = history.indices()
            scores[seen[0], seen[1]] = -torch.inf
        k = min(k, self.num_items)
        return torch.topk(scores, k, dim=1)

    @torch.no_grad()
    def propagated(self) -> Propagated:
        """The trained model as the arrays serving computes with (:mod:`graphrec.model.kernel`)."""
        layers = torch.stack(self.layers(self.embedding)).cpu().numpy()
        weights = self.relation_weights().cpu().numpy()
        edge_type = self.graph_type.cpu().numpy()
        value = (self.graph_value.cpu().numpy() * weights[edge_type]).astype(np.float32)
        return Propagated(
            layers=layers, target=self._representations().cpu().numpy(),
            edge_row=self.graph_row.cpu().numpy(), edge_col=self.graph_col.cpu().numpy(),
            edge_type=edge_type, edge_value=value, relations=self.relations,
            num_items=self.num_items, offset=dict(self.offset), exponent=self.history_exponent,
            weights=tuple(float(w) for w in weights))

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.num_users} users, {self.num_items} items, "
                f"{self.num_brands} brands, {self.num_categories} categories, "
                f"relations={list(self.relations)}, dim={self.embedding_dim}, "
                f"layers={self.num_layers})")
