"""BPR training shared by the embedding baselines: sampling, the epoch loop, early stopping.

Both BPR-MF and LightGCN learn user and item embeddings from (user, bought item, not-bought item)
triples (Rendle et al., UAI 2009). Only how the embeddings are produced differs, so a model is a
:class:`BPRModule` and this module owns everything else, identically for both.
"""
from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch
from torch_geometric.nn.models.lightgcn import BPRLoss

from graphrec.evaluation.baselines.base import validation_score
from graphrec.dataset import GraphData
from graphrec.evaluation.evaluate import validation_split


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
        where = np.minimum(np.searchsorted(positive_keys, keys), len(positive_keys) - 1)
        clash = positive_keys[where] == keys
        if not clash.any():
            break
        items[clash] = rng.integers(0, num_items, size=int(clash.sum()))
    return items


def train_epochs(module: BPRModule, optimizer: torch.optim.Optimizer, pairs: np.ndarray,
                 num_items: int, epochs: int, batch_size: int, lambda_reg: float,
                 rng: np.random.Generator,
                 after_epoch: Callable[[int], bool] | None = None) -> list[float]:
    """Train ``epochs`` epochs of BPR on ``pairs``; returns each epoch's training seconds.

    ``after_epoch(epoch)`` (1-based) runs outside the timing and returns ``True`` to stop early.
    """
    loss_fn = BPRLoss(lambda_reg)
    keys = np.sort(pairs[:, 0] * num_items + pairs[:, 1])
    seconds: list[float] = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        order = rng.permutation(len(pairs))
        users, pos = pairs[order, 0], pairs[order, 1]
        neg = sample_negatives(users, keys, num_items, rng)
        for lo in range(0, len(pairs), batch_size):
            u, i, j = (torch.from_numpy(a[lo:lo + batch_size]) for a in (users, pos, neg))
            user_emb, item_emb = module.embeddings()
            eu = user_emb[u]
            pos_score = (eu * item_emb[i]).sum(-1)
            neg_score = (eu * item_emb[j]).sum(-1)
            ego = module.base_embeddings(u.unique(), torch.cat([i, j]).unique())
            loss = loss_fn(pos_score, neg_score, ego)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        seconds.append(time.perf_counter() - start)
        if after_epoch is not None and after_epoch(epoch):
            break
    return seconds


def fit_early_stopped(build: Callable[[GraphData], BPRModule], data: GraphData, *, lr: float,
                      batch_size: int, lambda_reg: float, max_epochs: int, eval_every: int,
                      patience: int, refit: bool, seed: int) -> tuple[BPRModule, dict[str, Any]]:
    """Train ``build(...)`` with early stopping on a validation split, then (``refit``) retrain.

    The number of epochs is chosen on a split carved from train, evaluated every ``eval_every``
    epochs and stopped after ``patience`` evaluations without a better NDCG. With ``refit`` a
    fresh model then trains that many epochs on all of train (the held-out ~15% is too much data
    to throw away on Beauty); otherwise the best validation state is kept. Everything random is
    seeded by ``seed`` without touching the global RNG.
    """
    split = validation_split(data, seed=seed)
    rng = np.random.default_rng(seed)
    curve: dict[int, float] = {}
    best: dict[str, Any] = {"epoch": 0, "state": None}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = build(split)
        optimizer = torch.optim.Adam(module.parameters(), lr=lr)

        def after_epoch(epoch: int) -> bool:
            if epoch % eval_every:
                return False
            curve[epoch] = validation_score(EmbeddingScorer(module), split)
            if not best["epoch"] or curve[epoch] > curve[best["epoch"]]:
                best.update(epoch=epoch, state=copy.deepcopy(module.state_dict()))
            return epoch - best["epoch"] >= patience * eval_every

        seconds = train_epochs(module, optimizer, split.train, data.num_items, max_epochs,
                               batch_size, lambda_reg, rng, after_epoch)
        epochs = best["epoch"] or len(seconds)
        if refit:
            torch.manual_seed(seed)
            module = build(data)
            optimizer = torch.optim.Adam(module.parameters(), lr=lr)
            seconds += train_epochs(module, optimizer, data.train, data.num_items, epochs,
                                    batch_size, lambda_reg, rng)
        elif best["state"] is not None:
            module.load_state_dict(best["state"])
    info = {"epochs": epochs, "search_epochs": len(seconds) - (epochs if refit else 0),
            "seconds_per_epoch": float(np.mean(seconds)), "validation_ndcg@10": curve}
    return module, info
