"""Ranking metrics against values worked out by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest

from graphrec.evaluation.metrics import ranking_metrics


def test_hand_computed_example() -> None:
    topk = np.array([
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],         # user A: hits at ranks 1 and 3
        [11, 12, 13, 14, 15, 16, 17, 18, 19, 20],  # user B: no hit
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],         # user C: no test items, skipped
        [5, 4, 6, 7, 8, 9, 10, 11, 12, 13],       # user D: hit at rank 2
    ])
    relevant = [{1, 3, 20}, {30}, set(), {4}]
    # User A: DCG  = 1/log2(2) + 1/log2(4)              = 1 + 0.5               = 1.5
    #         IDCG = 1/log2(2) + 1/log2(3) + 1/log2(4)  = 1 + 0.63093 + 0.5     = 2.13093
    #         NDCG = 1.5 / 2.13093 = 0.70392; recall 2/3; hit 1; precision 2/10
    # User B: everything 0.
    # User D: DCG = 1/log2(3) = 0.63093, IDCG = 1 -> NDCG 0.63093; recall 1; hit 1; precision 1/10
    # Means over the three users with test items (A, B, D), in percent:
    #   NDCG      (0.70392 + 0 + 0.63093) / 3 = 44.495
    #   recall    (2/3 + 0 + 1) / 3           = 55.556
    #   HR        (1 + 0 + 1) / 3             = 66.667
    #   precision (0.2 + 0 + 0.1) / 3         = 10.0
    ndcg_a = 1.5 / (1.5 + 1 / math.log2(3))
    ndcg_d = 1 / math.log2(3)
    got = ranking_metrics(topk, relevant, k=10)
    assert got["ndcg@10"] == pytest.approx(100 * (ndcg_a + ndcg_d) / 3)
    assert got["ndcg@10"] == pytest.approx(44.495, abs=1e-3)
    assert got["recall@10"] == pytest.approx(100 * (2 / 3 + 1) / 3)
    assert got["hr@10"] == pytest.approx(200 / 3)
    assert got["precision@10"] == pytest.approx(10.0)


def test_ideal_dcg_caps_at_k() -> None:
    # 12 relevant items, all 10 slots hit: IDCG uses 10 positions, so NDCG is exactly 100,
    # while recall is 10/12.
    got = ranking_metrics(np.arange(10)[None, :], [set(range(12))], k=10)
    assert got["ndcg@10"] == pytest.approx(100.0)
    assert got["recall@10"] == pytest.approx(100 * 10 / 12)
    assert got["precision@10"] == pytest.approx(100.0)


def test_no_user_with_test_items_gives_zeros() -> None:
    got = ranking_metrics(np.arange(10)[None, :], [set()], k=10)
    assert got == {"ndcg@10": 0.0, "recall@10": 0.0, "hr@10": 0.0, "precision@10": 0.0}
