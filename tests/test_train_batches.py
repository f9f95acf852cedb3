"""Training walks the users in mini-batches: what one step holds does not grow with the users.

A step's tensors are its batch's histories (``[rows, items]``, sparse), its held-back purchases
and its softmax (``[rows, items]`` for the full one, ``[rows, candidates]`` for the in-batch one,
the candidates being the batch's targets). On synthetic shops of 400 and 1,600 users over the
same items, every batch has at most ``batch_size`` rows and as many targets as those rows
hold, so four times the users means four times the batches, each the same size. The
propagations do not follow them past ``max_steps_per_epoch``: consecutive batches then share one
propagation and one optimizer step, whose gradient is their whole loss's.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from graphrec.dataset import GraphData
from graphrec.model.kgrec import Workspace
from graphrec.model.train import (
    TrainConfig,
    _batches,
    _popularity,
    _steps,
    batches_an_epoch,
    log_sampling_weight,
    steps_an_epoch,
    train_epoch,
)
from tests.conftest import SAMPLE
from tests.softmax_reference import full_softmax_loss

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


def test_a_sampled_batch_reads_only_the_item_rows_it_holds() -> None:
    """:meth:`_Batch.compact` gives the batch over the items its histories and softmax read:
    the same purchases, targets and candidates, each item as its place in that sorted list,
    which is all a batch of the sampled softmax needs of a catalogue's rows."""
    import torch

    data = shop(400)
    config = dataclasses.replace(CONFIG, sampled_negatives=20)
    for batch in _batches(data, config, np.random.default_rng(0), torch.device("cpu")):
        items, local = batch.compact()
        history = batch.history.indices()
        read = set(history[1].tolist()) | set(batch.candidates.tolist())
        assert items.tolist() == sorted(read) and len(items) < ITEMS
        assert local.history.shape == (len(batch.users), len(items))
        back = local.history.indices()
        assert torch.equal(torch.stack([back[0], items[back[1]]]), history)
        assert torch.equal(items[local.targets[1]], batch.targets[1])
        assert torch.equal(local.targets[0], batch.targets[0])
        assert torch.equal(items[local.candidates], batch.candidates)
        assert local.users is batch.users and local.total == batch.total


def test_batches_share_steps_past_the_most_an_epoch_takes() -> None:
    config = TrainConfig(max_steps_per_epoch=24)
    assert [len(step) for step in _steps(range(11), 11, config)] == [1] * 11  # Beauty
    assert [len(step) for step in _steps(range(24), 24, config)] == [1] * 24
    fives = [len(step) for step in _steps(range(55), 55, config)]  # five times Beauty
    assert fives == [3] * 18 + [1] and len(fives) <= 24
    assert sum(len(s) for s in _steps(range(1000), 1000, config)) == 1000
    assert len(list(_steps(range(1000), 1000, config))) == 24
    shop_config = dataclasses.replace(CONFIG, max_steps_per_epoch=24)
    assert batches_an_epoch(shop(1600), shop_config) == 25  # 1,600 users in batches of 64
    assert steps_an_epoch(shop(1600), shop_config) == 13  # two batches a step
    assert steps_an_epoch(shop(400), shop_config) == 7


@pytest.mark.parametrize("sampled", [False, True], ids=["full-softmax", "sampled-softmax"])
def test_a_shared_step_takes_its_batches_whole_loss_through_one_propagation(
        sampled: bool) -> None:
    """All of an epoch's batches in one step: one propagation, and the gradient of the loss
    computed without cutting the graph (the mean over every held-back purchase)."""
    import torch

    data = GraphData.from_csv_dir(SAMPLE)  # a knowledge graph: the relation weights learn too
    config = TrainConfig(embedding_dim=16, batch_size=256, sampled_softmax=sampled,
                         sampled_negatives=50, max_steps_per_epoch=1)
    model = config.build(data)
    cpu = torch.device("cpu")
    batches = list(_batches(data, config, np.random.default_rng(0), cpu))
    assert len(batches) > 3
    total = sum(batch.total for batch in batches)
    rows = model.item_representations()
    popularity = _popularity(data, cpu)
    expected_loss = sum(
        (model.in_batch_loss(b.history, b.targets, log_sampling_weight(popularity, b.total,
                                                                       config), b.candidates)
         if sampled else full_softmax_loss(model.score(b.history, rows), b.targets))
        * b.total / total
        for b in batches)
    assert isinstance(expected_loss, torch.Tensor)
    expected_loss.backward()
    expected = [p.grad.clone() for p in (model.embedding, model.relation_logit)
                if p.grad is not None]
    model.zero_grad()

    propagations = []
    propagate = model.item_representations

    def counted(folded: torch.Tensor | None = None,
                workspace: Workspace | None = None) -> torch.Tensor:
        propagations.append(1)
        return propagate(folded, workspace)

    model.item_representations = counted  # type: ignore[method-assign]
    still = torch.optim.SGD(model.parameters(), lr=0.0)  # keeps the weights and the gradients
    loss = train_epoch(model, still, data, config, np.random.default_rng(0))
    assert len(propagations) == 1
    assert loss == pytest.approx(expected_loss.item(), rel=1e-6)
    assert len(expected) == 2
    for got, want in zip((model.embedding.grad, model.relation_logit.grad), expected):
        assert got is not None and torch.allclose(got, want, rtol=1e-4, atol=1e-7)
