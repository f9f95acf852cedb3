"""Raw Amazon 2018 metadata read as a new user's data would be: prose and repeated names in
``category``, markup ending a path, a download beside its unpacked copy, the test fraction."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from graphrec.cli import main
from ingest.amazon_json import find_amazon_json_files, read_amazon_json
from ingest.detect import detect_format
from ingest.errors import CatalogueError
from ingest.loader import plan
from ingest.validate import BadValue, is_sentence, parse_categories

GIFT = ["Gift Cards", "Gift Cards"]
SENTENCES = ["No expiration, no fees.", "Redeemable toward millions of items storewide.",
             "Gift card is delivered by email!", "Can it be reloaded?"]


@pytest.mark.parametrize(("names", "path", "cut"), [
    (GIFT, ("Gift Cards",), None),
    (GIFT + ["Restaurants"], ("Gift Cards", "Restaurants"), None),
    (GIFT + SENTENCES, ("Gift Cards",), "sentence, not a category name"),
    (["Magazine Subscriptions", "</span>"], ("Magazine Subscriptions",),
     "HTML fragment instead of text"),
    (["A", "B", "A", "C"], ("A", "B"), "repeated name"),
    (["A", "", "B"], ("A",), "blank name"),
    (["A", "Bad\x00name"], ("A",), "control character in text"),
    (["</span>", "A"], (), "HTML fragment instead of text"),
    ("Beauty|Skin Care|Skin Care", ("Beauty", "Skin Care"), None),
    (["Clothing", "N.Y.L.A."], ("Clothing", "N.Y.L.A."), None),
    ([], (), None),
])
def test_a_path_ends_before_its_first_name_that_is_not_a_category(names, path, cut) -> None:
    assert parse_categories(names, unescape=True) == (path, cut)


def test_a_path_that_is_not_a_list_is_refused() -> None:
    with pytest.raises(BadValue, match="not a list"):
        parse_categories({"a": 1})


@pytest.mark.parametrize(("name", "sentence"), [
    ("No expiration, no fees.", True),
    ("Give it today!", True),
    ("x" * 81, True),
    ("Shoes & Accessories: International Shipping Available", False),
    ("N.Y.L.A.", False),
    ("Arts, Music & Photography", False),
    ("Smith & Co.", False),
])
def test_is_sentence(name: str, sentence: bool) -> None:
    assert is_sentence(name) is sentence


def _gift_card_meta() -> list[dict]:
    return [
        {"asin": "G1", "title": "Card", "category": GIFT + SENTENCES},
        {"asin": "G2", "title": "Card two", "category": GIFT},
        {"asin": "G3", "title": "Card three",
         "category": ["Gift Cards", "Restaurants", "</span></span></span>"]},
    ]


def _write(path: Path, records: list[dict], gzipped: bool = False) -> None:
    text = "".join(json.dumps(record) + "\n" for record in records).encode()
    path.write_bytes(gzip.compress(text) if gzipped else text)


REVIEWS = [{"reviewerID": "R1", "asin": f"G{n}", "unixReviewTime": n} for n in (1, 2, 3)] + [
    {"reviewerID": "R2", "asin": f"G{n}", "unixReviewTime": n} for n in (1, 2, 3)]


def test_gift_card_metadata_makes_no_sentence_category_and_no_self_loop(tmp_path: Path) -> None:
    _write(tmp_path / "meta_Gift_Cards.json", _gift_card_meta())
    _write(tmp_path / "Gift_Cards.json", REVIEWS)
    catalogue = read_amazon_json(tmp_path)
    assert [item.categories for item in catalogue.items] == [
        ("Gift Cards",), ("Gift Cards",), ("Gift Cards", "Restaurants")]
    assert [(r.line, r.field, r.reason, r.action) for r in catalogue.rejects] == [
        (1, "categories", "category path cut (sentence, not a category name)", "field cut"),
        (3, "categories", "category path cut (HTML fragment instead of text)", "field cut"),
    ]
    steps, _ = plan(catalogue)
    (parents,) = [step.rows for step in steps if step.name == "SUBCATEGORY_OF"]
    assert parents == [{"child": "Gift Cards", "parents": []},
                       {"child": "Restaurants", "parents": ["Gift Cards"]}]


def test_a_download_beside_its_unpacked_copy_reads_the_gzip_and_says_so(tmp_path: Path) -> None:
    for gzipped in (False, True):
        suffix = ".gz" if gzipped else ""
        _write(tmp_path / f"meta_Gift_Cards.json{suffix}", _gift_card_meta(), gzipped)
        _write(tmp_path / f"Gift_Cards_5.json{suffix}", REVIEWS, gzipped)
    assert detect_format(tmp_path) == "amazon-json"
    files = find_amazon_json_files(tmp_path)
    assert (files.reviews.name, files.meta.name) == ("Gift_Cards_5.json.gz",
                                                     "meta_Gift_Cards.json.gz")
    assert [p.name for p in files.ignored] == ["Gift_Cards_5.json", "meta_Gift_Cards.json"]
    catalogue = read_amazon_json(tmp_path)
    assert catalogue.notes == [
        f"read {name}.gz, not {name} beside it (taken for its uncompressed copy)"
        for name in ("Gift_Cards_5.json", "meta_Gift_Cards.json")
    ]
    assert len(catalogue.items) == 3 and len(catalogue.purchases) == 6


def test_two_different_metadata_files_are_still_ambiguous(tmp_path: Path) -> None:
    _write(tmp_path / "meta_A.json", _gift_card_meta())
    _write(tmp_path / "meta_B.json.gz", _gift_card_meta(), gzipped=True)
    _write(tmp_path / "A.json", REVIEWS)
    with pytest.raises(CatalogueError, match="found meta_A.json, meta_B.json.gz"):
        find_amazon_json_files(tmp_path)


@pytest.mark.parametrize("value", ["0", "1", "-0.1", "1.5", "nan", "abc"])
def test_test_fraction_outside_0_1_is_a_usage_error(value: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["ingest", "--test-fraction", value])
    assert exited.value.code == 2
    assert "--test-fraction" in capsys.readouterr().err


def test_test_fraction_on_a_csv_catalogue_is_refused(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRAPHREC_HOME", str(tmp_path / "home"))
    assert main(["ingest", "--test-fraction", "0.5"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("graphrec: error: --test-fraction applies to raw Amazon data only")
