"""The top k from the index (:mod:`graphrec.serving.topk`): its recall against the exact scan on
a seeded table, the excluded items and the ``accept`` rule never shortening the list, items
folded in after the index was built found, and an index built before a fork searched after it.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from graphrec.dataset import GraphData
from graphrec.model.artifact import Artifact
from graphrec.model.kernel import Propagated, scores
from graphrec.serving.ranking import STRONG_LINKS, new_item_places, top, top_accepted
from graphrec.serving.recommend import Recommender
from graphrec.serving.topk import ItemIndex, default_lists, index_for, top_indexed
from tests.waiting import wait_for

ITEMS, DIM, CLUSTERS, USERS, K = 20_000, 32, 80, 200, 10


def table(items: int = ITEMS, seed: int = 0) -> np.ndarray:
    """Item rows in clusters (as trained embeddings are: items of a kind lie together) with
    log-normal norms (a few items far longer than most: inner product, not cosine, ranks)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((CLUSTERS, DIM))
    rows = centres[rng.integers(0, CLUSTERS, items)] + 0.5 * rng.standard_normal((items, DIM))
    rows *= (rng.lognormal(0.0, 0.3, items) / np.linalg.norm(rows, axis=1))[:, None]
    return rows.astype(np.float32)


def users(rows: np.ndarray, count: int = USERS, seed: int = 1) -> list[tuple[np.ndarray,
                                                                         np.ndarray]]:
    """``(z, history)`` of users who bought 2 to 20 items: ``z`` as the kernel makes it."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        history = np.unique(rng.integers(0, len(rows), rng.integers(2, 21)))
        out.append(((rows[history].sum(0) / np.sqrt(len(history))).astype(np.float32), history))
    return out


def exact(rows: np.ndarray, z: np.ndarray, excluded: np.ndarray, k: int = K) -> np.ndarray:
    s = scores(z, rows)
    s[excluded] = -np.inf
    return top_accepted(s, k)


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    return table()


@pytest.fixture(scope="module")
def index(rows: np.ndarray) -> ItemIndex:
    return ItemIndex(rows)


def test_the_index_finds_99_percent_of_the_exact_top_10(rows: np.ndarray,
                                                         index: ItemIndex) -> None:
    assert index.lists == default_lists(ITEMS) == 283
    assert index.probes == ItemIndex.PROBES
    found = [len(np.intersect1d(top_indexed(index, rows, z, K, history)[0],
                                exact(rows, z, history))) / K for z, history in users(rows)]
    recall = float(np.mean(found))
    assert recall >= 0.99, recall
    index.probes = 1  # one cluster of 283: the test can tell a worse index
    try:
        poor = np.mean([len(np.intersect1d(top_indexed(index, rows, z, K, history)[0],
                                           exact(rows, z, history))) / K
                        for z, history in users(rows)])
    finally:
        index.probes = ItemIndex.PROBES
    assert poor < recall


def test_reading_every_cluster_gives_the_exact_top_and_exact_scores(rows: np.ndarray) -> None:
    full = ItemIndex(rows, lists=50, probes=50, quantized=False)
    for z, history in users(rows, 30):
        best, best_scores = top_indexed(full, rows, z, K, history)
        assert np.array_equal(best, exact(rows, z, history))
        np.testing.assert_allclose(best_scores, rows[best] @ z, rtol=1e-6)
        assert np.all(np.diff(best_scores) <= 0)


def test_excluded_items_never_shorten_the_list(rows: np.ndarray, index: ItemIndex) -> None:
    z, history = users(rows, 1)[0]
    # The 500 best items excluded: far more than the 2k + excluded first asked for would hold
    # once the index's approximate order differs.
    excluded = np.union1d(history, top(scores(z, rows), 500))
    best, _ = top_indexed(index, rows, z, K, excluded)
    assert len(best) == K
    assert not np.isin(best, excluded).any()
    # Read in full and unrounded, the index gives the scan's answer: the ten after the excluded.
    full = ItemIndex(rows, lists=50, probes=50, quantized=False)
    assert np.array_equal(top_indexed(full, rows, z, K, excluded)[0], exact(rows, z, excluded))
    # All but five excluded: the five, whatever the index proposes.
    left = np.array([3, 17, 4_000, 12_345, 19_999])
    best, _ = top_indexed(index, rows, z, K, np.setdiff1d(np.arange(ITEMS), left))
    assert sorted(best) == sorted(left)


def test_a_rule_that_rejects_most_items_still_gets_k(rows: np.ndarray, index: ItemIndex) -> None:
    def accept(items: np.ndarray) -> np.ndarray:
        return items % 20 == 0

    full = ItemIndex(rows, lists=50, probes=50, quantized=False)
    for z, history in users(rows, 20):
        best, _ = top_indexed(index, rows, z, K, history, accept)
        assert len(best) == K and np.all(best % 20 == 0)
        s = scores(z, rows)
        s[history] = -np.inf
        truth = top_accepted(s, K, accept)
        assert np.array_equal(top_indexed(full, rows, z, K, history, accept)[0], truth)


def test_rows_added_after_the_index_are_found(rows: np.ndarray, index: ItemIndex) -> None:
    """Items folded in after the index was built: the rows past ``index.size`` are scored on
    every search, so the best of them, ahead of every indexed item, comes first."""
    z, history = users(rows, 1)[0]
    s = scores(z, rows)
    folded = np.stack([2.0 * rows[top(s, 1)[0]], -rows[0]]).astype(np.float32)
    grown = np.concatenate([rows, folded])
    best, best_scores = top_indexed(index, grown, z, K, history)
    assert best[0] == ITEMS and ITEMS + 1 not in best
    assert best_scores[0] == pytest.approx(float(folded[0] @ z), rel=1e-6)
    # Excluded (bought, dismissed), it is not served and the list stays k long.
    best, _ = top_indexed(index, grown, z, K, np.append(history, ITEMS))
    assert len(best) == K and ITEMS not in best


def test_an_index_is_built_only_from_the_threshold_on(rows: np.ndarray) -> None:
    assert index_for(rows[:999], 1_000) is None
    assert index_for(rows, 0) is None  # 0: never
    built = index_for(rows[:1_000], 1_000)
    assert built is not None and built.size == 1_000


def test_without_faiss_a_large_catalogue_is_scanned_with_a_warning(
        rows: np.ndarray, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)  # what an install without [scale] has
    with caplog.at_level(logging.WARNING, logger="graphrec.serving.topk"):
        assert index_for(rows, 1_000) is None
    assert "20000 items, every one scanned" in caplog.text
    assert "pip install 'graphrec[scale]'" in caplog.text


def artifact_of(rows: np.ndarray, folded: int = 0,
                links: dict[str, np.ndarray] | None = None) -> Artifact:
    """A served model whose item table is ``rows`` (what :class:`Recommender` reads of it), the
    last ``folded`` of them folded in since training, linked by ``links``."""
    items = len(rows)
    state = Propagated(layers=rows[None], target=rows, edge_row=np.zeros(0, np.int64),
                       edge_col=np.zeros(0, np.int64), edge_type=np.zeros(0, np.int64),
                       edge_value=np.zeros(0, np.float32), relations=(), num_items=items,
                       offset={"item": 0, "brand": items, "category": items}, exponent=0.5,
                       folded=folded)
    empty = np.zeros((0, 2), dtype=np.int64)
    data = GraphData(users=np.array(["u"], dtype=object),
                     items=np.array([f"i{n}" for n in range(items)], dtype=object),
                     brands=np.array([], dtype=object), categories=np.array([], dtype=object),
                     train=empty, test=empty, item_brand=empty, item_category=empty,
                     category_parent=empty, links=links or {})
    return Artifact(state=state, data=data, config={}, ids={"users": ["u"],
                    "items": list(data.items)}, metrics={}, manifest={}, path=Path("table"))


def test_the_recommender_serves_the_indexed_top_with_exact_scores(rows: np.ndarray) -> None:
    loaded = artifact_of(rows)
    scanned = Recommender(loaded)
    indexed = Recommender(loaded, ItemIndex(rows, 40, 40, quantized=False))
    for _, history in users(rows, 10):
        dismissed = np.array([int(history[0]) + 1])
        a = scanned.recommend(history, K, exclude=dismissed)
        b = indexed.recommend(history, K, exclude=dismissed)
        assert [r.item_id for r in a] == [r.item_id for r in b]
        np.testing.assert_allclose([r.score for r in a], [r.score for r in b], rtol=1e-6)


def test_an_explanations_place_is_the_one_in_the_list_served(
        rows: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    """``served_place`` gives an item its place and score in the list ``recommend`` serves:
    read from the index's page when the item is on it (no scan of every item: a request then
    costs the same on any catalogue), from every item's score further down or when the
    catalogue is scanned whole."""
    loaded = artifact_of(rows)
    scanned = Recommender(loaded)
    indexed = Recommender(loaded, ItemIndex(rows, 40, 40, quantized=False))

    def accept(items: np.ndarray) -> np.ndarray:
        return np.asarray(items) % 3 != 0  # a rule that passes items over

    for _, history in users(rows, 5):
        dismissed = np.array([int(history[0]) + 1])
        served = indexed.recommend(history, 60, accept, dismissed)
        assert [r.item_id for r in served] == \
            [r.item_id for r in scanned.recommend(history, 60, accept, dismissed)]
        for recommender in (scanned, indexed):
            for scored in served[::7]:
                item = recommender.item_index(scored.item_id)
                score, place = recommender.served_place(history, item, accept, dismissed)
                assert place == scored.rank
                assert score == pytest.approx(scored.score, rel=1e-6)
    scans: list[int] = []
    real = indexed.trained_scores
    monkeypatch.setattr(indexed, "trained_scores", lambda z: scans.append(1) or real(z))
    first = indexed.recommend(history, 10, accept, dismissed)[0]
    item = indexed.item_index(first.item_id)
    assert indexed.served_place(history, item, accept, dismissed) == (first.score, 1)
    assert not scans
    far = served[-1]
    assert indexed.served_place(history, indexed.item_index(far.item_id), accept, dismissed,
                                window=10)[1] == far.rank
    assert scans


def test_folded_items_take_places_of_their_own_by_their_links_and_explain_at_them(
        rows: np.ndarray) -> None:
    """Items folded in since training take places of their own (10, 20, …, and 3, 13, … for
    those strongly linked): first those the user's purchases link to most (``LINK_WEIGHTS``
    summed), then by score; the trained items every other place in score order, from the
    index (built on the trained items) as from the scan; and ``served_place`` gives each item
    that place without building the list."""
    trained, new = 3000, 60
    grown = rows[:trained + new]
    rng = np.random.default_rng(7)
    bought_with = np.stack([rng.integers(0, trained, 4000),
                            rng.integers(trained, trained + new, 4000)], axis=1)
    viewed_with = bought_with[::-1, ::-1][:2000]  # the other way round: counts all the same
    loaded = artifact_of(grown, new, {"also_bought": bought_with, "also_viewed": viewed_with})
    scanned = Recommender(loaded)
    indexed = Recommender(loaded, ItemIndex(grown[:trained], 40, 40, quantized=False))

    def accept(items: np.ndarray) -> np.ndarray:
        return np.asarray(items) % 3 != 0

    linked_first: list[bool] = []
    strongly: list[int] = []
    for _, history in users(grown[:trained], 5):
        dismissed = np.array([int(history[0]) + 1, trained + 1])
        served = scanned.recommend(history, 60, accept, dismissed)
        assert [r.item_id for r in served] == \
            [r.item_id for r in indexed.recommend(history, 60, accept, dismissed)]
        index = [scanned.item_index(r.item_id) for r in served]
        links = np.asarray(scanned.new_links[history].sum(axis=0)).ravel()
        new_keys = [(-links[i - trained], -r.score) for r, i in zip(served, index)
                    if i >= trained]
        strong = sum(-key >= STRONG_LINKS for key, _ in new_keys)
        assert [r.rank for r, i in zip(served, index) if i >= trained] == \
            new_item_places(len(new_keys), strong).tolist()
        strongly.append(strong)
        assert trained + 1 not in index and all(accept(np.array(index)))
        assert new_keys == sorted(new_keys)
        linked_first.append(bool(new_keys[0][0] < 0))
        warm = [r.score for r, i in zip(served, index) if i < trained]
        assert warm == sorted(warm, reverse=True)
        for recommender in (scanned, indexed):
            for scored, item in list(zip(served, index))[4::5]:
                score, place = recommender.served_place(history, item, accept, dismissed)
                assert place == scored.rank
                assert score == pytest.approx(scored.score, rel=1e-6)
    assert linked_first.count(True) == 4  # one user's purchases link to no new item
    assert max(strongly) >= 1  # some new item took the third place


def test_an_index_built_before_a_fork_answers_in_the_child(rows: np.ndarray) -> None:
    """gunicorn's master builds the index and forks the workers: a search in a worker must not
    wait on the master's thread pool (GNU OpenMP's does not survive a fork)."""
    built = ItemIndex(rows)
    built.nearest(rows[0], 10)  # the parent searched too
    z, history = users(rows, 1)[0]
    expected = top_indexed(built, rows, z, K, history)[0]
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only with the parent's answer
        try:
            os._exit(0 if np.array_equal(top_indexed(built, rows, z, K, history)[0], expected)
                     else 1)
        finally:
            os._exit(2)
    status: list[int] = []

    def child_done() -> bool:
        done, code = os.waitpid(pid, os.WNOHANG)
        if done:
            status.append(code)
        return bool(done)

    try:
        wait_for(child_done, "a search in a forked child", timeout=60)
    except BaseException:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise
    assert os.waitstatus_to_exitcode(status[0]) == 0
