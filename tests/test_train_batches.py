"""Training walks the users in mini-batches: what one step holds does not grow with the users.

A step's tensors are its batch's histories (``[rows, items]``, sparse), its held-back purchases
and its softmax (``[rows, items]`` for the full one, ``[rows, candidates]`` for the in-batch one,
the candidates being the batch's targets). On synthetic shops of 400 and 1,600 users over the
same items, every batch has at most ``batch_size`` rows and as many targets as those rows
hold, so four times the users means four times the steps, each the same size.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from graphrec.dataset import GraphData
from graphrec.model.train import TrainConfig, _batches

ITEMS = 300
CONFIG = TrainConfig(batch_size=64, sampled_softmax=True, sampled_negatives=0)  # in-batch only


def shop(num_users: int, seed: int = 0) -> GraphData:
    """``num_users`` users, each buying 5 to 15 of ``ITEMS`` items at random (no graph)."""
    rng = np.random.default_rng(seed)
    pairs = {(u, int(i)) for u in range(num_users)
             for i in rng.choice(ITEMS, size=rng.integers(5, 16), replace=False)}
    empty = np.zeros((0, 2), dtype=np.int64)
    return GraphData(users=np.array([f"u{u}" for u in range(num_users)], dtype=object),
                     items=np.array([f"i{i}" for i in range(ITEMS)], dtype=object),
                     brands=np.array([], dtype=object), categories=np.array([], dtype=object),
                     train=np.array(sorted(pairs), dtype=np.int64), test=empty,
                     item_brand=empty, item_category=empty, category_parent=empty)


def step_sizes(data: GraphData) -> tuple[int, int, int, int]:
    """Batches of an epoch; the most rows, targets and softmax candidates one of them holds."""
    import torch

    batches = list(_batches(data, CONFIG, np.random.default_rng(0), torch.device("cpu")))
    for batch in batches:
        assert batch.history.shape == (len(batch.users), data.num_items)
        assert batch.targets.shape[1] == batch.total  # one process: the whole batch
        assert set(batch.targets[1].tolist()) == set(batch.candidates.tolist())
    return (len(batches), max(len(b.users) for b in batches),
            max(b.targets.shape[1] for b in batches), max(len(b.candidates) for b in batches))


@pytest.mark.parametrize("users", [400, 1600])
def test_every_user_is_in_one_batch_per_epoch(users: int) -> None:
    import torch

    data = shop(users)
    seen = torch.cat([b.users for b in _batches(data, CONFIG, np.random.default_rng(0),
                                                 torch.device("cpu"))])
    assert sorted(seen.tolist()) == list(range(users))


def test_a_step_does_not_grow_with_the_users() -> None:
    small, large = step_sizes(shop(400)), step_sizes(shop(1600, seed=1))
    assert (small[0], large[0]) == (math.ceil(400 / 64), math.ceil(1600 / 64))
    assert small[1] == large[1] == CONFIG.batch_size
    # at most batch_size × 15 purchases, about half of them held back
    for sizes in (small, large):
        assert sizes[2] <= CONFIG.batch_size * 15 * 0.7
        assert sizes[3] <= ITEMS
    assert large[2] <= 1.2 * small[2] and large[3] <= 1.2 * small[3]


def test_uniform_negatives_join_the_candidates() -> None:
    """``sampled_negatives`` adds items drawn uniformly to each batch's softmax: the targets stay
    among the candidates, and items no row of the batch holds back join them."""
    import dataclasses

    import torch

    data = shop(400)
    config = dataclasses.replace(CONFIG, sampled_negatives=100)
    extra = []
    for batch in _batches(data, config, np.random.default_rng(0), torch.device("cpu")):
        targets = set(batch.targets[1].tolist())
        candidates = set(batch.candidates.tolist())
        assert targets <= candidates <= set(range(ITEMS))
        extra.append(len(candidates - targets))
    assert min(extra) > 0 and max(extra) <= 100
