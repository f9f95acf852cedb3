"""The graph read back from the store equals the catalogue it was loaded from."""
from __future__ import annotations

import tracemalloc

import numpy as np

from graphrec.dataset import GraphData
from graphrec.serving.events import record
from graphrec.store.connection import GraphStore
from graphrec.store.export import export_graph, read_frame
from ingest.detect import read_catalogue
from ingest.loader import load_catalogue
from tests.conftest import SAMPLE


def test_export_matches_the_csv_catalogue(store: GraphStore) -> None:
    load_catalogue(store, read_catalogue(SAMPLE))
    steps: dict[str, int] = {}
    exported, speed = export_graph(store, lambda step, n: steps.__setitem__(
        step, steps.get(step, 0) + n))
    direct = GraphData.from_csv_dir(SAMPLE)

    assert exported.fingerprint() == direct.fingerprint()
    np.testing.assert_array_equal(exported.test, direct.test)
    assert steps["purchases"] == len(direct.train) + len(direct.test)
    assert speed["rows"] == sum(steps.values()) and speed["rows_per_s"] > 0


def test_only_train_purchases_reach_the_model_graph(store: GraphStore) -> None:
    load_catalogue(store, read_catalogue(SAMPLE))
    data, _ = export_graph(store)
    train = {tuple(p) for p in data.train.tolist()}
    assert train and not train & {tuple(p) for p in data.test.tolist()}
    matrix = data.train_matrix().tocoo()
    assert set(zip(matrix.row.tolist(), matrix.col.tolist())) == train


def test_purchases_reported_live_are_learnt_from(store: GraphStore) -> None:
    """A purchase the shop reports through the events API reaches the next training, a new
    customer's too: the feedback loop closes at the next ``graphrec train``. Before, only the
    ingested train split did, so what the shop sold while a model served was never learnt.
    A test pair reported again keeps its split and stays out."""
    load_catalogue(store, read_catalogue(SAMPLE))
    direct = GraphData.from_csv_dir(SAMPLE)
    someone = direct.test[0, 0]
    user, item = direct.users[someone], direct.items[direct.test[0, 1]]
    bought = {*direct.train[direct.train[:, 0] == someone, 1].tolist(),
              *direct.test[direct.test[:, 0] == someone, 1].tolist()}
    unbought = direct.items[min(set(range(direct.num_items)) - bought)]
    record(store, "new-customer", str(item), "purchase")
    record(store, str(user), str(unbought), "purchase")
    assert not record(store, str(user), str(item), "purchase").created  # the test pair

    data, speed = export_graph(store)

    assert speed["live"] == 2
    assert len(data.train) == len(direct.train) + 2
    users, items = list(data.users), list(data.items)
    train = {tuple(p) for p in data.train.tolist()}
    assert (users.index("new-customer"), items.index(item)) in train
    assert (users.index(user), items.index(unbought)) in train
    assert (users.index(user), items.index(item)) not in train
    assert (users.index(user), items.index(item)) in {tuple(p) for p in data.test.tolist()}


def test_the_read_keeps_each_distinct_id_once(store: GraphStore) -> None:
    """A purchase's ids are references to one string per distinct id, so reading the graph
    costs tens of bytes a row, not the hundreds of a dict and strings per row (the peak of
    ``graphrec train`` on a large shop is this read)."""
    load_catalogue(store, read_catalogue(SAMPLE))
    tracemalloc.start()
    try:
        frame = read_frame(store, "purchases")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert len(frame) > 5_000
    for column in ("user_id", "item_id", "split"):
        assert frame[column].map(id).nunique() == frame[column].nunique() < len(frame) / 2
    assert peak / len(frame) < 200  # 435 bytes a row with a dict a row
