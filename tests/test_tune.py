"""``benchmarks/tune.py``: its two phases are the benchmark's protocol cut in two
(the validation run, then the refit for the epochs it chose), and the first never reads test."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import tune as script
from graphrec.dataset import GraphData
from graphrec.evaluation.benchmark import run_model
from graphrec.model.train import KGRecRecommender
from tests.conftest import SAMPLE

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = ["--fix", "embedding_dim=8", "--fix", "max_epochs=6"]


def test_the_phases_give_the_benchmark_row(tmp_path: Path) -> None:
    out = tmp_path / "runs.json"
    common = ["--data", str(SAMPLE), "--out", str(out), "--set", "relation_weight_init=2",
              *SMALL]
    script.main(["validation", *common, "--models", "graphrec", "graphrec_no_brand_category"])
    script.main(["test", *common, "--models", "graphrec"])
    runs = json.loads(out.read_text())["runs"]
    tried = "embedding_dim=8 max_epochs=6 relation_weight_init=2"
    assert sorted(runs) == [f"graphrec @ {tried}", f"graphrec_no_brand_category @ {tried}"]
    assert "test" not in runs[f"graphrec_no_brand_category @ {tried}"]  # only what was asked
    run = runs[f"graphrec @ {tried}"]
    assert run["config"]["relation_weight_init"] == 2.0 and run["config"]["embedding_dim"] == 8
    assert runs[f"graphrec_no_brand_category @ {tried}"]["config"]["brands"] is False
    assert set(run["validation"]["relations"]) >= {"has_brand", "also_bought"}

    data = GraphData.from_csv_dir(SAMPLE)
    config = script.config_for("graphrec", 0, relation_weight_init=2.0, embedding_dim=8,
                               max_epochs=6)
    benchmark = run_model(KGRecRecommender(config), data)  # validation run and refit in one
    assert run["validation"]["epochs"] == benchmark["epochs"]
    curve = run["validation"]["validation_ndcg@10"]  # the benchmark rounds its copy
    assert {epoch: round(ndcg, 4) for epoch, ndcg in curve.items()} == benchmark[
        "validation_ndcg@10"]
    for metric in ("ndcg@10", "recall@10", "hr@10", "precision@10"):
        assert run["test"][metric] == pytest.approx(benchmark[metric], abs=1e-9)


def test_the_validation_phase_never_reads_test() -> None:
    data = GraphData.from_csv_dir(SAMPLE)
    config = script.config_for("graphrec", 0, relation_weight_init=2.0, embedding_dim=8,
                               max_epochs=4)
    other = dataclasses.replace(data, test=np.zeros((0, 2), dtype=np.int64))
    first, second = script.validation_row(data, config), script.validation_row(other, config)
    assert first["validation_ndcg@10"] == second["validation_ndcg@10"]
    assert first["relations"] == second["relations"]


def test_another_catalogues_runs_are_refused_before_training(tmp_path: Path) -> None:
    from graphrec.evaluation.benchmark import ResultsMismatch

    out = tmp_path / "runs.json"
    out.write_text(json.dumps({"dataset": {"path": "elsewhere", "fingerprint": "other"},
                               "seed": 0, "runs": {}}))
    with pytest.raises(ResultsMismatch, match="another catalogue"):
        script.main(["validation", "--data", str(SAMPLE), "--out", str(out),
                     "--set", "relation_weight_init=1", *SMALL])
    assert json.loads(out.read_text())["runs"] == {}


@pytest.mark.parametrize("text, message", [
    ("history_dropout", "expected FIELD=VALUE"), ("brands=0", "expected FIELD=VALUE"),
    ("seed=1", "expected FIELD=VALUE"), ("lr=fast", "lr takes numbers (float)"),
    ("num_layers=1.5", "num_layers takes numbers (int)")])
def test_a_bad_assignment_is_refused_naming_the_field(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str) -> None:
    with pytest.raises(SystemExit):
        script.main(["validation", "--data", str(SAMPLE), "--out", str(tmp_path / "r.json"),
                     "--set", text])
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_values_are_read_as_the_fields_type() -> None:
    assert script.assignment("num_layers=1,3") == ("num_layers", [1, 3])
    field, values = script.assignment("lr=2e-3,0.01")
    assert field == "lr" and values == [0.002, 0.01]
    assert script.key("graphrec", {"lr": 0.002, "num_layers": 3}) == (
        "graphrec @ lr=0.002 num_layers=3")
