"""BPR matrix factorisation (Rendle et al., UAI 2009): the classic latent-factor baseline."""
from __future__ import annotations

from typing import Any, Self

import numpy as np
import torch

from graphrec.evaluation.baselines.bpr import EmbeddingScorer, fit_early_stopped
from graphrec.dataset import GraphData


class MFModule(torch.nn.Module):
    """One free embedding per user and per item; the score is their dot product."""

    def __init__(self, num_users: int, num_items: int, dim: int) -> None:
        super().__init__()
        self.user = torch.nn.Embedding(num_users, dim)
        self.item = torch.nn.Embedding(num_items, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.normal_(self.user.weight, std=0.1)
        torch.nn.init.normal_(self.item.weight, std=0.1)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user.weight, self.item.weight

    def base_embeddings(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.user(users), self.item(items)])


class BPRMF:
    """Matrix factorisation trained with BPR, epochs chosen by early stopping on validation.

    The defaults won on Beauty's validation split (not its test split) among learning rates
    5e-3/1e-2 and L2 strengths 1e-3 to 1e-1: with ~7 purchases per user, factors need strong
    regularisation.

    Args:
        dim: embedding size.
        lr: Adam learning rate.
        lambda_reg: L2 strength on the embeddings of each batch (PyG's ``BPRLoss``).
        batch_size: triples per step.
        max_epochs, eval_every, patience: early stopping (see ``fit_early_stopped``).
        refit: retrain on all of train for the chosen number of epochs.
        seed: seeds initialisation, sampling and the validation split.
    """

    def __init__(self, dim: int = 64, lr: float = 1e-2, lambda_reg: float = 3e-2,
                 batch_size: int = 2048, max_epochs: int = 300, eval_every: int = 10,
                 patience: int = 3, refit: bool = True, seed: int = 0) -> None:
        self.dim, self.lr, self.lambda_reg, self.batch_size = dim, lr, lambda_reg, batch_size
        self.max_epochs, self.eval_every, self.patience = max_epochs, eval_every, patience
        self.refit, self.seed = refit, seed
        self.fit_info: dict[str, Any] = {}
        self.scorer: EmbeddingScorer | None = None

    def fit(self, data: GraphData) -> Self:
        module, self.fit_info = fit_early_stopped(
            lambda d: MFModule(d.num_users, d.num_items, self.dim), data, lr=self.lr,
            batch_size=self.batch_size, lambda_reg=self.lambda_reg, max_epochs=self.max_epochs,
            eval_every=self.eval_every, patience=self.patience, refit=self.refit, seed=self.seed)
        self.scorer = EmbeddingScorer(module)
        return self

    def score_users(self, users: np.ndarray) -> torch.Tensor:
        assert self.scorer is not None, "fit first"
        return self.scorer.score_users(users)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(dim={self.dim}, lr={self.lr}, "
                f"lambda_reg={self.lambda_reg})")
