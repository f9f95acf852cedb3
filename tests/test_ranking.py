"""Top k among the items a rule accepts: what graphrec serves (only explainable items)."""
from __future__ import annotations

import numpy as np

from graphrec.serving.ranking import top, top_accepted

SCORES = np.array([0.9, 0.8, -np.inf, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1], dtype=np.float32)


def test_without_a_rule_it_is_the_plain_top_k() -> None:
    assert top_accepted(SCORES, 3).tolist() == [0, 1, 3]


def test_rejected_items_are_passed_over_in_score_order() -> None:
    asked: list[list[int]] = []

    def odd(items: np.ndarray) -> np.ndarray:
        asked.append(items.tolist())
        return items % 2 == 1

    assert top_accepted(SCORES, 2, odd).tolist() == [1, 3]
    assert asked == [[0, 1, 3, 4]]  # one window of 2k when it holds enough


def test_the_window_grows_until_k_are_found() -> None:
    asked: list[int] = []

    def late(items: np.ndarray) -> np.ndarray:
        asked.append(len(items))
        return items >= 8

    assert top_accepted(SCORES, 2, late).tolist() == [8, 9]
    assert asked == [4, 9]  # 2k, then every finite score


def test_fewer_than_k_when_fewer_pass_and_never_a_masked_item() -> None:
    assert top_accepted(SCORES, 5, lambda items: items <= 3).tolist() == [0, 1, 3]
    assert top_accepted(SCORES, 20).tolist() == [0, 1, 3, 4, 5, 6, 7, 8, 9]


def test_ties_rank_the_lower_index_first() -> None:
    assert top(np.array([1.0, 3.0, 3.0, 2.0, 3.0]), 4).tolist() == [1, 2, 4, 3]
    assert top(np.array([1.0, 2.0]), 5).tolist() == [1, 0]


def test_ties_across_the_cut_keep_the_lower_indices() -> None:
    """Many items tied at the k-th score (whole counts, as popularity's): the ones kept are
    the lowest indices, whatever argpartition happened to put on its side of the cut."""
    counts = np.zeros(5_000)
    counts[::7] = 3.0
    counts[4_000] = 9.0
    want = [4_000, *range(0, 7 * 9, 7)]
    assert top(counts, 10).tolist() == want
    assert top_accepted(counts, 10).tolist() == want
