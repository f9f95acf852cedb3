"""The HTTP API with Flask's test client, against the real store: every endpoint, every status."""
from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import neo4j
import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

import cypher
from graphrec.config import Settings
from graphrec.store.connection import GraphStore, StoreUnavailable, open_store
from tests.apps import (
    assert_error,
    make_app,
    sample_users,
    unreachable,
    without_model,
)
from tests.waiting import wait_for
from web import create_app
from web.engine import Engine, get_engine


@pytest.fixture
def bare_app(settings: Settings, session_store: GraphStore, tmp_path: Path) -> Iterator[Flask]:
    """An app on the real store, with no trained model."""
    yield from make_app(without_model(settings, tmp_path))


@pytest.fixture
def bare(bare_app: Flask) -> FlaskClient:
    return bare_app.test_client()


@pytest.fixture
def dead(tmp_path: Path) -> Iterator[FlaskClient]:
    """An app whose store is a port nothing listens on."""
    for app in make_app(unreachable(tmp_path)):
        yield app.test_client()


def test_no_module_level_app() -> None:
    import web
    assert not any(isinstance(value, Flask) for value in vars(web).values())
    assert create_app().debug is False


def test_config_from_prefixed_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHREC_RETRY_AFTER", "7")
    assert create_app().config["RETRY_AFTER"] == 7
    assert create_app({"RETRY_AFTER": 3}).config["RETRY_AFTER"] == 3


# --- with a trained model: 200s and 404s -----------------------------------------------------

def test_recommendations(client: FlaskClient, sample_user: str) -> None:
    response = client.get(f"/api/users/{sample_user}/recommendations?k=5")
    assert response.status_code == 200
    body = response.get_json()
    assert body["user_id"] == sample_user and body["k"] == 5 and body["model_version"]
    recs = body["recommendations"]
    assert [rec["rank"] for rec in recs] == [1, 2, 3, 4, 5]
    assert len({rec["item_id"] for rec in recs}) == 5
    scores = [rec["score"] for rec in recs]
    assert scores == sorted(scores, reverse=True)
    for rec in recs:
        assert {"item_id", "title", "brand", "price", "score", "reason"} <= set(rec)
        if rec["reason"] is not None:
            assert_path(rec["reason"], sample_user, rec["item_id"])


def test_each_recommendation_names_its_category(client: FlaskClient, sample_user: str,
                                                session_store: GraphStore) -> None:
    """The sample's categories are paths: an item is in its leaf alone, which the answer and
    the page name."""
    recs = client.get(f"/api/users/{sample_user}/recommendations").get_json()["recommendations"]
    for rec in recs:
        rows = session_store.read_text("MATCH (:Item {id: $id})-[:IN_CATEGORY]->(c:Category) "
                                       "RETURN c.name AS name", id=rec["item_id"])
        assert [row["name"] for row in rows] == [rec["category"]]
    html = client.get(f"/users/{sample_user}").get_data(as_text=True)
    assert f'<span class="category">{escape(recs[0]["category"])}</span>' in html


def test_default_k_is_ten(client: FlaskClient, sample_user: str) -> None:
    body = client.get(f"/api/users/{sample_user}/recommendations").get_json()
    assert body["k"] == 10 and len(body["recommendations"]) == 10


def test_explanation(client: FlaskClient, sample_user: str) -> None:
    recs = client.get(f"/api/users/{sample_user}/recommendations").get_json()["recommendations"]
    rec = next(rec for rec in recs if rec["reason"])
    response = client.get(f"/api/users/{sample_user}/recommendations/{rec['item_id']}/explanation")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["user_id"], body["item_id"]) == (sample_user, rec["item_id"])
    assert body["rank"] == rec["rank"] and body["score"] == pytest.approx(rec["score"], rel=1e-5)
    assert body["paths"]
    for path in body["paths"]:
        assert_path(path, sample_user, rec["item_id"])


def assert_path(path: dict, user_id: str, item_id: str) -> None:
    assert path["sentence"] and path["kind"]
    nodes = {node["key"]: node for node in path["nodes"]}
    assert path["nodes"][0]["type"] == "User" and path["nodes"][0]["id"] == user_id
    assert path["nodes"][-1]["type"] == "Item" and path["nodes"][-1]["id"] == item_id
    assert {node["type"] for node in path["nodes"]} <= {"User", "Item", "Brand", "Category"}
    assert len(path["relationships"]) == len(path["nodes"]) - 1
    for rel in path["relationships"]:
        assert rel["from"] in nodes and rel["to"] in nodes and rel["type"].isupper()


def test_unknown_user_is_404(client: FlaskClient) -> None:
    assert_error(client.get("/api/users/NOBODY/recommendations"), 404, "unknown_user")
    assert_error(client.get("/api/users/NOBODY/recommendations/B00AE0790U/explanation"), 404,
                 "unknown_user")


def test_unknown_item_is_404(client: FlaskClient, sample_user: str) -> None:
    assert_error(client.get(f"/api/users/{sample_user}/recommendations/NOTHING/explanation"),
                 404, "unknown_item")


def test_health_with_model(client: FlaskClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["checks"]["store"]["ok"]
    assert body["checks"]["model"]["ok"] and body["checks"]["model"]["version"]


def test_user_page(client: FlaskClient, sample_user: str) -> None:
    response = client.get(f"/users/{sample_user}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.count('class="rec"') == 10 and "paths.js" in html
    assert client.get("/users/NOBODY").status_code == 404
    assert client.get("/static/paths.js").status_code == 200


@pytest.mark.parametrize(("user_id", "status"), [
    ("NO%C2%A0BODY", 404), ("NO%E2%80%8BBODY", 404), ("NO%C2%ADBODY", 404),  # ids the API takes
    ("a%00b", 400), ("%2E%2E", 400), ("x" * 101, 400)])
def test_a_page_takes_the_ids_the_api_takes(client: FlaskClient, user_id: str,
                                            status: int) -> None:
    """One rule for an id (graphrec.schema.id_problem): a no-break space or a format character
    is no reason to refuse a page the API answers."""
    assert client.get(f"/users/{user_id}").status_code == status
    api = client.get(f"/api/users/{user_id}/recommendations")
    assert api.status_code == (404 if status == 404 else 400)


# --- what the service reads on every request, and what it keeps -----------------------------

def test_purchase_after_training_is_never_recommended(client: FlaskClient, sample_user: str,
                                                      session_store: GraphStore) -> None:
    """The model never saw the purchase, the store has it: the next answer leaves it out."""
    user = next(u for u in sample_users() if u != sample_user)
    url = f"/api/users/{user}/recommendations"
    item = client.get(url).get_json()["recommendations"][0]["item_id"]
    assert client.get(f"{url}/{item}/explanation").get_json()["already_bought"] is False
    session_store.write("ingest/purchases",
                        rows=[{"user": user, "item": item, "seq": 1000, "split": "test"}])
    recs = client.get(url).get_json()["recommendations"]
    assert len(recs) == 10 and item not in {rec["item_id"] for rec in recs}
    assert client.get(f"{url}/{item}/explanation").get_json()["already_bought"] is True


def item_row(store: GraphStore, item: str) -> dict:
    return store.read_text("MATCH (i:Item {id: $id}) "
                           "RETURN i.id AS id, i.title AS title, i.price AS price, "
                           "i.sales_rank AS sales_rank", id=item)[0]


def test_item_details_are_kept_and_read_again_when_the_catalogue_changed(
        trained_app: Flask, session_store: GraphStore) -> None:
    """The details are kept while the catalogue's change marker is the one they were read with,
    whatever the store holds (no catalogue-wide read); once a load marks the catalogue changed,
    they are read again."""
    from graphrec.serving.details import ItemDetails, catalogue_state
    from ingest.loader import Step, load

    with trained_app.app_context():
        item = get_engine().service().recommender.item_ids[0]
    row = item_row(session_store, item)
    details = ItemDetails(session_store, [item])
    assert details.labels([item])[1][item] == row["title"]
    assert details.labels([item])[0][item]["title"] == row["title"]
    first = details._copy
    try:
        # written without the marker: kept
        session_store.write("ingest/items", rows=[{**row, "title": "Renamed in the shop"}])
        assert not details.refresh(catalogue_state(session_store).changed)
        assert details._copy is first and details.labels([item])[1][item] == row["title"]
        # as graphrec's load writes it: the marker changes, the details are read again
        load(session_store, [Step("items", cypher.load("ingest/items"),
                                  [{**row, "title": "Renamed again"}], "nodes", details=True)])
        changed = catalogue_state(session_store).changed
        assert changed != first.changed and details.refresh(changed)
        assert details.labels([item])[1][item] == "Renamed again"
        assert details.labels([item])[0][item]["title"] == "Renamed again"
        assert details.changed == changed and not details.refresh(changed)
    finally:
        session_store.write("ingest/items", rows=[row])
        session_store.write("catalogue/changed")
    assert item_row(session_store, item) == row


def test_the_workers_look_at_the_catalogue_at_intervals_of_their_own(
        trained_app: Flask) -> None:
    """Workers forked from one master start together: each looks at the catalogue at an
    interval of its own, between (1 - SPREAD) and 1 times the setting, so that their reads
    after a change do not all fall in the same second."""
    from graphrec.serving.service import SPREAD, RecommendationService

    with trained_app.app_context():
        served = get_engine().service()
    model = served.now.model
    intervals = [RecommendationService(model, served.store, served.items, 0, 60.0,
                                       catalogue_check_interval=60.0).look_interval
                 for _ in range(8)]
    assert all(60.0 * (1 - SPREAD) <= interval <= 60.0 for interval in intervals)
    assert len(set(intervals)) == len(intervals)


def test_item_details_outlive_a_store_that_fails(trained_app: Flask, session_store: GraphStore,
                                                tmp_path: Path) -> None:
    """A read again that fails is the look's error to log (the engine's watcher does); the
    copy stays as it was and answers."""
    from graphrec.serving.details import ItemDetails

    with trained_app.app_context():
        item = get_engine().service().recommender.item_ids[0]
    details = ItemDetails(session_store, [item])
    title, changed = details.labels([item])[1][item], details.changed
    with open_store(unreachable(tmp_path), start_local=False) as dead_store:
        details.store = dead_store
        with pytest.raises(StoreUnavailable):
            details.refresh("moved")
        assert details.labels([item])[1][item] == title and details.changed == changed
        assert not details._lock.locked()


def test_only_items_with_a_reason_are_recommended(trained_app: Flask) -> None:
    """The served list is the model's ranking with every item that has no reason path passed
    over, in the same order; checked on the sample users whose model top 10 holds such an item
    (there must be some) and on the first twenty."""
    with trained_app.app_context():
        service = get_engine().service()
    recommender, paths = service.recommender, service.now.paths

    def ranking(user: str, k: int) -> tuple[list[str], list[bool]]:
        history = service._shopper(user).history
        items = [r.item_id for r in recommender.recommend(history, k)]
        explained = paths.has_candidates(history, [recommender.item_index(i) for i in items])
        return items, explained.tolist()

    k = 40  # users are scored from all their purchases: few top 10s hold an unexplained item
    users = sample_users(limit=10_000)
    unexplained = [user for user in users if not all(ranking(user, k)[1])]
    assert unexplained
    for user in unexplained[:10] + users[:10]:
        served = service.recommend(user, k=k)
        assert len(served) == k and all(rec["reason"] for rec in served)
        items, explained = ranking(user, 4 * k)
        assert [r["item_id"] for r in served] == [i for i, ok in zip(items, explained) if ok][:k]


def test_a_request_sends_the_store_one_query(trained_app: Flask, client: FlaskClient,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A first visit's page and an explanation each ask the store one thing, the user's
    purchases now: the model and the graph it was trained on come from the artifact, and item
    details are kept and looked after by the worker's watcher thread, never by a request (here
    it looks at the catalogue all the time)."""
    users = sample_users(6)
    assert client.get(f"/api/users/{users[0]}/recommendations").status_code == 200
    with trained_app.app_context():
        service = get_engine().service()
    queries: list[str] = []  # those sent from this thread, where the test client's requests run
    run, execute = neo4j.Session.run, neo4j.Driver.execute_query

    def run_counted(session: neo4j.Session, query: str, *args, **kwargs):
        if threading.current_thread() is threading.main_thread():
            queries.append(query)
        return run(session, query, *args, **kwargs)

    def execute_counted(driver: neo4j.Driver, query: str, *args, **kwargs):
        if threading.current_thread() is threading.main_thread():
            queries.append(query)
        return execute(driver, query, *args, **kwargs)

    monkeypatch.setattr(neo4j.Session, "run", run_counted)
    monkeypatch.setattr(neo4j.Driver, "execute_query", execute_counted)
    service.catalogue_check_interval, looked = 0.01, service._looked_at
    try:
        for user in users[1:]:
            asked = len(queries)
            page = client.get(f"/api/users/{user}/recommendations")
            assert page.status_code == 200 and len(queries) == asked + 1
            item = page.get_json()["recommendations"][-1]["item_id"]
            explained = client.get(f"/api/users/{user}/recommendations/{item}/explanation")
            assert explained.status_code == 200 and len(queries) == asked + 2
        wait_for(lambda: service._looked_at > looked, "a look meanwhile", timeout=30)
    finally:
        service.catalogue_check_interval = 3600
    assert set(queries) == {cypher.load("service/user_history")}


def test_kept_reasons_are_those_a_fresh_ranking_gives(trained_app: Flask, sample_user: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from graphrec.explain.reasons import distinct, node_id

    with trained_app.app_context():
        service = get_engine().service()
    assert service.now.reasons.size > 0  # the web app keeps them
    monkeypatch.setattr(service, "shoppers_named", True)  # co-buyers by id, as ranked
    recs = service.recommend(sample_user, k=10)  # ranks and keeps the reasons of all ten
    for rec in recs:
        shopper = service._shopper(sample_user)
        ranked = service.weighted(sample_user, shopper.history, [rec["item_id"]],
                                  timeline=shopper.timeline)[rec["item_id"]]
        candidates = ranked[: service.now.reasons.keep]  # what the service ranks and keeps
        _, titles = service.items.labels(service.named_items([rec["item_id"]],
                                                        [p for _, p in candidates]))
        fresh = distinct(candidates, service.now.data, titles, 3)
        kept = service.explain(sample_user, rec["item_id"])["paths"]
        assert [(p["kind"], p["weight"], [n["id"] for n in p["nodes"]]) for p in kept] == [
            (path.kind, weight,
             [sample_user] + [node_id(service.now.data, t, i) for t, i in path.nodes[1:]])
            for weight, path in fresh]
        if rec["reason"] is not None:
            assert rec["reason"] == kept[0]


def test_reason_cache_ranks_a_pair_once_and_keeps_the_last_pairs_asked() -> None:
    from graphrec.explain.paths import Hop, ReasonPath
    from graphrec.serving.cache import ReasonCache

    calls = []

    def path(item: str, n: int) -> ReasonPath:
        return ReasonPath("brand", (("user", 0), ("item", n), ("brand", 7), ("item", ord(item))),
                          (Hop("BOUGHT", 0, 1), Hop("HAS_BRAND", 1, 2), Hop("HAS_BRAND", 3, 2)))

    def rank(items: list[str]) -> dict:
        calls.append(items)
        return {item: [(float(n), path(item, n)) for n in (3, 2, 1)] for item in items}

    cache = ReasonCache(size=3, keep=2)
    expected = {item: [(3.0, path(item, 3)), (2.0, path(item, 2))] for item in "abc"}
    assert cache.get("u", ["a", "b"], rank) == {"a": expected["a"], "b": expected["b"]}
    assert cache.get("u", ["a", "c"], rank) == {"a": expected["a"], "c": expected["c"]}
    assert calls == [["a", "b"], ["c"]]
    cache.get("v", ["a"], rank)  # a fourth pair: the least recently asked, (u, b), goes
    assert cache.get("u", ["b", "a", "c"], rank) == expected
    assert calls[2:] == [["a"], ["b"]]

    none_kept = ReasonCache(size=0)
    none_kept.get("u", ["a"], rank)
    none_kept.get("u", ["a"], rank)
    assert calls[4:] == [["a"], ["a"]]


def test_reason_cache_keeps_the_last_lists_served() -> None:
    from graphrec.serving.cache import ReasonCache
    from graphrec.serving.recommend import Scored

    def served(*items: str) -> list[Scored]:
        return [Scored(rank, item, 10.0 - rank, item == "new")
                for rank, item in enumerate(items, start=1)]

    cache = ReasonCache(size=5)
    cache.keep_list("u", b"none dismissed", served("a", "b", "new"))
    assert cache.served_list("u", b"none dismissed", 3) == served("a", "b", "new")
    assert cache.served_list("u", b"none dismissed", 2) == served("a", "b")  # its first two
    assert cache.served_list("u", b"none dismissed", 4) is None  # longer than kept
    assert cache.served_list("u", b"one dismissed", 2) is None  # the list has changed since
    assert cache.served_list("v", b"none dismissed", 1) is None
    assert cache.place("u", b"none dismissed", "b") == (8.0, 2)
    assert cache.place("u", b"none dismissed", "c") is None
    assert cache.place("u", b"one dismissed", "b") is None
    cache.keep_list("v", b"none dismissed", served("c", "d"))
    cache.keep_list("u", b"one dismissed", served("b"))  # replaces u's list
    assert cache.place("u", b"none dismissed", "b") is None
    assert cache.place("u", b"one dismissed", "b") == (9.0, 1)
    cache.keep_list("w", b"none dismissed", served("e", "f", "g"))  # six items: v's list goes
    assert cache.served_list("v", b"none dismissed", 1) is None
    assert cache.served_list("u", b"one dismissed", 1) == served("b")
    assert cache.recent_lists() == [("u", 1), ("w", 3)]  # the latest kept or seen first

    none_kept = ReasonCache(size=0)
    none_kept.keep_list("u", b"none dismissed", served("a"))
    assert none_kept.served_list("u", b"none dismissed", 1) is None


def test_a_page_seen_again_and_the_explanation_clicked_on_it_take_the_list_kept(
        trained_app: Flask, sample_user: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The catalogue is not scored again for the page seen again, nor for the place of an item
    on it: the list served is kept. A longer list, or an item that was not on it, is scored,
    and an item's place is the one the longer list gives it."""
    from graphrec.serving.cache import ReasonCache

    with trained_app.app_context():
        service = get_engine().service()
    recommender = service.recommender
    scans = []

    def counted(name: str):  # the recommender's scans over the catalogue, counted
        method = getattr(type(recommender), name)

        def scan(*args, **kwargs):
            scans.append(name)
            return method(recommender, *args, **kwargs)
        return scan

    for name in ("recommend", "served_place"):
        monkeypatch.setattr(recommender, name, counted(name))
    monkeypatch.setattr(service, "now", service.now._replace(  # nothing kept yet
        reasons=ReasonCache(service.now.reasons.size)))
    page = service.recommend(sample_user, k=10)
    assert scans == ["recommend"]
    assert service.recommend(sample_user, k=10) == page
    assert service.recommend(sample_user, k=4) == page[:4]
    for rec in page:
        body = service.explain(sample_user, rec["item_id"])
        assert (body["rank"], body["score"]) == (rec["rank"], rec["score"])
    assert scans == ["recommend"]
    longer = service.recommend(sample_user, k=12)
    assert longer[:10] == page and scans == ["recommend"] * 2
    service.now = service.now._replace(  # a worker that kept nothing
        reasons=ReasonCache(service.now.reasons.size))
    assert service.explain(sample_user, longer[11]["item_id"])["rank"] == 12
    assert scans == ["recommend"] * 2 + ["served_place"]


def test_a_new_model_serves_again_the_lists_the_old_one_kept(
        trained_app: Flask, sample_user: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """While a new model waits for the other workers, it ranks the lists the old one kept (a
    user gone is skipped), so that the page seen again after the switch is found kept; with
    no time left it ranks none."""
    import time

    from graphrec.serving.cache import ReasonCache
    from graphrec.serving.recommend import Scored

    with trained_app.app_context():
        service = get_engine().service()
    recommender = service.recommender
    scans = []
    method = type(recommender).recommend

    def counted(*args, **kwargs):
        scans.append(1)
        return method(recommender, *args, **kwargs)

    monkeypatch.setattr(recommender, "recommend", counted)
    monkeypatch.setattr(service, "now", service.now._replace(
        reasons=ReasonCache(service.now.reasons.size)))
    before = ReasonCache(100)  # the old model's: who was served a list, and how long
    before.keep_list((sample_user, b"their purchases then"), b"none dismissed",
                     [Scored(rank, f"i{rank}", 1.0) for rank in range(1, 8)])
    before.keep_list(("no-such-user", b""), b"", [Scored(1, "i1", 1.0)])
    assert service.rank_again(before, until=time.time() - 1) == 0 and not scans
    assert service.rank_again(before, until=time.time() + 60) == 1
    assert len(scans) == 1
    page = service.recommend(sample_user, k=7)  # found kept: no scan
    assert len(page) == 7 and len(scans) == 1


def test_a_list_ranked_while_the_model_is_swapped_is_not_kept_for_the_new_one(
        trained_app: Flask, sample_user: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """New items folded in while a request ranks (``_use``, from the fold-in's thread): the
    list that request ranked is not kept in the new model's cache, where every later page of
    the user would be answered from it without the new items."""
    from graphrec.serving.cache import ReasonCache, digest, user_key
    from graphrec.serving.service import ServedModel

    with trained_app.app_context():
        service = get_engine().service()
    monkeypatch.setattr(service, "now", service.now._replace(  # restored after
        reasons=ReasonCache(service.now.reasons.size)))
    folded = ServedModel.of(service.recommender)  # the same arrays, served anew
    ranked = service.ranked

    def swapped_meanwhile(*args, **kwargs):
        out = ranked(*args, **kwargs)
        service._use(folded)  # the fold-in finishes while this request ranks
        return out

    monkeypatch.setattr(service, "ranked", swapped_meanwhile)
    page = service.recommend(sample_user, k=10)
    shopper = service._shopper(sample_user)
    key, served = user_key(sample_user, shopper.timeline), digest(shopper.dismissed)
    assert service.now.reasons.served_list(key, served) is None
    monkeypatch.setattr(service, "ranked", ranked)
    assert service.recommend(sample_user, k=10) == page  # ranked by the new model, then kept
    assert [r.item_id for r in service.now.reasons.served_list(key, served) or []] == [
        rec["item_id"] for rec in page]


def test_kept_reasons_are_not_tracked_by_the_garbage_collector(trained_app: Flask,
                                                              sample_user: str) -> None:
    """A full cache must not lengthen the collector's full passes (each tracked object
    does)."""
    import gc

    with trained_app.app_context():
        service = get_engine().service()
    service.recommend(sample_user, k=10)
    # A pass untracks a tuple only if its items are untracked when it comes to it, so a key
    # nested in another (the user's in the pair's) may take a second pass.
    gc.collect()
    gc.collect()
    for kept in (service.now.reasons._pairs, service.now.reasons._lists):
        assert kept and not any(gc.is_tracked(key) or gc.is_tracked(value)
                                for key, value in kept.items())


def test_warm_worker_moves_what_it_loaded_out_of_the_collectors_passes(
        trained_app: Flask, bare_app: Flask) -> None:
    """A worker freezes its model and caches once loaded, and only then."""
    import gc

    gc.unfreeze()
    try:
        with bare_app.app_context():
            get_engine().warm()  # no model: nothing loaded, nothing frozen
        assert gc.get_freeze_count() == 0
        with trained_app.app_context():
            get_engine().warm()
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()


def test_a_worker_forked_after_the_preload_answers_with_the_masters_model(
        settings: Settings, trained_app: Flask, sample_user: str) -> None:
    """What gunicorn's master loads and reads before the fork (``Engine.preload``) is what a
    worker forked from it answers with: the same objects, nothing loaded, built or read again,
    the same answers; the master holds no store connection to pass on."""
    engine = Engine(settings, model_check_interval=0)
    engine.preload()
    assert engine._preloaded is not None and engine._preloaded_details is not None
    assert engine._store is None and engine._writer is None
    preloaded, details = engine._preloaded[1], engine._preloaded_details
    with trained_app.app_context():
        expected = get_engine().service().recommend(sample_user, k=10)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: report, never return into pytest
        status = 1
        try:
            os.close(read)
            service = engine.service()
            shared = [service.recommender is preloaded.recommender,
                      service.now.paths is preloaded.paths, service.now.ranker is preloaded.ranker,
                      service.items._copy is details]
            answer = service.recommend(sample_user, k=10)
            os.write(write, json.dumps({"shared": shared, "answer": answer}).encode())
            engine.close()
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        report = pipe.read()
    assert os.waitpid(pid, 0)[1] == 0
    child = json.loads(report)
    assert child["shared"] == [True, True, True, True]
    assert child["answer"] == json.loads(json.dumps(expected))


def test_a_preloaded_model_of_another_artifact_is_not_used(settings: Settings,
                                                           trained_app: Flask) -> None:
    """A worker whose artifact was replaced since the master loaded its model loads its own."""
    engine = Engine(settings, model_check_interval=0)
    engine.preload()
    assert engine._preloaded is not None
    signature, preloaded = engine._preloaded
    engine._preloaded = ((signature[0] + 1, *signature[1:]), preloaded)
    try:
        service = engine.service()
        assert service.now.ranker is not preloaded.ranker
        assert service.model_version == preloaded.recommender.version
    finally:
        engine.close()


def test_preload_without_a_model_leaves_the_workers_to_load_theirs(
        settings: Settings, tmp_path: Path) -> None:
    engine = Engine(without_model(settings, tmp_path), model_check_interval=0)
    engine.preload()
    assert engine._preloaded is None and engine._preloaded_details is None


# --- 400: malformed input, answered before the store or the model is asked ------------------

@pytest.mark.parametrize("k", ["abc", "", "1.5", "0", "-3", "101", "1e2", "10; DROP", "1_0",
                               "+3", "%203", "%EF%BC%93"])  # the last: a full-width 3
def test_bad_k(bare: FlaskClient, k: str) -> None:
    error = assert_error(bare.get(f"/api/users/A1/recommendations?k={k}"), 400, "invalid_k")
    assert "1 to 100" in error["message"]


@pytest.mark.parametrize("user_id", ["", "x" * 101, "a%00b", "a%0Ab", "%7F", "tab%09", "%2E",
                                     "%2E%2E"])
def test_bad_user_id(bare: FlaskClient, user_id: str) -> None:
    assert_error(bare.get(f"/api/users/{user_id}/recommendations"), 400, "invalid_user_id")
    assert_error(bare.get(f"/api/users/{user_id}/recommendations/I1/explanation"), 400,
                 "invalid_user_id")


@pytest.mark.parametrize("item_id", ["", "y" * 101, "b%1Bc"])
def test_bad_item_id(bare: FlaskClient, item_id: str) -> None:
    assert_error(bare.get(f"/api/users/A1/recommendations/{item_id}/explanation"), 400,
                 "invalid_item_id")


def test_longest_id_is_not_malformed(bare: FlaskClient) -> None:
    response = bare.get(f"/api/users/{'x' * 100}/recommendations")
    assert response.status_code != 400


# --- 404 / 405 on unknown routes: JSON under /api --------------------------------------------

@pytest.mark.parametrize("path", ["/api/nothing", "/api/users", "/api",
                                  "/api/users/A1/recommendations/I1"])
def test_unknown_route_is_json_404(bare: FlaskClient, path: str) -> None:
    assert_error(bare.get(path), 404, "not_found")


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("post", "/api/users/A1/recommendations", "GET"),
    ("get", "/api/users/A1", "DELETE"),  # a user is only forgotten there
])
def test_wrong_method_is_json_405(bare: FlaskClient, method: str, path: str,
                                  allowed: str) -> None:
    response = getattr(bare, method)(path)
    assert_error(response, 405, "method_not_allowed")
    assert allowed in response.headers["Allow"]


def test_unknown_page_is_html_404(bare: FlaskClient) -> None:
    response = bare.get("/nothing")
    assert response.status_code == 404 and response.mimetype == "text/html"


# --- 500: an unexpected exception is logged, and answered without its traceback --------------

def test_unexpected_error_is_json_500_without_traceback(
        bare_app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    def boom():
        raise RuntimeError("secret detail")

    bare_app.add_url_rule("/api/boom", "boom", boom)
    response = bare_app.test_client().get("/api/boom")
    assert_error(response, 500, "internal_error")
    body = response.get_data(as_text=True)
    assert "secret detail" not in body and "Traceback" not in body
    assert "secret detail" in caplog.text and "Traceback" in caplog.text


def test_a_passing_store_failure_is_503_to_try_again(bare_app: Flask,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """Neo4j's TransientError (a deadlock, a leader switch, its memory pool full for a moment)
    says that the same request may succeed: 503 with Retry-After and a line in the log, not
    the 500 and traceback of a fault."""
    def busy():
        raise neo4j.exceptions.TransientError("deadlock detected while reading secret detail")

    bare_app.add_url_rule("/api/busy", "busy", busy)
    with caplog.at_level(logging.WARNING, logger="web.errors"):
        response = bare_app.test_client().get("/api/busy")
    assert_error(response, 503, "store_busy")
    assert response.headers["Retry-After"].isdigit()
    assert "secret detail" not in response.get_data(as_text=True)
    assert "graph store busy on GET /api/busy: TransientError" in caplog.text
    assert "Traceback" not in caplog.text


# --- health and the OpenAPI document ---------------------------------------------------------

def test_health_without_model(bare: FlaskClient) -> None:
    response = bare.get("/api/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["store"] == {"ok": True}
    assert body["checks"]["model"]["ok"] is False


def test_recommendations_without_model_are_503(bare: FlaskClient, bare_app: Flask,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """Where the models should be is in the server's log, never in the answer."""
    with caplog.at_level(logging.WARNING, logger="web.errors"):
        response = bare.get("/api/users/A1/recommendations")
    assert_error(response, 503, "model_unavailable")
    assert response.headers["Retry-After"].isdigit()
    models_dir = str(get_engine_of(bare_app).settings.models_dir)
    assert models_dir not in response.get_data(as_text=True)
    assert models_dir in caplog.text
    health = bare.get("/api/health").get_json()
    assert health["checks"]["model"] == {"ok": False, "message": "no model is loaded"}


def get_engine_of(app: Flask):
    with app.app_context():
        return get_engine()


def test_openapi_document(bare: FlaskClient) -> None:
    response = bare.get("/api/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {
        "/api/users/{user_id}/recommendations",
        "/api/users/{user_id}/recommendations/{item_id}/explanation",
        "/api/users/{user_id}/events", "/api/items/{item_id}/availability", "/api/health",
        "/api/openapi.json", "/api/users/{user_id}"}
    forget = doc["paths"]["/api/users/{user_id}"]["delete"]
    assert {"200", "401", "403", "404"} <= set(forget["responses"])
    assert forget["security"] == [{"bearer": []}]
    assert set(forget["responses"]["200"]["content"]["application/json"]["schema"]
               ["$ref"].rsplit("/", 1)[1:]) == {"UserForgotten"}
    post_event = doc["paths"]["/api/users/{user_id}/events"]["post"]
    assert {"200", "201", "400", "401", "403", "404"} <= set(post_event["responses"])
    assert post_event["security"] == [{"bearer": []}]
    availability = doc["paths"]["/api/items/{item_id}/availability"]["put"]
    assert {"200", "400", "401", "403", "404"} <= set(availability["responses"])
    assert availability["security"] == [{"bearer": []}]
    body = availability["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["available"] and body["properties"]["available"]["type"] == \
        "boolean"
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    recommend = doc["paths"]["/api/users/{user_id}/recommendations"]["get"]
    assert {"200", "400", "404", "500", "503"} <= set(recommend["responses"])
    k = next(p for p in recommend["parameters"] if p["name"] == "k")
    assert (k["schema"]["minimum"], k["schema"]["maximum"]) == (1, 100)
    refs = {value.split("/")[-1] for value in _refs(doc)}
    assert refs <= set(doc["components"]["schemas"])


def _refs(node) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


# --- 503: the store cannot be reached --------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/users/A1/recommendations",
                                  "/api/users/A1/recommendations/I1/explanation"])
def test_unreachable_store_is_503(dead: FlaskClient, path: str) -> None:
    response = dead.get(path)
    assert_error(response, 503, "store_unavailable")
    assert response.headers["Retry-After"].isdigit()
    assert "Traceback" not in response.get_data(as_text=True)


def test_health_with_unreachable_store(dead: FlaskClient,
                                      caplog: pytest.LogCaptureFixture) -> None:
    """The store's address is in the server's log, never in the answer."""
    with caplog.at_level(logging.WARNING, logger="web.api"):
        response = dead.get("/api/health")
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    checks = response.get_json()["checks"]
    assert checks["store"] == {"ok": False, "message": "the graph store does not answer"}
    assert "127.0.0.1" not in response.get_data(as_text=True)
    assert "127.0.0.1" in caplog.text


def test_page_with_unreachable_store_is_503(dead: FlaskClient) -> None:
    response = dead.get("/users/A1")
    assert response.status_code == 503 and response.mimetype == "text/html"


def test_index_page_and_search(bare: FlaskClient) -> None:
    response = bare.get("/")
    assert response.status_code == 200 and b'name="user"' in response.data
    response = bare.get("/?user=A%201")
    assert response.status_code == 302 and response.headers["Location"] == "/users/A%201"


def test_an_explanation_never_says_the_same_thing_twice(client: FlaskClient) -> None:
    said = 0
    for user in sample_users()[:8]:
        recs = client.get(f"/api/users/{user}/recommendations").get_json()["recommendations"]
        for rec in recs:
            answer = client.get(f"/api/users/{user}/recommendations/{rec['item_id']}/explanation")
            sentences = [path["sentence"] for path in answer.get_json()["paths"]]
            assert len(sentences) == len(set(sentences)), sentences
            said += len(sentences)
    assert said >= 150  # most recommendations have three reasons to give
