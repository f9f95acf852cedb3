"""Format detection and dispatch."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from benchmarks.datasets import DATASETS
from ingest.detect import detect_format, read_catalogue
from ingest.errors import CatalogueError

SAMPLE = Path(__file__).resolve().parents[1] / "graphrec" / "sample" / "beauty"

CSV_FILES = {
    "items.csv": "item_id,title\nA1,One\n",
    "users.csv": "user_id\nU1\n",
    "purchases.csv": "user_id,item_id,seq,split\nU1,A1,1,train\n",
}
META = "{'asin': 'A1', 'title': 'One'}\n"
REVIEWS = '{"reviewerID": "U1", "asin": "A1", "unixReviewTime": 1}\n'


def make(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        data = text.encode()
        (directory / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return directory


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (CSV_FILES, "csv"),
        ({"items.csv.gz": ""}, "csv"),
        ({"meta_Beauty.json.gz": META, "reviews_Beauty_5.json.gz": REVIEWS}, "amazon-json"),
        ({"meta_Beauty.json": META, "Beauty.json": REVIEWS, "notes.txt": ""}, "amazon-json"),
    ],
)
def test_detect_format(tmp_path: Path, files, expected):
    assert detect_format(make(tmp_path / "data", files)) == expected


@pytest.mark.parametrize(
    ("files", "detail"),
    [
        ({}, "found none"),
        ({"items.txt": ""}, "found none"),
        ({"meta_A.json": META}, "exactly one reviews file"),
        ({"A.json": REVIEWS}, "exactly one metadata file"),
        (
            {"meta_A.json": META, "meta_B.json": META, "A.json": REVIEWS},
            "found meta_A.json, meta_B.json",
        ),
        ({"meta_A.json": META, "A.json": REVIEWS, "B.json.gz": REVIEWS}, "found A.json, B.json.gz"),
    ],
)
def test_undetectable_directory_says_what_was_expected(tmp_path: Path, files, detail):
    with pytest.raises(CatalogueError) as raised:
        detect_format(make(tmp_path / "data", files))
    message = str(raised.value)
    assert "items.csv[.gz]" in message and "meta_*.json[.gz]" in message and detail in message
    assert raised.value.file == str(tmp_path / "data")


def test_a_file_is_not_a_catalogue(tmp_path: Path):
    (tmp_path / "items.csv").write_text("item_id\n")
    with pytest.raises(CatalogueError, match="not a directory"):
        detect_format(tmp_path / "items.csv")
    with pytest.raises(CatalogueError, match="not a directory"):
        read_catalogue(tmp_path / "absent")


def test_read_catalogue_dispatches(tmp_path: Path):
    csv = read_catalogue(make(tmp_path / "csv", CSV_FILES))
    assert (csv.format, len(csv.items), len(csv.purchases)) == ("csv", 1, 1)
    raw = read_catalogue(make(tmp_path / "raw", {"meta_x.json": META, "x.json": REVIEWS}))
    assert (raw.format, raw.source, len(raw.items), raw.users) == (
        "amazon-json",
        str(tmp_path / "raw"),
        1,
        ["U1"],
    )


def test_read_catalogue_with_a_given_format(tmp_path: Path):
    directory = make(tmp_path / "csv", CSV_FILES)
    assert read_catalogue(directory, format="csv").format == "csv"
    with pytest.raises(CatalogueError, match="metadata file"):
        read_catalogue(directory, format="amazon-json")
    with pytest.raises(CatalogueError, match="unknown format 'parquet'"):
        read_catalogue(directory, format="parquet")


def test_test_share_reaches_the_raw_reader(tmp_path: Path):
    directory = make(
        tmp_path / "raw",
        {
            "meta_x.json": META + "{'asin': 'A2'}\n",
            "x.json": REVIEWS + '{"reviewerID": "U1", "asin": "A2", "unixReviewTime": 2}\n',
        },
    )
    assert [p.split for p in read_catalogue(directory).purchases] == ["train", "test"]
    assert [p.split for p in read_catalogue(directory, test_share=0).purchases] == [
        "train",
        "train",
    ]


def test_the_sample_is_csv():
    assert detect_format(SAMPLE) == "csv"


@pytest.mark.parametrize(
    ("name", "expected"), [("amazon_beauty", "csv"), ("amazon_magazine_2018_raw", "amazon-json")]
)
def test_shared_datasets(name, expected):
    if not (DATASETS / name).is_dir():
        pytest.skip(f"needs ../shared/datasets/{name}")
    assert detect_format(DATASETS / name) == expected
