"""Markup hidden behind HTML entities, and ids or text that could never be served, in both
readers: ids with control characters, ``/``, ``.`` or ``..`` skip their row; text with a control
character loses the field; entity-encoded markup is markup."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.amazon_json import read_amazon_json
from ingest.csv_catalogue import read_csv_catalogue
from ingest.records import Item, ItemLink, Purchase
from ingest.validate import BadValue, clean_text, parse_id


@pytest.mark.parametrize("unescape", [True, False])
@pytest.mark.parametrize("raw", [
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "Nice &lt;img src=x onerror=alert(1)&gt;",
    "&amp;lt;script&amp;gt;",
    "&#60;b&#62;bold",
    "&lt;!-- hidden --&gt;",
])
def test_markup_behind_entities_is_markup(raw: str, unescape: bool) -> None:
    with pytest.raises(BadValue, match="HTML fragment instead of text"):
        clean_text(raw, unescape=unescape)


@pytest.mark.parametrize("raw", ["Bad\x00title", "esc \x1b[31m red", "del\x7f", "c1 \x85 next"])
def test_text_with_a_control_character_is_refused(raw: str) -> None:
    with pytest.raises(BadValue, match="control character in text"):
        clean_text(raw, unescape=True)


@pytest.mark.parametrize(("raw", "expected"), [
    ("Two\nlines\twith a tab", "Two\nlines\twith a tab"),
    ("Fish &amp; Chips", "Fish & Chips"),
    ("3 &lt; 4", "3 < 4"),
])
def test_text_that_stays(raw: str, expected: str) -> None:
    assert clean_text(raw, unescape=True) == expected


@pytest.mark.parametrize(("raw", "reason"), [
    ("A\x00B", "invalid item id (control character)"),
    ("A\tB", "invalid item id (control character)"),
    ("\x1b", "invalid item id (control character)"),
    ("a/b", "invalid item id (contains /)"),
    ("/", "invalid item id (contains /)"),
    ("x" * 101, "invalid item id (longer than 100 characters)"),
    (".", "invalid item id (. or ..)"),
    (" .. ", "invalid item id (. or ..)"),
    (["B1"], "invalid item id (not text)"),
    (True, "invalid item id (not text)"),
])
def test_ids_that_could_never_be_served(raw, reason: str) -> None:
    with pytest.raises(BadValue) as caught:
        parse_id(raw, "item")
    assert caught.value.reason == reason


@pytest.mark.parametrize(("raw", "expected"), [
    (" B00X ", "B00X"), ("a.b", "a.b"), ("...", "..."), (123, "123"), ("x" * 100, "x" * 100),
    ("", None), (None, None)])
def test_ids_that_stay(raw, expected) -> None:
    assert parse_id(raw, "item") == expected


def _rejects(catalogue) -> set[tuple[str, int, str, str, str]]:
    return {(Path(r.file).name, r.line, r.field, r.reason, r.action) for r in catalogue.rejects}


def test_csv_reader(tmp_path: Path) -> None:
    (tmp_path / "items.csv").write_text(
        "item_id,title\n"
        "I1,Good\n"
        "I\x002,NUL in id\n"
        "a/b,slash\n"
        "..,dots\n"
        "I3,&lt;script&gt;x&lt;/script&gt;\n"
        "I4,NUL\x00title\n", encoding="utf-8")
    (tmp_path / "users.csv").write_text("user_id\nU1\nU\x1b2\n.\n", encoding="utf-8")
    (tmp_path / "purchases.csv").write_text(
        "user_id,item_id,split\nU1,I1,train\nU1,a/b,train\nU/1,I1,train\n", encoding="utf-8")
    (tmp_path / "item_links.csv").write_text(
        "item_id,relation,other_item_id\nI1,also_bought,I3\nI1,also_bought,../etc\n"
        "I1,also_viewed,X\x00\n", encoding="utf-8")
    got = read_csv_catalogue(tmp_path)
    assert got.items == [Item("I1", "Good"), Item("I3"), Item("I4")]
    assert got.users == ["U1"]
    assert got.purchases == [Purchase("U1", "I1", None, "train")]
    assert got.links == [ItemLink("I1", "ALSO_BOUGHT", "I3")]
    assert _rejects(got) == {
        ("items.csv", 3, "item_id", "invalid item id (control character)", "row skipped"),
        ("items.csv", 4, "item_id", "invalid item id (contains /)", "row skipped"),
        ("items.csv", 5, "item_id", "invalid item id (. or ..)", "row skipped"),
        ("items.csv", 6, "title", "HTML fragment instead of text", "field dropped"),
        ("items.csv", 7, "title", "control character in text", "field dropped"),
        ("users.csv", 3, "user_id", "invalid user id (control character)", "row skipped"),
        ("users.csv", 4, "user_id", "invalid user id (. or ..)", "row skipped"),
        ("purchases.csv", 3, "item_id", "invalid item id (contains /)", "row skipped"),
        ("purchases.csv", 4, "user_id", "invalid user id (contains /)", "row skipped"),
        ("item_links.csv", 3, "other_item_id", "invalid other item id (contains /)",
         "row skipped"),
        ("item_links.csv", 4, "other_item_id", "invalid other item id (control character)",
         "row skipped"),
    }


def test_json_reader(tmp_path: Path) -> None:
    meta = [
        {"asin": "M1", "title": "&lt;script&gt;alert(1)&lt;/script&gt;",
         "also_buy": ["M2", "../up", "N\x00UL"]},
        {"asin": "M2", "title": "Fine &amp; dandy", "brand": "B\x00rand"},
        {"asin": "M\x003", "title": "NUL id"},
        {"asin": "x/y", "title": "slash id"},
        {"asin": ".", "title": "dot id"},
    ]
    reviews = [
        {"reviewerID": "R1", "asin": "M1", "unixReviewTime": 1},
        {"reviewerID": "R\x002", "asin": "M1", "unixReviewTime": 1},
        {"reviewerID": "R1", "asin": "..", "unixReviewTime": 2},
    ]
    (tmp_path / "meta_Shop.json").write_text("".join(json.dumps(r) + "\n" for r in meta))
    (tmp_path / "Shop.json").write_text("".join(json.dumps(r) + "\n" for r in reviews))
    got = read_amazon_json(tmp_path)
    assert got.items == [Item("M1"), Item("M2", "Fine & dandy")]
    assert got.links == [ItemLink("M1", "ALSO_BOUGHT", "M2")]
    assert got.users == ["R1"]
    assert got.purchases == [Purchase("R1", "M1", 1, "train")]
    meta_name, reviews_name = "meta_Shop.json", "Shop.json"
    assert _rejects(got) == {
        (meta_name, 1, "title", "HTML fragment instead of text", "field dropped"),
        (meta_name, 1, "also_buy", "invalid other item id (contains /)", "field dropped"),
        (meta_name, 1, "also_buy", "invalid other item id (control character)", "field dropped"),
        (meta_name, 2, "brand", "control character in text", "field dropped"),
        (meta_name, 3, "asin", "invalid item id (control character)", "row skipped"),
        (meta_name, 4, "asin", "invalid item id (contains /)", "row skipped"),
        (meta_name, 5, "asin", "invalid item id (. or ..)", "row skipped"),
        (reviews_name, 2, "reviewerID", "invalid user id (control character)", "row skipped"),
        (reviews_name, 3, "asin", "invalid item id (. or ..)", "row skipped"),
    }
