"""Most-purchased items first: the floor every personalised model must clear."""
from __future__ import annotations

from typing import Any, Self

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.dataset import GraphData


class Popularity:
    """Scores every item by its number of train purchases, the same for every user."""

    def __init__(self) -> None:
        self.fit_info: dict[str, Any] = {}
        self.counts: torch.Tensor | None = None

    def fit(self, data: GraphData) -> Self:
        counts = np.bincount(data.train[:, 1], minlength=data.num_items)
        self.counts = torch.from_numpy(counts.astype(np.float32))
        return self

    def score_users(self, users: np.ndarray) -> torch.Tensor:
        assert self.counts is not None, "fit first"
        return self.counts.expand(len(users), -1)

    def score_history(self, history: sp.csr_matrix) -> torch.Tensor:
        """The same scores for any history (fold-in)."""
        assert self.counts is not None, "fit first"
        return self.counts.expand(history.shape[0], -1)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"
