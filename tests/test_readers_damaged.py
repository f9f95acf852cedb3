"""Damaged input: gzip files cut short or corrupted, and a catalogue that is one huge line.

Each must end in one CatalogueError naming the file (and the line reached, where known) and
why, and the CLI must print it as one line with exit status 1, never a traceback.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from graphrec.cli import main
from ingest.csv_catalogue import FIELD_LIMIT, RUN_LIMIT
from ingest.detect import read_catalogue
from ingest.errors import CatalogueError

ROWS = 3000
HUGE = 10_000_000
assert HUGE > RUN_LIMIT


def _items_csv() -> str:
    return "item_id,title,brand\n" + "".join(
        f"I{n},Title number {n * 7919 % 100_003},Brand {n % 97}\n" for n in range(ROWS))


def _meta_json() -> str:
    return "".join(
        f'{{"asin": "I{n}", "title": "Title number {n * 7919 % 100_003}"}}\n' for n in range(ROWS))


def _csv_catalogue(directory: Path, items: bytes, items_name: str = "items.csv.gz") -> Path:
    directory.mkdir()
    (directory / items_name).write_bytes(items)
    (directory / "users.csv").write_text("user_id\nU1\n")
    (directory / "purchases.csv").write_text("user_id,item_id,split\nU1,I1,train\n")
    return directory


def _json_catalogue(directory: Path, meta: bytes, meta_name: str = "meta_Shop.json.gz") -> Path:
    directory.mkdir()
    (directory / meta_name).write_bytes(meta)
    (directory / "Shop.json").write_text(
        '{"reviewerID": "U1", "asin": "I1", "unixReviewTime": 1}\n')
    return directory


def truncated(text: str) -> bytes:
    data = gzip.compress(text.encode())
    return data[: len(data) // 2]


def corrupted(text: str) -> bytes:
    data = bytearray(gzip.compress(text.encode()))
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(64)
    return bytes(data)


DAMAGED = [
    pytest.param(_csv_catalogue, _items_csv, truncated, "items.csv.gz", id="csv-truncated"),
    pytest.param(_csv_catalogue, _items_csv, corrupted, "items.csv.gz", id="csv-corrupt"),
    pytest.param(_json_catalogue, _meta_json, truncated, "meta_Shop.json.gz", id="json-truncated"),
    pytest.param(_json_catalogue, _meta_json, corrupted, "meta_Shop.json.gz", id="json-corrupt"),
]


@pytest.mark.parametrize(("build", "text", "damage", "name"), DAMAGED)
def test_damaged_gzip_is_one_catalogue_error_naming_file_and_line(tmp_path, build, text,
                                                                   damage, name) -> None:
    directory = build(tmp_path / "shop", damage(text()))
    with pytest.raises(CatalogueError) as caught:
        read_catalogue(directory)
    message = str(caught.value)
    assert message.startswith(f"{directory / name}: truncated or corrupt gzip data near line ")
    line = int(message.split("near line ", 1)[1].split(" ", 1)[0])
    assert 1 < line <= ROWS + 1
    assert "\n" not in message


@pytest.mark.parametrize(("build", "text", "damage", "name"), DAMAGED)
def test_cli_prints_a_damaged_gzip_as_one_line(tmp_path, monkeypatch, capsys, build, text,
                                               damage, name) -> None:
    monkeypatch.setenv("GRAPHREC_HOME", str(tmp_path / "home"))
    directory = build(tmp_path / "shop", damage(text()))
    assert main(["ingest", str(directory), "--quiet"]) == 1
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"graphrec: error: {directory / name}: truncated or corrupt gzip")
    assert "Traceback" not in captured.err + captured.out


def test_a_catalogue_that_is_one_huge_row_says_why_nothing_is_usable(tmp_path) -> None:
    items = ("item_id,title\nI1," + "x" * HUGE).encode()
    directory = _csv_catalogue(tmp_path / "shop", items, "items.csv")
    with pytest.raises(CatalogueError) as caught:
        read_catalogue(directory)
    assert str(caught.value) == (
        f"{directory / 'items.csv'}: no usable item rows: the only one, line 2, was rejected: "
        f"value too long ({HUGE:,} characters, at most {FIELD_LIMIT:,}; item_id I1)")


def test_a_catalogue_whose_header_is_one_huge_line_is_refused_briefly(tmp_path) -> None:
    items = ("item_id,title" + "x" * HUGE).encode()
    directory = _csv_catalogue(tmp_path / "shop", items, "items.csv")
    with pytest.raises(CatalogueError) as caught:
        read_catalogue(directory)
    assert str(caught.value) == (f"{directory / 'items.csv'}: unreadable header row "
                                 f"(field larger than field limit ({FIELD_LIMIT}))")


def test_a_header_of_many_columns_is_quoted_short(tmp_path) -> None:
    items = ("title" + ",x" * (HUGE // 2) + "\nT\n").encode()
    directory = _csv_catalogue(tmp_path / "shop", items, "items.csv")
    with pytest.raises(CatalogueError, match="required column missing") as caught:
        read_catalogue(directory)
    assert len(str(caught.value)) < 400


def test_metadata_that_is_one_huge_line_says_why_nothing_is_usable(tmp_path) -> None:
    records = ", ".join(f'{{"asin": "I{n}", "title": "{"x" * 100}"}}' for n in range(HUGE // 120))
    directory = _json_catalogue(tmp_path / "shop", f"[{records}]\n".encode(), "meta_Shop.json")
    with pytest.raises(CatalogueError) as caught:
        read_catalogue(directory)
    assert str(caught.value) == (
        f"{directory / 'meta_Shop.json'}: no usable item lines: the only one, line 1, was "
        "rejected: not an object")


def test_all_rows_rejected_are_counted_by_kind(tmp_path) -> None:
    items = b"item_id,title\n,blank id\nI1,a\nI1,again\n,x,y\n"
    directory = _csv_catalogue(tmp_path / "shop", items, "items.csv")
    (directory / "purchases.csv").write_text(
        "user_id,item_id,split\nU1,NOPE,train\nU2,I1,train\nU1,I1,later\n")
    with pytest.raises(CatalogueError) as caught:
        read_catalogue(directory)
    assert str(caught.value) == (
        f"{directory / 'purchases.csv'}: no usable purchase rows: all 3 were rejected "
        "(1 invalid split, 1 item not in catalogue, 1 user not in users file), the first on "
        "line 2: item not in catalogue")


def test_a_file_with_a_header_only_says_it_holds_none(tmp_path) -> None:
    directory = _csv_catalogue(tmp_path / "shop", b"item_id,title\n", "items.csv")
    with pytest.raises(CatalogueError) as caught:
        read_catalogue(directory)
    assert str(caught.value) == (
        f"{directory / 'items.csv'}: no usable item rows: the file holds none")
