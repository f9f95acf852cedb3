"""Purchases reported since a model read its graph, added to the purchases its paths walk: the
graph grown by hand on a small model, and the reads against the real store."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from graphrec.adjacency import Adjacency
from graphrec.config import Settings
from graphrec.dataset import GraphData
from graphrec.explain.paths import PathFinder
from graphrec.model.artifact import Artifact
from graphrec.model.pipeline import train_from_store
from graphrec.model.train import TrainConfig
from graphrec.serving.events import forget_since, record
from graphrec.serving.newpurchases import (
    CLOCK_MARGIN_MS,
    OVERLAP_MS,
    LivePurchases,
    read_since,
    with_purchases,
)
from graphrec.serving.recommend import Recommender
from graphrec.serving.service import ACT_SPACING
from graphrec.store.connection import GraphStore
from ingest.detect import read_catalogue
from ingest.loader import load_catalogue
from tests.apps import without_model
from tests.conftest import SAMPLE
from web import create_app
from web.engine import get_engine


def small_model() -> Artifact:
    """Users a and b, items i0..i2; a bought i0, b bought i0 and i1. Only the graph and the
    ids matter here: the purchases added never touch the model's arrays."""
    pairs = np.array([(0, 0), (1, 0), (1, 1)], dtype=np.int64)
    empty = np.zeros((0, 2), dtype=np.int64)
    data = GraphData(users=np.array(["a", "b"], dtype=object),
                     items=np.array(["i0", "i1", "i2"], dtype=object),
                     brands=np.array([], dtype=object), categories=np.array([], dtype=object),
                     train=pairs, test=empty, item_brand=empty, item_category=empty,
                     category_parent=empty)
    state: Any = None
    return Artifact(state=state, data=data, config={}, ids={"users": ["a", "b"],
                                                             "items": ["i0", "i1", "i2"]},
                    metrics={}, manifest={}, path=Path("."),
                    path_index=PathFinder(data).index())


#: The small model has no arrays: a recommender of it is made for its id maps alone.
NO_SCAN = np.zeros((3, 1), dtype=np.float32)


def ids_of(model: Artifact) -> Recommender:
    return Recommender(model, scan=NO_SCAN)


def test_purchases_join_the_graph_new_buyers_after_the_known_ones() -> None:
    model = small_model()
    grown = with_purchases(model, {("a", "i2"), ("new", "i1"), ("new", "i2"), ("b", "i1"),
                                   ("a", "not-folded-in"), ("newer", "i0")})

    assert grown.ids["users"] == ["a", "b", "new", "newer"]
    assert list(grown.data.users) == grown.ids["users"]
    assert grown.ids["items"] == model.ids["items"]
    # b's i1 was learnt already: once; an item the model does not know is left out
    assert grown.data.train.tolist() == [[0, 0], [0, 2], [1, 0], [1, 1], [2, 1], [2, 2],
                                         [3, 0]]
    # the index: the links' arrays kept, the purchases' those of the grown graph
    assert grown.path_index is not None and model.path_index is not None
    whole = PathFinder(grown.data).index()
    assert set(grown.path_index) == set(whole)
    for name, array in grown.path_index.items():
        np.testing.assert_array_equal(array, whole[name])
        if name.startswith(("linked", "link_")):
            assert array is model.path_index[name]
    assert model.data.train.tolist() == [[0, 0], [1, 0], [1, 1]]  # not changed in place


def test_nothing_to_add_is_the_model_itself() -> None:
    model = small_model()
    assert with_purchases(model, set()) is model
    assert with_purchases(model, {("new", "unknown-item")}) is model


def test_purchases_are_read_from_the_graphs_read_less_a_margin() -> None:
    assert read_since({"read_at": 5 * CLOCK_MARGIN_MS}) == 4 * CLOCK_MARGIN_MS
    assert read_since({"read_at": 1}) == 0
    # a model from before reads were timed learnt none of them: every one
    assert read_since({"trained_at": "2026-01-01T00:00:00Z"}) == 0


def test_each_read_asks_for_what_came_since_the_latest_read(store: GraphStore) -> None:
    """From the model's read on, then from a little before the latest purchase read: one that
    committed after a read with an earlier time is still found; one older than the overlap
    was read before or is before the model's read."""
    store.write("ingest/items", rows=[{"id": f"i{n}", "title": None, "price": None,
                                       "sales_rank": None, "available": None}
                                      for n in range(4)])
    since = 1_000_000
    record(store, "before", "i0", "purchase", at=since - 1)  # learnt by the model
    record(store, "u1", "i1", "purchase", at=since + 50_000)
    live = LivePurchases(since)

    assert live.read(store) and live.pairs == {("u1", "i1")} and live.latest == since + 50_000
    assert not live.read(store)  # nothing new
    record(store, "u2", "i2", "purchase", at=since + 50_000 - OVERLAP_MS // 2)  # late commit
    record(store, "u1", "i3", "purchase", at=since + 60_000)
    assert live.read(store)
    assert live.pairs == {("u1", "i1"), ("u2", "i2"), ("u1", "i3")}
    assert live.latest == since + 60_000
    # a purchase ingested with the catalogue is no live one
    store.write("ingest/purchases", rows=[{"user": "u3", "item": "i0", "seq": 1,
                                           "split": "train"}])
    assert not live.read(store)


def test_forgetting_a_runs_events_gives_each_buyer_their_latest_purchase_left(
        store: GraphStore) -> None:
    """A run's purchases removed, a buyer's ``bought_at`` goes back to their latest live
    purchase left, or away: a service then looks through none of them for purchases that are
    gone (the events benchmark left hundreds of sample users marked)."""
    store.write("ingest/items", rows=[{"id": f"i{n}", "title": None, "price": None,
                                       "sales_rank": None, "available": None}
                                      for n in range(3)])
    record(store, "earlier", "i0", "purchase", at=500)
    record(store, "earlier", "i1", "purchase", at=2_000)
    record(store, "run-only", "i2", "purchase", at=2_500)

    assert forget_since(store, 1_000) == 2
    live = LivePurchases(0)
    assert live.read(store) and live.pairs == {("earlier", "i0")} and live.latest == 500
    marked = store.read_text("MATCH (u:User) WHERE u.bought_at >= 0 "
                             "RETURN u.id AS user, u.bought_at AS at")
    assert marked == [{"user": "earlier", "at": 500}]


def test_the_merged_graph_is_the_graph_indexed_again_however_it_is_made() -> None:
    """Merged into a model's ordered purchases and index, or indexed again where the model has
    no index or its purchases are out of order: the same graph, the same index."""
    model = small_model()
    pairs = {("a", "i2"), ("new", "i1"), ("b", "i1"), ("newer", "i0")}
    merged = with_purchases(model, pairs, ids_of(model))
    shuffled = dataclasses.replace(model, data=dataclasses.replace(
        model.data, train=model.data.train[::-1].copy()))
    again = with_purchases(shuffled, pairs)
    unindexed = with_purchases(dataclasses.replace(model, path_index=None), pairs)
    assert unindexed.path_index is None
    for grown in (again, unindexed):
        np.testing.assert_array_equal(grown.data.train, merged.data.train)
        assert grown.ids == merged.ids
    assert merged.path_index is not None and again.path_index is not None
    for name, array in PathFinder(merged.data).index().items():
        np.testing.assert_array_equal(merged.path_index[name], array)
        np.testing.assert_array_equal(again.path_index[name], array)


def test_a_grown_models_recommender_maps_ids_through_the_one_it_grew_from() -> None:
    model = small_model()
    known = ids_of(model)
    grown = Recommender(with_purchases(model, {("new", "i1"), ("newer", "i2")}, known),
                        scan=NO_SCAN, grew_from=known)
    assert dict(grown.user_map) == {"a": 0, "b": 1, "new": 2, "newer": 3}
    assert grown.item_map is known.item_map  # no item added: the same map
    assert grown.user_index("newer") == 3 and grown.item_index("i2") == 2
    assert list(grown.history(["i2", "i0", "unknown"])) == [0, 2]


def test_adjacency_with_pairs_added_is_the_adjacency_of_all_pairs() -> None:
    rng = np.random.default_rng(0)
    for _ in range(500):
        rows, cols = int(rng.integers(1, 8)), int(rng.integers(1, 9))
        count = int(rng.integers(0, 30))
        r, c = rng.integers(0, rows, count), rng.integers(0, cols, count)
        grown_rows, more = rows + int(rng.integers(0, 3)), int(rng.integers(0, 10))
        r2, c2 = rng.integers(0, grown_rows, more), rng.integers(0, cols + 2, more)
        got = Adjacency.of(r, c, rows, cols).with_pairs(r2, c2, grown_rows)
        want = Adjacency.of(np.concatenate([r, r2]), np.concatenate([c, c2]), grown_rows,
                            cols + 2)
        np.testing.assert_array_equal(got.indptr, want.indptr)
        np.testing.assert_array_equal(got.indices, want.indices)


def test_health_counts_the_live_purchases_the_model_had_not_learnt(
        settings: Settings, store: GraphStore, tmp_path: Path) -> None:
    """A purchase reported shortly before a training is learnt and read again (the reads start
    :data:`CLOCK_MARGIN_MS` before the model's): the served graph holds it once, and
    ``/api/health`` counts only the purchases the model had not learnt (it counted both)."""
    home = without_model(settings, tmp_path)
    load_catalogue(store, read_catalogue(SAMPLE))
    item = store.read_text("MATCH (i:Item) RETURN i.id AS id ORDER BY id LIMIT 1")[0]["id"]
    record(store, "LIVE-BEFORE-TRAINING", item, "purchase")
    train_from_store(store, home, TrainConfig(max_epochs=1, min_epochs=1))
    app = create_app({"TESTING": True, "SETTINGS": home, "MODEL_CHECK_INTERVAL": 0})
    try:
        with app.app_context():
            service = get_engine().service()
        assert service.purchases.pairs == {("LIVE-BEFORE-TRAINING", item)}
        assert service.health()["live_purchases"] == 0

        record(store, "LIVE-AFTER-TRAINING", item, "purchase")
        service.take_purchases(time.monotonic() + ACT_SPACING)
        assert len(service.purchases.pairs) == 2
        assert service.health()["live_purchases"] == 1
    finally:
        app.extensions["graphrec"].close()
