"""The synthetic catalogue of the scale benchmark keeps the shape of the one it copies, and the
benchmark's in-process probe answers on a trained home, and it reads a training's seconds from
the model's own log, and it runs no stage past the one it is told to stop at."""
from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.scale import _trained, arguments, measure_factor, probe
from benchmarks.synthetic import FILES, Template, synthesise
from graphrec.config import Settings
from graphrec.store.connection import GraphStore
from ingest.csv_catalogue import read_csv_catalogue
from tests.apps import train_sample, without_model

SAMPLE = Path(__file__).resolve().parents[1] / "graphrec" / "sample" / "beauty"


@pytest.fixture(scope="module")
def template() -> Template:
    return Template.read(SAMPLE)


def _frames(directory: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(directory / f"{name}.csv.gz", dtype=str, keep_default_na=False)
            for name in FILES}


@pytest.fixture(scope="module")
def tripled(template: Template, tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[dict[str, int], dict[str, pd.DataFrame], Path]:
    out = tmp_path_factory.mktemp("x3")
    counts = synthesise(template, 3, out, seed=7)
    return counts, _frames(out), out


def _shard(ids: pd.Series) -> pd.Series:
    return ids.str.extract(r"^S(\d+)-", expand=False).astype(int)


def _template_id(ids: pd.Series) -> pd.Series:
    return ids.str.replace(r"^S\d+-", "", regex=True)


def test_three_shards_copy_every_item_user_and_link(template, tripled):
    counts, frames, _ = tripled
    assert counts["items"] == 3 * len(template.items)
    assert counts["users"] == 3 * len(template.users)
    assert counts["item_links"] == 3 * len(template.links)
    assert frames["items"]["item_id"].is_unique and frames["users"]["user_id"].is_unique
    # a purchase is dropped only when no shard could take it without repeating one
    assert counts["purchases"] >= 0.999 * 3 * len(template.purchases)


def test_degree_distributions_follow_the_template(template, tripled):
    _, frames, _ = tripled
    per_user = Counter(frames["purchases"].groupby("user_id").size())
    expected = Counter({n: 3 * c for n, c in
                        Counter(template.purchases.groupby("user_id").size()).items()})
    moved = sum(abs(per_user[n] - expected[n]) for n in expected | per_user)
    assert moved <= 0.002 * sum(expected.values())

    brands = frames["items"].loc[frames["items"]["brand"] != "", "brand"]
    assert sorted(brands.value_counts()) == sorted(
        3 * list(template.items.loc[template.items["brand"] != "", "brand"].value_counts()))

    links = frames["item_links"]
    out_degree = sorted(links.groupby(["item_id", "relation"]).size())
    assert out_degree == sorted(3 * list(template.links.groupby(["item_id", "relation"]).size()))

    # Item popularity: the same mean, and quantiles within the noise of the rewiring.
    synthetic = frames["purchases"].groupby("item_id").size().reindex(
        frames["items"]["item_id"], fill_value=0).to_numpy()
    real = template.purchases.groupby("item_id").size().reindex(
        template.items["item_id"], fill_value=0).to_numpy()
    assert synthetic.mean() == pytest.approx(real.mean(), rel=0.002)
    for q in (0.25, 0.5, 0.75, 0.9, 0.99):
        assert np.quantile(synthetic, q) == pytest.approx(np.quantile(real, q), rel=0.2, abs=1)


def test_a_tenth_of_purchases_and_links_cross_shards(tripled):
    _, frames, _ = tripled
    purchases, links = frames["purchases"], frames["item_links"]
    crossing = (_shard(purchases["user_id"]) != _shard(purchases["item_id"])).mean()
    assert crossing == pytest.approx(0.1, abs=0.02)
    crossing = (_shard(links["item_id"]) != _shard(links["other_item_id"])).mean()
    assert crossing == pytest.approx(0.1, abs=0.02)
    # a rewired row points to the same template item in another shard
    assert (_template_id(purchases["item_id"]).isin(set(_template_id(
        frames["items"]["item_id"])))).all()


def test_the_catalogue_reads_without_a_reject(tripled):
    counts, _, out = tripled
    catalogue = read_csv_catalogue(out)
    assert catalogue.rejects == []
    assert len(catalogue.items) == counts["items"]
    assert len(catalogue.purchases) == counts["purchases"]
    assert len(catalogue.links) == counts["item_links"]


def test_a_partial_shard_holds_only_its_items(template, tmp_path):
    counts = synthesise(template, 1.5, tmp_path, seed=1)
    frames = _frames(tmp_path)
    assert counts["items"] == len(template.items) + round(0.5 * len(template.items))
    items = set(frames["items"]["item_id"])
    assert set(frames["purchases"]["item_id"]) <= items
    assert set(frames["item_links"]["other_item_id"]) <= items
    assert set(frames["purchases"]["user_id"]) <= set(frames["users"]["user_id"])


def test_the_same_seed_writes_the_same_rows(template, tmp_path):
    synthesise(template, 1.3, tmp_path / "a", seed=3)
    synthesise(template, 1.3, tmp_path / "b", seed=3)
    synthesise(template, 1.3, tmp_path / "c", seed=4)
    for name in FILES:
        def text(folder: str, name: str = name) -> bytes:
            return gzip.decompress((tmp_path / folder / f"{name}.csv.gz").read_bytes())
        assert text("a") == text("b")
    assert any(gzip.decompress((tmp_path / "a" / f"{n}.csv.gz").read_bytes())
               != gzip.decompress((tmp_path / "c" / f"{n}.csv.gz").read_bytes()) for n in FILES)


def test_a_factor_that_copies_nothing_is_refused(template, tmp_path):
    with pytest.raises(ValueError, match="copies no row"):
        synthesise(template, 0.00001, tmp_path)


def test_the_scale_probe_times_answers_of_a_trained_home(
        settings: Settings, session_store: GraphStore, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``scale.py --probe`` on a home with a trained model: the figures it writes into
    scale.json (it once loaded the service with arguments the service no longer took)."""
    home = without_model(settings, tmp_path / "home")
    train_sample(home, session_store)
    monkeypatch.setenv("GRAPHREC_STORE_DIR", str(home.store_dir))
    figures = probe(home.home, probes=5)
    assert figures["users"] == 5
    assert 0 < figures["top10_ms_p50"] <= figures["top10_ms_p99"]
    assert 0 < figures["explain_ms_p50"] <= figures["explain_ms_p99"]
    assert figures["rss_mb"] > 0 and figures["load_seconds"] > 0


def test_seconds_an_epoch_come_from_the_models_log_not_the_rounded_line(tmp_path: Path) -> None:
    """``graphrec train`` prints epochs/s to two decimals, so an epoch of 35.8 s read as 33.33:
    the benchmark reads the saved log instead, and the softmax the training took."""
    import json

    (tmp_path / "metrics.json").write_text(json.dumps(
        {"test": {}, "history": {"seconds_per_epoch": 35.843, "seconds_total": 81.6}}))
    (tmp_path / "config.json").write_text(json.dumps({"train": {"sampled_softmax": True}}))
    assert _trained(tmp_path) == {"seconds_per_epoch": 35.843, "softmax": "sampled"}
    (tmp_path / "config.json").write_text(json.dumps({"train": {"sampled_softmax": False}}))
    assert _trained(tmp_path)["softmax"] == "full"
    assert _trained(tmp_path / "none") == {"seconds_per_epoch": None, "softmax": None}


def test_a_scale_run_until_ingest_ingests_and_stops_there(template: Template,
                                                          tmp_path: Path) -> None:
    """``scale.py --until ingest``: a factor too big for the time at hand still measures its
    ingest and its store's peak RSS, trains nothing, and leaves no store running."""
    args = arguments().parse_args(["--work", str(tmp_path), "--store-heap", "512m",
                                   "--stage-timeout", "600", "--until", "ingest"])
    result = measure_factor(0.5, args, template)
    assert result["ingest"]["exit"] == 0 and result["ingest"]["rows_per_s"] > 0
    assert result["ingest"]["peak_rss_mb"] > 0
    assert result["store_peak_rss_mb"] > 0
    assert "train" not in result and "answers" not in result and "service" not in result
    home = tmp_path / "x0.5" / "home"
    assert not (home / "models" / "current").exists()
    assert not (home / "store" / "server.json").exists()


def test_a_later_stage_without_an_earlier_run_is_refused(template: Template,
                                                         tmp_path: Path) -> None:
    """``--from train`` on a factor with no kept home says which, rather than training on an
    empty one."""
    args = arguments().parse_args(["--work", str(tmp_path), "--from", "train",
                                   "--out", str(tmp_path / "scale.json")])
    with pytest.raises(SystemExit, match=r"--from train: x0.5 has no earlier run"):
        measure_factor(0.5, args, template)
