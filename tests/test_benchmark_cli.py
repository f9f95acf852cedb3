"""``graphrec benchmark --data`` reads whatever ``graphrec ingest`` reads and names its results
after the catalogue."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from graphrec.cli import main
from graphrec.dataset import GraphData
from graphrec.evaluation.baselines.popularity import Popularity
from graphrec.evaluation.benchmark import catalogue_name, results_path
from graphrec.evaluation.evaluate import evaluate
from tests.conftest import SAMPLE

#: Five shoppers, four products (2014 metadata). Each shopper's latest review is the test split
#: (3 purchases: held_out_count(3) == 1); it is never one they bought before.
META = """\
{'asin': 'B1', 'title': 'Rose Oil', 'brand': 'Acme', 'categories': [['Beauty', 'Oils']], 'related': {'also_bought': ['B2', 'OUT'], 'also_viewed': ['B3']}}
{'asin': 'B2', 'title': 'Rose Cream', 'brand': 'Acme', 'categories': [['Beauty', 'Creams']]}
{'asin': 'B3', 'title': 'Mint Soap', 'brand': 'Bold', 'categories': [['Beauty', 'Soaps']], 'related': {'bought_together': ['B4']}}
{'asin': 'B4', 'title': 'Mint Gel', 'categories': [['Beauty']]}
"""
HISTORIES = {"U1": ["B1", "B2", "B3"], "U2": ["B2", "B1", "B3"], "U3": ["B1", "B3", "B2"],
             "U4": ["B1", "B4", "B2"], "U5": ["B3", "B4", "B1"]}


@pytest.fixture(autouse=True)
def one_thread() -> None:
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def raw_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "Amazon_Tiny Shop"
    folder.mkdir()
    (folder / "meta_Tiny.json").write_text(META)
    (folder / "reviews_Tiny.json").write_text("".join(
        json.dumps({"reviewerID": user, "asin": item, "unixReviewTime": 100 * t}) + "\n"
        for user, items in HISTORIES.items() for t, item in enumerate(items, start=1)))
    return folder


def results(cwd: Path, name: str) -> dict:
    return json.loads((cwd / "benchmarks" / "results" / f"{name}.json").read_text())


@pytest.mark.parametrize("path,name", [
    ("../shared/datasets/amazon_beauty", "beauty"),
    ("/data/amazon_clothing/", "clothing"),
    ("shops/Toys & Games", "toys_games"),
    ("graphrec/sample/beauty", "beauty"),
    ("/x/amazon-Books", "books"),
])
def test_catalogue_name(path: str, name: str) -> None:
    assert catalogue_name(path) == name
    assert results_path(name) == Path("benchmarks/results") / f"{name}.json"


def test_on_the_sample_writes_beauty_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["benchmark", "--data", str(SAMPLE), "--models", "popularity",
                 "--threads", "1"]) == 0
    written = results(tmp_path, "beauty")
    canonical = GraphData.from_csv_dir(SAMPLE)
    # read by ingest's reader, the graph is the one the canonical CSV read gives
    assert written["dataset"]["fingerprint"] == canonical.fingerprint()
    assert written["dataset"]["path"] == str(SAMPLE)
    expected = evaluate(Popularity().fit(canonical), canonical)
    assert written["models"]["popularity"]["ndcg@10"] == pytest.approx(expected["ndcg@10"])
    assert written["models"]["popularity"]["torch_threads"] == 1
    out = capsys.readouterr().out
    assert f"{canonical.num_users:,} users, {canonical.num_items:,} items" in out
    assert "test purchases, 0 rows skipped, 0 fields dropped\n" in out


def test_on_a_raw_amazon_folder(raw_folder: Path, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["benchmark", "--data", str(raw_folder), "--models", "popularity"]) == 0
    written = results(tmp_path, "tiny_shop")
    dataset = written["dataset"]
    assert (dataset["users"], dataset["items"], dataset["train"], dataset["test"]) == (5, 4, 10, 5)
    assert (dataset["brands"], dataset["links"]) == (
        2, {"also_bought": 1, "also_viewed": 1, "bought_together": 1})
    # every shopper's test item is one of the 2 they have not bought: always in a top 10
    row = written["models"]["popularity"]
    assert (row["hr@10"], row["recall@10"], row["precision@10"]) == (100.0, 100.0, 10.0)


def test_another_catalogues_results_are_not_merged(raw_folder: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "mixed.json"
    assert main(["benchmark", "--data", str(SAMPLE), "--models", "popularity",
                 "--out", str(out)]) == 0
    before = out.read_text()
    assert main(["benchmark", "--data", str(raw_folder), "--models", "popularity",
                 "--out", str(out)]) == 1
    error = capsys.readouterr().err
    assert "holds the results of another catalogue" in error and str(SAMPLE) in error
    assert "Traceback" not in error
    assert out.read_text() == before
    assert main(["benchmark", "--data", str(raw_folder), "--models", "popularity",
                 "--out", str(out), "--no-merge"]) == 0
    assert json.loads(out.read_text())["dataset"]["users"] == 5


def test_unknown_model_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["benchmark", "--data", str(SAMPLE), "--models", "nope"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("graphrec: error: unknown model 'nope'") and error.count("\n") == 1
    assert not (tmp_path / "benchmarks").exists()


def test_set_changes_graphrecs_rows_and_no_baseline(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A catalogue's own settings (its history exponent, chosen on its validation split) reach
    graphrec and its ablations, are recorded in their rows, and leave the baselines alone."""
    monkeypatch.chdir(tmp_path)
    small = ["--set", "embedding_dim=8", "--set", "max_epochs=2", "--set", "min_epochs=0"]
    assert main(["benchmark", "--data", str(SAMPLE), "--threads", "1", "--models", "popularity",
                 "graphrec", "graphrec_no_item_links", *small,
                 "--set", "history_exponent=0.5"]) == 0
    rows = results(tmp_path, "beauty")["models"]
    for name in ("graphrec", "graphrec_no_item_links"):
        params = rows[name]["params"]
        assert (params["embedding_dim"], params["history_exponent"]) == (8, 0.5)
        assert (params["max_epochs"], params["min_epochs"]) == (2, 0)  # set: recorded
        assert "lr" not in params  # left at its default: not
    assert rows["graphrec_no_item_links"]["params"]["item_links"] is False
    assert rows["popularity"]["params"] == {}
