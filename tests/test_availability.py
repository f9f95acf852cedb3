"""Items the shop does not offer now (out of stock, discontinued), against the real store: the
write (API and command), and that no answer recommends them while they stay in the graph."""
from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from graphrec.cli import main
from graphrec.config import Settings
from graphrec.serving.details import catalogue_state
from graphrec.serving.publish import Publisher
from graphrec.store.connection import GraphStore
from tests.apps import assert_error, make_app, sample_users, writing_app
from tests.waiting import wait_for
from web.engine import get_engine
from web.schemas import AvailabilitySet

TOKEN = "availability-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def app(settings: Settings, session_store: GraphStore) -> Iterator[Flask]:
    """The sample with a trained model; writes enabled; the catalogue looked at every 0.2 s
    by the worker's watcher (so what is offered is read again within it)."""
    yield from writing_app(settings, session_store, TOKEN, CATALOGUE_CHECK_INTERVAL=0.2)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def store(app: Flask, session_store: GraphStore) -> Iterator[GraphStore]:
    """The module's store; every item offered again after each test, and the app's workers
    (here: the one) past reading so, so that no test starts from what another left."""
    yield session_store
    session_store.write_text("MATCH (i:Item) WHERE i.available IS NOT NULL "
                             "REMOVE i.available")
    session_store.write("catalogue/changed")  # as a write outside graphrec's must say
    session_store.write_text("MATCH (u:User) WHERE u.id STARTS WITH 'NEW-' DETACH DELETE u")
    with app.app_context():
        items = get_engine().service().items
        wait_for(lambda: not items.unavailable(), "every item read as offered again")


@pytest.fixture(scope="module")
def user(app: Flask) -> str:
    return sample_users()[0]


def put(client: FlaskClient, item_id: str, available, headers=AUTH):
    return client.put(f"/api/items/{item_id}/availability", json={"available": available},
                      headers=headers)


def page(client: FlaskClient, user_id: str, k: int = 10) -> list[tuple[str, int]]:
    response = client.get(f"/api/users/{user_id}/recommendations?k={k}")
    assert response.status_code == 200
    return [(rec["item_id"], rec["rank"]) for rec in response.get_json()["recommendations"]]


def items_of(listed: list[tuple[str, int]]) -> list[str]:
    return [item for item, _ in listed]


def offered_flag(store: GraphStore, item_id: str):
    return store.read_text("MATCH (i:Item {id: $item}) RETURN i.available AS a",
                           item=item_id)[0]["a"]


# --- the write ---------------------------------------------------------------------------------

def test_writes_need_the_token(settings: Settings, client: FlaskClient, store: GraphStore,
                               user: str) -> None:
    item = items_of(page(client, user))[0]
    for no_token in make_app(settings):
        assert_error(put(no_token.test_client(), item, False), 403, "writes_disabled")
    assert_error(put(client, item, False, headers={"Authorization": "Bearer wrong"}), 401,
                 "unauthorized")
    assert offered_flag(store, item) is None


@pytest.mark.parametrize(("body", "code"), [
    ({"available": "false"}, "invalid_available"),  # a string is not a boolean here
    ({"available": 0}, "invalid_available"),
    ({}, "invalid_available"),
    ({"available": False, "stock": 3}, "invalid_body"),  # a field it does not take
    ([False], "invalid_body"),
])
def test_a_bad_body_is_400_and_writes_nothing(client: FlaskClient, store: GraphStore, user: str,
                                              body, code: str) -> None:
    item = items_of(page(client, user))[0]
    response = client.put(f"/api/items/{item}/availability", json=body, headers=AUTH)
    assert_error(response, 400, code)
    assert offered_flag(store, item) is None


def test_an_item_not_in_the_catalogue_is_404(client: FlaskClient, store: GraphStore) -> None:
    assert_error(put(client, "NO-SUCH-ITEM", False), 404, "unknown_item")
    assert store.read_text("MATCH (i:Item {id: 'NO-SUCH-ITEM'}) RETURN i") == []


def test_the_answer_says_whether_anything_changed(client: FlaskClient, store: GraphStore,
                                                  user: str) -> None:
    item = items_of(page(client, user))[0]
    first, again = put(client, item, False), put(client, item, False)
    assert first.status_code == again.status_code == 200
    assert first.get_json() == {"item_id": item, "available": False, "changed": True}
    AvailabilitySet.model_validate(first.get_json())  # as the OpenAPI document says
    assert again.get_json() == {"item_id": item, "available": False, "changed": False}
    assert offered_flag(store, item) is False
    assert put(client, item, True).get_json()["changed"] is True
    assert offered_flag(store, item) is True


# --- what the answers do -----------------------------------------------------------------------

def test_an_item_not_offered_leaves_every_list_and_comes_back_to_its_place(
        client: FlaskClient, store: GraphStore, user: str) -> None:
    before = page(client, user)
    item = before[2][0]
    put(client, item, False)
    wait_for(lambda: item not in items_of(page(client, user)), "the item to leave the list")
    after = page(client, user)
    # the others keep their order, those below it one place up, a new tenth
    assert items_of(after)[:9] == [i for i in items_of(before) if i != item]
    assert [rank for _, rank in after] == list(range(1, 11))
    explained = client.get(f"/api/users/{user}/recommendations/{item}/explanation").get_json()
    assert explained["rank"] is None and explained["not_served"] == "unavailable"
    assert explained["paths"]  # why the model would, still shown
    put(client, item, True)
    wait_for(lambda: page(client, user) == before, "the list as it was")


def test_an_item_not_offered_still_explains_what_its_buyers_are_recommended(
        client: FlaskClient, store: GraphStore, user: str) -> None:
    reasons = client.get(f"/api/users/{user}/recommendations").get_json()["recommendations"]
    bought = next(node["id"] for rec in reasons if rec["reason"]
                  for node in rec["reason"]["nodes"][1:2])  # the purchase a reason starts from
    put(client, bought, False)
    wait_for(lambda: read_as_unavailable(client, bought), "the item to be read as not offered")
    again = client.get(f"/api/users/{user}/recommendations").get_json()["recommendations"]
    assert again == reasons  # a purchase stays a purchase, and a reason


def read_as_unavailable(client: FlaskClient, item_id: str) -> bool:
    with client.application.app_context():
        return item_id in get_engine().service().items.unavailable()


def test_the_popular_list_leaves_out_what_is_not_offered(client: FlaskClient, store: GraphStore
                                                         ) -> None:
    store.write_text("CREATE (:User {id: 'NEW-BROWSER-1'})")
    popular = items_of(page(client, "NEW-BROWSER-1"))
    put(client, popular[0], False)
    wait_for(lambda: items_of(page(client, "NEW-BROWSER-1"))[:9] == popular[1:],
             "the most bought item to leave the popular list")
    explained = client.get(f"/api/users/NEW-BROWSER-1/recommendations/{popular[0]}/explanation")
    assert explained.get_json()["not_served"] == "unavailable"


def test_publish_leaves_out_what_is_not_offered(app: Flask, client: FlaskClient,
                                                store: GraphStore, user: str) -> None:
    item = items_of(page(client, user))[0]
    put(client, item, False)
    with app.app_context():
        service = get_engine().service()
        wait_for(lambda: item in service.items.unavailable(), "the item read as not offered")
        published = [row["item"] for row in Publisher(service).build([user]).recommended]
    assert item not in published and len(published) == 10


# --- the command -------------------------------------------------------------------------------

def test_the_command_sets_lists_and_recommends_at_once(
        settings: Settings, client: FlaskClient, store: GraphStore, user: str,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRAPHREC_HOME", str(settings.home))
    first, second = items_of(page(client, user))[:2]
    assert main(["availability", "--off", first, second, first]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("2 items set not offered (2 changed, 0 were already)")
    assert out[1] == "2 items not offered now"
    assert main(["availability", "--list"]) == 0
    listed = capsys.readouterr()
    assert listed.out.split() == sorted([first, second])
    assert listed.err.strip() == "2 items not offered now"

    assert main(["recommend", user, "--json"]) == 0  # a command reads them when it answers
    recommended = capsys.readouterr().out
    assert first not in recommended and second not in recommended
    assert main(["explain", user, first]) == 0
    assert "not offered by the shop now (never recommended)" in capsys.readouterr().out

    assert main(["availability", "--on", first, "NO-SUCH-ITEM"]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("1 items set offered (1 changed, 0 were already)")
    assert captured.err.strip().endswith("not in the catalogue: 'NO-SUCH-ITEM'")
    assert offered_flag(store, first) is True and offered_flag(store, second) is False


@pytest.mark.parametrize("argv", [["B00AE0790U"], ["--off"], ["--list", "--on", "B00AE0790U"]])
def test_the_command_takes_one_of_off_on_or_list(argv: list[str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:
        main(["availability", *argv])
    assert usage.value.code == 2 and "--off" in capsys.readouterr().err


def test_an_item_sold_out_leaves_the_pages_at_the_next_look_while_the_catalogue_keeps_moving(
        app: Flask, client: FlaskClient, store: GraphStore, user: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A shop whose stock changes all the time keeps the catalogue moving from one look to
    the next, and a worker then reads the whole catalogue's details at most every ACT_SPACING
    seconds: the item stayed on the pages for up to that long (5 to 13 s after the write under
    a soak of availability changes every 3 s). Which items are offered is read at the next look
    (one query through an index), the titles still wait."""
    with app.app_context():
        service = get_engine().service()
    monkeypatch.setattr(service, "catalogue_check_interval", 0)  # looks by hand only
    listed = items_of(page(client, user))
    service.look_at_catalogue()  # the catalogue as it is: the previous look
    monkeypatch.setattr(service, "_acted_at", time.monotonic())  # acted on just now
    read_with = service.items.changed
    assert put(client, listed[0], False).status_code == 200
    service.look_at_catalogue()  # moved since the previous look, and acted on lately
    assert listed[0] not in items_of(page(client, user))
    assert service.items.changed == read_with  # the titles not read again yet
    assert service.items.refresh_offered(catalogue_state(store).changed) is False  # read once


def test_an_item_set_off_leaves_the_very_next_answer_without_a_look(
        app: Flask, client: FlaskClient, store: GraphStore, user: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each request reads the catalogue's change marker with the user's history, and a worker
    whose offered items were read with another marker reads them before it answers. Read at
    the looks alone, an item set off stayed on the pages of a worker until its next look (up to
    GRAPHREC_CATALOGUE_CHECK_INTERVAL seconds, 1.93 s in a soak), and a list and an
    explanation answered by two workers ranked the items below it a place apart."""
    import graphrec.serving.details as details

    with app.app_context():
        service = get_engine().service()
    monkeypatch.setattr(service, "catalogue_check_interval", 0)  # no look from here on
    reads = []
    read = details.read_unavailable
    monkeypatch.setattr(details, "read_unavailable",
                        lambda s: reads.append(1) or read(s))  # the real read, counted
    before = page(client, user)
    assert reads == []  # nothing moved: the history's query alone
    item = before[1][0]
    assert put(client, item, False).status_code == 200
    after = page(client, user)  # at once: no wait
    assert items_of(after)[:9] == [i for i in items_of(before) if i != item]
    assert reads == [1]
    explained = client.get(f"/api/users/{user}/recommendations/{item}/explanation").get_json()
    assert explained["rank"] is None and explained["not_served"] == "unavailable"
    below = before[2][0]
    explained = client.get(f"/api/users/{user}/recommendations/{below}/explanation").get_json()
    assert explained["rank"] == 2  # a place up, as on the page
    assert reads == [1]  # read once for the change
    assert put(client, item, True).status_code == 200
    assert page(client, user) == before
    assert reads == [1, 1]
