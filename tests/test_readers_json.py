"""The raw Amazon reader: 2014 and 2018 metadata, the time-based split, field parsers, and the
real Magazine data (when ../shared is present) with its rejects pinned after checking them by hand
against the raw lines."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.datasets import DATASETS
from ingest.amazon_json import held_out_count, read_amazon_json, read_amazon_json_files
from ingest.errors import CatalogueError
from ingest.records import Item, ItemLink, Purchase
from ingest.rejects import summarise
from ingest.validate import BadValue, clean_text, parse_price, parse_sales_rank

MAGAZINE = DATASETS / "amazon_magazine_2018_raw"

META_2014 = """\
{'asin': 'B1', 'title': 'Tutu &amp; Co', 'price': 3.17, 'salesRank': {'Beauty': 211836}, 'brand': 'Coxlists', 'categories': [['Beauty', 'Makeup', 'Eyes'], ['Health & Personal Care']], 'related': {'also_bought': ['B2', 'X9'], 'bought_together': ['B2'], 'also_viewed': ['B3', '']}}
{'asin': 'B2', 'title': 'Second', 'price': -1.0, 'categories': [['Beauty']]}
{"asin": "B3", "title": "A JSON line"}
{'asin': 'B4', 'title': 'broken'
['not', 'an', 'object']
{'asin': '', 'title': 'no id'}
{'asin': 'B1', 'title': 'again'}

{'asin': 'B5', 'title': 'Linked oddly', 'related': {'also_bought': 'B1'}}
"""
REVIEWS = """\
{"reviewerID": "U1", "asin": "B1", "unixReviewTime": 300}
{"reviewerID": "U1", "asin": "B2", "unixReviewTime": 100}
{"reviewerID": "U1", "asin": "B3", "unixReviewTime": 200}
{"reviewerID": "U1", "asin": "B1", "unixReviewTime": 50}
{"reviewerID": "U2", "asin": "B1", "reviewTime": "01 2, 2014"}
{"reviewerID": "U2", "asin": "NOPE", "unixReviewTime": 1}
{"reviewerID": "", "asin": "B1", "unixReviewTime": 1}
{"reviewerID": "U3", "asin": "B2"}
not json at all
{"reviewerID": "U2", "asin": "B3", "unixReviewTime": 1388707200}
"""
META_2018 = """\
{"asin": "M1", "title": "<span class=\\"a-size-medium a-color-secondary\\"", "brand": "F&amp;W", "price": "$12.99", "rank": ["#1,234 in Magazines (", "#5 in Magazines > Crafts"], "category": ["Magazine Subscriptions", "Arts, Music &amp; Photography"], "also_buy": ["M2", "OUT1"], "also_view": ["M2"]}
{"asin": "M2", "title": " Magazines\\" />", "brand": "", "price": "$5.00 - $9.00", "rank": "742 in Magazine Subscriptions (", "category": [], "also_buy": [], "also_view": []}
{"asin": "M3", "title": "Plain", "brand": "X", "price": ".a-box-inner{background-color:#fff}", "rank": [], "category": ["Magazine Subscriptions", "</span>"], "also_buy": ["M1", "M1"], "also_view": ""}
"""
REVIEWS_2018 = """\
{"reviewerID": "R1", "asin": "M1", "unixReviewTime": 10}
{"reviewerID": "R1", "asin": "M2", "unixReviewTime": 20}
"""


def write(path: Path, text: str, gzipped: bool = False) -> Path:
    path.write_bytes(gzip.compress(text.encode()) if gzipped else text.encode())
    return path


@pytest.fixture
def old(tmp_path: Path):
    write(tmp_path / "meta_Beauty.json", META_2014)
    write(tmp_path / "reviews_Beauty_5.json.gz", REVIEWS, gzipped=True)
    return read_amazon_json(tmp_path)


def rejects_of(catalogue) -> set[tuple[str, int, str, str, str]]:
    return {(Path(r.file).name, r.line, r.field, r.reason, r.action) for r in catalogue.rejects}


def test_2014_metadata_parses_python_literals(old):
    items = {item.id: item for item in old.items}
    assert list(items) == ["B1", "B2", "B3", "B5"]
    assert items["B1"] == Item(
        "B1", "Tutu & Co", "Coxlists", 3.17, 211836, ("Beauty", "Makeup", "Eyes")
    )
    assert items["B2"] == Item("B2", "Second", None, None, None, ("Beauty",))
    assert items["B3"] == Item("B3", "A JSON line")
    assert old.links == [
        ItemLink("B1", "ALSO_BOUGHT", "B2"),
        ItemLink("B1", "ALSO_BOUGHT", "X9"),
        ItemLink("B1", "ALSO_VIEWED", "B3"),
        ItemLink("B1", "BOUGHT_TOGETHER", "B2"),
    ]
    assert old.format == "amazon-json"


def test_2014_rejects(old):
    meta, reviews = "meta_Beauty.json", "reviews_Beauty_5.json.gz"
    assert rejects_of(old) == {
        (meta, 1, "also_viewed", "missing other item id", "field dropped"),
        (meta, 2, "price", "negative price", "field dropped"),
        (meta, 4, "", "unparseable line", "row skipped"),
        (meta, 5, "", "not an object", "row skipped"),
        (meta, 6, "asin", "missing item id", "row skipped"),
        (meta, 7, "asin", "duplicate item id (first on line 1)", "row skipped"),
        (meta, 9, "also_bought", "not a list", "field dropped"),
        (reviews, 4, "asin", "duplicate purchase (first on line 1)", "row skipped"),
        (reviews, 6, "asin", "item not in catalogue", "row skipped"),
        (reviews, 7, "reviewerID", "missing user id", "row skipped"),
        (reviews, 8, "unixReviewTime", "missing review time", "row skipped"),
        (reviews, 9, "", "unparseable line", "row skipped"),
    }
    assert len(old.rejects) == 12
    assert old.rows_read == 8 + 10


def test_purchases_follow_time_order_and_the_latest_go_to_test(old):
    assert old.users == ["U1", "U2"]
    assert old.purchases == [
        Purchase("U1", "B2", 1, "train"),
        Purchase("U1", "B3", 2, "train"),
        Purchase("U1", "B1", 3, "test"),
        Purchase("U2", "B1", 1, "train"),  # reviewTime "01 2, 2014" is before 1388707200 (3 Jan)
        Purchase("U2", "B3", 2, "test"),
    ]


def test_test_share_is_a_parameter(tmp_path: Path):
    meta = write(tmp_path / "meta.json", META_2014)
    reviews = write(tmp_path / "reviews.json", REVIEWS)
    none = read_amazon_json_files(reviews, meta, test_share=0)
    assert {p.split for p in none.purchases} == {"train"}
    assert none.source == str(meta)
    with pytest.raises(ValueError, match="test_share"):
        read_amazon_json_files(reviews, meta, test_share=1.0)


@pytest.mark.parametrize(
    ("n", "share", "expected"),
    [
        (1, 0.3, 0),
        (2, 0.3, 1),
        (3, 0.3, 1),
        (5, 0.3, 2),
        (7, 0.3, 2),
        (10, 0.3, 3),
        (2, 0.9, 1),
        (4, 0.5, 2),
        (9, 0.0, 0),
    ],
)
def test_held_out_count(n, share, expected):
    assert held_out_count(n, share) == expected


def test_2018_metadata(tmp_path: Path):
    write(tmp_path / "meta_Magazines.json.gz", META_2018, gzipped=True)
    write(tmp_path / "Magazines_5.json", REVIEWS_2018)
    got = read_amazon_json(tmp_path)
    items = {item.id: item for item in got.items}
    assert items["M1"] == Item(
        "M1", None, "F&W", 12.99, 1234, ("Magazine Subscriptions", "Arts, Music & Photography")
    )
    assert items["M2"] == Item("M2", None, None, None, 742, ())
    assert items["M3"] == Item("M3", "Plain", "X", None, None, ("Magazine Subscriptions",))
    assert got.links == [
        ItemLink("M1", "ALSO_BOUGHT", "M2"),
        ItemLink("M1", "ALSO_BOUGHT", "OUT1"),
        ItemLink("M1", "ALSO_VIEWED", "M2"),
        ItemLink("M3", "ALSO_BOUGHT", "M1"),
    ]
    meta = "meta_Magazines.json.gz"
    assert rejects_of(got) == {
        (meta, 1, "title", "HTML fragment instead of text", "field dropped"),
        (meta, 2, "title", "HTML fragment instead of text", "field dropped"),
        (meta, 2, "price", "unparseable price", "field dropped"),
        (meta, 3, "price", "unparseable price", "field dropped"),
        (meta, 3, "categories", "category path cut (HTML fragment instead of text)", "field cut"),
        (meta, 3, "also_buy", "duplicate link", "field dropped"),
    }
    assert got.purchases == [Purchase("R1", "M1", 1, "train"), Purchase("R1", "M2", 2, "test")]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12.99", 12.99),
        ("$12.99", 12.99),
        (" $1,299.00 ", 1299.0),
        (3.5, 3.5),
        (0, 0.0),
        ("", None),
        (None, None),
    ],
)
def test_parse_price(raw, expected):
    assert parse_price(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("abc", "unparseable price"),
        ("$5.00 - $9.00", "unparseable price"),
        ("nan", "unparseable price"),
        (True, "unparseable price"),
        pytest.param(10**400, "unparseable price", id="beyond-any-float"),
        ("-3", "negative price"),
        (-0.01, "negative price"),
    ],
)
def test_bad_price(raw, reason):
    with pytest.raises(BadValue, match=reason):
        parse_price(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("493036.0", 493036),
        (17, 17),
        (17.0, 17),
        ("1,234", 1234),
        ("742 in Magazine Subscriptions (", 742),
        (">#1,156,447 in Beauty & Personal Care (See Top 100", 1156447),
        (["", "#5 in Books"], 5),
        ({"Beauty": 12}, 12),
        (2**63 - 1, 2**63 - 1),
        ("9,223,372,036,854,775,807 in Books", 2**63 - 1),
        ([], None),
        ({}, None),
        ("", None),
        (None, None),
    ],
)
def test_parse_sales_rank(raw, expected):
    assert parse_sales_rank(raw) == expected


@pytest.mark.parametrize("raw", ["1.5", "top seller", 0, -4, 2.5, True])
def test_bad_sales_rank(raw):
    with pytest.raises(BadValue):
        parse_sales_rank(raw)


@pytest.mark.parametrize("raw", [2**63, 1e19, "9,223,372,036,854,775,808 in Books", "9" * 5000,
                                 {"Books": 2**64}])
def test_a_sales_rank_the_store_cannot_keep_is_too_large(raw):
    with pytest.raises(BadValue, match="^sales rank too large$"):
        parse_sales_rank(raw)


@pytest.mark.parametrize(
    "raw",
    [
        '<span class="a-size-medium a-color-secondary"',
        ' Magazines" />',
        "</span>",
        "<div>Title</div>",
    ],
)
def test_markup_is_not_a_title(raw):
    with pytest.raises(BadValue, match="HTML fragment"):
        clean_text(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Rolling Stone {the Country Issue}", "Rolling Stone {the Country Issue}"),
        ("a < b", "a < b"),
        ("  x  ", "x"),
        ("", None),
        ("Canoe &amp; Kayak", "Canoe & Kayak"),
    ],
)
def test_text_that_stays(raw, expected):
    assert clean_text(raw, unescape=True) == expected


def test_a_number_beyond_any_float_is_rejected_with_its_line(tmp_path: Path):
    huge = "9" * 400
    meta = write(tmp_path / "meta_x.json",
                 f'{{"asin": "B1", "price": {huge}}}\n{{"asin": "B2", "price": 2}}\n')
    reviews = write(tmp_path / "x.json",
                    f'{{"reviewerID": "U1", "asin": "B1", "unixReviewTime": {huge}}}\n'
                    f'{{"reviewerID": "U1", "asin": "B2", "unixReviewTime": "{huge}"}}\n'
                    '{"reviewerID": "U1", "asin": "B2", "unixReviewTime": 5}\n')
    got = read_amazon_json_files(reviews, meta)
    assert [(item.id, item.price) for item in got.items] == [("B1", None), ("B2", 2.0)]
    assert got.purchases == [Purchase("U1", "B2", 1, "train")]
    assert [(Path(r.file).name, r.line, r.field, r.reason) for r in got.rejects] == [
        ("meta_x.json", 1, "price", "unparseable price"),
        ("x.json", 1, "unixReviewTime", "missing review time"),
        ("x.json", 2, "unixReviewTime", "missing review time"),
    ]


@pytest.mark.parametrize("gzipped", [False, True])
def test_text_that_is_not_utf8_is_refused_naming_its_line(tmp_path: Path, gzipped: bool):
    lines = [b'{"asin": "B%d", "title": "Title %d"}' % (n, n) for n in range(1, 1001)]
    lines[249] = b'{"asin": "B250", "title": "Caf\xe9"}'  # latin-1
    name = "meta_x.json.gz" if gzipped else "meta_x.json"
    data = b"\n".join(lines) + b"\n"
    meta = tmp_path / name
    meta.write_bytes(gzip.compress(data) if gzipped else data)
    reviews = write(tmp_path / "x.json", '{"reviewerID": "U1", "asin": "B1", "unixReviewTime": 1}\n')
    with pytest.raises(CatalogueError) as raised:
        read_amazon_json_files(reviews, meta)
    assert str(raised.value) == (
        f"{meta}: not UTF-8 text on line 250 ('utf-8' codec can't decode byte 0xe9 in "
        "position 30: invalid continuation byte)")


def test_missing_file_and_no_usable_rows(tmp_path: Path):
    meta = write(tmp_path / "meta_x.json", META_2014)
    with pytest.raises(CatalogueError, match="file not found"):
        read_amazon_json_files(tmp_path / "absent.json", meta)
    reviews = write(
        tmp_path / "x.json", '{"reviewerID": "U1", "asin": "NOPE", "unixReviewTime": 1}\n'
    )
    with pytest.raises(CatalogueError, match="no usable review lines"):
        read_amazon_json_files(reviews, meta)
    empty = write(tmp_path / "meta_empty.json", "\n")
    with pytest.raises(CatalogueError, match="no usable item lines"):
        read_amazon_json_files(reviews, empty)


@pytest.fixture(scope="module")
def magazine():
    if not MAGAZINE.is_dir():
        pytest.skip("needs ../shared/datasets/amazon_magazine_2018_raw")
    return read_amazon_json(MAGAZINE)


def test_magazine_counts(magazine):
    assert len(magazine.users) == 348
    assert len(magazine.items) == 2320  # distinct ids among 3,385 metadata lines
    assert len(magazine.purchases) == 2242  # 2,375 reviews less 64 of unknown items, 69 repeats
    assert len({p.item_id for p in magazine.purchases}) == 151  # 157 reviewed, 6 without metadata
    assert len(magazine.links) == 75130
    assert Counter(link.relation for link in magazine.links) == {
        "ALSO_BOUGHT": 39542,
        "ALSO_VIEWED": 35588,
    }
    assert Counter(p.split for p in magazine.purchases) == {"train": 1507, "test": 735}
    assert magazine.rows_read == 3385 + 2375


def test_magazine_rejects_by_reason(magazine):
    assert summarise(magazine.rejects) == {
        # 2,163 '<span class=...' titles and 10 ' Magazines" />'
        "HTML fragment instead of text": 2173,
        "duplicate item id": 1065,  # every repeated line is identical to its first
        "duplicate purchase": 69,
        "item not in catalogue": 64,  # 6 asins without metadata
        "unparseable price": 16,  # CSS or script text in the price field
    }


def test_magazine_rejects_checked_by_hand(magazine):
    # zcat meta_Magazine_Subscriptions.json.gz | sed -n '1p;739p;1066p'
    # zcat Magazine_Subscriptions_5.json.gz | sed -n '84p;87p;1748p'
    found = {(Path(r.file).name, r.line, r.field): r for r in magazine.rejects}
    meta, reviews = "meta_Magazine_Subscriptions.json.gz", "Magazine_Subscriptions_5.json.gz"
    assert found[(meta, 1, "title")].value == '<span class="a-size-medium a-color-secondary"'
    assert found[(meta, 739, "price")].value.startswith(".a-box-inner{background-color:#fff}")
    assert len(found[(meta, 739, "price")].value) == 200
    assert found[(meta, 1066, "asin")].reason == "duplicate item id (first on line 1)"
    assert found[(meta, 1066, "asin")].value == "B00005N7NQ"
    assert found[(reviews, 87, "asin")].reason == "duplicate purchase (first on line 84)"
    assert found[(reviews, 87, "asin")].value == "A331QSLLJQ2OMY,B00005N7SC"
    assert found[(reviews, 1748, "asin")].reason == "item not in catalogue"
    assert found[(reviews, 1748, "asin")].value == "B000IMVNQU"


def test_magazine_item_and_history_checked_by_hand(magazine):
    # meta line 2: "&amp;" in the category path, rank given as text.
    item = next(item for item in magazine.items if item.id == "B00005N7OC")
    assert item == Item(
        "B00005N7OC",
        None,
        "String Letter Publishers",
        None,
        742,
        ("Magazine Subscriptions", "Arts, Music & Photography", "Music"),
    )
    # Reviews on lines 7, 1589, 779, 1220, 1147, in time order; 5 purchases → 2 test.
    history = [
        (p.item_id, p.seq, p.split) for p in magazine.purchases if p.user_id == "A3OIE7IE9LTPJG"
    ]
    assert history == [
        ("B00005N7P0", 1, "train"),
        ("B000ICB4T6", 2, "train"),
        ("B00005NIPP", 3, "train"),
        ("B00007B1AI", 4, "test"),
        ("B00007AVYI", 5, "test"),
    ]
