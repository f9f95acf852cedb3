"""The graph read back from the store equals the catalogue it was loaded from."""
from __future__ import annotations

import tracemalloc

import numpy as np

from graphrec.dataset import GraphData
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
