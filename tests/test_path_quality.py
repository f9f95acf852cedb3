"""LIR, SEP and ETD of served reason paths, on cases small enough to check by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graphrec.dataset import GraphData
from graphrec.evaluation.coldstart import history_order
from graphrec.evaluation.path_quality import (
    PathQuality,
    degrees,
    normalised_ema,
    path_kinds,
    popularity,
    purchase_order,
    recency,
)
from graphrec.explain.paths import PathFinder, ReasonPath
from tests.test_model import paired_catalogue


def reference_ema(values: list[float]) -> np.ndarray:
    """hopwise's definition, through pandas itself."""
    average = pd.Series(values, dtype=float).ewm(span=len(values)).mean()
    return ((average - average.min()) / (average.max() - average.min())).to_numpy()


def test_normalised_ema_by_hand() -> None:
    # α = 2 / 4: averages 1, (0.5·1 + 2) / 1.5, (0.25·1 + 0.5·2 + 3) / 1.75 = 1, 5/3, 17/7
    expected = np.array([0.0, (5 / 3 - 1) / (17 / 7 - 1), 1.0])
    assert normalised_ema(np.array([1, 2, 3])) == pytest.approx(expected)
    assert expected[1] == pytest.approx(0.4667, abs=1e-4)


@pytest.mark.parametrize("values", [[1, 5, 6, 20], [3, 3, 4], [10, 11, 12, 13, 14, 200]])
def test_normalised_ema_is_pandas_ewm(values: list[float]) -> None:
    assert normalised_ema(np.array(values)) == pytest.approx(reference_ema(values))


def test_equal_values_are_ranked_by_position_and_one_value_is_undefined() -> None:
    assert normalised_ema(np.array([4, 4, 4])) == pytest.approx(reference_ema([0, 1, 2]))
    assert np.isnan(normalised_ema(np.array([7]))).all()


def purchases(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "item_id", "split", "seq"])


def test_lir_follows_the_order_of_purchase_not_of_the_item_ids() -> None:
    data = paired_catalogue()
    user, items = data.users[0], data.items
    order = purchase_order(data, purchases([
        (user, items[0], "train", "5"), (user, items[1], "train", "1"),
        (user, items[2], "train", "3"), (user, items[3], "test", "2")]))
    assert order is not None
    lir = recency(order, 0)
    # sorted by seq: item 1 (1), item 2 (3), item 0 (5); the test purchase takes no part
    assert lir == pytest.approx({1: 0.0, 2: (7 / 3 - 1) / (27 / 7 - 1), 0: 1.0})


def test_a_pair_bought_twice_is_timed_at_its_first_purchase_as_in_the_cold_start_order() -> None:
    data = paired_catalogue()
    user, items = data.users[0], data.items
    bought = purchases([(user, items[0], "train", "5"), (user, items[1], "train", "1"),
                        (user, items[0], "train", "2")])
    order = purchase_order(data, bought)
    assert order is not None and order[0, 0] == 2 and order[0, 1] == 1 and order.nnz == 2
    assert history_order(data, bought).tolist() == [[0, 1], [0, 0]]


def test_purchase_order_without_times() -> None:
    data = paired_catalogue()
    assert purchase_order(data, purchases([])[["user_id", "item_id", "split"]]) is None
    assert purchase_order(data, purchases([(data.users[0], data.items[0], "train", "")])) is None


def test_sep_of_equal_degrees_is_shared() -> None:
    # sorted degrees 1, 1, 2, 3 with α = 2 / 5; the two of degree 1 share their mean (both 0)
    values = popularity(np.array([3, 1, 1, 2]))
    expected = reference_ema([1, 1, 2, 3])
    assert values == pytest.approx([1.0, 0.0, 0.0, expected[2]])
    assert values[3] == pytest.approx((2.96 / 1.96 - 1) / (4.776 / 2.176 - 1))


def test_degrees_of_the_paired_catalogue() -> None:
    data = paired_catalogue()
    counted = degrees(data)
    assert counted["brand"].tolist() == [2] * 12  # two items a brand
    # the root has three subcategories; each leaf four pairs' items and its parent
    assert counted["category"].tolist() == [3, 9, 9, 9]
    buyers = np.bincount(data.train[:, 1], minlength=data.num_items)
    # an item: its buyers, one also_bought link, a brand and a category
    assert counted["item"].tolist() == (buyers + 3).tolist()


def test_etd_counts_kinds_over_what_the_list_and_catalogue_allow() -> None:
    data = paired_catalogue()
    assert path_kinds(data) == ["brand", "category", "also_bought", "collaborative",
                                "link_chain"]
    quality = PathQuality(data, None)

    def kinds(*names: str) -> list[ReasonPath]:
        return [ReasonPath(name, (("user", 0), ("item", 0), ("item", 1)), ()) for name in names]

    assert quality.etd(kinds("brand", "brand", "category")) == pytest.approx(2 / 3)
    assert quality.etd(kinds(*["brand"] * 8, "category", "collaborative")) == pytest.approx(3 / 5)
    assert quality.etd([]) == 0.0


def test_report_on_paths_of_the_finder() -> None:
    data: GraphData = paired_catalogue()
    finder = PathFinder(data)
    probe = data.num_users - 1  # bought one item in train; its partner is the test item
    history = finder.history(probe)
    item = int(history[0]) ^ 1
    paths = finder.candidates(history, item, probe)
    brand = next(p for p in paths if p.kind == "brand")
    category = next(p for p in paths if p.kind == "category")
    user, via = data.users[probe], data.items[int(history[0])]
    order = purchase_order(data, purchases([(user, via, "train", "1")]))
    report = PathQuality(data, order).report([(probe, [brand, category])])
    categories = popularity(np.array([3, 9, 9, 9]))
    # every brand has two items: all share one SEP, the mean of the twelve positions' values
    assert report["sep"] == pytest.approx((np.mean(reference_ema(list(range(12))))
                                           + categories[1]) / 2)
    assert report["etd"] == 1.0  # two kinds in a list of two
    assert report["lir"] == 0.0  # a single purchase: its recency is undefined, counted as 0
    assert report["path_quality_paths"] == 2 and report["path_quality_lists"] == 1
    assert report["kinds"] == {
        "brand": {"share": 0.5, "sep": pytest.approx(np.mean(reference_ema(list(range(12)))))},
        "category": {"share": 0.5, "sep": pytest.approx(categories[1])}}


def test_kinds_are_shares_of_the_paths_most_frequent_first() -> None:
    data = paired_catalogue()
    quality = PathQuality(data, None)
    paths = [ReasonPath(kind, (("user", 0), ("item", 0), node, ("item", 1)), ())
             for kind, node in [("category", ("category", 0)), ("brand", ("brand", 0)),
                                ("category", ("category", 1)), ("category", ("category", 1))]]
    report = quality.report([(0, paths[:2]), (1, paths[2:])])
    assert list(report["kinds"]) == ["category", "brand"]
    category = quality.sep["category"]
    assert report["kinds"]["category"] == {
        "share": 0.75, "sep": pytest.approx((category[0] + 2 * category[1]) / 3)}
    assert report["kinds"]["brand"] == {"share": 0.25,
                                        "sep": pytest.approx(quality.sep["brand"][0])}
    assert report["sep"] == pytest.approx(
        (category[0] + 2 * category[1] + quality.sep["brand"][0]) / 4)
    assert quality.report([])["kinds"] == {} and quality.report([])["sep"] is None
