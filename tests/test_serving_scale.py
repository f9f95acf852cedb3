"""A request's cost does not grow with the catalogue: the work of one page and one explanation,
counted in Python lines executed, is the same for a catalogue of 2,000 items as for one of
100,000 that holds the same 2,000 and many more no one bought or linked.

Everything catalogue-wide is one array operation (the user's scores, the top of them); a Python
loop over the items (a rule asked item by item, a score per item) would add a line per item and
fail these tests. The scores are computed in the model's float32: a float64 user vector against
the float32 table had made that one product run outside BLAS, tens of times slower.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from graphrec.dataset import GraphData
from graphrec.explain.paths import PathFinder
from graphrec.explain.ranker import PathRanker
from graphrec.model.artifact import Artifact
from graphrec.model.kernel import Propagated, normalised_graph
from graphrec.serving.recommend import Recommender

SMALL, BIG = 2_000, 100_000
BRANDS, CATEGORIES, USERS, DIM = 40, 15, 600, 16
RELATIONS = ("has_brand", "in_category", "also_bought", "also_viewed", "bought_together")


def catalogue(num_items: int, seed: int = 0) -> tuple[Propagated, GraphData]:
    """A model and its graph: the first ``SMALL`` items with brands, categories, links and
    buyers (the same whatever ``num_items``), the others with nothing, so that they score 0
    where every item of the first part scores above it."""
    rng = np.random.default_rng(seed)
    items = np.arange(SMALL)
    item_brand = np.stack([items, rng.integers(0, BRANDS, SMALL)], 1)
    item_category = np.stack([items, rng.integers(0, CATEGORIES, SMALL)], 1)
    links = {rel: np.unique(rng.integers(0, SMALL, (3 * SMALL, 2)), axis=0)
             for rel in ("also_bought", "also_viewed", "bought_together")}
    train = np.unique(np.stack([rng.integers(0, USERS, 8 * USERS),
                                rng.integers(0, SMALL, 8 * USERS)], 1), axis=0)
    offset = {"item": 0, "brand": num_items, "category": num_items + BRANDS}
    nodes = num_items + BRANDS + CATEGORIES
    edges = {"has_brand": item_brand.T, "in_category": item_category.T,
             **{rel: pairs.T for rel, pairs in links.items()}}
    row, col, value, relation = normalised_graph(nodes, offset, RELATIONS, edges)
    adjacency = sp.csr_matrix((value, (row, col)), shape=(nodes, nodes))
    first = np.zeros((nodes, DIM), dtype=np.float32)
    first[:SMALL] = rng.uniform(0.1, 1.0, (SMALL, DIM))
    first[num_items:] = rng.uniform(0.1, 1.0, (BRANDS + CATEGORIES, DIM))
    layers = [first]
    for _ in range(2):
        layers.append((adjacency @ layers[-1]).astype(np.float32))
    stacked = np.stack(layers)
    state = Propagated(layers=stacked, target=stacked[:, :num_items].mean(0),
                       edge_row=row, edge_col=col, edge_type=relation, edge_value=value,
                       relations=RELATIONS, num_items=num_items, offset=offset, exponent=0.5)
    data = GraphData(users=_ids("u", USERS), items=_ids("i", num_items),
                     brands=_ids("b", BRANDS), categories=_ids("c", CATEGORIES), train=train,
                     test=np.zeros((0, 2), dtype=np.int64), item_brand=item_brand,
                     item_category=item_category,
                     category_parent=np.zeros((0, 2), dtype=np.int64), links=links)
    return state, data


def _ids(prefix: str, count: int) -> np.ndarray:
    return np.array([f"{prefix}{n}" for n in range(count)], dtype=object)


class Served:
    """What a request computes with, on one catalogue."""

    def __init__(self, num_items: int):
        state, data = catalogue(num_items)
        loaded = Artifact(state=state, data=data, config={},
                          ids={"users": list(data.users), "items": list(data.items)},
                          metrics={}, manifest={}, path=Path("synthetic"))
        self.recommender = Recommender(loaded)
        self.paths = PathFinder(data)
        self.ranker = PathRanker(state, self.paths)

    def page(self, history: np.ndarray) -> list[Any]:
        """A first visit's page: the top 10 with a reason path, their reasons weighed
        together, and each item's served rank as an explanation computes it."""
        top = self.recommender.recommend(
            history, 10, accept=lambda items: self.paths.has_candidates(history, items))
        indices = [self.recommender.item_index(r.item_id) for r in top]
        reasons = self.ranker.ranked_items(history, indices)
        scores = self.recommender.scores(history)
        scores[history] = -np.inf
        ranks = [int(self.paths.has_candidates(
            history, np.flatnonzero(scores > scores[index])).sum()) + 1 for index in indices]
        return [top, reasons, ranks]


def lines_run(call: Callable[[], Any]) -> tuple[int, Any]:
    """How many Python lines ``call()`` executes (in every function it calls), and its answer."""
    count = 0

    def trace(frame: FrameType, event: str, arg: Any) -> Callable | None:
        nonlocal count
        if event == "line":
            count += 1
        return trace

    sys.settrace(trace)
    try:
        answer = call()
    finally:
        sys.settrace(None)
    return count, answer


@pytest.fixture(scope="module")
def small() -> Served:
    return Served(SMALL)


@pytest.fixture(scope="module")
def big() -> Served:
    return Served(BIG)


@pytest.mark.parametrize("user", [3, 77, 301])
def test_a_page_costs_the_same_lines_on_a_fifty_times_larger_catalogue(
        small: Served, big: Served, user: int) -> None:
    history = small.paths.history(user)
    assert np.array_equal(history, big.paths.history(user)) and len(history)
    small.page(history), big.page(history)  # first calls (imports, caches) not counted
    small_lines, small_answer = lines_run(lambda: small.page(history))
    big_lines, big_answer = lines_run(lambda: big.page(history))
    top, reasons, ranks = big_answer
    assert [r.item_id for r in top] == [r.item_id for r in small_answer[0]]
    assert len(top) == 10 and ranks == list(range(1, 11))
    assert [[w for w, _ in item] for item in reasons] == \
        [[w for w, _ in item] for item in small_answer[1]]
    assert all(reasons), "every item served has its reasons"
    # 98,000 more items: a loop over them would run at least that many more lines
    assert abs(big_lines - small_lines) <= 0.01 * small_lines, (small_lines, big_lines)


def test_scores_are_computed_in_the_models_precision(big: Served) -> None:
    history = big.paths.history(3)
    scores = big.recommender.scores(history)
    assert scores.dtype == big.recommender.state.target.dtype == np.float32
    assert scores.shape == (BIG,) and (scores[SMALL:] == 0).all() and (scores[:SMALL] > 0).all()
    exact = big.recommender.state.target.astype(np.float64) @ (
        big.recommender.state.target[history].astype(np.float64).sum(0) / np.sqrt(len(history)))
    np.testing.assert_allclose(scores, exact, rtol=1e-5)


def test_the_catalogue_is_scanned_from_its_table_stored_column_by_column(big: Served) -> None:
    """The scan reads the trained rows laid out coordinate by coordinate (a matrix-vector
    product that streams the table), and scores what the rows score."""
    recommender = big.recommender
    assert recommender.scan is not None and recommender.scan.flags.f_contiguous
    assert np.array_equal(recommender.scan, recommender.state.target)
    z = recommender.state.user_vector(big.paths.history(3))
    np.testing.assert_allclose(recommender.trained_scores(z), recommender.state.target @ z,
                               rtol=1e-5, atol=1e-6)


def test_a_pages_reasons_are_weighed_in_one_batched_computation(
        small: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every path of every item of a page is masked in one call, and weighs what it weighs when
    its item is weighed alone."""
    history = small.paths.history(77)
    masking = small.ranker.masking
    batched, calls = masking._masked_scores, []

    def counted(*args: Any) -> np.ndarray:
        calls.append(len(args[2]))
        return batched(*args)

    monkeypatch.setattr(masking, "_masked_scores", counted)
    top, reasons, _ = small.page(history)
    assert calls == [sum(len(paths) for paths in reasons)] and len(reasons) == 10
    for scored, together in zip(top, reasons):
        alone = small.ranker.ranked(history, small.recommender.item_index(scored.item_id))
        assert [path for _, path in alone] == [path for _, path in together]
        assert [weight for weight, _ in alone] == pytest.approx(
            [weight for weight, _ in together], rel=1e-12, abs=1e-12)


def test_a_page_makes_path_objects_only_for_the_reasons_it_returns(
        small: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    """A page's candidates are found and weighed as columns: only the paths it returns become
    objects (a long history has hundreds of candidates an item, the page shows one)."""
    from graphrec.explain.paths import CandidatePaths

    history = small.paths.history(int(np.argmax(small.paths.activity)))
    top, every, _ = small.page(history)
    indices = [small.recommender.item_index(r.item_id) for r in top]
    made: list[int] = []
    real = CandidatePaths.paths

    def counted(table: CandidatePaths, rows: Any) -> Any:
        made.append(len(rows))
        return real(table, rows)

    monkeypatch.setattr(CandidatePaths, "paths", counted)
    strongest = small.ranker.ranked_items(history, indices, limit=2)
    assert strongest == [paths[:2] for paths in every]
    assert sum(len(paths) for paths in every) > 3 * len(indices)
    assert sum(made) == sum(len(paths) for paths in strongest) <= 2 * len(indices)
