"""Warm start: a new model begins at the trained one's weights, and gets there sooner."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from benchmarks.warm_start import latest_train_purchases, without
from graphrec.dataset import GraphData
from graphrec.evaluation.coldstart import history_order
from graphrec.evaluation.evaluate import validation_split
from graphrec.model.kgrec import KGRec
from graphrec.model.train import TrainConfig, train
from graphrec.model.warmstart import WarmStart
from ingest.detect import read_catalogue
from ingest.frames import catalogue_frames
from tests.conftest import SAMPLE
from tests.test_model import FAST, paired_catalogue

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def ids(data: GraphData) -> dict[str, np.ndarray]:
    return {"items": data.items, "brands": data.brands, "categories": data.categories}


def without_last_pair(data: GraphData) -> GraphData:
    """``data`` as it was before the last pair of items (and its brand) joined the catalogue."""
    last = data.num_items - 2
    keep_pairs = lambda pairs: pairs[(pairs < last).all(axis=1)]  # noqa: E731
    return dataclasses.replace(
        data, items=data.items[:last], brands=data.brands[:-1],
        train=data.train[data.train[:, 1] < last], test=data.test[data.test[:, 1] < last],
        item_brand=data.item_brand[data.item_brand[:, 0] < last],
        item_category=data.item_category[data.item_category[:, 0] < last],
        links={rel: keep_pairs(pairs) for rel, pairs in data.links.items()})


def test_known_nodes_keep_their_weights_and_new_items_start_at_their_neighbours() -> None:
    data = paired_catalogue()
    old_data = without_last_pair(data)
    old, _ = train(old_data, dataclasses.replace(FAST, max_epochs=4))
    with torch.no_grad():
        old.relation_logit.copy_(torch.tensor([0.1, 0.2, 0.3, 0.4]))
    torch.manual_seed(1)
    new = KGRec.from_data(data, embedding_dim=FAST.embedding_dim)
    counts = WarmStart.from_model(old, ids(old_data)).apply(new, data)

    last = data.num_items - 2
    # items, brands and categories by id: the old ones sit at other rows in the new model
    assert torch.equal(new.embedding[:last], old.embedding[:last])
    assert torch.equal(new.embedding[new.offset["brand"]:new.offset["brand"] + old.num_brands],
                       old.embedding[old.offset["brand"]:old.offset["category"]])
    assert torch.equal(new.embedding[new.offset["category"]:],
                       old.embedding[old.offset["category"]:])
    assert new.relation_logit.tolist() == pytest.approx([0.1, 0.2, 0.3, 0.4])
    # the two new items share a new brand; each is linked to the other and sits in a category
    # the old model knew: its start is its category's old embedding (its only known neighbour)
    category = data.item_category[data.item_category[:, 0] == last, 1][0]
    known_category = old.embedding[old.offset["category"] + category]
    assert torch.allclose(new.embedding[last], known_category)
    assert torch.allclose(new.embedding[last + 1], known_category)
    # the new brand's neighbours are the two new items: nothing known, so it stays random
    assert counts == {"known": old.num_nodes, "from_neighbours": 2, "random": 1}


def test_a_saved_model_of_another_size_is_refused() -> None:
    data = paired_catalogue()
    old = KGRec.from_data(data, embedding_dim=8)
    with pytest.raises(ValueError, match="8 dimensions, the new one 16"):
        WarmStart.from_model(old, ids(data)).apply(KGRec.from_data(data, embedding_dim=16),
                                                   data)


def test_on_the_sample_warm_start_reaches_scratch_quality_in_fewer_epochs() -> None:
    frames = catalogue_frames(read_catalogue(SAMPLE))
    data = GraphData.from_frames(frames.items, frames.purchases, frames.links, frames.users)
    config = TrainConfig(embedding_dim=32, batch_size=256, max_epochs=12, eval_every=2,
                         patience=6)
    held = validation_split(data, config.validation_fraction, seed=config.seed).test
    recent = latest_train_purchases(data, history_order(data, frames.purchases))
    old_data = dataclasses.replace(data, train=without(without(data.train, recent,
                                                               data.num_items),
                                                       held, data.num_items))
    train_seq = frames.purchases[frames.purchases["split"] == "train"]
    latest = train_seq.loc[train_seq.groupby("user_id")["seq"].idxmax()]
    latest = latest[train_seq.groupby("user_id").size().loc[latest["user_id"]].to_numpy() >= 2]
    assert sorted(zip(data.users[recent[:, 0]], data.items[recent[:, 1]])) == sorted(
        zip(latest["user_id"], latest["item_id"]))
    assert not np.isin(old_data.train[:, 0] * data.num_items + old_data.train[:, 1],
                       held[:, 0] * data.num_items + held[:, 1]).any()
    old, _ = train(old_data, config, epochs=12)
    warm = WarmStart.from_model(old, ids(data))

    first = KGRec.from_data(data, embedding_dim=32)
    assert warm.apply(first, data) == {"known": first.num_nodes, "from_neighbours": 0,
                                       "random": 0}
    assert torch.equal(first.embedding, old.embedding)  # it begins where the old model ended

    _, scratch = train(data, config, refit=False)
    _, warmed = train(data, config, refit=False, warm_start=warm)
    target = scratch.validation["ndcg@10"]
    curve = {r.epoch: r.val_ndcg for r in warmed.epochs if r.val_ndcg is not None}
    reached = min(epoch for epoch, ndcg in curve.items() if ndcg >= target)
    assert reached < scratch.best_epoch
    assert warmed.validation["ndcg@10"] >= target


def test_only_a_model_from_random_weights_is_held_to_the_minimum_epochs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A warm start may stop as soon as its validation stops improving: it ranks well from
    its first epoch, which is what it is for."""
    from graphrec.model import train as training

    data, asked = paired_catalogue(), []
    config = dataclasses.replace(FAST, min_epochs=7)
    real_fit = training.fit

    def one_epoch(start, data, schedule, **kwargs):  # type: ignore[no-untyped-def]
        asked.append(schedule.min_epochs)
        return real_fit(start, data, schedule, **{**kwargs, "epochs": 1})

    monkeypatch.setattr(training, "fit", one_epoch)
    old, _ = train(data, config)
    train(data, config, warm_start=WarmStart.from_model(old, ids(data)))
    assert asked == [7, 0]
