"""Forgetting a shopper on request, against the real store: what leaves the graph (and what
stays), the API's route with its token, and the command."""
from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from graphrec.cli import main
from graphrec.config import Settings
from graphrec.explain.reasons import OTHER_SHOPPER
from graphrec.explorer import load_service
from graphrec.serving import erasure, events
from graphrec.serving import service as service_module
from graphrec.serving.publish import Publisher
from graphrec.store.connection import GraphStore
from tests.apps import assert_error, make_app, sample_users, writing_app
from web.engine import get_engine

TOKEN = "erasure-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def app(settings: Settings, session_store: GraphStore) -> Iterator[Flask]:
    """The sample with a trained model; writes enabled. The tests take users out of this
    module's sample."""
    yield from writing_app(settings, session_store, TOKEN)


@pytest.fixture(scope="module")
def publisher(app: Flask, settings: Settings, session_store: GraphStore) -> Publisher:
    """Publishes as ``graphrec publish`` does; the first 40 users' recommendations published."""
    publisher = Publisher(load_service(settings, session_store), k=10, paths=3)
    publisher.publish(sample_users(40))
    return publisher


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def store(app: Flask, session_store: GraphStore) -> GraphStore:
    return session_store


def count(store: GraphStore, query: str, **params: object) -> int:
    return int(store.read_text(f"{query} RETURN count(*) AS n", **params)[0]["n"])


def first_item(store: GraphStore) -> str:
    return str(store.read_text("MATCH (i:Item) RETURN i.id AS id ORDER BY id LIMIT 1")[0]["id"])


def shopper_others_go_through(store: GraphStore) -> tuple[str, int]:
    """The user whom most of the other users' published paths go through as a co-buyer, and
    how many such paths there are."""
    rows = store.read_text(
        "MATCH (e:Explanation)-[:STEP]->(u:User) WHERE e.user <> u.id "
        "RETURN u.id AS user_id, count(DISTINCT e) AS n ORDER BY n DESC, user_id LIMIT 1")
    assert rows, "no published path goes through another user"
    return str(rows[0]["user_id"]), int(rows[0]["n"])


def test_a_shopper_leaves_with_all_the_graph_holds_of_them(publisher: Publisher,
                                                           store: GraphStore) -> None:
    user, through = shopper_others_go_through(store)
    publisher.publish([user])  # their own recommendations too
    item = store.read_text("MATCH (i:Item) WHERE NOT (:User {id: $u})-[:BOUGHT]->(i) "
                           "RETURN i.id AS id ORDER BY id LIMIT 1", u=user)[0]["id"]
    events.record(store, user, item, "view")
    events.record(store, user, item, "dismiss")
    bought = count(store, "MATCH (:User {id: $u})-[:BOUGHT]->()", u=user)
    own = count(store, "MATCH (:User {id: $u})-[:HAS_EXPLANATION]->()", u=user)
    users, recommended = count(store, "MATCH (u:User)"), count(store, "MATCH ()-[:RECOMMENDED]->()")
    others_recommended = recommended - count(store, "MATCH (:User {id: $u})-[:RECOMMENDED]->()",
                                             u=user)

    done = erasure.forget_users(store, [user, "NO-SUCH-USER", user])

    assert done.users == [user] and done.unknown == ["NO-SUCH-USER"]
    assert (done.purchases, done.views, done.dismissals) == (bought, 1, 1)
    assert done.recommendations == 10 and done.paths == own + through
    assert done.others_paths == through > 0
    assert count(store, "MATCH (u:User {id: $u})", u=user) == 0
    assert count(store, "MATCH (e:Explanation) WHERE e.user = $u", u=user) == 0
    assert count(store, "MATCH (:Explanation)-[:STEP]->(:User {id: $u})", u=user) == 0
    # nobody else left: the others keep their recommendations and the paths not through them
    assert count(store, "MATCH (u:User)") == users - 1
    assert count(store, "MATCH ()-[:RECOMMENDED]->()") == others_recommended
    assert count(store, "MATCH (e:Explanation) WHERE NOT (e)-[:STEP]->()") == 0


def test_publishing_again_leaves_out_the_paths_through_a_forgotten_co_buyer(
        publisher: Publisher, store: GraphStore) -> None:
    """The model still counts a forgotten shopper as a co-buyer until it is trained again: a
    path through them would have been written without its STEP to them."""
    user, through = shopper_others_go_through(store)
    readers = [row["user"] for row in store.read_text(
        "MATCH (e:Explanation)-[:STEP]->(:User {id: $u}) RETURN DISTINCT e.user AS user",
        u=user)]
    published = count(store, "MATCH (e:Explanation) WHERE e.user IN $ids", ids=readers)
    erasure.forget_users(store, [user])
    # a new customer takes the id: a node again, but none of the purchases the paths claim
    events.record(store, user, first_item(store), "view")
    report = publisher.publish(readers)
    assert report.users == len(readers) and report.gone == 0
    gaps = count(store, "MATCH (e:Explanation)-[s:STEP]->() WHERE e.user IN $ids "
                        "WITH e, count(s) AS steps, max(s.position) AS last "
                        "WHERE steps <> last + 1", ids=readers)
    assert gaps == 0
    assert count(store, "MATCH (:Explanation)-[:STEP]->(:User {id: $u})", u=user) == 0
    # the next paths of each recommendation take their places
    assert count(store, "MATCH (e:Explanation) WHERE e.user IN $ids",
                 ids=readers) == published == report.paths


def test_explain_names_no_forgotten_co_buyer(
        publisher: Publisher, settings: Settings, store: GraphStore,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """``graphrec explain`` names other shoppers by id; one forgotten since training, whom the
    model still counts as a co-buyer, is numbered instead."""
    monkeypatch.setenv("GRAPHREC_HOME", str(settings.home))
    user, _ = shopper_others_go_through(store)
    row = store.read_text(
        "MATCH (e:Explanation)-[:STEP]->(:User {id: $u}) "
        "RETURN e.user AS reader, e.item AS item ORDER BY reader, item LIMIT 1", u=user)[0]
    # the top 10: publish left out the paths through shoppers forgotten before, explain does not
    assert main(["explain", row["reader"], row["item"], "--json", "--top", "10"]) == 0
    before = capsys.readouterr().out
    assert f'"{user}"' in before

    erasure.forget_users(store, [user])
    # nor once a new customer takes the id: the store holds the user, not their purchases
    events.record(store, user, first_item(store), "view")
    assert main(["explain", row["reader"], row["item"], "--json", "--top", "10"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert user not in json.dumps(after)
    shown = [node for path in after["paths"] for node in path["nodes"][1:]
             if node["type"] == "User"]
    assert {"id": "shopper #1", "label": OTHER_SHOPPER} in [
        {"id": node["id"], "label": node["label"]} for node in shown]
    # the paths are those shown before, the forgotten shopper's id aside
    assert [path["sentence"] for path in after["paths"]] == [
        path["sentence"] for path in json.loads(before)["paths"]]


def test_many_users_go_in_batches_and_a_second_run_finds_none(
        publisher: Publisher, store: GraphStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(erasure, "USERS_PER_TRANSACTION", 2)
    monkeypatch.setattr(erasure, "PATHS_PER_TRANSACTION", 3)  # the paths' loop runs again
    users = sample_users(45)[40:45]  # not published: no paths of their own
    paths = count(store, "MATCH (e:Explanation)-[:STEP]->(u:User) WHERE u.id IN $ids", ids=users)
    done = erasure.forget_users(store, users)
    assert done.users == users and not done.unknown and done.paths == paths
    assert count(store, "MATCH (u:User) WHERE u.id IN $ids", ids=users) == 0
    again = erasure.forget_users(store, users)
    assert again.unknown == users and not again.users and again.purchases == 0


def test_the_api_forgets_with_the_token_and_the_user_is_then_unknown(
        publisher: Publisher, client: FlaskClient, store: GraphStore) -> None:
    user = sample_users(30)[29]
    assert client.get(f"/api/users/{user}/recommendations").status_code == 200
    assert_error(client.delete(f"/api/users/{user}"), 401, "unauthorized")
    assert_error(client.delete(f"/api/users/{user}", headers={"Authorization": "Bearer nope"}),
                 401, "unauthorized")
    assert count(store, "MATCH (u:User {id: $u})", u=user) == 1

    response = client.delete(f"/api/users/{user}", headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["user_id"] == user and body["purchases"] > 0 and body["recommendations"] == 10
    assert_error(client.get(f"/api/users/{user}/recommendations"), 404, "unknown_user")
    assert_error(client.delete(f"/api/users/{user}", headers=AUTH), 404, "unknown_user")


def test_without_a_token_configured_the_api_does_not_forget(
        settings: Settings, app: Flask, store: GraphStore) -> None:
    user = sample_users(20)[19]
    for reads_only in make_app(settings):
        error = assert_error(reads_only.test_client().delete(f"/api/users/{user}",
                                                             headers=AUTH), 403,
                             "writes_disabled")
        assert "GRAPHREC_API_TOKEN" in error["message"]
    assert count(store, "MATCH (u:User {id: $u})", u=user) == 1


def test_the_command_says_what_it_took_and_names_an_unknown_id(
        publisher: Publisher, settings: Settings, store: GraphStore,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRAPHREC_HOME", str(settings.home))
    user = sample_users(25)[24]
    bought = count(store, "MATCH (:User {id: $u})-[:BOUGHT]->()", u=user)
    assert main(["forget", user, "NO-SUCH-USER"]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith(f"forgot 1 users: {bought} purchases, 0 views, 0 dismissals, "
                                   "10 published recommendations and ")
    assert "until the next `graphrec train`" in captured.out
    assert captured.err.strip().endswith("not in the store: 'NO-SUCH-USER'")
    assert main(["recommend", user]) == 1
    assert "unknown user" in capsys.readouterr().err


def test_the_command_reads_ids_from_standard_input(
        publisher: Publisher, settings: Settings, store: GraphStore,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRAPHREC_HOME", str(settings.home))
    users = sample_users(48)[45:48]
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{users[0]}\n\n  {users[1]}  \n"))
    assert main(["forget", "-", users[2]]) == 0
    assert capsys.readouterr().out.startswith("forgot 3 users: ")
    assert count(store, "MATCH (u:User) WHERE u.id IN $ids", ids=users) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    assert main(["forget", "-"]) == 1
    assert "no user id given" in capsys.readouterr().err


def test_publishing_every_user_skips_those_forgotten_since_training(
        publisher: Publisher, settings: Settings, store: GraphStore,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """``graphrec publish`` for every user the model knows failed with a traceback
    (UnknownUser) once one of them had left the store."""
    monkeypatch.setenv("GRAPHREC_HOME", str(settings.home))
    erasure.forget_users(store, [sample_users(10)[9]])
    known = list(publisher.service.recommender.user_ids)
    gone = len(known) - count(store, "MATCH (u:User) WHERE u.id IN $ids", ids=known)
    assert gone >= 1
    assert main(["publish", "-k", "1", "--paths", "0", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"published {len(known) - gone:,} users: " in out
    assert f"skipped {gone:,} users the model knows that the store no longer holds" in out


def test_a_forgotten_shoppers_live_purchase_leaves_the_counts_at_the_next_look(
        app: Flask, client: FlaskClient, store: GraphStore,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The purchases reported live since training count in the sentences ("bought by 102 of
    them") until the next model: a forgotten shopper's went on counting, in every worker."""
    monkeypatch.setattr(service_module, "ACT_SPACING", 0.0)  # each look takes what it reads
    with app.app_context():
        service = get_engine().service()
    store.write("ingest/users", rows=[{"id": "BROWSING-ONLY"}])

    def first_popular() -> tuple[str, str]:
        service.take_purchases(time.monotonic())
        rec = client.get("/api/users/BROWSING-ONLY/recommendations").get_json()[
            "recommendations"][0]
        return rec["item_id"], rec["reason"]["sentence"]

    item, before = first_popular()
    buyers = int(service.recommender.buyers[service.recommender.item_index(item)])
    assert f"bought by {buyers} " in before
    response = client.post("/api/users/LIVE-THEN-GONE/events", headers=AUTH,
                           json={"item_id": item, "kind": "purchase"})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert first_popular() == (item, before.replace(f"by {buyers} ", f"by {buyers + 1} "))
    # purchases read a moment ago: the next read waits its spacing, an erasure does not
    monkeypatch.setattr(service_module, "ACT_SPACING", 3600.0)
    assert client.delete("/api/users/LIVE-THEN-GONE", headers=AUTH).status_code == 200
    assert first_popular() == (item, before)
