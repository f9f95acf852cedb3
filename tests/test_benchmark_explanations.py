"""``graphrec benchmark`` on the sample: graphrec's row carries its latency, and the JSON its
explanation report (coverage, fidelity, necessity, sufficiency, LIR/SEP/ETD, latency), which a
saved model reproduces without training."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from graphrec.cli import main
from graphrec.evaluation.benchmark import (
    LATENCY_USERS,
    ModelMismatch,
    format_explanations,
    run_benchmark,
    run_explanations,
    top_k_latency,
)
from graphrec.model import artifact
from graphrec.model.train import KGRecRecommender, TrainConfig
from tests.conftest import SAMPLE
from tests.test_model import paired_catalogue


def fast_graphrec(seed: int) -> KGRecRecommender:
    return KGRecRecommender(TrainConfig(embedding_dim=32, max_epochs=6, eval_every=3,
                                        seed=seed))


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench")


@pytest.fixture(scope="module")
def written(bench_dir: Path) -> dict:
    out = bench_dir / "beauty.json"
    name = "tests.test_benchmark_explanations:fast_graphrec"
    run_benchmark(SAMPLE, ["popularity", name], out, log=lambda line: None, explain=name,
                  save_model=bench_dir / "model")
    run_benchmark(SAMPLE, ["popularity"], out, log=lambda line: None)  # merging keeps it
    return json.loads(out.read_text())


def test_explanation_report_is_recorded(written: dict) -> None:
    report = written["explanations"]
    assert report["recommendations"] % 10 == 0 and report["recommendations"] > 10_000
    # served lists pass over items without a reason path: every one served has one
    assert report["short_lists"] == 0 and report["coverage"] == 1.0
    assert 0.95 <= report["coverage_unfiltered"] < 1.0
    assert report["fidelity_pairs"] >= 500
    # masking the top-ranked path moves the item further down than a random other candidate
    assert report["rank_drop_top_mean"] > report["rank_drop_random_mean"] > 0
    assert report["fidelity_ratio"] == pytest.approx(
        report["rank_drop_top_mean"] / report["rank_drop_random_mean"])
    assert 0 < report["top3_masked_out_of_top10"] <= 1
    assert 0 < report["latency_ms_p50"] <= report["latency_ms_p99"]


def test_necessity_sufficiency_and_path_quality_are_recorded(written: dict) -> None:
    report = written["explanations"]
    assert report["necessity_pairs"] == 1000
    # masking the top path takes an item out less often than masking the top three
    assert 0 < report["necessity"] <= report["top3_masked_out_of_top10"] <= 1
    assert 0 < report["sufficiency"] <= 1
    # the sample has purchase times, so every figure is measured, each a mean in [0, 1]
    assert all(0 < report[name] < 1 for name in ("lir", "sep", "etd"))
    assert report["path_quality_paths"] == 10 * report["path_quality_lists"] > 10_000 / 10
    # the kinds of the reasons shown first, each with its share and its part of the SEP
    kinds = report["kinds"]
    assert set(kinds) <= {"brand", "category", "also_bought", "also_viewed", "bought_together",
                          "collaborative", "link_chain"} and len(kinds) >= 3
    assert sum(kind["share"] for kind in kinds.values()) == pytest.approx(1)
    assert sum(kind["share"] * kind["sep"] for kind in kinds.values()) == pytest.approx(
        report["sep"])


def test_graphrec_row_has_its_one_user_latency(written: dict) -> None:
    row = written["models"]["tests.test_benchmark_explanations:fast_graphrec"]
    assert row["top10_users"] == min(written["dataset"]["users"], LATENCY_USERS)
    assert 0 < row["top10_ms_p50"] <= row["top10_ms_p99"]
    assert row["ndcg@10"] > written["models"]["popularity"]["ndcg@10"]


def test_the_one_user_latency_times_a_seeded_draw_of_users(bench_dir: Path,
                                                           written: dict) -> None:
    saved = artifact.load(bench_dir / "model")
    model = saved.load_model()
    drawn = top_k_latency(model, saved.data, users=40)
    assert drawn["top10_users"] == 40
    assert 0 < drawn["top10_ms_p50"] <= drawn["top10_ms_p99"]
    assert top_k_latency(model, saved.data, users=10**6)["top10_users"] == saved.data.num_users


def test_graphrec_row_has_the_metrics_of_the_lists_it_serves(written: dict) -> None:
    row = written["models"]["tests.test_benchmark_explanations:fast_graphrec"]
    served = row["served"]
    assert set(served) >= {"ndcg@10", "recall@10", "hr@10", "precision@10"}
    # passing over the few unexplained items moves the metrics little
    assert abs(served["ndcg@10"] - row["ndcg@10"]) < 0.5
    assert served["ndcg@10"] > written["models"]["popularity"]["ndcg@10"]
    assert "served" not in written["models"]["popularity"]


def test_explanation_summary_line_has_every_figure(written: dict) -> None:
    line = format_explanations(written["explanations"])
    report = written["explanations"]
    assert "{" not in line
    assert f"coverage {report['coverage']:.2%}" in line
    assert f"fidelity ratio {report['fidelity_ratio']:.2f}" in line
    assert f"p99 {report['latency_ms_p99']:.1f} ms" in line


def test_a_saved_model_gives_the_same_report_without_training(written: dict,
                                                              bench_dir: Path) -> None:
    out = bench_dir / "explained.json"
    out.write_text(json.dumps(written))
    assert main(["benchmark", "--data", str(SAMPLE), "--explanations-only",
                 str(bench_dir / "model"), "--out", str(out)]) == 0
    again = json.loads(out.read_text())
    assert again["models"] == written["models"]  # the rows stay as they were
    for name, value in written["explanations"].items():
        if name == "kinds":
            assert list(again["explanations"][name]) == list(value)
            for kind, figures in value.items():
                assert again["explanations"][name][kind] == pytest.approx(figures), kind
        elif not name.startswith("latency"):
            assert again["explanations"][name] == pytest.approx(value), name


def test_a_model_of_other_data_is_refused(written: dict, bench_dir: Path) -> None:
    with pytest.raises(ModelMismatch, match="trained on other data"):
        run_explanations(paired_catalogue(), bench_dir / "model", log=lambda line: None)
