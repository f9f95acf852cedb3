"""graphrec's recommender: linear graph convolution over the typed knowledge graph.

One class, :class:`KGRec`. Its score is a dot product whose terms are tied to paths in the graph,
so that the explanation module can weigh ``user →BOUGHT→ item →…→ rec`` by what it adds.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from graphrec.dataset import LINK_RELATIONS, GraphData

#: Relations of the item-side graph: ``(source node type, relation, target node type)``.
RELATIONS: tuple[tuple[str, str, str], ...] = (
    ("item", "has_brand", "brand"),
    ("item", "in_category", "category"),
    ("category", "subcategory_of", "category"),
    *(("item", relation, "item") for relation in LINK_RELATIONS),
)
NODE_TYPES = ("item", "brand", "category")


def sparse_matrix(index: Tensor, values: Tensor, size: tuple[int, int]) -> Tensor:
    """A coalesced sparse COO matrix from ``[2, n]`` indices (duplicates are summed)."""
    return torch.sparse_coo_tensor(index, values, size, check_invariants=False).coalesce()


class _TypedPropagation(torch.autograd.Function):
    """``(Σ_r w_r Â_r) @ h`` for symmetric ``Â_r`` stored in one CSR layout.

    ``Â = Σ_r w_r Â_r`` is symmetric, so the gradient for ``h`` is ``Â @ grad`` (no transpose),
    and the gradient for ``w_r`` is ``⟨grad, Â_r h⟩``: one sparse product per relation whose
    non-zeros add up to those of ``Â``.
    """

    @staticmethod
    def forward(ctx: Any, weights: Tensor, h: Tensor, crow: Tensor, col: Tensor, value: Tensor,
                edge_type: Tensor, per_relation: Sequence[Tensor]) -> Tensor:
        n = h.shape[0]
        adj = torch.sparse_csr_tensor(crow, col, value * weights[edge_type], (n, n),
                                      check_invariants=False)
        ctx.adj, ctx.per_relation = adj, per_relation
        ctx.save_for_backward(h)
        return torch.sparse.mm(adj, h)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        (h,) = ctx.saved_tensors
        grad_h = torch.sparse.mm(ctx.adj, grad) if ctx.needs_input_grad[1] else None
        grad_w = None
        if ctx.needs_input_grad[0]:
            grad_w = torch.stack([(grad * torch.sparse.mm(a, h)).sum() for a in ctx.per_relation])
        return grad_w, grad_h, None, None, None, None, None


class KGRec(torch.nn.Module):
    r"""Item-based linear graph convolution over the typed knowledge graph.

    Items, brands and categories are nodes of one graph whose edges are typed by relation
    (``has_brand``, ``in_category``, ``subcategory_of``, ``also_bought``, ``also_viewed``,
    ``bought_together``); every relation is used in both directions and normalised on its own,
    :math:`\hat A_r = D_r^{-1/2} A_r D_r^{-1/2}`. Layer-0 embeddings :math:`E` are propagated
    LightGCN-style (no weights, no non-linearity) with one learnt weight per relation:

    .. math::
        H^{(l+1)} = \sum_r w_r \hat A_r H^{(l)}, \qquad
        P = \frac{1}{L+1} \sum_{l=0}^{L} H^{(l)}, \qquad w_r = \mathrm{softplus}(\theta_r).

    Users are not nodes: a user is the items they bought,

    .. math::
        z_u = |N(u)|^{-\gamma} \sum_{j \in N(u)} Q_j \;(+\, e_u), \qquad
        s(u, i) = z_u^\top P_i \;(+\, b_i),

    with :math:`Q` the history-side propagated embeddings (:math:`Q = P` unless
    ``separate_history``), :math:`e_u` an optional free user vector and :math:`b_i` an optional
    item bias. So :math:`s(u, i) = \sum_{j \in N(u)} |N(u)|^{-\gamma} Q_j^\top P_i + \dots`:
    every bought item :math:`j` adds one term, which is what :meth:`contributions` returns, and
    :math:`Q_j^\top P_i` unrolls (bilinearly) into the graph walks from :math:`j` and from
    :math:`i` that the propagation sums.

    Training (see :mod:`graphrec.model.train`) drops a fraction of each user's history from the input
    and asks for the dropped items under a softmax over the whole catalogue
    (:meth:`loss`): the task of the evaluation, "find the items not in the input".

    Architecture chosen on a validation split carved from train (Amazon Beauty, NDCG@10 in
    percent on the held-out tenth of each user's train items, seed 0; the test split untouched;
    see :mod:`graphrec.model.train` for the training settings):

    ============================================================  ========
    variant (2 layers, softmax over all items, 50 % history drop)  val NDCG
    ============================================================  ========
    EASE λ=100 / EASE + 0.3 × links (baselines, for scale)        5.22 / 5.89
    this model, 128 dims                                          6.97
    128 dims, history left out of the softmax                     6.74
    256 dims (the default)                                        7.07
    ============================================================  ========

    Args:
        num_users: number of users.
        num_items: number of items.
        num_brands: number of brand nodes (0 without brands).
        num_categories: number of category nodes (0 without categories).
        history: ``[2, n]`` train purchases ``(user, item)``; a user's representation is built
            from these.
        edges: relation name (see :data:`RELATIONS`) → ``[2, m]`` edges in node-type-local
            indices; missing or empty relations are left out of the graph.
        embedding_dim: size of the embeddings. (default: ``64``)
        num_layers: propagation layers :math:`L`. (default: ``2``)
        history_exponent: :math:`\gamma` in the user representation's normalisation
            (``0`` sums, ``1`` averages). (default: ``0.5``)
        separate_history: learn a second layer-0 table for the history side :math:`Q`.
            (default: ``False``)
        user_embedding: add a free vector :math:`e_u` per user. (default: ``False``)
        item_bias: add a learnt bias :math:`b_i` per item. (default: ``False``)
        init_std: standard deviation of the normal initialisation. (default: ``0.1``)
    """

    def __init__(self, num_users: int, num_items: int, num_brands: int, num_categories: int,
                 history: Tensor, edges: Mapping[str, Tensor], *, embedding_dim: int = 64,
                 num_layers: int = 2, history_exponent: float = 0.5,
                 separate_history: bool = False, user_embedding: bool = False,
                 item_bias: bool = False, init_std: float = 0.1) -> None:
        super().__init__()
        self.num_users, self.num_items = num_users, num_items
        self.num_brands, self.num_categories = num_brands, num_categories
        self.embedding_dim, self.num_layers = embedding_dim, num_layers
        self.history_exponent = history_exponent
        self.separate_history, self.user_embedding = separate_history, user_embedding
        self.item_bias, self.init_std = item_bias, init_std
        self.num_nodes = num_items + num_brands + num_categories
        self.offset = {"item": 0, "brand": num_items, "category": num_items + num_brands}

        known = {name for _, name, _ in RELATIONS}
        unknown = set(edges) - known
        if unknown:
            raise ValueError(f"unknown relations {sorted(unknown)}; known: {sorted(known)}")
        self.relations = tuple(name for _, name, _ in RELATIONS
                               if name in edges and edges[name].numel() > 0)
        self._build_graph(edges)
        self._build_history(history)

        self.relation_logit = torch.nn.Parameter(torch.empty(len(self.relations)))
        self.embedding = torch.nn.Parameter(torch.empty(self.num_nodes, embedding_dim))
        self.history_embedding = (torch.nn.Parameter(torch.empty(self.num_nodes, embedding_dim))
                                  if separate_history else None)
        self.user_vector = (torch.nn.Parameter(torch.empty(num_users, embedding_dim))
                            if user_embedding else None)
        self.bias = torch.nn.Parameter(torch.empty(num_items)) if item_bias else None
        self._cache: tuple[Tensor, Tensor] | None = None
        self._graph_cache: tuple[Tensor, list[Tensor]] | None = None
        self.reset_parameters()

    @classmethod
    def from_data(cls, data: GraphData, *, brands: bool = True, categories: bool = True,
                  item_links: bool = True, **kwargs: Any) -> KGRec:
        """A model for ``data``'s train graph; the flags leave parts of the graph out."""
        def edge(pairs: np.ndarray) -> Tensor:
            return torch.from_numpy(np.ascontiguousarray(pairs.T, dtype=np.int64))

        edges: dict[str, Tensor] = {}
        if brands:
            edges["has_brand"] = edge(data.item_brand)
        if categories:
            edges["in_category"] = edge(data.item_category)
            edges["subcategory_of"] = edge(data.category_parent)
        if item_links:
            edges.update({rel: edge(pairs) for rel, pairs in data.links.items()})
        return cls(data.num_users, data.num_items, len(data.brands) if brands else 0,
                   len(data.categories) if categories else 0, edge(data.train), edges, **kwargs)

    # --- construction -------------------------------------------------------------------------

    def _build_graph(self, edges: Mapping[str, Tensor]) -> None:
        """One symmetric CSR of all relations (each normalised alone), and one CSR each."""
        kinds = {name: (src, dst) for src, name, dst in RELATIONS}
        n = self.num_nodes
        rows, cols, values, types = [], [], [], []
        for r, name in enumerate(self.relations):
            src_type, dst_type = kinds[name]
            index = edges[name].long().cpu()
            src, dst = index[0] + self.offset[src_type], index[1] + self.offset[dst_type]
            keep = src != dst
            row, col = torch.cat([src[keep], dst[keep]]), torch.cat([dst[keep], src[keep]])
            key = torch.unique(row * n + col)  # a pair listed in both directions counts once
            row, col = key // n, key % n
            degree = torch.bincount(row, minlength=n).float()
            scale = degree.clamp(min=1).pow(-0.5)
            rows.append(row), cols.append(col), values.append(scale[row] * scale[col])
            types.append(torch.full_like(row, r))
        empty = [torch.zeros(0, dtype=torch.long)]
        row, col = torch.cat(rows or empty), torch.cat(cols or empty)
        value, edge_type = torch.cat(values or [torch.zeros(0)]), torch.cat(types or empty)
        order = torch.argsort(row * n + col, stable=True)
        row, col, value, edge_type = row[order], col[order], value[order], edge_type[order]
        self.register_buffer("graph_row", row)
        self.register_buffer("graph_col", col)
        self.register_buffer("graph_value", value)
        self.register_buffer("graph_type", edge_type)

    def set_history(self, history: Tensor) -> None:
        """Replace the purchases users are represented by (``[2, n]`` ``(user, item)``)."""
        device = self.history_indptr.device
        self._build_history(history)
        self.history_indptr = self.history_indptr.to(device)
        self.history_items = self.history_items.to(device)

    def _build_history(self, history: Tensor) -> None:
        history = history.long().cpu()
        key = torch.unique(history[0] * self.num_items + history[1])
        users, items = key // self.num_items, key % self.num_items
        indptr = torch.zeros(self.num_users + 1, dtype=torch.long)
        indptr[1:] = torch.cumsum(torch.bincount(users, minlength=self.num_users), 0)
        self.register_buffer("history_indptr", indptr)
        self.register_buffer("history_items", items)

    def reset_parameters(self) -> None:
        torch.nn.init.zeros_(self.relation_logit)  # with the offset in relation_weights: w_r = 1
        for param in (self.embedding, self.history_embedding, self.user_vector):
            if param is not None:
                torch.nn.init.normal_(param, std=self.init_std)
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)
        self._cache = None

    def hparams(self) -> dict[str, Any]:
        """The constructor's keyword arguments and sizes, JSON-able (the artifact's config)."""
        return {"num_users": self.num_users, "num_items": self.num_items,
                "num_brands": self.num_brands, "num_categories": self.num_categories,
                "relations": list(self.relations), "embedding_dim": self.embedding_dim,
                "num_layers": self.num_layers, "history_exponent": self.history_exponent,
                "separate_history": self.separate_history,
                "user_embedding": self.user_embedding, "item_bias": self.item_bias,
                "init_std": self.init_std}

    @classmethod
    def from_state_dict(cls, hparams: Mapping[str, Any], state: Mapping[str, Tensor]) -> KGRec:
        """Rebuild a saved model from :meth:`hparams` and its ``state_dict`` (graph included)."""
        hp = dict(hparams)
        relations = hp.pop("relations")
        sizes = [hp.pop(key) for key in ("num_users", "num_items", "num_brands", "num_categories")]
        # Placeholder graph of the right relations; the saved buffers replace it below.
        edges = {name: torch.zeros(2, 1, dtype=torch.long) for name in relations}
        history = torch.zeros(2, 0, dtype=torch.long)
        model = cls(*sizes, history, edges, **hp)
        for name in ("graph_row", "graph_col", "graph_value", "graph_type", "history_indptr",
                     "history_items"):
            if name not in state:
                raise KeyError(name)
            setattr(model, name, state[name].clone())
        model._graph_cache = None
        model.load_state_dict(state)
        return model

    # --- the model ----------------------------------------------------------------------------

    def relation_weights(self) -> Tensor:
        """:math:`w_r` per relation, in the order of :attr:`relations` (1 at initialisation)."""
        return F.softplus(self.relation_logit + math.log(math.e - 1))

    def _per_relation(self) -> list[Tensor]:
        """One CSR ``Â_r`` per relation (for the gradient of the relation weights).

        torch warns that its CSR support is in beta once per process: every gunicorn worker and
        command would print it; only products and transposes are used here, which are stable."""
        n = self.num_nodes
        out = []
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta",
                                    category=UserWarning)
            for r in range(len(self.relations)):
                mask = self.graph_type == r
                out.append(sparse_matrix(
                    torch.stack([self.graph_row[mask], self.graph_col[mask]]),
                    self.graph_value[mask], (n, n)).to_sparse_csr())
        return out

    def _crow(self) -> Tensor:
        counts = torch.bincount(self.graph_row, minlength=self.num_nodes)
        return torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])

    def layers(self, x: Tensor) -> list[Tensor]:
        r"""Layers :math:`H^{(0)} = x, \dots, H^{(L)}` of the typed propagation of ``x``."""
        if not self.relations:
            return [x] * (self.num_layers + 1)
        cache = self._graph_cache
        if cache is None or cache[0].device != x.device:
            cache = (self._crow(), self._per_relation())
            self._graph_cache = cache
        crow, per_relation = cache
        weights = self.relation_weights()
        out = [x]
        for _ in range(self.num_layers):
            out.append(_TypedPropagation.apply(weights, out[-1], crow, self.graph_col,
                                               self.graph_value, self.graph_type, per_relation))
        return out

    def propagate(self, x: Tensor) -> Tensor:
        """Mean of layers 0..L of the typed propagation of node features ``x`` ``[nodes, d]``."""
        return torch.stack(self.layers(x)).mean(0)

    def history_tables(self) -> tuple[Tensor, Tensor]:
        """Layer-0 tables ``(target side, history side)`` (the same one unless
        ``separate_history``)."""
        history = self.embedding if self.history_embedding is None else self.history_embedding
        return self.embedding, history

    def item_representations(self) -> tuple[Tensor, Tensor]:
        """``(P, Q)``: target-side and history-side item representations, ``[items, d]`` each."""
        target = self.propagate(self.embedding)[: self.num_items]
        if self.history_embedding is None:
            return target, target
        return target, self.propagate(self.history_embedding)[: self.num_items]

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

    def forward(self, users: Tensor, history: Tensor | None = None) -> Tensor:
        """Scores ``[len(users), items]``. ``history`` (sparse ``[len(users), items]``) replaces
        the stored train purchases as input, as in training with dropped items."""
        users = torch.as_tensor(users, dtype=torch.long, device=self.embedding.device)
        if history is None:
            history = self.history_matrix(users)
        target, source = self.item_representations()
        return self._score(users, history, target, source)

    def _score(self, users: Tensor, history: Tensor, target: Tensor, source: Tensor) -> Tensor:
        counts = torch.sparse.sum(history, 1).to_dense() if history._nnz() else torch.zeros(
            history.shape[0], device=target.device)
        scale = counts.clamp(min=1).pow(-self.history_exponent)
        z = torch.sparse.mm(history, source) * scale.unsqueeze(1)
        if self.user_vector is not None:
            z = z + self.user_vector[users]
        scores = z @ target.T
        if self.bias is not None:
            scores = scores + self.bias
        return scores

    def loss(self, scores: Tensor, targets: Tensor, exclude: Tensor | None = None) -> Tensor:
        """Softmax cross-entropy over all items, averaged over target purchases.

        ``targets`` is ``[2, t]``: (row of ``scores``, item) pairs to find. ``exclude`` (same
        form) are left out of the softmax: the input history, which the evaluation masks too, so
        that the model is not taught to rank what the user already has against what they lack.
        """
        if exclude is not None and exclude.shape[1]:
            scores = scores.index_put((exclude[0], exclude[1]),
                                      scores.new_tensor(-torch.inf))
        rows, items = targets
        per_row = torch.bincount(rows, minlength=scores.shape[0]).to(scores.dtype)
        log_norm = torch.logsumexp(scores, dim=1)
        return ((log_norm * per_row).sum() - scores[rows, items].sum()) / max(1, len(items))

    # --- inference ----------------------------------------------------------------------------

    def train(self, mode: bool = True) -> KGRec:
        self._cache = None
        return super().train(mode)

    @torch.no_grad()
    def score_users(self, users: Tensor | np.ndarray | Sequence[int]) -> Tensor:
        """Scores of every item for ``users``, ``[len(users), items]`` (train items included)."""
        users = torch.as_tensor(np.asarray(users), dtype=torch.long,
                                device=self.embedding.device)
        return self._score(users, self.history_matrix(users), *self._representations())

    @torch.no_grad()
    def score_user(self, user: int) -> Tensor:
        """:meth:`score_users` of one user, ``[items]``, with dense indexing: a request serves
        one user, and the sparse batch form costs four times as much for one row."""
        target, source = self._representations()
        items = self.history(user)
        z = source[items].sum(0) * max(1, len(items)) ** -self.history_exponent
        if self.user_vector is not None:
            z = z + self.user_vector[user]
        scores = target @ z
        return scores + self.bias if self.bias is not None else scores

    def history(self, user: int) -> Tensor:
        """The items ``user`` bought in train."""
        return self.history_items[self.history_indptr[user]:self.history_indptr[user + 1]]

    def _representations(self) -> tuple[Tensor, Tensor]:
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
        scores = self._score(users, history, *self._representations())
        if exclude_train:
            seen = history.indices()
            scores[seen[0], seen[1]] = -torch.inf
        k = min(k, self.num_items)
        return torch.topk(scores, k, dim=1)

    @torch.no_grad()
    def contributions(self, user: int, items: Tensor | Sequence[int]) -> tuple[Tensor, Tensor]:
        r"""What each bought item adds to the user's scores of ``items``.

        Returns ``(history, terms)``: the user's train items ``[h]`` and ``terms[i, j]``
        ``[len(items), h]``, the term of ``history[j]`` in the score of ``items[i]``
        (:math:`|N(u)|^{-\gamma} Q_j^\top P_i`). The rest of the score (free user vector,
        item bias) is :meth:`score_users` minus ``terms.sum(1)``.
        """
        target, source = self._representations()
        history = self.history(user)
        items = torch.as_tensor(items, dtype=torch.long, device=target.device)
        scale = max(1, len(history)) ** -self.history_exponent
        return history, (target[items] @ source[history].T) * scale

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.num_users} users, {self.num_items} items, "
                f"{self.num_brands} brands, {self.num_categories} categories, "
                f"relations={list(self.relations)}, dim={self.embedding_dim}, "
                f"layers={self.num_layers})")
