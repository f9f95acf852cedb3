"""BPR matrix factorisation (Rendle et al., UAI 2009): the classic latent-factor baseline."""
from __future__ import annotations

import torch

from graphrec.dataset import GraphData
from graphrec.evaluation.baselines.bpr import BPRBaseline
from graphrec.model.early_stopping import Say


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


class BPRMF(BPRBaseline):
    """Matrix factorisation trained with BPR, epochs chosen by early stopping on validation.

    The defaults won on Beauty's validation split (not its test split) among learning rates
    5e-3/1e-2 and L2 strengths 1e-3 to 1e-1: with ~7 purchases per user, factors need strong
    regularisation.

    Args:
        dim: embedding size.
        lr, lambda_reg, batch_size, max_epochs, eval_every, patience, seed, progress: see
            :class:`~graphrec.evaluation.baselines.bpr.BPRBaseline`.
    """

    def __init__(self, dim: int = 64, lr: float = 1e-2, lambda_reg: float = 3e-2,
                 batch_size: int = 2048, max_epochs: int = 300, eval_every: int = 10,
                 patience: int = 3, seed: int = 0,
                 progress: Say | None = None) -> None:
        super().__init__(lr=lr, lambda_reg=lambda_reg, batch_size=batch_size,
                         max_epochs=max_epochs, eval_every=eval_every, patience=patience,
                         seed=seed, progress=progress)
        self.dim = dim

    def build(self, data: GraphData) -> MFModule:
        return MFModule(data.num_users, data.num_items, self.dim)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(dim={self.dim}, lr={self.lr}, "
                f"lambda_reg={self.lambda_reg})")
