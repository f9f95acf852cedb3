"""The web service's answers never name the other shoppers a co-buyer path goes through; the
commands and graphrec.connect(), whose users read the store anyway, do."""
from __future__ import annotations

import csv
import gzip
import json

import pytest
from flask import Flask
from flask.testing import FlaskClient

import graphrec
from graphrec.config import Settings
from graphrec.explain.reasons import OTHER_SHOPPER, anonymised
from graphrec.store.connection import GraphStore
from tests.apps import sample_users
from tests.conftest import SAMPLE


def every_user() -> set[str]:
    with gzip.open(SAMPLE / "users.csv.gz", "rt", newline="") as fh:
        return {row["user_id"] for row in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def co_bought(trained_app: Flask) -> tuple[str, str]:
    """A user and an item of their page whose explanation holds a co-buyer path."""
    client = trained_app.test_client()
    for user in sample_users(200):
        for rec in client.get(f"/api/users/{user}/recommendations").get_json()[
                "recommendations"]:
            url = f"/api/users/{user}/recommendations/{rec['item_id']}/explanation"
            if any(p["kind"] == "collaborative" for p in client.get(url).get_json()["paths"]):
                return user, rec["item_id"]
    raise AssertionError("no co-buyer path among 200 users' pages")


def test_an_explanation_names_no_other_shopper(client: FlaskClient, co_bought: tuple[str, str],
                                               session_store: GraphStore) -> None:
    user, item = co_bought
    url = f"/api/users/{user}/recommendations/{item}/explanation"
    response = client.get(url)
    others = every_user() - {user}
    assert not [u for u in others if u in response.get_data(as_text=True)]
    graphml = client.get(url + "?format=graphml").get_data(as_text=True)
    assert not [u for u in others if u in graphml] and OTHER_SHOPPER in graphml
    path = next(p for p in response.get_json()["paths"] if p["kind"] == "collaborative")
    shopper = path["nodes"][2]
    assert (shopper["type"], shopper["label"]) == ("User", OTHER_SHOPPER)
    assert shopper["id"].startswith("shopper #")
    # the path's Cypher still finds it in the store, through any co-buyer
    assert path["cypher"]["params"]["other"] is None
    assert session_store.read(path["cypher"]["query"], **path["cypher"]["params"])


def test_pages_and_lists_name_no_other_shopper(client: FlaskClient, settings: Settings) -> None:
    """The lists whose first reasons go through co-buyers, and their pages (which draw the paths
    from the explanations the API answers): one numbering a list, one number a shopper."""
    others, seen = every_user(), 0
    with graphrec.connect(settings=settings) as shop:
        for user in sample_users(2000):
            body = client.get(f"/api/users/{user}/recommendations").get_data(as_text=True)
            if body.count(OTHER_SHOPPER) < 2:
                continue
            page = client.get(f"/users/{user}").get_data(as_text=True)
            for text in (body, page):
                assert not [u for u in others - {user} if u in text]
            shown = [co_buyer(r["reason"]) for r in json.loads(body)["recommendations"]]
            named = [co_buyer(r["reason"]) for r in shop.recommend(user)]
            pairs = {(a, b) for a, b in zip(shown, named) if a is not None}
            assert len({a for a, _ in pairs}) == len({b for _, b in pairs}) == len(pairs)
            assert {a for a, _ in pairs} == {f"shopper #{n}" for n in range(1, len(pairs) + 1)}
            seen += 1
            if seen == 5:
                return
    raise AssertionError(f"{seen} lists lead with two co-buyer paths")


def co_buyer(reason: dict | None) -> str | None:
    """The other shopper's id in a first reason, if it is a co-buyer path."""
    return reason["nodes"][2]["id"] if reason and reason["kind"] == "collaborative" else None


def test_the_commands_name_them(trained_app: Flask, settings: Settings,
                                co_bought: tuple[str, str]) -> None:
    user, item = co_bought
    with graphrec.connect(settings=settings) as shop:
        paths = [p for p in shop.explain(user, item)["paths"] if p["kind"] == "collaborative"]
    assert paths and all(p["nodes"][2]["id"] in every_user() - {user} for p in paths)
    assert all(p["cypher"]["params"]["other"] == p["nodes"][2]["id"] for p in paths)


def test_one_shopper_keeps_one_number_within_an_answer() -> None:
    def path(other: str) -> dict:
        return {"kind": "collaborative",
                "nodes": [{"key": "n0", "type": "User", "id": "me", "label": "me"},
                          {"key": "n1", "type": "Item", "id": "a", "label": "A"},
                          {"key": "n2", "type": "User", "id": other, "label": other},
                          {"key": "n3", "type": "Item", "id": "b", "label": "B"}],
                "cypher": {"query": "explain/collaborative",
                           "params": {"user": "me", "other": other}}}

    shown = anonymised([path("x@shop.example"), path("y@shop.example"), path("x@shop.example")])
    assert [p["nodes"][2]["id"] for p in shown] == ["shopper #1", "shopper #2", "shopper #1"]
    assert [p["nodes"][0]["id"] for p in shown] == ["me"] * 3
    assert "shop.example" not in repr(shown)
