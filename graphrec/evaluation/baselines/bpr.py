"""BPR training shared by the embedding baselines: sampling and the epoch.

Both BPR-MF and LightGCN learn user and item embeddings from (user, bought item, not-bought item)
triples (Rendle et al., UAI 2009). Only how the embeddings are produced differs, so a model is a
:class:`BPRModule` and this module owns the epoch, identically for both; early stopping and the
refit are :func:`graphrec.model.early_stopping.fit`'s, as for graphrec's own model.
"""
from __future__ import annotations

from typing import Any, Protocol, Self

import numpy as np
import torch
from torch_geometric.nn.models.lightgcn import BPRLoss

from graphrec.dataset import GraphData
from graphrec.model.early_stopping import Say, Schedule, fit
from graphrec.sorted_lookup import in_sorted


class BPRModule(Protocol):
    """A ``torch.nn.Module`` producing user and item embeddings whose dot product is the score."""

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``([num_users, d], [num_items, d])`` final embeddings."""
        ...

    def base_embeddings(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """The trainable (layer-0) embeddings of these users and items, for the L2 penalty."""
        ...

    def parameters(self) -> Any: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> Any: ...


class EmbeddingScorer:
    """Dot-product scores from embeddings computed once (no gradient)."""

    def __init__(self, module: BPRModule) -> None:
        with torch.no_grad():
            self.users, self.items = (e.detach() for e in module.embeddings())

    def score_users(self, users: np.ndarray) -> torch.Tensor:
        return self.users[torch.as_tensor(users, dtype=torch.long)] @ self.items.T


def sample_negatives(users: np.ndarray, positive_keys: np.ndarray, num_items: int,
                     rng: np.random.Generator, rounds: int = 5) -> np.ndarray:
    """One uniformly drawn item per user that the user did not buy in train.

    ``positive_keys`` is the sorted ``user * num_items + item`` of the train pairs. Collisions are
    redrawn a few times; what still collides after that (a user who bought nearly everything)
    is kept, which only slightly weakens that triple.
    """
    items = rng.integers(0, num_items, size=len(users))
    for _ in range(rounds):
        keys = users * num_items + items
        clash = in_sorted(positive_keys, keys)
        if not clash.any():
            break
        items[clash] = rng.integers(0, num_items, size=int(clash.sum()))
    return items


class BPRRun:
    """A module on ``data`` with Adam at ``lr``: an epoch is one pass over the train pairs in a
    random order, each with one sampled item the user did not buy, in batches of
    ``batch_size`` triples; ``rng`` draws the order and the negatives (one generator for the
    validation run and the refit)."""

    def __init__(self, module: BPRModule, data: GraphData, *, lr: float, batch_size: int,
                 lambda_reg: float, rng: np.random.Generator) -> None:
        self.module, self.pairs, self.num_items = module, data.train, data.num_items
        self.batch_size, self.rng = batch_size, rng
        self.loss_fn = BPRLoss(lambda_reg)
        self.keys = np.sort(self.pairs[:, 0] * self.num_items + self.pairs[:, 1])
        self.optimizer = torch.optim.Adam(module.parameters(), lr=lr)

    def epoch(self) -> float:
        order = self.rng.permutation(len(self.pairs))
        users, pos = self.pairs[order, 0], self.pairs[order, 1]
        neg = sample_negatives(users, self.keys, self.num_items, self.rng)
        total = 0.0
        for lo in range(0, len(self.pairs), self.batch_size):
            u, i, j = (torch.from_numpy(a[lo:lo + self.batch_size]) for a in (users, pos, neg))
            user_emb, item_emb = self.module.embeddings()
            eu = user_emb[u]
            pos_score = (eu * item_emb[i]).sum(-1)
            neg_score = (eu * item_emb[j]).sum(-1)
            ego = self.module.base_embeddings(u.unique(), torch.cat([i, j]).unique())
            loss = self.loss_fn(pos_score, neg_score, ego)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            total += loss.item() * len(u)
        return total / max(1, len(self.pairs))

    def __repr__(self) -> str:
        return (f"{self.module.__class__.__name__} with BPR on {len(self.pairs):,} pairs, "
                f"{self.num_items:,} items, batches of {self.batch_size:,}")

    def scorer(self) -> EmbeddingScorer:
        return EmbeddingScorer(self.module)


class BPRBaseline:
    """An embedding baseline trained with BPR through :func:`graphrec.model.early_stopping.fit`:
    epochs chosen on a validation split, then a fresh module trained that many epochs on all of
    train (the held-out tenth is too much data to throw away). Everything random is seeded by
    ``seed`` without touching the global RNG. A subclass says how its module is built.

    Args:
        lr: Adam learning rate.
        lambda_reg: L2 strength on the layer-0 embeddings of each batch (PyG's ``BPRLoss``).
        batch_size: triples per step.
        max_epochs, eval_every, patience: early stopping (see :class:`Schedule`).
        seed: seeds initialisation, sampling and the validation split.
        progress: receives one line an epoch (loss, validation NDCG, ETA); silent when None.
    """

    def __init__(self, *, lr: float, lambda_reg: float, batch_size: int, max_epochs: int,
                 eval_every: int, patience: int, seed: int, progress: Say | None = None
                 ) -> None:
        self.lr, self.lambda_reg, self.batch_size = lr, lambda_reg, batch_size
        self.schedule = Schedule(max_epochs, eval_every, patience)
        self.seed, self.progress = seed, progress
        self.fit_info: dict[str, Any] = {}
        self.scorer: EmbeddingScorer | None = None

    def build(self, data: GraphData) -> BPRModule:
        """A fresh module for ``data``'s users and items."""
        raise NotImplementedError

    def fit(self, data: GraphData) -> Self:
        rng = np.random.default_rng(self.seed)
        run, log = fit(
            lambda part: BPRRun(self.build(part), part, lr=self.lr, batch_size=self.batch_size,
                                lambda_reg=self.lambda_reg, rng=rng),
            data, self.schedule, seed=self.seed, progress=self.progress)
        self.scorer = EmbeddingScorer(run.module)
        self.fit_info = log.fit_info()
        return self

    def score_users(self, users: np.ndarray) -> torch.Tensor:
        assert self.scorer is not None, "fit first"
        return self.scorer.score_users(users)
