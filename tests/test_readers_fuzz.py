"""Property tests of the readers on arbitrary input (hypothesis, bounded to a few seconds).

Whatever rows follow a few good ones, a reader returns a catalogue in which the good rows are
intact and everything loaded is clean (ids that can be served, text without markup or control
characters, category paths without repeats), or raises the one documented CatalogueError (for
bytes that are not UTF-8 or not gzip). No other exception, ever.
"""
from __future__ import annotations

import gzip
import json
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.amazon_json import read_amazon_json
from ingest.csv_catalogue import read_csv_catalogue
from ingest.errors import CatalogueError
from ingest.records import Catalogue, Item
from ingest.validate import (
    MAX_INTEGER,
    BadValue,
    clean_text,
    decoded,
    parse_categories,
    parse_id,
    parse_price,
    parse_sales_rank,
)

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_MARKUP = re.compile(r"<[/!?]?[A-Za-z]|<!--|/\s*>")
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

GOOD_ITEMS = [Item("G1", "Good one", "Acme", 1.5, 3, ("Beauty", "Skin")),
              Item("G2", "Fish & Chips", None, None, None, ("Beauty",))]
GOOD_CSV = ("item_id,title,brand,price,sales_rank,categories\n"
            "G1,Good one,Acme,1.5,3,Beauty|Skin\n"
            "G2,Fish & Chips,,,,Beauty\n")
GOOD_META = ('{"asin": "G1", "title": "Good one", "brand": "Acme", "price": "$1.50", '
             '"rank": "3 in Beauty (", "category": ["Beauty", "Skin"]}\n'
             '{"asin": "G2", "title": "Fish &amp; Chips", "category": ["Beauty"]}\n')
REVIEWS = '{"reviewerID": "U1", "asin": "G1", "unixReviewTime": 1}\n'

# Text rich in what breaks parsers: separators, quotes, markup, entities, controls, ids' edge
# cases, and any other character.
NASTY = st.sampled_from([",", '"', "|", "\n", "\r", "\x00", "\x1b", "<", ">", "/", ".", "..",
                         "&lt;", "&amp;", "<span", "/>", "G1", "{", "}", "[", "]", ":", "'",
                         "\\", " ", "\t", "\x85", "é", "\u2028"])
TEXT = st.lists(st.one_of(NASTY, st.text(max_size=8)), max_size=12).map("".join)
META_KEYS = st.sampled_from(["asin", "title", "brand", "price", "rank", "salesRank", "category",
                             "categories", "also_buy", "also_view", "also_bought", "related"])
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | TEXT,
    lambda children: (st.lists(children, max_size=4)
                      | st.dictionaries(META_KEYS | st.text(max_size=3), children, max_size=3)),
    max_leaves=6)
META_RECORD = st.dictionaries(META_KEYS, JSON_VALUE, max_size=6)


@contextmanager
def catalogue_dir(files: dict[str, bytes]) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        for file_name, data in files.items():
            (directory / file_name).write_bytes(data)
        yield directory


def read_or_refuse(read: Callable[[Path], Catalogue], files: dict[str, bytes]) -> Catalogue | None:
    """The catalogue, or None when the reader refused it with a CatalogueError."""
    with catalogue_dir(files) as directory:
        try:
            return read(directory)
        except CatalogueError as error:
            assert "\n" not in str(error)
            return None


def assert_clean(catalogue: Catalogue) -> None:
    ids = [item.id for item in catalogue.items]
    assert len(ids) == len(set(ids))
    for key in ids + catalogue.users + [link.other_item_id for link in catalogue.links]:
        assert parse_id(key, "any") == key
    for item in catalogue.items:
        for text in (item.title, item.brand, *item.categories):
            if text is not None:
                assert text == text.strip() and text
                assert not _MARKUP.search(decoded(text)) and not _TEXT_CONTROL.search(text)
        assert len(set(item.categories)) == len(item.categories)
        assert item.price is None or item.price >= 0
        assert item.sales_rank is None or 1 <= item.sales_rank <= MAX_INTEGER


def csv_files(items: bytes) -> dict[str, bytes]:
    return {"items.csv": items, "users.csv": b"user_id\nU1\n",
            "purchases.csv": b"user_id,item_id,split\nU1,G1,train\n"}


@FUZZ
@given(rows=st.lists(TEXT, max_size=6))
def test_csv_reader_on_arbitrary_text_rows(rows: list[str]) -> None:
    items = (GOOD_CSV + "\n".join(rows)).encode()
    catalogue = read_or_refuse(read_csv_catalogue, csv_files(items))
    assert catalogue is not None
    assert catalogue.items[:2] == GOOD_ITEMS
    assert_clean(catalogue)


@FUZZ
@given(tail=st.binary(max_size=200))
def test_csv_reader_on_arbitrary_bytes(tail: bytes) -> None:
    catalogue = read_or_refuse(read_csv_catalogue, csv_files(GOOD_CSV.encode() + tail))
    if catalogue is not None:
        assert catalogue.items[:2] == GOOD_ITEMS
        assert_clean(catalogue)


@FUZZ
@given(data=st.binary(max_size=200), cut=st.integers(min_value=0, max_value=400))
def test_csv_reader_on_damaged_gzip(data: bytes, cut: int) -> None:
    whole = gzip.compress(GOOD_CSV.encode() + data)
    damaged = whole[:cut] + data if cut < len(whole) else whole + data
    files = csv_files(b"")
    del files["items.csv"]
    files["items.csv.gz"] = b"\x1f\x8b" + damaged[2:]
    catalogue = read_or_refuse(read_csv_catalogue, files)
    if catalogue is not None:
        assert_clean(catalogue)


@FUZZ
@given(records=st.lists(META_RECORD, max_size=4), lines=st.lists(TEXT, max_size=3))
def test_json_reader_on_arbitrary_records_and_lines(records: list[dict],
                                                    lines: list[str]) -> None:
    tail = "".join(json.dumps(record) + "\n" for record in records) + "\n".join(lines)
    files = {"meta_Shop.json": (GOOD_META + tail).encode(), "Shop.json": REVIEWS.encode()}
    catalogue = read_or_refuse(read_amazon_json, files)
    assert catalogue is not None
    assert catalogue.items[:2] == GOOD_ITEMS
    assert_clean(catalogue)


@FUZZ
@given(tail=st.binary(max_size=200))
def test_json_reader_on_arbitrary_bytes(tail: bytes) -> None:
    files = {"meta_Shop.json": GOOD_META.encode() + tail, "Shop.json": REVIEWS.encode() + tail}
    catalogue = read_or_refuse(read_amazon_json, files)
    if catalogue is not None:
        assert catalogue.items[:2] == GOOD_ITEMS
        assert_clean(catalogue)


@FUZZ
@given(raw=JSON_VALUE)
def test_field_parsers_return_or_raise_bad_value(raw) -> None:
    for parse in (lambda v: clean_text(v, unescape=True), parse_price, parse_sales_rank,
                  lambda v: parse_categories(v, unescape=True), lambda v: parse_id(v, "item")):
        try:
            parse(raw)
        except BadValue as bad:
            assert bad.reason
