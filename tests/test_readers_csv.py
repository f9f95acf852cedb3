"""The canonical CSV reader: exact rejects on a hand-written catalogue, the shipped sample, and
the full Beauty catalogue when ../shared is present."""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.datasets import BEAUTY
from ingest.csv_catalogue import FIELD_LIMIT, RUN_LIMIT, read_csv_catalogue
from ingest.errors import CatalogueError
from ingest.records import Item, ItemLink, Purchase, Reject
from ingest.rejects import summarise, write_rejects

SAMPLE = Path(__file__).resolve().parents[1] / "graphrec" / "sample" / "beauty"

ITEMS = """\
item_id,title,brand,price,sales_rank,categories
A1,Good item,BrandA,12.50,100.0,Beauty|Skin Care
,No id,BrandA,1.00,,Beauty
A2,"<span class=""a-size-medium"">",BrandB,abc,,Beauty|Makeup
A3,Negative,BrandB,-3.00,,Beauty
A1,Again,BrandC,1,,Beauty
A4,"Two
lines",,,5,Beauty
A5,Too,few
A6,Bad rank and path,BrandC,2.00,1.5,Beauty||Hair
A7,Thousands,BrandC,"$1,299.00",7,
"""
USERS = "user_id\nU1\nU2\n\nU1\n  \nU3\n"  # line 4 is blank, line 6 only spaces
PURCHASES = """\
user_id,item_id,seq,split
U1,A1,1,train
U1,A2,2,test
U2,A1,1,train
U2,ZZZ,2,test
,A1,3,train
U2,A3,x,test
U2,A4,3,valid
U9,A1,1,train
U1,A1,3,train
U3,A6,0,TEST
U3,A7,1,train
"""
LINKS = """\
item_id,relation,other_item_id
A1,also_bought,A2
A1,also_viewed,EXTERNAL1
A1,bought_together,
A1,similar,A3
ZZZ,also_bought,A1
A1,also_bought,A2
A2,ALSO_VIEWED,A1
,also_bought,A1
"""

EXPECTED_REJECTS = {
    ("items.csv", 3, "item_id", "missing item id", "row skipped"),
    ("items.csv", 4, "title", "HTML fragment instead of text", "field dropped"),
    ("items.csv", 4, "price", "unparseable price", "field dropped"),
    ("items.csv", 5, "price", "negative price", "field dropped"),
    ("items.csv", 6, "item_id", "duplicate item id (first on line 2)", "row skipped"),
    ("items.csv", 9, "", "wrong number of fields (3, header has 6)", "row skipped"),
    ("items.csv", 10, "sales_rank", "unparseable sales rank", "field dropped"),
    ("items.csv", 10, "categories", "category path cut (blank name)", "field cut"),
    ("users.csv", 5, "user_id", "duplicate user id (first on line 2)", "row skipped"),
    ("users.csv", 6, "user_id", "missing user id", "row skipped"),
    ("purchases.csv", 5, "item_id", "item not in catalogue", "row skipped"),
    ("purchases.csv", 6, "user_id", "missing user id", "row skipped"),
    ("purchases.csv", 7, "seq", "invalid seq", "field dropped"),
    ("purchases.csv", 8, "split", "invalid split", "row skipped"),
    ("purchases.csv", 9, "user_id", "user not in users file", "row skipped"),
    ("purchases.csv", 10, "item_id", "duplicate purchase (first on line 2)", "row skipped"),
    ("purchases.csv", 11, "seq", "invalid seq", "field dropped"),
    ("item_links.csv", 4, "other_item_id", "missing other item id", "row skipped"),
    ("item_links.csv", 5, "relation", "unknown relation", "row skipped"),
    ("item_links.csv", 6, "item_id", "item not in catalogue", "row skipped"),
    ("item_links.csv", 7, "other_item_id", "duplicate link (first on line 2)", "row skipped"),
    ("item_links.csv", 9, "item_id", "missing item id", "row skipped"),
}


def write_catalogue(
    directory: Path, gzipped: tuple[str, ...] = (), **overrides: str | None
) -> Path:
    """The hand-written catalogue in ``directory``; an override of None leaves a file out."""
    texts = {
        "items": ITEMS,
        "users": USERS,
        "purchases": PURCHASES,
        "item_links": LINKS,
    } | overrides
    for stem, text in texts.items():
        if text is None:
            continue
        if stem in gzipped:
            (directory / f"{stem}.csv.gz").write_bytes(gzip.compress(text.encode()))
        else:
            (directory / f"{stem}.csv").write_text(text, encoding="utf-8")
    return directory


@pytest.fixture
def catalogue(tmp_path: Path):
    return read_csv_catalogue(write_catalogue(tmp_path))


def test_every_bad_row_is_rejected_once_with_its_line(catalogue):
    got = [(Path(r.file).name, r.line, r.field, r.reason, r.action) for r in catalogue.rejects]
    assert len(got) == len(EXPECTED_REJECTS)
    assert set(got) == EXPECTED_REJECTS


def test_rejects_name_the_given_path_and_the_bad_value(tmp_path: Path, catalogue):
    assert catalogue.source == str(tmp_path)
    by_line = {(Path(r.file).name, r.line, r.field): r for r in catalogue.rejects}
    assert by_line[("items.csv", 4, "price")].file == str(tmp_path / "items.csv")
    assert by_line[("items.csv", 4, "price")].value == "abc"
    assert by_line[("items.csv", 4, "title")].value == '<span class="a-size-medium">'
    assert by_line[("purchases.csv", 10, "item_id")].value == "U1,A1"


def test_good_rows_and_fields_all_load(catalogue):
    items = {item.id: item for item in catalogue.items}
    assert list(items) == ["A1", "A2", "A3", "A4", "A6", "A7"]
    assert items["A1"] == Item("A1", "Good item", "BrandA", 12.5, 100, ("Beauty", "Skin Care"))
    assert items["A2"] == Item("A2", None, "BrandB", None, None, ("Beauty", "Makeup"))
    assert items["A3"].price is None and items["A3"].title == "Negative"
    assert items["A4"] == Item("A4", "Two\nlines", None, None, 5, ("Beauty",))
    assert items["A6"] == Item("A6", "Bad rank and path", "BrandC", 2.0, None, ("Beauty",))
    assert items["A7"].price == 1299.0 and items["A7"].categories == ()
    assert catalogue.users == ["U1", "U2", "U3"]
    assert catalogue.purchases == [
        Purchase("U1", "A1", 1, "train"),
        Purchase("U1", "A2", 2, "test"),
        Purchase("U2", "A1", 1, "train"),
        Purchase("U2", "A3", None, "test"),
        Purchase("U3", "A6", None, "test"),
        Purchase("U3", "A7", 1, "train"),
    ]
    assert catalogue.links == [
        ItemLink("A1", "ALSO_BOUGHT", "A2"),
        ItemLink("A1", "ALSO_VIEWED", "EXTERNAL1"),
        ItemLink("A2", "ALSO_VIEWED", "A1"),
    ]
    assert catalogue.rows_read == 9 + 5 + 11 + 8
    assert catalogue.format == "csv"


def test_gzipped_files_read_the_same(tmp_path: Path, catalogue):
    (tmp_path / "gz").mkdir()
    gz = read_csv_catalogue(
        write_catalogue(tmp_path / "gz", gzipped=("items", "users", "purchases", "item_links"))
    )
    assert (gz.items, gz.users, gz.purchases, gz.links) == (
        catalogue.items,
        catalogue.users,
        catalogue.purchases,
        catalogue.links,
    )
    assert {(Path(r.file).name, r.line) for r in gz.rejects} == {
        (Path(r.file).name + ".gz", r.line) for r in catalogue.rejects
    }


def test_a_file_beside_its_gzipped_copy_is_left_out_and_named(tmp_path: Path, catalogue):
    """As the raw Amazon reader does: the gzipped file is read, whose checksum shows it whole."""
    (tmp_path / "both").mkdir()
    folder = write_catalogue(tmp_path / "both", gzipped=("items", "purchases"))
    (folder / "items.csv").write_text("item_id\nPARTIAL\n")
    (folder / "purchases.csv").write_text("user_id,item_id,split\nU1,PARTIAL,train\n")
    got = read_csv_catalogue(folder)
    assert (got.items, got.purchases) == (catalogue.items, catalogue.purchases)
    assert got.notes == [
        "read items.csv.gz, not items.csv beside it (taken for its uncompressed copy)",
        "read purchases.csv.gz, not purchases.csv beside it (taken for its uncompressed copy)"]


def test_columns_are_found_by_name_and_optional_ones_may_be_absent(tmp_path: Path):
    items = "categories,item_id,extra\nBeauty|Nails,B1,x\n"
    purchases = "split,item_id,user_id\ntrain,B1,U1\n"
    got = read_csv_catalogue(
        write_catalogue(
            tmp_path, items=items, users="user_id\nU1\n", purchases=purchases, item_links=None
        )
    )
    assert got.items == [Item("B1", categories=("Beauty", "Nails"))]
    assert got.purchases == [Purchase("U1", "B1", None, "train")]
    assert got.links == [] and got.rejects == []


def test_available_reads_true_false_or_nothing_and_a_bad_flag_is_dropped_alone(tmp_path: Path):
    items = "item_id,available\nB1,true\nB2,FALSE\nB3,\nB4, no \nB5,maybe\nB6,1\n"
    got = read_csv_catalogue(
        write_catalogue(tmp_path, items=items, users="user_id\nU1\n",
                        purchases="user_id,item_id,split\nU1,B1,train\n", item_links=None)
    )
    assert [(item.id, item.available) for item in got.items] == [
        ("B1", True), ("B2", False), ("B3", None), ("B4", False), ("B5", None), ("B6", True)]
    assert [(r.line, r.field, r.reason, r.value, r.action) for r in got.rejects] == [
        (6, "available", "invalid available (true or false)", "maybe", "field dropped")]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"purchases": None}, "purchases.csv or purchases.csv.gz is missing"),
        ({"users": None}, "users.csv or users.csv.gz is missing"),
        ({"purchases": "user_id,item_id,seq\nU1,A1,1\n"}, "field 'split': required column missing"),
        ({"items": ""}, "empty file"),
        ({"items": "item_id,title\n,blank\n"}, "no usable item rows"),
        ({"purchases": "user_id,item_id,split\nU1,NOPE,train\n"}, "no usable purchase rows"),
    ],
)
def test_unusable_input_raises_a_clear_error(tmp_path: Path, overrides, message):
    with pytest.raises(CatalogueError, match=message):
        read_csv_catalogue(write_catalogue(tmp_path, **overrides))


@pytest.mark.parametrize("name", ["item_links.csv", "item_links.csv.gz"])
def test_an_empty_optional_file_holds_no_row(tmp_path: Path, catalogue, name: str):
    folder = tmp_path / "empty"
    folder.mkdir()
    write_catalogue(folder, item_links=None)
    (folder / name).write_bytes(gzip.compress(b"") if name.endswith(".gz") else b"")
    got = read_csv_catalogue(folder)
    assert got.links == []
    assert (got.items, got.users, got.purchases) == (
        catalogue.items, catalogue.users, catalogue.purchases)
    assert [r for r in got.rejects if "item_links" in r.file] == []


@pytest.mark.parametrize("stem", ["items", "users", "purchases", "item_links"])
def test_in_an_update_any_empty_file_holds_no_row(tmp_path: Path, stem: str):
    files: dict[str, str | None] = {"items": "item_id\nN1\n", "users": "user_id\nU9\n",
                                    "purchases": "user_id,item_id,split\nU9,N1,train\n",
                                    "item_links": "item_id,relation,other_item_id\n"
                                                  "N1,also_bought,I1\n"}
    got = read_csv_catalogue(write_catalogue(tmp_path, **(files | {stem: ""})), update=True)
    assert ([item.id for item in got.items], got.users, len(got.purchases),
            len(got.unresolved)) == {
        "items": ([], ["U9"], 0, 2),
        "users": (["N1"], [], 0, 1),
        "purchases": (["N1"], ["U9"], 0, 0),
        "item_links": (["N1"], ["U9"], 1, 0),
    }[stem]
    assert got.rejects == []


def test_error_names_the_file(tmp_path: Path):
    write_catalogue(tmp_path, purchases="user_id,item_id\nU1,A1\n")
    with pytest.raises(CatalogueError) as raised:
        read_csv_catalogue(tmp_path)
    assert raised.value.file == str(tmp_path / "purchases.csv")
    assert raised.value.field == "split"
    assert str(tmp_path / "purchases.csv") in str(raised.value)


def test_non_utf8_file_is_unusable(tmp_path: Path):
    write_catalogue(tmp_path)
    (tmp_path / "items.csv").write_bytes("item_id,title\nA1,Caf\xe9\n".encode("latin-1"))
    with pytest.raises(CatalogueError, match="not UTF-8"):
        read_csv_catalogue(tmp_path)


@pytest.mark.parametrize(("line", "newline", "name"), [
    (2, "\n", "items.csv"), (9, "\n", "items.csv"), (4001, "\n", "items.csv.gz"),
    (9, "\r", "items.csv"), (4001, "\r\n", "items.csv.gz")])
def test_text_that_is_not_utf8_is_refused_naming_its_line(tmp_path: Path, line: int,
                                                          newline: str, name: str):
    rows = [b"item_id,title"] + [b"I%d,Title %d" % (n, n) for n in range(2, 5001)]
    rows[line - 1] = b"IX,Caf\xe9"  # latin-1
    data = newline.encode().join(rows) + newline.encode()
    write_catalogue(tmp_path, items=None)
    (tmp_path / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    with pytest.raises(CatalogueError) as raised:
        read_csv_catalogue(tmp_path)
    assert str(raised.value) == (
        f"{tmp_path / name}: not UTF-8 text on line {line} ('utf-8' codec can't decode byte "
        "0xe9 in position 6: invalid continuation byte)")


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_lines_ending_in_cr_lf_or_cr_and_a_byte_order_mark_read_as_with_lf(
        tmp_path: Path, catalogue, newline: str):
    texts = {"items": ITEMS, "users": USERS, "purchases": PURCHASES, "item_links": LINKS}
    (tmp_path / "other").mkdir()
    got = read_csv_catalogue(write_catalogue(tmp_path / "other", **{
        stem: "\ufeff" + text.replace("\n", newline) for stem, text in texts.items()}))
    a4 = Item("A4", f"Two{newline}lines", None, None, 5, ("Beauty",))
    assert got.items == [a4 if item.id == "A4" else item for item in catalogue.items]
    assert (got.users, got.purchases, got.links) == (
        catalogue.users, catalogue.purchases, catalogue.links)
    assert [(Path(r.file).name, r.line, r.field, r.reason) for r in got.rejects] == [
        (Path(r.file).name, r.line, r.field, r.reason) for r in catalogue.rejects]


def test_a_value_over_the_csv_modules_default_limit_loads(tmp_path: Path):
    """Its default (128 KiB) lost the whole row, even for a column that is not read."""
    long = "lorem ipsum, " * 12_000  # 156 KB
    items = f'item_id,title,description\nA1,ok,x\nA2,{"t" * 200_000},"{long}"\nA3,fine,x\n'
    purchases = "user_id,item_id,split\nU1,A1,train\n"
    got = read_csv_catalogue(write_catalogue(tmp_path, items=items, purchases=purchases,
                                             item_links=None))
    assert [(item.id, len(item.title or "")) for item in got.items] == [
        ("A1", 2), ("A2", 200_000), ("A3", 4)]
    assert [r for r in got.rejects if r.file.endswith("items.csv")] == []


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_value_over_the_field_limit_costs_its_field_or_row_by_name(tmp_path: Path,
                                                                     newline: str):
    """Over FIELD_LIMIT, on one line or several: an ignored column's costs nothing, an optional
    column's that field, a required column's the row; each rejected value is named."""
    huge = "x" * (FIELD_LIMIT + 1)
    lines = f"line one{newline}" * (FIELD_LIMIT // 9 + 1)  # over the limit, on many lines
    items = newline.join([
        "item_id,title,brand,notes",
        "A1,ok,B,short",
        f"A2,Two,B,{huge}",
        f'A3,Three,B,"{lines}"',
        f"A4,{huge},B,short",
        f'A5,"{lines}",B,short',
        f"{huge},Six,B,short",
        "A7,Seven,B,short",
    ]) + newline
    got = read_csv_catalogue(write_catalogue(
        tmp_path, items=items, users="user_id\nU1\n",
        purchases="user_id,item_id,split\nU1,A1,train\n", item_links=None))
    assert [(item.id, item.title, item.brand) for item in got.items] == [
        ("A1", "ok", "B"), ("A2", "Two", "B"), ("A3", "Three", "B"), ("A4", None, "B"),
        ("A5", None, "B"), ("A7", "Seven", "B")]
    long = f"({FIELD_LIMIT + 1:,} characters, at most {FIELD_LIMIT:,})"
    assert [(r.line, r.field, r.reason, r.action, len(r.value)) for r in got.rejects] == [
        (5 + lines.count(newline), "title", f"value too long {long}", "field dropped", 200),
        (6 + lines.count(newline), "title",
         f"value too long ({len(lines):,} characters, at most {FIELD_LIMIT:,})",
         "field dropped", 200),
        (7 + 2 * lines.count(newline), "item_id", f"value too long {long}", "row skipped", 200)]
    assert got.rows_read == 7 + 1 + 1


def test_numbers_beyond_what_the_store_keeps_are_rejected_alone(tmp_path: Path):
    """The store's integers are 64-bit: one larger failed the whole load, so the field goes."""
    largest, beyond = 2**63 - 1, 2**63
    items = f"item_id,sales_rank\nA1,{largest}\nA2,{beyond}\nA3,{'9' * 5000}\n"
    purchases = f"user_id,item_id,split,seq\nU1,A1,train,{largest}\nU1,A2,test,{beyond}\n"
    got = read_csv_catalogue(write_catalogue(tmp_path, items=items, users="user_id\nU1\n",
                                             purchases=purchases, item_links=None))
    assert [(item.id, item.sales_rank) for item in got.items] == [
        ("A1", largest), ("A2", None), ("A3", None)]
    assert got.purchases == [Purchase("U1", "A1", largest, "train"),
                             Purchase("U1", "A2", None, "test")]
    assert [(Path(r.file).name, r.line, r.field, r.reason, r.action) for r in got.rejects] == [
        ("items.csv", 3, "sales_rank", "sales rank too large", "field dropped"),
        ("items.csv", 4, "sales_rank", "sales rank too large", "field dropped"),
        ("purchases.csv", 3, "seq", "invalid seq (too large)", "field dropped"),
    ]


STRAY_QUOTE_ITEMS = """\
item_id,title,brand,price,sales_rank,categories
I1,Item one,BrandA,1,10,Beauty|Skin
I2,Item two,BrandA,2,20,Beauty|Skin
I3,"Item three,BrandB,3,30,Beauty|Skin
I4,Item four,BrandB,4,40,Beauty|Skin
I5,"Item five, quoted",BrandB,5,50,Beauty|Skin
I6,"Item six
on two lines",BrandB,6,60,Beauty|Skin
I7,Item seven,BrandB,7,70,Beauty
I8,"Item eight,BrandC,8,80,Beauty
I9,Item nine,BrandC,9,90,Beauty
"""


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_a_row_with_an_unclosed_quote_is_rejected_alone(tmp_path: Path, newline: str):
    """The quote runs on to the next quote (line 6's) or the end of the file; the rows it ran
    over load, and a well-formed title on two lines still does."""
    got = read_csv_catalogue(write_catalogue(
        tmp_path, items=STRAY_QUOTE_ITEMS.replace("\n", newline), users="user_id\nU1\n",
        purchases="user_id,item_id,split\nU1,I1,train\n", item_links=None))
    assert [(item.id, item.title, item.sales_rank) for item in got.items] == [
        ("I1", "Item one", 10), ("I2", "Item two", 20), ("I4", "Item four", 40),
        ("I5", "Item five, quoted", 50), ("I6", f"Item six{newline}on two lines", 60),
        ("I7", "Item seven", 70), ("I9", "Item nine", 90)]
    assert [(r.line, r.reason, r.value) for r in got.rejects] == [
        (4, "malformed CSV row (unclosed quote)", 'I3,"Item three,BrandB,3,30,Beauty|Skin'),
        (10, "malformed CSV row (unclosed quote)", 'I8,"Item eight,BrandC,8,80,Beauty')]
    assert got.rows_read == 9 + 1 + 1  # items, users, purchases


@pytest.mark.parametrize("rows", [5_000, 40_000, 150_000])
def test_an_unclosed_quote_in_a_large_file_loses_no_other_row(tmp_path: Path, rows: int):
    """The quote runs on to the end of the file: within the csv module's field limit, past it,
    and past the longest row held (the lines past that are read again from the file)."""
    lines = [f"I{n},Item {n},Brand,3,30,Beauty|Skin" for n in range(1, rows + 1)]
    lines[9] = 'I10,"Item ten,Brand,3,30,Beauty|Skin'  # line 11
    items = "item_id,title,brand,price,sales_rank,categories\n" + "\n".join(lines) + "\n"
    write_catalogue(tmp_path, items=None, users="user_id\nU1\n",
                    purchases="user_id,item_id,split\nU1,I1,train\n", item_links=None)
    (tmp_path / "items.csv.gz").write_bytes(gzip.compress(items.encode()))
    got = read_csv_catalogue(tmp_path)
    assert len(got.items) == rows - 1 and "I10" not in {item.id for item in got.items}
    assert [(r.line, r.reason) for r in got.rejects] == [
        (11, "malformed CSV row (unclosed quote)")]
    assert got.rows_read == rows + 1 + 1


LAST_COLUMN_OPEN = """\
item_id,title,categories
i1,One,Shop|A
i2,Two,Shop|B
i3,Three,"Shop|C
i4,Four,Shop|D
i5,Five,Shop|E
"""
#: Here the quote runs on to the next one (line 5's), and the row the csv module makes of the
#: lines between has as many fields as the header.
MIDDLE_COLUMN_OPEN = """\
item_id,title,categories
i1,One,Shop|A
i2,Two,Shop|B
i3,"Three,Shop|C
i4,"Four",Shop|D
i5,Five,Shop|E
"""


@pytest.mark.parametrize("items", [LAST_COLUMN_OPEN, MIDDLE_COLUMN_OPEN],
                         ids=["last-column", "count-right"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_quote_left_open_is_rejected_alone_whichever_column_it_opens_in(
        tmp_path: Path, items: str, newline: str):
    purchases = "user_id,item_id,split\nu1,i1,train\nu1,i2,\"train\nu1,i4,test\nu1,i5,train\n"
    got = read_csv_catalogue(write_catalogue(
        tmp_path, items=items.replace("\n", newline), users="user_id\nu1\n",
        purchases=purchases.replace("\n", newline), item_links=None))
    assert [(item.id, item.categories) for item in got.items] == [
        ("i1", ("Shop", "A")), ("i2", ("Shop", "B")), ("i4", ("Shop", "D")),
        ("i5", ("Shop", "E"))]
    assert [(p.item_id, p.split) for p in got.purchases] == [
        ("i1", "train"), ("i4", "test"), ("i5", "train")]
    assert [(Path(r.file).name, r.line, r.reason) for r in got.rejects] == [
        ("items.csv", 4, "malformed CSV row (unclosed quote)"),
        ("purchases.csv", 3, "malformed CSV row (unclosed quote)")]
    assert got.rows_read == 5 + 1 + 4


def test_a_closed_quoted_value_on_many_lines_is_one_row_read_or_rejected_once(tmp_path: Path):
    """Its lines are never read as rows: a long description in a column that is not read
    loads with its row, and a row with one field too many is rejected once, for that."""
    description = "".join(f"Feature {n}, size S, colour red\n" for n in range(5000))
    items = ("item_id,title,brand,description\n"
             "i1,One,Acme,short\n"
             f'i2,Two,Acme,"{description}"\n'
             'i3,"Shirt\nsize M",Acme,x,extra\n'
             "i4,Four,Acme,short\n")
    got = read_csv_catalogue(write_catalogue(
        tmp_path, items=items, users="user_id\nu1\n",
        purchases="user_id,item_id,split\nu1,i2,train\n", item_links=None))
    assert [(item.id, item.title) for item in got.items] == [
        ("i1", "One"), ("i2", "Two"), ("i4", "Four")]
    assert [(r.line, r.reason, r.value) for r in got.rejects] == [
        (5004, "wrong number of fields (5, header has 4)", "i3,Shirt\nsize M,Acme,x,extra")]
    assert got.rows_read == 4 + 1 + 1


#: A naive export: a title left open at a quote, and a later title with an inch mark, which
#: the csv module takes for the first one's close.
STRAY_CLOSE_TITLE = """\
item_id,title,brand,price,sales_rank,categories
q1,"Hair Dryer 2000W,Conair,19.99,100,Beauty|Hair Care|Tools
q2,Round Brush,Conair,5.99,200,Beauty|Hair Care|Brushes
q3,Mirror 12",Jerdon,24.99,300,Beauty|Tools & Accessories|Mirrors
q4,Comb,Goody,1.99,400,Beauty|Hair Care|Combs
"""
#: The same with the quote left open in another column: one row of 10 fields to the csv module.
STRAY_CLOSE_OTHER_COLUMN = """\
item_id,title,brand,price,sales_rank,categories
q1,Hair Dryer,Conair,19.99,100,"Beauty|Hair Care|Tools
q2,Round Brush,Conair,5.99,200,Beauty|Hair Care|Brushes
q3,Mirror 12",Jerdon,24.99,300,Beauty|Tools & Accessories|Mirrors
q4,Comb,Goody,1.99,400,Beauty|Hair Care|Combs
"""


@pytest.mark.parametrize("items", [STRAY_CLOSE_TITLE, STRAY_CLOSE_OTHER_COLUMN],
                         ids=["same-column", "other-column"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_stray_quote_rows_later_does_not_close_a_quote_left_open(tmp_path: Path, items: str,
                                                                   newline: str):
    """The csv module reads q1's open quote on to q3's inch mark: the rows between were
    swallowed into q1 with no reject, or rejected with it as one row of too many fields."""
    got = read_csv_catalogue(write_catalogue(
        tmp_path, items=items.replace("\n", newline), users="user_id\nu1\n",
        purchases="user_id,item_id,split\nu1,q2,train\nu1,q3,test\n", item_links=None))
    assert [(item.id, item.title, item.brand) for item in got.items] == [
        ("q2", "Round Brush", "Conair"), ("q3", 'Mirror 12"', "Jerdon"), ("q4", "Comb", "Goody")]
    first = items.splitlines()[1]
    assert [(Path(r.file).name, r.line, r.reason, r.value) for r in got.rejects] == [
        ("items.csv", 2, "malformed CSV row (unclosed quote)", first)]
    assert got.rows_read == 4 + 1 + 2


def test_a_quoted_value_on_lines_that_look_like_rows_is_still_one_row(tmp_path: Path):
    """Its first line, the open quote taken as text, does not have the header's fields (nor,
    read alone, does a last line that opens at its closing quote): a value, not rows."""
    items = ('item_id,title,brand,notes\n'
             'i1,"Title line 1\nsecond, part, three",Acme,x\n'
             'i2,Two,Acme,"a, b, c\nd, e, f, g\nh, i, j, k\n"\n'
             'i3,Three,Acme,x\n')
    got = read_csv_catalogue(write_catalogue(
        tmp_path, items=items, users="user_id\nu1\n",
        purchases="user_id,item_id,split\nu1,i1,train\n", item_links=None))
    assert [(item.id, item.title) for item in got.items] == [
        ("i1", "Title line 1\nsecond, part, three"), ("i2", "Two"), ("i3", "Three")]
    assert got.rejects == []


@pytest.mark.parametrize("cut", [0, 1], ids=["quote-on-own-line", "quote-after-text"])
def test_a_closed_quoted_value_too_long_to_hold_costs_its_row_alone(tmp_path: Path, cut: int):
    """Over RUN_LIMIT its lines were taken for rows after a quote left open: each of these
    has the header's fields, and made an item or a duplicate-id reject."""
    line = "Soft, gentle, and long lasting hair care for every day" + "x" * 40 + "\n"
    value = line * (RUN_LIMIT // len(line) + 1000)
    value = value[:len(value) - cut]  # ending with a line break, or without
    items = ("item_id,title,description\nL1,Shampoo,short\n"
             f'L2,Conditioner,"{value}"\nL3,Brush,short\n')
    got = read_csv_catalogue(write_catalogue(
        tmp_path, items=items, users="user_id\nu1\n",
        purchases="user_id,item_id,split\nu1,L1,train\n", item_links=None))
    assert [(item.id, item.title) for item in got.items] == [("L1", "Shampoo"), ("L3", "Brush")]
    assert [(r.line, r.field, r.reason, r.value, r.action) for r in got.rejects] == [
        (3, "description",
         f"value too long ({len(value):,} characters, at most {FIELD_LIMIT:,}; item_id L2)",
         (line * 3)[:199] + "…", "row skipped")]
    assert got.rows_read == 3 + 1 + 1


@pytest.mark.parametrize("header", ["item_id,title,brand", "title,item_id,brand"])
def test_a_row_too_long_to_hold_on_one_line_is_named_by_field_and_id(tmp_path: Path,
                                                                      header: str):
    """It was rejected as the csv module's "field larger than field limit", field and value
    blank: nothing said which item was lost, nor which column was too long."""
    title = "Long title " * (RUN_LIMIT // 11 + 100)
    rows = {"M1": "Short", "M2": title, "M3": "Brush"}
    first_is_id = header.startswith("item_id")
    items = header + "\n" + "".join(
        f"{key},{text},Acme\n" if first_is_id else f"{text},{key},Acme\n"
        for key, text in rows.items())
    got = read_csv_catalogue(write_catalogue(
        tmp_path, items=items, users="user_id\nu1\n",
        purchases="user_id,item_id,split\nu1,M1,train\n", item_links=None))
    assert [(item.id, item.title) for item in got.items] == [("M1", "Short"), ("M3", "Brush")]
    assert [(r.line, r.field, r.reason, r.value, r.action) for r in got.rejects] == [
        (3, "title",
         f"value too long ({len(title):,} characters, at most {FIELD_LIMIT:,}; item_id M2)",
         title[:199] + "…", "row skipped")]


@pytest.mark.parametrize(("last", "end"), [
    ('r2,Brush,Goody,"Beauty|Hair Care', "\n"),
    ('r2,Brush,Goody,"Beauty|Hair Care', ""),
    ('r2,"Brush,Goody,Beauty|Hair Care', "\n"),
    ('r2,"Brush,Goody,Beauty|Hair Care', "")],
    ids=["last-column", "last-column-no-line-end", "other-column", "other-column-no-line-end"])
def test_a_quote_left_open_on_the_last_line_is_rejected_as_such(tmp_path: Path, last: str,
                                                                end: str):
    """Only rows that ran on over several lines were checked: this one loaded, its categories
    ending in the line's end, or was rejected for its number of fields."""
    items = f'item_id,title,brand,categories\nr1,Comb,Goody,Beauty|Hair Care\n{last}{end}'
    got = read_csv_catalogue(write_catalogue(
        tmp_path, items=items, users="user_id\nu1\n",
        purchases="user_id,item_id,split\nu1,r1,train\n", item_links=None))
    assert [item.id for item in got.items] == ["r1"]
    assert [(r.line, r.reason, r.value) for r in got.rejects] == [
        (3, "malformed CSV row (unclosed quote)", last)]
    assert got.rows_read == 2 + 1 + 1


def test_a_header_with_an_unclosed_quote_is_refused_in_one_line(tmp_path: Path):
    write_catalogue(tmp_path, items='item_id,"title,brand\nI1,One,A\nI2,Two,B\n')
    with pytest.raises(CatalogueError) as raised:
        read_csv_catalogue(tmp_path)
    assert str(raised.value) == (f"{tmp_path / 'items.csv'}: unreadable header row (a quote "
                                 "opened on line 1 is not closed on it)")


def test_not_a_directory(tmp_path: Path):
    with pytest.raises(CatalogueError, match="expected a directory"):
        read_csv_catalogue(tmp_path / "missing")


def test_write_rejects_and_summarise(tmp_path: Path, catalogue):
    out = tmp_path / "rejects.csv"
    assert write_rejects(catalogue.rejects, out) == 22
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["file", "line", "field", "reason", "value", "action"]
    assert [Reject(**row | {"line": int(row["line"])}) for row in rows] == catalogue.rejects
    summary = summarise(catalogue.rejects)
    assert summary == {
        "item not in catalogue": 2,
        "invalid seq": 2,
        "missing item id": 2,
        "missing user id": 2,
        "duplicate item id": 1,
        "duplicate link": 1,
        "duplicate purchase": 1,
        "duplicate user id": 1,
        "HTML fragment instead of text": 1,
        "category path cut": 1,
        "invalid split": 1,
        "missing other item id": 1,
        "negative price": 1,
        "unknown relation": 1,
        "unparseable price": 1,
        "unparseable sales rank": 1,
        "user not in users file": 1,
        "wrong number of fields": 1,
    }
    assert list(summary)[:4] == [
        "invalid seq",
        "item not in catalogue",
        "missing item id",
        "missing user id",
    ]
    assert write_rejects([], tmp_path / "none.csv") == 0
    assert (tmp_path / "none.csv").read_bytes() == b"file,line,field,reason,value,action\r\n"


def test_sample_counts():
    got = read_csv_catalogue(SAMPLE)
    assert (len(got.users), len(got.items), len(got.purchases), len(got.links)) == (
        1527,
        1213,
        13613,
        121082,
    )
    assert got.rejects == []
    assert got.rows_read == 1527 + 1213 + 13613 + 121082
    assert Counter(p.split for p in got.purchases) == {"train": 9707, "test": 3906}
    assert Counter(link.relation for link in got.links) == {
        "ALSO_BOUGHT": 102314,
        "ALSO_VIEWED": 17783,
        "BOUGHT_TOGETHER": 985,
    }
    item_ids = {item.id for item in got.items}
    assert sum(link.other_item_id in item_ids for link in got.links) == 29945
    splits: dict[str, set[str]] = {}
    for purchase in got.purchases:
        splits.setdefault(purchase.user_id, set()).add(purchase.split)
    assert all(seen == {"train", "test"} for seen in splits.values()) and len(splits) == 1527
    assert len({item.brand for item in got.items}) == 10


@pytest.mark.slow
@pytest.mark.skipif(not BEAUTY.is_dir(), reason="needs ../shared/datasets/amazon_beauty")
def test_full_beauty_matches_its_readme():
    got = read_csv_catalogue(BEAUTY)
    assert (len(got.users), len(got.items), len(got.purchases), len(got.links)) == (
        22363,
        12101,
        198502,
        1055552,
    )
    assert got.rejects == []
    assert Counter(p.split for p in got.purchases) == {"train": 149844, "test": 48658}
    assert Counter(link.relation for link in got.links) == {
        "ALSO_BOUGHT": 891181,
        "ALSO_VIEWED": 155350,
        "BOUGHT_TOGETHER": 9021,
    }
    assert sum(item.price is None for item in got.items) == 585
    assert sum(item.brand is None for item in got.items) == 2098
