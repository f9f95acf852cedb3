"""Which reason is shown first: the strongest, or of those about as strong the one from the
latest purchase; and the order of a user's purchases as the store gives it."""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
from flask import Flask

from graphrec.dataset import GraphData
from graphrec.explain.paths import BROAD_SHARE, CandidatePaths, PathFinder
from graphrec.explain.ranker import RECENT_WITHIN, PathRanker, WeightedPath
from graphrec.model.kgrec import KGRec
from graphrec.model.train import train
from graphrec.store.connection import GraphStore
from tests.apps import sample_users
from tests.test_model import FAST, paired_catalogue
from web.engine import get_engine


@pytest.fixture(scope="module")
def model() -> tuple[GraphData, KGRec]:
    data = paired_catalogue()
    return data, train(data, dataclasses.replace(FAST, max_epochs=4))[0]


def broad_entities(data: GraphData) -> set[tuple[str, int]]:
    """The brands and categories that at least a fifth of the items have, but not all."""
    out = set()
    for kind, pairs in (("brand", data.item_brand), ("category", data.item_category)):
        values, counts = np.unique(np.asarray(pairs).reshape(-1, 2)[:, 1], return_counts=True)
        out |= {(kind, int(v)) for v, c in zip(values, counts)
                if BROAD_SHARE * data.num_items <= c < data.num_items}
    return out


def expected_order(plain: list[WeightedPath], timeline: np.ndarray | None, within: float,
                   broad: set[tuple[str, int]]) -> list[WeightedPath]:
    """``plain`` (strongest first) as shown: a chain of two links whose purchase's direct link
    to the item weighs at most ``within`` less goes just after that link; a path through a
    ``broad`` brand or category whose purchase's strongest other path weighs at most ``within``
    less goes just after that path; then, of the paths within ``within`` of the first, the
    latest purchase's moves to the front (the first of them)."""
    strength = [weight for weight, _ in plain]
    for n, (weight, path) in enumerate(plain):
        if path.kind == "link_chain":
            links = [w for w, p in plain if p.kind in LINKS and p.via_item == path.via_item]
            if links and weight - within * abs(weight) <= max(links) < weight:
                strength[n] = np.nextafter(max(links), -np.inf)
    wide = [path.nodes[2] in broad for _, path in plain]
    for n, (_, path) in enumerate(plain):
        others = [strength[m] for m, (_, p) in enumerate(plain)
                  if not wide[m] and p.via_item == path.via_item]
        own = strength[n]
        if wide[n] and others and own - within * abs(own) <= max(others) < own:
            strength[n] = np.nextafter(max(others), -np.inf)
    order = sorted(range(len(plain)), key=lambda n: (-strength[n], n))
    if timeline is not None:
        top = strength[order[0]]
        near = [n for n in order if strength[n] >= top - within * abs(top)]
        place = {int(item): n for n, item in enumerate(timeline)}
        first = max(near, key=lambda n: (place[plain[n][1].via_item], -near.index(n)))
        order = [first, *(n for n in order if n != first)]
    return [plain[n] for n in order]


#: The kinds of a path of one link.
LINKS = {"also_bought", "also_viewed", "bought_together"}


def pairs_with_several_purchases(data: GraphData, ranker: PathRanker) -> list[tuple[int, int]]:
    """(user, item) pairs whose candidate paths start from two or more purchases."""
    found = []
    for user in range(40):
        history = ranker.paths.history(user)
        for item in range(data.num_items):
            if item not in history and len({p.via_item for p in ranker.paths.candidates(
                    history, item, user)}) >= 2:
                found.append((user, item))
    return found


def test_the_latest_purchase_goes_first_among_reasons_nearly_as_strong(
        model: tuple[GraphData, KGRec]) -> None:
    data, kgrec = model
    ranker = PathRanker(kgrec.propagated(), PathFinder(data))
    strict = PathRanker(kgrec.propagated(), PathFinder(data), recent_within=0.0)
    rng = np.random.default_rng(0)
    broad = broad_entities(data)
    assert broad  # the catalogue's categories: 8 of its 24 items each
    moved = kept_far = gave_way = 0
    for user, item in pairs_with_several_purchases(data, ranker):
        history = ranker.paths.history(user)
        plain = strict.ranked(history, item, user)
        timeline = rng.permutation(history)
        ordered = ranker.ranked(history, item, user, timeline)
        assert ordered == expected_order(plain, timeline, RECENT_WITHIN, broad)
        moved += ordered[0] != plain[0]
        unmoved = ranker.ranked(history, item, user)  # no order of purchases: strength alone
        gave_way += [p for _, p in unmoved] != [p for _, p in plain] and \
            plain[0][1].nodes[2] in broad and unmoved[0][1].nodes[2] not in broad
        # a later purchase whose path carries much less is never shown first
        latest_far = [p for w, p in plain if w < plain[0][0] - RECENT_WITHIN * abs(plain[0][0])
                      and p.via_item == timeline[-1]]
        kept_far += bool(latest_far) and ordered[0][1].via_item != timeline[-1]
    assert moved and kept_far and gave_way  # each case occurs: each rule can fail this test


@pytest.mark.parametrize("kinds, via, weights, bought_at, shown", [
    # a chain of two links first, the link it starts with 5 % behind: the chain goes just
    # after the link, and the brand, stronger than the link, first
    (["link_chain", "brand", "also_bought", "also_bought"], [7, 7, 7, 9],
     [1.0, 0.97, 0.95, 0.5], None, [1, 2, 0, 3]),
    # the link 15 % behind, past the margin: the chain keeps its place
    (["link_chain", "brand", "also_bought"], [7, 7, 7], [1.0, 0.97, 0.85], None, [0, 1, 2]),
    # a link from another purchase is not the chain's own
    (["link_chain", "also_bought"], [7, 9], [1.0, 0.95], None, [0, 1]),
    # the latest purchase's reasons first (9 was bought after 7), and of those the link
    (["brand", "link_chain", "also_bought"], [7, 9, 9], [1.0, 0.96, 0.92], [0, 1, 1],
     [2, 0, 1]),
    # the latest purchase's strongest reason is not a chain: it goes first
    (["link_chain", "brand", "also_bought"], [7, 9, 7], [1.0, 0.96, 0.95], [0, 1, 0],
     [1, 2, 0]),
])
def test_a_direct_link_goes_ahead_of_a_chain_from_the_same_purchase(
        model: tuple[GraphData, KGRec], kinds: list[str], via: list[int], weights: list[float],
        bought_at: list[int] | None, shown: list[int]) -> None:
    """A chain of two links and the link it starts with lean on the same purchase alike;
    within the margin the direct one, the shorter reading of that purchase, goes ahead."""
    data, kgrec = model
    ranker = PathRanker(kgrec.propagated(), PathFinder(data))
    codes = np.array([ranker.paths.kinds.index(kind) for kind in kinds])
    n = len(kinds)
    table = CandidatePaths(ranker.paths, 0, np.array([0]), np.zeros(n, dtype=np.int64), codes,
                           np.array(via), np.full(n, -1), np.full(n, -1), np.full(n, -1))
    strength = ranker._strength(table, np.array(weights))
    order = ranker._ordered(np.arange(n), strength, None if bought_at is None
                            else np.array(bought_at))
    assert order.tolist() == shown


@pytest.mark.parametrize("kinds, middle, via, weights, shown", [
    # the broad category a hair ahead of a link of the same purchase: the link goes first
    (["category", "also_bought", "brand"], [1, -1, 0], [7, 7, 9], [1.0, 0.97, 0.5], [1, 0, 2]),
    # the link 15 % behind, past the margin: the category keeps its place
    (["category", "also_bought"], [1, -1], [7, 7], [1.0, 0.85], [0, 1]),
    # a path of another purchase is not the category's own
    (["category", "also_bought"], [1, -1], [7, 9], [1.0, 0.97], [0, 1]),
    # two broad categories of one purchase keep their order
    (["category", "category"], [1, 2], [7, 7], [1.0, 0.98], [0, 1]),
    # a brand no fifth of the items has is not broad: it goes first
    (["brand", "also_bought"], [0, -1], [7, 7], [1.0, 0.97], [0, 1]),
])
def test_a_path_through_a_broad_category_goes_after_its_purchases_other_paths(
        model: tuple[GraphData, KGRec], kinds: list[str], middle: list[int], via: list[int],
        weights: list[float], shown: list[int]) -> None:
    """"Also in Women", a category most candidates share, tells less than the other paths of
    the same purchase, which weigh about as much."""
    data, kgrec = model
    ranker = PathRanker(kgrec.propagated(), PathFinder(data))
    assert ("category", 1) in broad_entities(data) and ("brand", 0) not in broad_entities(data)
    codes = np.array([ranker.paths.kinds.index(kind) for kind in kinds])
    n = len(kinds)
    table = CandidatePaths(ranker.paths, 0, np.array([0]), np.zeros(n, dtype=np.int64), codes,
                           np.array(via), np.array(middle), np.full(n, -1), np.full(n, -1))
    strength = ranker._strength(table, np.array(weights))
    assert ranker._ordered(np.arange(n), strength, None).tolist() == shown


def test_without_a_margin_or_an_order_the_strongest_reason_goes_first(
        model: tuple[GraphData, KGRec]) -> None:
    data, kgrec = model
    strict = PathRanker(kgrec.propagated(), PathFinder(data), recent_within=0.0)
    for user, item in pairs_with_several_purchases(data, strict)[:30]:
        history = strict.paths.history(user)
        plain = strict.ranked(history, item, user)
        assert [w for w, _ in plain] == sorted((w for w, _ in plain), reverse=True)
        ordered = strict.ranked(history, item, user, history[::-1])
        assert ordered[0][0] == plain[0][0]  # only an exact tie may trade places


def test_the_store_lists_purchases_and_views_in_the_order_they_were_made(
        trained_app: Flask, session_store: GraphStore) -> None:
    """Ingested purchases by their place in the history, whatever order they were loaded in;
    a live purchase after them; views by time."""
    with trained_app.app_context():
        service = get_engine().service()
    items = service.recommender.item_ids[:5]
    session_store.write("ingest/users", rows=[{"id": "ORDER-1"}])
    session_store.write("ingest/purchases", rows=[  # loaded out of order
        {"user": "ORDER-1", "item": items[2], "seq": 3, "split": "train"},
        {"user": "ORDER-1", "item": items[0], "seq": 1, "split": "train"},
        {"user": "ORDER-1", "item": items[1], "seq": 2, "split": "test"}])
    now = int(time.time() * 1000)
    session_store.write("events/purchase", user="ORDER-1", item=items[3], at=now)
    row = session_store.read_once("service/user_history", user="ORDER-1")[0]
    assert row["items"] == items[:4]
    published = session_store.read("publish/histories", users=["ORDER-1", "ORDER-2"])
    assert [r["items"] for r in published if r["user_id"] == "ORDER-1"] == [items[:4]]
    session_store.write("events/view", user="ORDER-2", item=items[4], at=now)
    session_store.write("events/view", user="ORDER-2", item=items[0], at=now - 5)
    session_store.write("events/view", user="ORDER-2", item=items[1], at=now + 5)
    row = session_store.read_once("service/user_history", user="ORDER-2")[0]
    assert row["items"] == [] and row["viewed"] == [items[0], items[4], items[1]]
    published = session_store.read("publish/histories", users=["ORDER-2"])
    assert published[0]["viewed"] == row["viewed"]
    shopper = service._shopper("ORDER-1")
    index = service.recommender.item_index
    assert shopper.timeline.tolist() == [index(i) for i in items[:4]]
    assert shopper.history.tolist() == sorted(shopper.timeline.tolist())


def test_a_shoppers_first_reason_follows_the_order_of_their_purchases(
        trained_app: Flask, session_store: GraphStore) -> None:
    """Two new shoppers who bought the same two items in opposite orders: where both items
    explain a recommendation about equally, each is shown the reason from their later
    purchase first, on the page and in the explanation."""
    with trained_app.app_context():
        service = get_engine().service()
    client = trained_app.test_client()
    found = None
    for user in sample_users():
        bought = session_store.read_once("service/user_history", user=user)[0]["items"][:2]
        history, _, _ = service.recommender.basis(bought, [])
        for rec in service.ranked("NOBODY", history, 10):  # what both shoppers are served
            paths = service.weighted("NOBODY", history, [rec.item_id])[rec.item_id]
            top = paths[0][0]
            near = {p.via_item for w, p in paths if w >= top - RECENT_WITHIN * abs(top)}
            if len(near) == 2:
                found = bought, rec.item_id
                break
        if found:
            break
    assert found, "no sample item explained about equally by two purchases"
    bought, item = found
    for shopper, order in (("ORDER-3", bought), ("ORDER-4", bought[::-1])):
        session_store.write("ingest/users", rows=[{"id": shopper}])
        session_store.write("ingest/purchases", rows=[
            {"user": shopper, "item": i, "seq": n, "split": "train"}
            for n, i in enumerate(order, start=1)])
        body = client.get(f"/api/users/{shopper}/recommendations/{item}/explanation").get_json()
        assert body["paths"][0]["nodes"][1]["id"] == order[-1]
        page = client.get(f"/api/users/{shopper}/recommendations").get_json()
        reason = next(r["reason"] for r in page["recommendations"] if r["item_id"] == item)
        assert reason["nodes"][1]["id"] == order[-1]
