"""``benchmarks/cold_start.py`` trains its cold models as the results rows it reads were."""
from __future__ import annotations

from benchmarks.cold_start import factories, hyperparameters

ROWS = {"itemknn": {"params": {"k": 50}}, "ease": {"params": {"lam": 200}},
        "graphrec": {"epochs": 20, "params": {"embedding_dim": 256}}}


def test_a_row_trained_with_the_full_softmax_gives_the_default() -> None:
    config = factories(ROWS, 64)["graphrec"](3).config
    assert (config.seed, config.embedding_dim, config.sampled_softmax) == (3, 64, False)


def test_a_row_trained_with_the_sampled_softmax_gives_its_mixture() -> None:
    rows = {**ROWS, "graphrec": {"epochs": 20, "params": {
        "sampled_softmax": True, "sampled_negatives": 4096, "sampled_correction": 0.5}}}
    made = factories(rows, 256)
    config = made["graphrec"](0).config
    assert (config.sampled_softmax, config.sampled_negatives, config.sampled_correction) == (
        True, 4096, 0.5)
    assert made["graphrec"](0).epochs == 20
    assert made["ease"](0).lam == 200 and made["itemknn"](0).k == 50


def test_the_history_exponent_is_the_rows_where_it_records_one() -> None:
    recorded = {**ROWS, "graphrec": {"epochs": 20, "params": {"history_exponent": 0.5}}}
    assert factories(recorded, 64)["graphrec"](0).config.history_exponent == 0.5
    assert factories(ROWS, 64)["graphrec"](0).config.history_exponent == 0.75  # the default


def test_a_file_of_graphrecs_rows_only_gives_graphrec() -> None:
    """A catalogue's file may hold graphrec's rows alone (Clothing read as category sets):
    the cold run of graphrec takes them, where it stopped on the baselines' missing rows."""
    only = {"graphrec": {"epochs": 42, "params": {"history_exponent": 0.75}}}
    made = factories(only, 256)
    assert list(made) == ["graphrec"] and made["graphrec"](0).epochs == 42
    assert hyperparameters(only, "shop.json", 256, {"history_exponent": 0.75}) == (
        "from shop.json: graphrec 42 epochs; graphrec 256 dimensions, history exponent 0.75")
    assert hyperparameters(ROWS, "shop.json", 64, {"history_exponent": 0.5}).startswith(
        "from shop.json: item-kNN k=50, EASE lam=200, graphrec 20 epochs; graphrec 64")
