"""LightGCN (He et al., SIGIR 2020) from PyG, on the user–item purchase graph only.

The graph-neural baseline without the knowledge graph: embeddings smoothed over co-purchases.
Set against graphrec's own model it shows what brands, categories and links add beyond the
purchase graph itself.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch_geometric.nn.conv import LGConv
from torch_geometric.nn.models import LightGCN as PyGLightGCN

from graphrec.dataset import GraphData
from graphrec.evaluation.baselines.bpr import BPRBaseline
from graphrec.model.early_stopping import Say
from graphrec.model.kernel import symmetric_normalised


class _SymmetricSpMM(torch.autograd.Function):
    """``adj @ x`` for a symmetric sparse ``adj``, whose gradient is ``adj @ grad``.

    ``torch.sparse.mm`` transposes a CSR matrix on every backward pass; the purchase graph is
    symmetric, so the forward matrix serves again and a training step costs about half.
    """

    @staticmethod
    def forward(ctx: Any, adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.adj = adj
        return torch.sparse.mm(adj, x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, torch.Tensor]:
        return None, torch.sparse.mm(ctx.adj, grad)


class SymmetricLGConv(LGConv):
    """PyG's ``LGConv`` on a pre-normalised symmetric adjacency (see ``_SymmetricSpMM``)."""

    def __init__(self) -> None:
        super().__init__(normalize=False)

    def message_and_aggregate(self, adj_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return _SymmetricSpMM.apply(adj_t, x)


def normalized_adjacency(pairs: np.ndarray, num_users: int, num_items: int) -> torch.Tensor:
    """``D^-1/2 A D^-1/2`` of the bipartite graph (users first, then items) as sparse CSR
    (:func:`~graphrec.model.kernel.symmetric_normalised`).

    Normalising once here instead of in every ``LGConv`` call (PyG's default) saves recomputing
    the same degrees at every training step.
    """
    n = num_users + num_items
    rows, cols, values = symmetric_normalised(n, pairs[:, 0], pairs[:, 1] + num_users)
    adj = torch.sparse_coo_tensor(torch.from_numpy(np.stack([rows, cols])),
                                  torch.from_numpy(values), (n, n), check_invariants=False)
    return adj.coalesce().to_sparse_csr()


class LightGCNModule(torch.nn.Module):
    """PyG's ``LightGCN`` on a fixed, pre-normalised purchase graph.

    Its ``LGConv`` layers are swapped for :class:`SymmetricLGConv`: the same propagation, with
    the normalisation done once and a cheaper backward pass.
    """

    def __init__(self, pairs: np.ndarray, num_users: int, num_items: int, dim: int,
                 num_layers: int) -> None:
        super().__init__()
        self.num_users = num_users
        self.model = PyGLightGCN(num_users + num_items, dim, num_layers)
        self.model.convs = torch.nn.ModuleList(SymmetricLGConv() for _ in range(num_layers))
        self.adj = normalized_adjacency(pairs, num_users, num_items)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model.get_embedding(self.adj)
        return out[:self.num_users], out[self.num_users:]

    def base_embeddings(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.model.embedding(torch.cat([users, items + self.num_users]))


class LightGCN(BPRBaseline):
    """LightGCN with BPR, epochs chosen by early stopping on validation.

    Defaults follow PyG's ``examples/lightgcn.py`` (64 dimensions, batches of 8192, L2 1e-4)
    except for 3 layers (the paper's choice) and Adam at 5e-3, picked on Beauty's validation
    split: the example's setting reaches the same validation NDCG in about three times as many
    epochs (``benchmarks/results/NOTES.md``).

    Args:
        dim: embedding size.
        num_layers: propagation layers.
        batch_size: triples per step (each step propagates over the whole graph).
        lr, lambda_reg, max_epochs, eval_every, patience, seed: see
            :class:`~graphrec.evaluation.baselines.bpr.BPRBaseline`.
    """

    def __init__(self, dim: int = 64, num_layers: int = 3, lr: float = 5e-3,
                 lambda_reg: float = 1e-4, batch_size: int = 8192, max_epochs: int = 400,
                 eval_every: int = 10, patience: int = 3, seed: int = 0,
                 progress: Say | None = None) -> None:
        super().__init__(lr=lr, lambda_reg=lambda_reg, batch_size=batch_size,
                         max_epochs=max_epochs, eval_every=eval_every, patience=patience,
                         seed=seed, progress=progress)
        self.dim, self.num_layers = dim, num_layers

    def build(self, data: GraphData) -> LightGCNModule:
        return LightGCNModule(data.train, data.num_users, data.num_items, self.dim,
                              self.num_layers)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(dim={self.dim}, num_layers={self.num_layers}, "
                f"lr={self.lr})")
