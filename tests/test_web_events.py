"""Feedback events through the API and the page, against the real store: the token, what each
kind writes, and that the next answer reflects it."""
from __future__ import annotations

import io
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

import pytest
from flask import Flask
from flask.testing import FlaskClient

from graphrec.config import Settings
from graphrec.serving import events
from graphrec.store.connection import GraphStore
from tests.apps import assert_error, make_app, sample_users, unreachable, writing_app
from web import create_app
from web.engine import get_engine

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NEW_USER = "NEW-CUSTOMER-1"
R = TypeVar("R")


@pytest.fixture(scope="module")
def events_app(settings: Settings, session_store: GraphStore) -> Iterator[Flask]:
    """The sample with a trained model; writes enabled with :data:`TOKEN`. Users the tests
    create are removed afterwards (they would change the data the model was trained on)."""
    yield from writing_app(settings, session_store, TOKEN)


@pytest.fixture
def client(events_app: Flask) -> FlaskClient:
    return events_app.test_client()


@pytest.fixture
def store(session_store: GraphStore) -> Iterator[GraphStore]:
    """The module's store; the events a test wrote are removed after it."""
    yield session_store
    session_store.write_text("MATCH (:User)-[r:DISMISSED|VIEWED]->(:Item) DELETE r")
    session_store.write_text("MATCH (:User)-[r:BOUGHT {split: 'live'}]->(:Item) DELETE r")
    session_store.write_text("MATCH (u:User) WHERE u.id STARTS WITH 'NEW-' DETACH DELETE u")


@pytest.fixture(scope="module")
def user(events_app: Flask) -> str:
    return sample_users()[0]


def post(client: FlaskClient, user_id: str, item_id: str, kind: str, headers=AUTH):
    return client.post(f"/api/users/{user_id}/events", json={"item_id": item_id, "kind": kind},
                       headers=headers)


def at_once(call: Callable[[str], R], args: list[str]) -> list[R]:
    """``call`` of each of ``args``, each from a thread of its own, all released together."""
    barrier = threading.Barrier(len(args))

    def released(arg: str) -> R:
        barrier.wait()
        return call(arg)

    with ThreadPoolExecutor(len(args)) as pool:
        return list(pool.map(released, args))


def recommended(client: FlaskClient, user_id: str, k: int = 10) -> list[str]:
    response = client.get(f"/api/users/{user_id}/recommendations?k={k}")
    assert response.status_code == 200
    return [rec["item_id"] for rec in response.get_json()["recommendations"]]


def edges(store: GraphStore, user_id: str, rel: str) -> list[dict]:
    return store.read_text(f"MATCH (u:User {{id: $user}})-[r:{rel}]->(i:Item) "
                           "RETURN i.id AS item, properties(r) AS props ORDER BY item",
                           user=user_id)


# --- the token ---------------------------------------------------------------------------------

def test_writes_are_off_without_a_configured_token(settings: Settings,
                                                   session_store: GraphStore) -> None:
    for app in make_app(settings):
        response = app.test_client().post("/api/users/A1/events",
                                          json={"item_id": "I1", "kind": "view"}, headers=AUTH)
        error = assert_error(response, 403, "writes_disabled")
        assert "GRAPHREC_API_TOKEN" in error["message"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": f"Basic {TOKEN}"},
                                     {"Authorization": f"Bearer {TOKEN}x"},
                                     {"Authorization": "Bearer é"}])
def test_a_write_without_the_right_token_is_401(client: FlaskClient, store: GraphStore,
                                                user: str, headers: dict,
                                                caplog: pytest.LogCaptureFixture) -> None:
    item = recommended(client, user)[0]
    with caplog.at_level(logging.DEBUG):
        response = post(client, user, item, "dismiss", headers=headers)
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert TOKEN not in response.get_data(as_text=True) and TOKEN not in caplog.text
    assert edges(store, user, "DISMISSED") == []


def test_reads_stay_open(client: FlaskClient, user: str) -> None:
    assert client.get(f"/api/users/{user}/recommendations").status_code == 200


def test_secrets_from_the_environment_are_kept_verbatim(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHREC_API_TOKEN", "1e5")
    assert create_app().config["API_TOKEN"] == "1e5"  # not the number 100000.0


# --- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "code"), [
    ({"item_id": "B00AE0790U", "kind": "like"}, "invalid_kind"),
    ({"item_id": "B00AE0790U"}, "invalid_kind"),
    ({"kind": "view"}, "invalid_item_id"),
    ({"item_id": 7, "kind": "view"}, "invalid_item_id"),
    ({"item_id": "", "kind": "view"}, "invalid_item_id"),
    ({"item_id": "x" * 101, "kind": "view"}, "invalid_item_id"),
    ({"item_id": "..", "kind": "view"}, "invalid_item_id"),
    ({"item_id": "B00AE0790U", "kind": "view", "user_id": "someone-else"}, "invalid_body"),
    ({"item_id": "B00AE0790U", "kind": "view", "x": 1}, "invalid_body"),
    (["B00AE0790U", "view"], "invalid_body"),
    ("not json", "invalid_body"),
    ("[" * 2000 + "]" * 2000, "invalid_body"),  # deeper than the JSON parser goes
    ('{"item_id": "B00AE0790U", "kind": "view", "pad": ' + "[" * 1500 + "]" * 1500 + "}",
     "invalid_body"),
])
def test_bad_body_is_400(client: FlaskClient, body, code: str) -> None:
    if isinstance(body, str):
        response = client.post("/api/users/A1/events", data=body, headers=AUTH)
    else:
        response = client.post("/api/users/A1/events", json=body, headers=AUTH)
    assert_error(response, 400, code)


def test_a_body_over_the_limit_is_413_with_its_length_or_chunked(client: FlaskClient,
                                                                 store: GraphStore) -> None:
    """A chunked body has no length to refuse it by: it is read up to the limit, then
    refused the same way, and nothing is written."""
    big = json.dumps({"item_id": "B00AE0790U", "kind": "view", "pad": "x" * 8192}).encode()
    sized = client.post("/api/users/NEW-BIG/events", data=big, headers=AUTH,
                        content_type="application/json")
    assert_error(sized, 413, "body_too_large")
    chunked = client.post("/api/users/NEW-BIG/events", input_stream=io.BytesIO(big),
                          headers={**AUTH, "Transfer-Encoding": "chunked",
                                   "Content-Type": "application/json"},
                          environ_overrides={"wsgi.input_terminated": True})
    assert_error(chunked, 413, "body_too_large")
    assert not store.read_text("MATCH (u:User {id: 'NEW-BIG'}) RETURN u.id AS id")


def test_a_field_the_body_does_not_have_is_named(client: FlaskClient, store: GraphStore) -> None:
    """An extra field is refused, not ignored: one named like the path's user would otherwise
    read as the event's user."""
    body = {"item_id": "B00AE0790U", "kind": "view", "user_id": "NEW-OTHER"}
    error = assert_error(client.post("/api/users/NEW-EXTRA/events", json=body, headers=AUTH),
                         400, "invalid_body")
    assert error["message"] == "user_id: not a field of this body"
    assert not store.read_text("MATCH (u:User) WHERE u.id STARTS WITH 'NEW-' RETURN u.id AS id")


@pytest.mark.parametrize("name", ["x", "invalid_k", "<b>q</b>", "q" * 3000])
def test_a_field_the_body_does_not_have_never_makes_the_code(client: FlaskClient,
                                                             name: str) -> None:
    """The code is one of a fixed set, whatever the client names: it was ``invalid_<name>``,
    and a 3,000-character name came back twice, in the code and the message (6 KB)."""
    body = {"item_id": "B00AE0790U", "kind": "view", name: 1}
    response = client.post("/api/users/NEW-EXTRA/events", json=body, headers=AUTH)
    error = assert_error(response, 400, "invalid_body")
    assert error["message"] == f"{name[:40]}{'…' if len(name) > 40 else ''}: not a field of " \
                               "this body"
    assert len(response.get_data()) < 300


@pytest.mark.parametrize("user_id", ["a%00b", "%2E", "%2E%2E"])
def test_bad_user_id_is_400(client: FlaskClient, store: GraphStore, user_id: str) -> None:
    """The ids ``graphrec ingest`` refuses (graphrec.schema.id_problem): ``.`` and ``..`` are
    resolved away by a browser in the page's links."""
    assert_error(post(client, user_id, "B00AE0790U", "view"), 400, "invalid_user_id")
    assert not store.read_text("MATCH (u:User) WHERE u.id IN ['.', '..'] RETURN u.id AS id")


@pytest.mark.parametrize(("method", "url"), [
    ("post", "/api/users/a%00b/events"), ("post", "/api/users/%2E%2E/events"),
    ("delete", "/api/users/" + "x" * 150), ("put", "/api/items/a%00b/availability")])
def test_the_token_is_checked_before_the_path(client: FlaskClient, settings: Settings,
                                              session_store: GraphStore, method: str,
                                              url: str) -> None:
    """A client without the token learns nothing of what an id should be: 401 (403 on a
    server with writes off) before the path is validated."""
    assert_error(getattr(client, method)(url, json={}), 401, "unauthorized")
    for app in make_app(settings):
        assert_error(getattr(app.test_client(), method)(url, json={}), 403, "writes_disabled")


def test_unknown_item_is_404_and_writes_nothing(client: FlaskClient, store: GraphStore) -> None:
    assert_error(post(client, NEW_USER, "NO-SUCH-ITEM", "purchase"), 404, "unknown_item")
    assert store.read_text("MATCH (u:User {id: $id}) RETURN u.id AS id", id=NEW_USER) == []


# --- what each kind writes, and the next answer -------------------------------------------------

def test_a_purchase_creates_a_new_customer(client: FlaskClient, store: GraphStore,
                                           user: str) -> None:
    item = recommended(client, user)[0]
    response = post(client, NEW_USER, item, "purchase")
    assert response.status_code == 201
    body = response.get_json()
    assert body["user_id"] == NEW_USER and body["item_id"] == item and body["kind"] == "purchase"
    assert body["created"] is True and body["new_user"] is True and body["at"] > 1.7e12
    assert edges(store, NEW_USER, "BOUGHT") == [
        {"item": item, "props": {"split": "live", "at": body["at"]}}]

    again = post(client, NEW_USER, item, "purchase")  # a retried request adds nothing
    assert again.status_code == 200
    assert again.get_json()["created"] is False and again.get_json()["at"] == body["at"]
    assert len(edges(store, NEW_USER, "BOUGHT")) == 1


def test_a_new_customers_first_events_at_once_all_land(client: FlaskClient,
                                                        store: GraphStore) -> None:
    """Sixteen first events of one new customer sent at once (a shop front reporting a burst):
    each is written, the user once, and one of them says it made the user. Without the retry,
    ArcadeDB's MERGE let two create the user and failed the later on the uniqueness
    constraint: a 500 for about one event in six through gunicorn."""
    items = [row["id"] for row in store.read_text(
        "MATCH (i:Item) WHERE i.external IS NULL RETURN i.id AS id ORDER BY id LIMIT 16")]
    for burst in range(3):  # the race is one of timing: three customers, to meet it
        user = f"NEW-BURST-{burst}"
        recorded = at_once(partial(events.record, store, user, kind="view"), items)
        assert sorted(event.item_id for event in recorded) == sorted(items)
        assert sum(event.new_user for event in recorded) == 1
        assert store.read_text("MATCH (u:User {id: $user})-[v:VIEWED]->() RETURN "
                               "count(DISTINCT u) AS users, count(v) AS views", user=user) == [
            {"users": 1, "views": len(items)}]


@pytest.mark.parametrize(("kind", "rel", "count"), [
    ("view", "VIEWED", 16), ("dismiss", "DISMISSED", 0), ("purchase", "BOUGHT", 0)])
def test_one_pairs_events_at_once_leave_one_relationship(
        kind: str, rel: str, count: int, events_app: Flask, store: GraphStore) -> None:
    """Sixteen events of one pair at once (a page reloaded, a button pressed twice): one
    relationship, its views all counted. Before each event wrote its user first, ArcadeDB let
    concurrent MERGEs of the pair each make one: 3 to 10 VIEWED or DISMISSED relationships,
    and views counted on every one of them (59 for 16)."""
    item, other = (row["id"] for row in store.read_text(
        "MATCH (i:Item) WHERE i.external IS NULL RETURN i.id AS id ORDER BY id LIMIT 2"))
    for burst in range(2):
        user = f"NEW-PAIR-{kind}-{burst}"
        events.record(store, user, other, "view")  # a customer the store knows
        at_once(partial(events.record, store, user, kind=kind), [item] * 16)
        assert store.read_text(
            f"MATCH (:User {{id: $user}})-[r:{rel}]->(:Item {{id: $item}}) "
            "RETURN count(r) AS rels, sum(r.count) AS count", user=user, item=item) == [
            {"rels": 1, "count": count}]


def test_a_purchase_is_never_recommended_again(client: FlaskClient, store: GraphStore,
                                               user: str) -> None:
    item = recommended(client, user)[0]
    assert post(client, user, item, "purchase").status_code == 201
    after = recommended(client, user, k=100)
    assert len(after) == 100 and item not in after


def test_a_purchase_known_already_keeps_its_split(client: FlaskClient, store: GraphStore,
                                                  user: str) -> None:
    bought = edges(store, user, "BOUGHT")[0]
    response = post(client, user, bought["item"], "purchase")
    assert response.status_code == 200 and response.get_json()["created"] is False
    assert edges(store, user, "BOUGHT")[0] == bought


def test_a_dismissed_item_never_comes_back(client: FlaskClient, store: GraphStore,
                                           user: str) -> None:
    before = recommended(client, user)
    for item in before[:3]:
        response = post(client, user, item, "dismiss")
        assert response.status_code == 201 and response.get_json()["created"] is True
    after = recommended(client, user, k=100)
    assert len(after) == 100 and not set(before[:3]) & set(after)
    assert recommended(client, user)[:7] == before[3:]  # the rest move up, in order
    assert post(client, user, before[0], "dismiss").status_code == 200  # dismissed already
    assert [e["item"] for e in edges(store, user, "DISMISSED")] == sorted(before[:3])


def test_an_explanation_after_a_dismissal_gives_the_place_in_the_list_now(
        client: FlaskClient, store: GraphStore, user: str) -> None:
    """The page leaves its items' places for the explanation clicked on it; once an item above
    is dismissed the list has moved up, and so has the place the explanation gives."""
    def place(item: str) -> int:
        response = client.get(f"/api/users/{user}/recommendations/{item}/explanation")
        assert response.status_code == 200
        return response.get_json()["rank"]

    page = recommended(client, user)
    assert [place(item) for item in page] == list(range(1, 11))
    assert post(client, user, page[0], "dismiss").status_code == 201
    assert [place(item) for item in page[1:]] == list(range(1, 10))


def test_views_are_counted_on_one_relationship(client: FlaskClient, store: GraphStore,
                                               user: str) -> None:
    item = recommended(client, user)[0]
    first = post(client, user, item, "view")
    second = post(client, user, item, "view")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.get_json()["at"] >= first.get_json()["at"]
    [viewed] = edges(store, user, "VIEWED")
    assert viewed == {"item": item, "props": {"at": second.get_json()["at"], "count": 2}}
    assert item in recommended(client, user)  # a view excludes nothing


def test_a_dismissed_item_is_not_published(events_app: Flask, store: GraphStore,
                                           user: str, client: FlaskClient) -> None:
    from graphrec.serving.publish import Publisher

    item = recommended(client, user)[0]
    post(client, user, item, "dismiss")
    with events_app.app_context():
        publisher = Publisher(get_engine().service(), k=10, paths=1)
    rows = publisher.build([user]).recommended
    assert len(rows) == 10 and item not in {row["item"] for row in rows}
    served = scores(client, user, 20)
    assert all(abs(row["score"] - served[row["item"]]) < 1e-9 for row in rows)


def scores(client: FlaskClient, user_id: str, k: int) -> dict[str, float]:
    response = client.get(f"/api/users/{user_id}/recommendations?k={k}")
    return {rec["item_id"]: rec["score"] for rec in response.get_json()["recommendations"]}


def test_a_dismissed_item_does_not_feed_the_scores(client: FlaskClient, user: str) -> None:
    before = scores(client, user, 20)
    item = next(iter(before))
    assert post(client, user, item, "dismiss").status_code == 201
    after = scores(client, user, 20)
    kept = set(before) & set(after)
    assert item not in after and len(kept) == 19
    assert all(abs(before[i] - after[i]) < 1e-9 for i in kept)  # a dismissal is not a purchase


# --- views: a shopper before their first purchase -------------------------------------------------

VIEWER, BUYER = "NEW-VIEWER-1", "NEW-BUYER-1"


def page(client: FlaskClient, user_id: str) -> list[dict]:
    response = client.get(f"/api/users/{user_id}/recommendations?k=10")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["recommendations"]


def explanation(client: FlaskClient, user_id: str, item_id: str) -> dict:
    response = client.get(f"/api/users/{user_id}/recommendations/{item_id}/explanation")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_a_shopper_who_only_viewed_is_answered_from_their_views(
        client: FlaskClient, store: GraphStore, user: str) -> None:
    """Scored as a shopper who bought what they looked at, and explained by what they looked
    at: the same list, scores and paths, each path starting with the VIEWED edge."""
    looked = recommended(client, user)[:2]
    for item in looked:
        assert post(client, VIEWER, item, "view").status_code == 201
        assert post(client, BUYER, item, "purchase").status_code == 201
    viewer, buyer = page(client, VIEWER), page(client, BUYER)
    assert len(viewer) == 10 and not set(looked) & {rec["item_id"] for rec in viewer}
    assert [(r["item_id"], r["score"]) for r in viewer] == [(r["item_id"], r["score"])
                                                            for r in buyer]
    for seen, bought in zip(viewer, buyer):
        reason, same = seen["reason"], bought["reason"]
        assert reason["relationships"][0] == {"type": "VIEWED", "from": "n0", "to": "n1"}
        assert reason["relationships"][1:] == same["relationships"][1:]
        assert reason["nodes"][1]["id"] in looked and reason["weight"] == same["weight"]
        assert reason["sentence"] == same["sentence"].replace("You bought", "You viewed", 1)
        call = reason["cypher"]
        assert call["params"]["start"] == "VIEWED" and store.read(call["query"], **call["params"])
        assert not store.read(call["query"], **{**call["params"], "start": "BOUGHT"})

    top = explanation(client, VIEWER, viewer[0]["item_id"])
    assert (top["basis"], top["rank"], top["not_served"]) == ("views", 1, None)
    assert top["paths"] and all(p["relationships"][0]["type"] == "VIEWED" for p in top["paths"])
    assert explanation(client, BUYER, viewer[0]["item_id"])["basis"] == "purchases"
    again = explanation(client, VIEWER, looked[0])  # what the list is made from is not on it
    assert (again["rank"], again["not_served"], again["already_bought"], again["paths"]) == (
        None, "viewed", False, [])


def test_a_first_purchase_replaces_the_views(client: FlaskClient, store: GraphStore,
                                              user: str) -> None:
    looked, bought = recommended(client, user)[:2]
    post(client, VIEWER, looked, "view")
    assert post(client, VIEWER, bought, "purchase").status_code == 201
    for rec in page(client, VIEWER):
        first = rec["reason"]["relationships"][0]["type"], rec["reason"]["nodes"][1]["id"]
        assert first == ("BOUGHT", bought)
    answer = explanation(client, VIEWER, looked)  # viewed, and now it can be recommended
    assert answer["basis"] == "purchases" and answer["not_served"] != "viewed"
    assert explanation(client, VIEWER, bought)["not_served"] == "bought"


def test_a_shopper_who_only_viewed_is_published_from_their_views(
        events_app: Flask, store: GraphStore, user: str, client: FlaskClient) -> None:
    from graphrec.serving.publish import Publisher

    for item in recommended(client, user)[:2]:
        post(client, VIEWER, item, "view")
    with events_app.app_context():
        publisher = Publisher(get_engine().service(), k=10, paths=1)
    batch = publisher.build([VIEWER])
    assert [row["item"] for row in batch.recommended] == recommended(client, VIEWER)
    assert len(batch.explanations) == 10
    assert all(row["sentence"].startswith("You viewed ") for row in batch.explanations)
    assert {row["rel"] for row in batch.steps["Item"] if row["position"] == 1} == {"VIEWED"}


def test_explain_says_why_an_item_is_not_served(
        client: FlaskClient, store: GraphStore, user: str, settings: Settings,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from graphrec.cli import main

    monkeypatch.setenv("GRAPHREC_HOME", str(settings.home))
    first, second = recommended(client, user)[:2]
    post(client, VIEWER, first, "view")
    post(client, VIEWER, second, "dismiss")
    lines = []
    for item in (first, second, recommended(client, VIEWER)[0]):
        assert main(["explain", VIEWER, item]) == 0
        lines.append(capsys.readouterr().out.splitlines())
    assert len(lines[0]) == 1  # a viewed item has no path, and that is not news
    lines = [out[0] for out in lines]
    assert lines[0].endswith(", viewed (the list is picked from the items viewed)")
    assert lines[1].endswith(", dismissed (never recommended again)")
    assert lines[2].endswith(", rank 1 among the items picked from what they viewed")
    assert main(["recommend", VIEWER, "-k", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{VIEWER} has bought nothing yet: picked from the items they viewed"
    assert "You viewed " in out[2]


# --- the page -----------------------------------------------------------------------------------

def signed_in(client: FlaskClient, user_id: str) -> FlaskClient:
    """``client`` signed in with the API token through the page's form, as a person does."""
    html = client.get(f"/users/{user_id}").get_data(as_text=True)
    csrf = re.findall(r'name="csrf_token" value="([^"]+)"', html)[0]
    response = client.post(f"/users/{user_id}/sign-in", data={"csrf_token": csrf,
                                                              "token": f" {TOKEN} "})
    assert response.status_code == 303 and response.headers["Location"] == f"/users/{user_id}"
    return client


def page_form(client: FlaskClient, user_id: str) -> tuple[list[str], str]:
    html = client.get(f"/users/{user_id}").get_data(as_text=True)
    items = re.findall(r'class="rec" tabindex="0" data-item="([^"]+)"', html)
    tokens = set(re.findall(r'name="csrf_token" value="([^"]+)"', html))
    assert len(tokens) == 1 and html.count('name="kind" value="dismiss"') == len(items)
    return items, tokens.pop()


def test_the_page_posts_feedback_and_the_list_changes(client: FlaskClient, store: GraphStore,
                                                      user: str) -> None:
    items, csrf = page_form(signed_in(client, user), user)
    assert TOKEN not in client.get(f"/users/{user}").get_data(as_text=True)
    response = client.post(f"/users/{user}/events",
                           data={"csrf_token": csrf, "item_id": items[0], "kind": "dismiss"})
    assert response.status_code == 303 and response.headers["Location"] == f"/users/{user}"
    after, _ = page_form(client, user)
    assert items[0] not in after and after[:9] == items[1:]
    response = client.post(f"/users/{user}/events",
                           data={"csrf_token": csrf, "item_id": after[0], "kind": "purchase"})
    assert response.status_code == 303
    assert after[0] not in page_form(client, user)[0]
    assert {e["item"] for e in edges(store, user, "BOUGHT")} >= {after[0]}


@pytest.mark.parametrize("csrf", [None, "", "forged"])
def test_the_page_refuses_a_form_without_its_csrf_token(client: FlaskClient, store: GraphStore,
                                                        user: str, csrf: str | None) -> None:
    items, _ = page_form(signed_in(client, user), user)
    data = {"item_id": items[0], "kind": "dismiss"}
    if csrf is not None:
        data["csrf_token"] = csrf
    response = client.post(f"/users/{user}/events", data=data)
    assert response.status_code == 400 and "Reload the page" in response.get_data(as_text=True)
    no_session = client.application.test_client()
    assert no_session.post(f"/users/{user}/events", data=data).status_code == 401
    assert edges(store, user, "DISMISSED") == []


def test_the_page_writes_only_for_a_session_signed_in_with_the_api_token(
        client: FlaskClient, store: GraphStore, user: str) -> None:
    """Anyone who opens a page holds its form token: a write took that alone, for any shopper
    (one with no page too) and any item, and the next training learnt from it."""
    html = client.get(f"/users/{user}").get_data(as_text=True)
    assert 'class="feedback"' not in html and 'class="sign-in"' in html
    csrf = re.findall(r'name="csrf_token" value="([^"]+)"', html)[0]
    item = re.findall(r'data-item="([^"]+)"', html)[0]
    for target in (user, "NEW-FORGED-BUYER"):
        forged = client.post(f"/users/{target}/events",
                             data={"csrf_token": csrf, "item_id": item, "kind": "purchase"})
        assert forged.status_code == 401 and "Sign in" in forged.get_data(as_text=True)
    wrong = client.post(f"/users/{user}/sign-in", data={"csrf_token": csrf, "token": "guess"})
    assert wrong.status_code == 401
    assert 'class="feedback"' not in client.get(f"/users/{user}").get_data(as_text=True)
    assert client.post(f"/users/{user}/sign-in", data={"token": TOKEN}).status_code == 400
    assert item not in {e["item"] for e in edges(store, user, "BOUGHT")}
    assert store.read_text("MATCH (u:User {id: 'NEW-FORGED-BUYER'}) RETURN u") == []
    signed_in(client, user)
    html = client.get(f"/users/{user}").get_data(as_text=True)
    assert 'class="feedback"' in html and 'class="sign-in"' not in html and TOKEN not in html
    with client.session_transaction() as session:
        assert TOKEN not in str(dict(session))


def test_a_new_api_token_signs_every_page_out(client: FlaskClient, store: GraphStore,
                                              user: str) -> None:
    """A signed-in session was a flag alone: the server restarted with another token (the
    old one leaked, say) still took the old session's writes."""
    items, csrf = page_form(signed_in(client, user), user)
    app = client.application
    app.config["API_TOKEN"] = "a-new-token-0123456789abcdef"
    try:
        refused = client.post(f"/users/{user}/events",
                              data={"csrf_token": csrf, "item_id": items[0], "kind": "dismiss"})
        assert refused.status_code == 401
        assert 'class="sign-in"' in client.get(f"/users/{user}").get_data(as_text=True)
        assert edges(store, user, "DISMISSED") == []
    finally:
        app.config["API_TOKEN"] = TOKEN
    assert page_form(client, user)[0] == items  # the old token again: signed in again


def test_the_page_has_no_buttons_while_writes_are_off(settings: Settings,
                                                      session_store: GraphStore,
                                                      user: str) -> None:
    for app in make_app(settings):
        page = app.test_client()
        html = page.get(f"/users/{user}").get_data(as_text=True)
        assert html.count('class="rec"') == 10 and 'class="feedback"' not in html
        with page.session_transaction() as session:
            session["csrf"] = "known"
        response = page.post(f"/users/{user}/events",
                             data={"csrf_token": "known", "item_id": "I1", "kind": "dismiss"})
        assert response.status_code == 403
        # a form from a page served before writes went off: no session holds a form token
        # now, and the answer says why, not that the form expired
        stale = app.test_client().post(f"/users/{user}/events",
                                       data={"csrf_token": "old", "item_id": "I1",
                                             "kind": "dismiss"})
        assert stale.status_code == 403 and "Feedback is off" in stale.get_data(as_text=True)


def test_a_write_to_a_store_that_is_down_is_a_quick_503(tmp_path: Path) -> None:
    """A write waits on a request's thread: the writer retried for 5 s and more (7 s), which
    held a worker's thread from every other request, health checks included, while reads
    answered 503 at once. Each write, the first included, now answers as quickly."""
    app = create_app({"TESTING": True, "SETTINGS": unreachable(tmp_path), "API_TOKEN": TOKEN,
                      "MODEL_CHECK_INTERVAL": 0})
    try:
        client = app.test_client()
        for _ in range(2):
            started = time.monotonic()
            response = post(client, "NEW-DOWN", "B00AE0790U", "view")
            assert time.monotonic() - started < 1.5
            assert_error(response, 503, "store_unavailable")
            assert response.headers["Retry-After"]
    finally:
        app.extensions["graphrec"].close()
