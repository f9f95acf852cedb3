"""A model that follows the live graph: users are their purchases as the store holds them now,
against the real store with the sample and a model trained on it."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, cast

import pytest
from flask import Flask
from flask.testing import FlaskClient

from graphrec.cli import ingest_catalogue, main
from graphrec.config import Settings
from graphrec.serving.freshness import Freshness
from graphrec.store.connection import GraphStore
from tests.apps import (
    assert_error,
    make_app,
    sample_users,
    without_model,
)
from tests.waiting import wait_for
from web.engine import get_engine


def add_user(store: GraphStore, user: str, items: list[str], split: str = "live") -> None:
    store.write("ingest/users", rows=[{"id": user}])
    if items:
        store.write("ingest/purchases", rows=[{"user": user, "item": item, "seq": n,
                                               "split": split}
                                              for n, item in enumerate(items, start=1)])


def recommendations(client: FlaskClient, user: str) -> list[dict]:
    response = client.get(f"/api/users/{user}/recommendations")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["recommendations"]


def test_a_new_user_with_one_purchase_gets_ten_explained_recommendations(
        client: FlaskClient, session_store: GraphStore) -> None:
    bought = recommendations(client, sample_users()[0])[0]["item_id"]
    add_user(session_store, "NEW-SHOPPER-1", [bought])
    recs = recommendations(client, "NEW-SHOPPER-1")
    assert len(recs) == 10 and bought not in {r["item_id"] for r in recs}
    for rec in recs:
        reason = rec["reason"]
        assert reason["kind"] != "popular"
        assert [n["id"] for n in reason["nodes"][:2]] == ["NEW-SHOPPER-1", bought]
        assert session_store.read(reason["cypher"]["query"], **reason["cypher"]["params"])
    explained = client.get(f"/api/users/NEW-SHOPPER-1/recommendations/{recs[0]['item_id']}"
                           "/explanation").get_json()
    assert explained["rank"] == 1 and explained["paths"]
    assert all(p["nodes"][1]["id"] == bought for p in explained["paths"])


def test_a_purchase_written_to_the_store_changes_the_next_answer(
        client: FlaskClient, session_store: GraphStore) -> None:
    user = sample_users()[3]
    before = recommendations(client, user)
    item = before[0]["item_id"]
    session_store.write("ingest/purchases",
                        rows=[{"user": user, "item": item, "seq": 999, "split": "live"}])
    after = recommendations(client, user)
    assert len(after) == 10 and item not in {r["item_id"] for r in after}
    assert [r["score"] for r in after] != [r["score"] for r in before[1:]]
    vias = {n["id"] for r in after for p in [r["reason"]] for n in p["nodes"][1:2]}
    explained = [client.get(f"/api/users/{user}/recommendations/{r['item_id']}/explanation")
                 .get_json() for r in after]
    vias |= {p["nodes"][1]["id"] for e in explained for p in e["paths"]}
    assert item in vias  # the new purchase is the start of reasons at once


def test_rank_in_explain_is_the_place_in_the_served_list(client: FlaskClient) -> None:
    for user in sample_users()[:5]:
        for rec in recommendations(client, user):
            body = client.get(f"/api/users/{user}/recommendations/{rec['item_id']}"
                              "/explanation").get_json()
            assert body["rank"] == rec["rank"], (user, rec["item_id"])
            assert body["score"] == pytest.approx(rec["score"], rel=1e-5)


def test_a_user_with_no_purchases_gets_the_labelled_popular_items(
        client: FlaskClient, session_store: GraphStore) -> None:
    add_user(session_store, "NEW-SHOPPER-2", [])
    recs = recommendations(client, "NEW-SHOPPER-2")
    assert len(recs) == 10 and [r["rank"] for r in recs] == list(range(1, 11))
    assert all(r["reason"]["kind"] == "popular" for r in recs)
    buyers = [r["score"] for r in recs]
    assert buyers == sorted(buyers, reverse=True) and buyers[0] >= 2
    first = recs[0]["reason"]
    assert first["nodes"][0]["id"] == recs[0]["item_id"]
    assert f"bought by {int(buyers[0])}" in first["sentence"]
    if len(first["nodes"]) > 1:  # the item's category, named in the sentence
        assert first["nodes"][1]["type"] == "Category"
        assert first["nodes"][1]["id"] in first["sentence"]
        assert session_store.read(first["cypher"]["query"], **first["cypher"]["params"])
    body = client.get(f"/api/users/NEW-SHOPPER-2/recommendations/{recs[2]['item_id']}"
                      "/explanation").get_json()
    assert (body["basis"], body["rank"], body["paths"][0]["kind"]) == ("popular", 3, "popular")


def test_an_id_the_store_does_not_have_is_404(client: FlaskClient) -> None:
    assert_error(client.get("/api/users/NO-SUCH-SHOPPER/recommendations"), 404, "unknown_user")


def test_health_says_whether_the_model_is_stale(trained_app: Flask, client: FlaskClient,
                                                session_store: GraphStore) -> None:
    with trained_app.app_context():
        get_engine().service().freshness.max_age = 0
    model = client.get("/api/health").get_json()["checks"]["model"]
    assert model["ok"] is True and set(model) >= {"stale", "trained_on", "graph_now"}
    assert set(model["trained_on"]) == {"users", "items", "purchases", "links", "shape",
                                        "read_at", "trained_at"}
    before = model["graph_now"]
    add_user(session_store, "NEW-SHOPPER-3", [sample_recommendable(client)])
    model = client.get("/api/health").get_json()["checks"]["model"]
    assert model["stale"] is True
    assert model["graph_now"]["users"] == before["users"] + 1
    assert model["graph_now"]["purchases"] == before["purchases"] + 1


class SlowCounts:
    """The session's store, its count of the graph ``delay`` seconds slower: the scan of every
    relationship on a catalogue many times larger."""

    def __init__(self, store: GraphStore):
        self.store, self.delay = store, 0.0

    def read_once(self, name: str, **params: Any) -> list[dict[str, Any]]:
        if name == "service/graph_counts":
            time.sleep(self.delay)
        return self.store.read_once(name, **params)


def test_a_health_check_waits_for_a_slow_count_of_the_graph_a_bounded_time(
        client: FlaskClient, session_store: GraphStore) -> None:
    """A report with counts to answer with waits at most ``WAIT`` for a new count and answers
    with the last; the count goes on, and a later report has it."""
    slow = SlowCounts(session_store)
    freshness = Freshness(cast(GraphStore, slow), {}, max_age=0)
    first = freshness.report()["graph_now"]  # the first waits: it has nothing else
    add_user(session_store, "COUNTED-SHOPPER", [sample_recommendable(client)])
    slow.delay = 4 * Freshness.WAIT
    started = time.monotonic()
    answered = freshness.report()["graph_now"]
    assert Freshness.WAIT <= time.monotonic() - started < 3 * Freshness.WAIT
    assert answered == first
    freshness.max_age = 3600  # no further count: the one under way
    wait_for(lambda: freshness.report()["graph_now"]["users"] == first["users"] + 1,
             "the count under way", timeout=30)
    assert freshness.report()["graph_now"]["purchases"] == first["purchases"] + 1


def sample_recommendable(client: FlaskClient) -> str:
    return recommendations(client, sample_users()[1])[0]["item_id"]


def test_an_item_given_another_brand_makes_the_model_stale(
        settings: Settings, session_store: GraphStore, trained_app: Flask, client: FlaskClient,
        tmp_path: Path) -> None:
    """A brand moved from one item to another leaves every count alone, and the model's
    reasons still walk the old one ("this is also Clear" of an item now Olay): the model is
    stale, and says what changed; an update that says what the store holds is not a change."""
    with trained_app.app_context():
        freshness = get_engine().service().freshness
    freshness.max_age = 0
    item = sample_recommendable(client)
    held = session_store.read_text("MATCH (:Item {id: $item})-[:HAS_BRAND]->(b:Brand) "
                                   "RETURN b.name AS b", item=item)[0]["b"]
    other = next(row["b"] for row in session_store.read_text(
        "MATCH (b:Brand) RETURN b.name AS b ORDER BY b") if row["b"] != held)
    trained = freshness.trained_on["shape"]
    for brand, moved in ((held, False), (other, True)):
        folder = tmp_path / f"update-{moved}"
        folder.mkdir()
        (folder / "items.csv").write_text(f"item_id,brand\n{item},{brand}\n",
                                          encoding="utf-8")
        ingest_catalogue(settings, folder, update=True, quiet=True)
        now = client.get("/api/health").get_json()["checks"]["model"]["graph_now"]
        assert (now["shape"] != trained) is moved
    assert "items' brand or category links changed" in (freshness.line() or "")


def test_a_changed_catalogue_keeps_a_fresh_worker_answering(
        settings: Settings, session_store: GraphStore, trained_app: Flask) -> None:
    """A worker that starts after the catalogue changed (a restart, a crash) loads the model
    from its artifact alone and answers; health says stale."""
    session_store.write("ingest/items", rows=[{"id": "NEW-ITEM-1", "title": "New in the shop",
                                               "price": 3.5, "sales_rank": None}])
    add_user(session_store, "NEW-SHOPPER-4", ["NEW-ITEM-1"])
    for app in make_app(settings):
        client = app.test_client()
        health = client.get("/api/health")
        assert health.status_code == 200
        assert health.get_json()["checks"]["model"]["stale"] is True
        assert len(recommendations(client, sample_users()[2])) == 10
        # bought only an item the model does not know: the popular items, not an error
        assert recommendations(client, "NEW-SHOPPER-4")[0]["reason"]["kind"] == "popular"


def test_an_artifact_that_cannot_be_used_is_a_json_503(settings: Settings, tmp_path: Path,
                                                       trained_app: Flask) -> None:
    import shutil

    broken = without_model(settings, tmp_path)
    shutil.copytree(settings.model_path, broken.model_path)
    manifest = broken.model_path / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "format_version": 1}))
    for app in make_app(broken):
        client = app.test_client()
        error = assert_error(client.get(f"/api/users/{sample_users()[0]}/recommendations"), 503,
                             "model_unavailable")
        assert "format 1" in error["message"] and "retrain" in error["message"]
        assert str(broken.home) not in error["message"]  # the reason, not where it lives
        assert client.get("/api/health").status_code == 503


def test_cli_recommends_popular_items_to_a_user_with_no_purchases_and_rejects_unknown_ids(
        settings: Settings, session_store: GraphStore, trained_app: Flask,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRAPHREC_HOME", str(settings.home))
    add_user(session_store, "NEW-SHOPPER-5", [])
    assert main(["recommend", "NEW-SHOPPER-5", "-k", "3"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("NEW-SHOPPER-5: the shop's most bought items") and "Popular" in out
    assert err.startswith("note: the model is stale")  # users were added since training
    assert err.count("\n") == 1
    assert main(["recommend", "NO-SUCH-SHOPPER"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == ("graphrec: error: unknown user 'NO-SUCH-SHOPPER': the store has no "
                       "such user")


def test_a_command_reads_the_graphs_counts_once(settings: Settings, trained_app: Flask,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The counts that say whether the model is stale (and fold new items in) are read once,
    while the model loads: a command read them twice, a tenth of its second on full Beauty."""
    monkeypatch.setenv("GRAPHREC_HOME", str(settings.home))
    reads: dict[int, list[str]] = {}
    real = GraphStore.read_once

    def spied(self: GraphStore, name: str, **params: object) -> list[dict[str, object]]:
        reads.setdefault(id(self), []).append(name)
        return real(self, name, **params)

    monkeypatch.setattr(GraphStore, "read_once", spied)
    assert main(["recommend", sample_users()[0], "-k", "3"]) == 0
    # the command's own store, the one it pings first: the app of the other tests reads the
    # counts in the background from a store of its own
    command = [names for names in reads.values() if names[0] == "admin/ping"]
    assert len(command) == 1, reads
    assert command[0].count("service/graph_counts") == 1, command[0]
    assert capsys.readouterr().out


def test_cli_explain_ranks_as_recommend_lists(settings: Settings, trained_app: Flask,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRAPHREC_HOME", str(settings.home))
    user = sample_users()[4]
    assert main(["recommend", user, "-k", "5", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["recommendations"]
    for rec in listed:
        assert main(["explain", user, rec["item_id"], "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["rank"] == rec["rank"]


def test_a_shopper_whose_purchases_lead_nowhere_gets_the_popular_list(
        settings: Settings, session_store: GraphStore, trained_app: Flask, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A new brand's first product, in a category of its own and linked to nothing, and its
    one buyer: once a model is trained that knows it, no path leads from it to any item. The
    buyer got an empty list (``[]``, the page "Nothing to recommend.", the command printing
    nothing) where before the retrain, with an item the model did not know, they got the
    popular list. They get the popular list, and explanations that agree with it. Last in the
    module: the item and the users stay in the store."""
    from graphrec.cli import ingest_catalogue
    from graphrec.model.pipeline import train_from_store
    from graphrec.model.train import TrainConfig

    update = tmp_path / "update"
    update.mkdir()
    (update / "items.csv").write_text(
        "item_id,title,brand,price,sales_rank,categories\n"
        "LONER-1,A new brand's first product,BrandNewCo,3.0,1000,Beauty|BrandNewCoLine\n")
    ingest_catalogue(settings, update, update=True, quiet=True)
    add_user(session_store, "LONER-BUYER", ["LONER-1"])
    add_user(session_store, "LONER-NOBODY", [])
    home = without_model(settings, tmp_path / "home")
    train_from_store(session_store, home, TrainConfig(max_epochs=1))
    capsys.readouterr()
    for app in make_app(home):
        with app.app_context():  # the model knows the item: the buyer has a history
            get_engine().service().recommender.item_index("LONER-1")
        client = app.test_client()
        listed = client.get("/api/users/LONER-BUYER/recommendations?k=3").get_json()
        popular = client.get("/api/users/LONER-NOBODY/recommendations?k=3").get_json()
        assert [r["item_id"] for r in listed["recommendations"]] == \
            [r["item_id"] for r in popular["recommendations"]]
        assert [r["rank"] for r in listed["recommendations"]] == [1, 2, 3]
        assert {r["reason"]["kind"] for r in listed["recommendations"]} == {"popular"}
        second = listed["recommendations"][1]["item_id"]
        explained = client.get(f"/api/users/LONER-BUYER/recommendations/{second}/explanation"
                               ).get_json()
        assert (explained["basis"], explained["rank"], explained["not_served"],
                explained["paths"][0]["kind"]) == ("popular", 2, None, "popular")
        bought = client.get("/api/users/LONER-BUYER/recommendations/LONER-1/explanation"
                            ).get_json()
        assert (bought["basis"], bought["rank"], bought["not_served"]) == \
            ("popular", None, "bought")
        page = client.get("/users/LONER-BUYER").get_data(as_text=True)
        assert "Nothing to recommend." not in page and second in page
    monkeypatch.setenv("GRAPHREC_HOME", str(home.home))
    monkeypatch.setenv("GRAPHREC_STORE_DIR", str(settings.store_dir))  # the session's store
    assert main(["recommend", "LONER-BUYER", "-k", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("LONER-BUYER: the shop's most bought items (nothing they bought or viewed "
                      "leads to an item by a reason path yet)")
    assert second in out[3]
