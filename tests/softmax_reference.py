"""The full softmax's loss written plainly with autograd's ``logsumexp``: the reference that the
model's one-buffer softmax (:meth:`graphrec.model.kgrec.KGRec.full_loss`) is tested against."""
from __future__ import annotations

import torch
from torch import Tensor


def full_softmax_loss(scores: Tensor, targets: Tensor) -> Tensor:
    """Softmax cross-entropy of ``scores`` ``[rows, items]`` over all items, averaged over
    ``targets`` ``[2, t]`` (row of ``scores``, item)."""
    rows, items = targets
    per_row = torch.bincount(rows, minlength=scores.shape[0]).to(scores.dtype)
    log_norm = torch.logsumexp(scores, dim=1)
    return ((log_norm * per_row).sum() - scores[rows, items].sum()) / max(1, len(items))
