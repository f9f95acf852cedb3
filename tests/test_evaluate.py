"""The evaluation protocol: train items masked, test items found, validation carved from train."""
from __future__ import annotations

import numpy as np
import pytest

from graphrec.dataset import GraphData
from graphrec.evaluation.evaluate import evaluate, top_k, validation_split


def graph(train: list[tuple[int, int]], test: list[tuple[int, int]], num_users: int,
          num_items: int) -> GraphData:
    """A GraphData with only users, items and purchases."""
    none = np.zeros((0, 2), dtype=np.int64)
    return GraphData(
        users=np.array([f"u{i}" for i in range(num_users)], dtype=object),
        items=np.array([f"i{i}" for i in range(num_items)], dtype=object),
        brands=np.array([], dtype=object), categories=np.array([], dtype=object),
        train=np.array(train, dtype=np.int64).reshape(-1, 2),
        test=np.array(test, dtype=np.int64).reshape(-1, 2),
        item_brand=none, item_category=none, category_parent=none)


class FixedScores:
    def __init__(self, scores: np.ndarray) -> None:
        self.scores = scores

    def score_users(self, users: np.ndarray) -> np.ndarray:
        return self.scores[users]


@pytest.fixture
def random_data() -> GraphData:
    rng = np.random.default_rng(0)
    pairs = np.unique(np.stack([rng.integers(0, 50, 600), rng.integers(0, 40, 600)], 1), axis=0)
    is_test = rng.random(len(pairs)) < 0.3
    return graph(pairs[~is_test].tolist(), pairs[is_test].tolist(), 50, 40)


def test_train_items_are_never_recommended(random_data: GraphData) -> None:
    # A scorer that loves exactly what the user already bought.
    train = random_data.train_matrix().toarray()
    scorer = FixedScores(train * 100 + np.random.default_rng(1).random(train.shape))
    users = np.arange(random_data.num_users)
    ranked = top_k(scorer, users, random_data.train_matrix(), k=10, batch_size=7)
    assert not train[users[:, None], ranked].any()


def test_oracle_scorer_hits_every_user(random_data: GraphData) -> None:
    oracle = FixedScores(random_data.test_matrix().toarray())
    got = evaluate(oracle, random_data, batch_size=16)
    assert got["hr@10"] == pytest.approx(100.0)
    per_user = np.diff(random_data.test_matrix().indptr)
    if per_user.max() <= 10:
        assert got["ndcg@10"] == pytest.approx(100.0)
        assert got["recall@10"] == pytest.approx(100.0)


def test_tiny_dataset_with_known_answer() -> None:
    # 2 users, 12 items. Scores rank items 0, 1, 2, ... for both users.
    # User 0 bought 0 and 1 in train (masked), so its top 10 is items 2..11; its test item 11 is
    #   10th: NDCG 1/log2(11), recall 1, hit 1, precision 0.1.
    # User 1 bought nothing in train; top 10 is 0..9; test items {0, 10}: hit at rank 1 only.
    #   DCG 1, IDCG 1 + 1/log2(3): NDCG 1/(1 + 0.63093) = 0.61315; recall 0.5; precision 0.1.
    data = graph([(0, 0), (0, 1)], [(0, 11), (1, 0), (1, 10)], 2, 12)
    scores = np.tile(-np.arange(12, dtype=np.float32), (2, 1))
    got = evaluate(FixedScores(scores), data)
    assert got["ndcg@10"] == pytest.approx(100 * (1 / np.log2(11) + 1 / (1 + 1 / np.log2(3))) / 2)
    assert got["recall@10"] == pytest.approx(75.0)
    assert got["hr@10"] == pytest.approx(100.0)
    assert got["precision@10"] == pytest.approx(10.0)


def test_batching_does_not_change_the_result(random_data: GraphData) -> None:
    scorer = FixedScores(np.random.default_rng(2).random((50, 40)))
    assert evaluate(scorer, random_data, batch_size=3) == evaluate(scorer, random_data)


def test_validation_split_is_carved_from_train_only(random_data: GraphData) -> None:
    split = validation_split(random_data, fraction=0.1, min_train=3, seed=5)
    def as_set(pairs: np.ndarray) -> set[tuple[int, ...]]:
        return {tuple(p) for p in pairs.tolist()}

    assert as_set(split.train) | as_set(split.test) == as_set(random_data.train)
    assert not as_set(split.train) & as_set(split.test)
    counts = np.bincount(random_data.train[:, 0], minlength=random_data.num_users)
    held = np.bincount(split.test[:, 0], minlength=random_data.num_users)
    assert (held[counts < 3] == 0).all()
    expected = np.maximum(1, np.round(0.1 * counts[counts >= 3]))
    assert (held[counts >= 3] == expected).all()
    again = validation_split(random_data, fraction=0.1, min_train=3, seed=5)
    assert np.array_equal(again.test, split.test)
    other = validation_split(random_data, fraction=0.1, min_train=3, seed=6)
    assert not np.array_equal(other.test, split.test)


def test_top_k_with_a_rule_ranks_only_the_items_it_keeps() -> None:
    scores = np.tile(np.arange(10, 0, -1, dtype=np.float32), (2, 1))  # item 0 best
    seen = graph([(0, 1), (1, 1)], [], 2, 10).train_matrix()
    kept = top_k(FixedScores(scores), np.array([0, 1]), seen, k=3,
                 keep=lambda user, items: items % 2 == user)
    assert kept.tolist() == [[0, 2, 4], [3, 5, 7]]  # user 1 bought item 1: not ranked
    short = top_k(FixedScores(scores), np.array([0]), seen, k=3,
                  keep=lambda user, items: items < 2)
    assert short.tolist() == [[0, -1, -1]]  # item 1 is seen: a short list ends in -1


def test_catalogue_smaller_than_k() -> None:
    # 3 items, k = 10: each list holds the 3 items, then -1; the unseen ones first.
    data = graph([(0, 0), (1, 1)], [(0, 2), (1, 0)], num_users=2, num_items=3)
    scores = np.array([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    ranked = top_k(FixedScores(scores), np.array([0, 1]), data.train_matrix(), k=10)
    assert ranked[:, 3:].tolist() == [[-1] * 7] * 2
    assert ranked[0, :2].tolist() == [1, 2] and ranked[1, :2].tolist() == [2, 0]
    got = evaluate(FixedScores(scores), data, k=10)
    assert (got["hr@10"], got["precision@10"]) == (100.0, 10.0)


def test_a_cap_on_users_measures_a_seeded_draw_of_them(random_data: GraphData) -> None:
    """``max_users`` measures that many of the users with test items, the same ones for the same
    seed, and is the whole mean when it covers them all."""
    from graphrec.evaluation.evaluate import evaluated_users

    every = evaluated_users(random_data)
    assert len(every) > 20
    drawn = evaluated_users(random_data, max_users=20, seed=3)
    assert len(drawn) == 20 and set(drawn) < set(every) and list(drawn) == sorted(drawn)
    assert np.array_equal(drawn, evaluated_users(random_data, max_users=20, seed=3))
    assert not np.array_equal(drawn, evaluated_users(random_data, max_users=20, seed=4))
    scores = np.random.default_rng(2).random((random_data.num_users, random_data.num_items))
    scorer = FixedScores(scores)
    assert (evaluate(scorer, random_data, max_users=len(every))
            == evaluate(scorer, random_data))
    # the capped mean is the mean over exactly the drawn users
    only = graph(random_data.train.tolist(),
                 [p for p in random_data.test.tolist() if p[0] in set(drawn.tolist())],
                 random_data.num_users, random_data.num_items)
    assert (evaluate(scorer, random_data, max_users=20, seed=3) == evaluate(scorer, only))


def test_a_batch_holds_a_bounded_number_of_scores(random_data: GraphData,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Users a batch shrink as the catalogue grows: 1,024 users against 605 k items were 2.5 GB
    of scores a batch, twice that with the masked copy. The lists are the same."""
    from graphrec.evaluation import evaluate as module

    asked: list[int] = []

    class Counting(FixedScores):
        def score_users(self, users: np.ndarray) -> np.ndarray:
            asked.append(len(users))
            return super().score_users(users)

    scorer = Counting(np.random.default_rng(3).random((50, 40)))
    users = np.arange(50)
    whole = top_k(scorer, users, random_data.train_matrix())
    assert asked == [50]
    asked.clear()
    monkeypatch.setattr(module, "SCORES_PER_BATCH", 40 * 8)  # eight users' scores
    assert np.array_equal(top_k(scorer, users, random_data.train_matrix()), whole)
    assert max(asked) == 8 and sum(asked) == 50
