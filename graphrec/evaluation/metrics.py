"""Top-k ranking metrics of the explainable-recommendation papers (PGPR, CAFE).

Every function takes the ranked top-k lists and the held-out items per user, and returns the
mean over users in percent. Users with no held-out item are skipped, as in the papers.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def per_user(topk: np.ndarray, relevant: Sequence[set[int]], k: int) -> np.ndarray:
    """For each user with held-out items: ``[dcg/idcg, hits/|relevant|, hit>0, hits/k]``."""
    rows = []
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    for ranked, rel in zip(topk, relevant):
        if not rel:
            continue
        gains = np.array([1.0 if int(i) in rel else 0.0 for i in ranked[:k]])
        hits = gains.sum()
        idcg = discounts[: min(len(rel), k)].sum()
        rows.append((float(gains @ discounts[: len(gains)]) / idcg, hits / len(rel),
                     float(hits > 0), hits / k))
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def ranking_metrics(topk: np.ndarray, relevant: Sequence[set[int]], k: int = 10
                    ) -> dict[str, float]:
    """``ndcg@k``, ``recall@k``, ``hr@k`` and ``precision@k`` in percent."""
    per_user_rows = per_user(np.asarray(topk), relevant, k)
    means = per_user_rows.mean(axis=0) * 100 if len(per_user_rows) else np.zeros(4)
    names = ("ndcg", "recall", "hr", "precision")
    return {f"{name}@{k}": float(value) for name, value in zip(names, means)}
