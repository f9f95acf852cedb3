"""The benchmark: every model fitted on the same train split and judged by the same protocol.

Models are looked up by name in :data:`MODELS` (name → ``factory(seed)``). graphrec's own model
and its ablations join as further entries, or are named as ``package.module:factory`` without
editing this file. Results merge into one JSON file per catalogue
(:func:`results_path`), so adding a model does not mean refitting the baselines.

``graphrec benchmark --data DIR`` reads the catalogue with ``graphrec ingest``'s readers (any
format it takes) and hands the :class:`~graphrec.dataset.GraphData` to :func:`run_benchmark`;
this module reads nothing but canonical CSV itself.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.dataset import GraphData
from graphrec.evaluation.baselines.base import Baseline
from graphrec.evaluation.evaluate import evaluate
from graphrec.evaluation.fidelity import explanation_report
from graphrec.evaluation.path_quality import purchase_order, read_purchases
from graphrec.explain.paths import PathFinder
from graphrec.model import artifact
from graphrec.model.kgrec import KGRec

if TYPE_CHECKING:
    from graphrec.model.train import KGRecRecommender

ModelFactory = Callable[[int], Baseline]


def _popularity(seed: int) -> Baseline:
    from graphrec.evaluation.baselines.popularity import Popularity
    return Popularity()


def _itemknn(seed: int) -> Baseline:
    from graphrec.evaluation.baselines.itemknn import ItemKNN
    return ItemKNN(seed=seed)


def _bpr_mf(seed: int) -> Baseline:
    from graphrec.evaluation.baselines.bpr_mf import BPRMF
    return BPRMF(seed=seed, progress=print)


def _lightgcn(seed: int) -> Baseline:
    from graphrec.evaluation.baselines.lightgcn import LightGCN
    return LightGCN(seed=seed, progress=print)


def _ease(seed: int) -> Baseline:
    from graphrec.evaluation.baselines.ease import EASE
    return EASE(seed=seed)


def _ease_links(seed: int) -> Baseline:
    from graphrec.evaluation.baselines.ease_links import EASELinks
    return EASELinks(seed=seed)


def _rp3beta(seed: int) -> Baseline:
    from graphrec.evaluation.baselines.rp3beta import RP3Beta
    return RP3Beta(seed=seed)


def _multvae(seed: int) -> Baseline:
    from graphrec.evaluation.baselines.multvae import MultVAE
    return MultVAE(seed=seed, progress=print)


MODELS: dict[str, ModelFactory] = {
    "popularity": _popularity,
    "itemknn": _itemknn,
    "bpr_mf": _bpr_mf,
    "lightgcn": _lightgcn,
    "ease": _ease,
    "ease_links": _ease_links,
    "rp3beta": _rp3beta,
    "multvae": _multvae,
}
BASELINES: tuple[str, ...] = tuple(MODELS)


def _graphrec(seed: int) -> Baseline:
    from graphrec.model.train import benchmark_model
    return benchmark_model(seed)


def _graphrec_no_kg(seed: int) -> Baseline:
    from graphrec.model.train import benchmark_without_kg
    return benchmark_without_kg(seed)


def _graphrec_no_links(seed: int) -> Baseline:
    from graphrec.model.train import benchmark_without_links
    return benchmark_without_links(seed)


#: graphrec's model and its two ablations (no brand/category nodes; no item–item links).
GRAPHREC: dict[str, ModelFactory] = {
    "graphrec": _graphrec,
    "graphrec_no_brand_category": _graphrec_no_kg,
    "graphrec_no_item_links": _graphrec_no_links,
}
MODELS.update(GRAPHREC)
ALL_MODELS: tuple[str, ...] = tuple(MODELS)
RESULTS_DIR = Path("benchmarks/results")


class ResultsMismatch(RuntimeError):
    """The results file holds another catalogue's results; merging would mix them."""


class ModelMismatch(RuntimeError):
    """A saved model was trained on other data than the catalogue it is asked to explain."""


def catalogue_name(path: str | Path) -> str:
    """A catalogue's short name, from its folder: lower case, ``amazon_`` dropped (the shared
    datasets are ``amazon_<category>``), anything but letters, digits, ``-`` and ``_`` made ``_``.

    ``../shared/datasets/amazon_beauty`` → ``beauty``; ``shops/Toys & Games`` → ``toys_games``.
    """
    name = Path(path).resolve().name.lower()
    name = re.sub(r"^amazon[_-]", "", name)
    return re.sub(r"[^a-z0-9_-]+", "_", name).strip("_") or "catalogue"


def results_path(name: str, directory: str | Path = RESULTS_DIR) -> Path:
    """Where a catalogue's results go by default: ``benchmarks/results/<name>.json``."""
    return Path(directory) / f"{name}.json"


def resolve_model(name: str) -> ModelFactory:
    """The factory registered as ``name``, or ``module:attribute`` imported on demand."""
    if name in MODELS:
        return MODELS[name]
    if ":" in name:
        module, attribute = name.split(":", 1)
        return getattr(importlib.import_module(module), attribute)
    raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)} or module:factory")


def make_model(name: str, seed: int, settings: Mapping[str, Any] | None = None) -> Baseline:
    """The model registered as ``name`` (:func:`resolve_model`) for ``seed``; graphrec's rows
    (:data:`GRAPHREC`) with ``settings`` replacing fields of their
    :class:`~graphrec.model.train.TrainConfig`, e.g. a catalogue's own history exponent
    chosen on its validation split. The baselines tune themselves and take none."""
    model = resolve_model(name)(seed)
    if settings and name in GRAPHREC:
        recommender = cast("KGRecRecommender", model)
        recommender.config = dataclasses.replace(recommender.config, **settings)
    return model


def dataset_summary(data: GraphData, source: str | Path) -> dict[str, Any]:
    """Counts that identify the data a result belongs to; ``source`` is where it was read."""
    return {
        "path": str(source), "fingerprint": data.fingerprint(),
        "users": data.num_users, "items": data.num_items, "brands": len(data.brands),
        "categories": len(data.categories), "train": len(data.train), "test": len(data.test),
        "links": {relation: len(pairs) for relation, pairs in data.links.items()},
    }


def run_model(model: Baseline, data: GraphData, k: int = 10) -> dict[str, Any]:
    """Fit and evaluate one model; metrics in percent, timings in seconds, and what fit chose."""
    start = time.perf_counter()
    model.fit(data)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    metrics = evaluate(model, data, k=k)
    eval_seconds = time.perf_counter() - start
    info = dict(getattr(model, "fit_info", {}))
    validation = info.pop("validation_ndcg@10", None)
    epochs, per_epoch = info.pop("epochs", None), info.pop("seconds_per_epoch", None)
    return {**metrics, "fit_seconds": round(fit_seconds, 2),
            "eval_seconds": round(eval_seconds, 2), "epochs": epochs,
            "seconds_per_epoch": None if per_epoch is None else round(per_epoch, 3),
            "params": info, "validation_ndcg@10": _jsonable(validation),
            "device": str(getattr(model, "device", "cpu")),
            "torch_threads": torch.get_num_threads()}


def served_metrics(model: Baseline, data: GraphData, k: int = 10) -> dict[str, float]:
    """The metrics of the lists graphrec serves: its model's ranking with every item that has
    no reason path to the user passed over (:mod:`graphrec.serving.ranking`)."""
    start = time.perf_counter()
    metrics = evaluate(model, data, k=k, keep=PathFinder(data).has_train_candidates)
    return {**metrics, "eval_seconds": round(time.perf_counter() - start, 2)}


#: Users timed by :func:`top_k_latency`: enough for a steady p99, and a Clothing-sized
#: catalogue's every user would take longer than its model's training epoch.
LATENCY_USERS = 2000


def top_k_latency(model: KGRec, data: GraphData, k: int = 10, users: int = LATENCY_USERS,
                  seed: int = 0) -> dict[str, float]:
    """Milliseconds for one user's top ``k`` (train items excluded), one call per user, over
    ``users`` users drawn with ``seed`` (every user when there are no more): what serving one
    request costs the model."""
    drawn = np.arange(data.num_users)
    if data.num_users > users:
        drawn = np.sort(np.random.default_rng(seed).choice(data.num_users, users, replace=False))
    times = np.empty(len(drawn))
    model.score_users([0])  # the item representations are computed once per loaded model
    for n, user in enumerate(drawn.tolist()):
        started = time.perf_counter()
        model.recommend([user], k)
        times[n] = (time.perf_counter() - started) * 1000
    return {"top10_ms_mean": float(times.mean()), "top10_ms_p50": float(np.percentile(times, 50)),
            "top10_ms_p99": float(np.percentile(times, 99)), "top10_users": len(drawn)}


def _jsonable(value: Any) -> Any:
    """Validation curves keyed by numbers become JSON objects keyed by strings."""
    if isinstance(value, dict):
        return {str(key): round(float(score), 4) for key, score in value.items()}
    return value


def format_table(results: dict[str, dict[str, Any]], k: int = 10) -> str:
    """One row per model: the four metrics (percent) and the fit time."""
    header = f"{'model':<14}{'NDCG':>8}{'Recall':>8}{'HR':>8}{'Prec':>8}{'fit s':>10}{'epochs':>8}"
    lines = [header, "-" * len(header)]
    for name, row in results.items():
        lines.append(
            f"{name:<14}{row[f'ndcg@{k}']:>8.2f}{row[f'recall@{k}']:>8.2f}{row[f'hr@{k}']:>8.2f}"
            f"{row[f'precision@{k}']:>8.2f}{row['fit_seconds']:>10.1f}"
            f"{'' if row.get('epochs') is None else row['epochs']:>8}")
    return "\n".join(lines)


def format_explanations(report: dict[str, Any]) -> str:
    """The explanation figures of graphrec's model in one block."""
    return (f"explanations: coverage {report['coverage']:.2%} of {report['recommendations']:,} "
            f"top-10 recommendations served ({report['coverage_unfiltered']:.2%} of the model's "
            f"own top 10); fidelity ratio {report['fidelity_ratio']:.2f} "
            f"(mean rank drop top path {report['rank_drop_top_mean']:.1f} vs random "
            f"{report['rank_drop_random_mean']:.1f}, {report['fidelity_pairs']} pairs; "
            f"{report['fidelity_ratio_several_history_items']:.2f} over the "
            f"{report['fidelity_pairs_several_history_items']} whose paths span several "
            "history items); "
            f"top 3 masked → out of the top 10 for {report['top3_masked_out_of_top10']:.1%}; "
            f"necessity {report['necessity']:.1%} (any one path at best "
            f"{report['necessity_best_single_path']:.1%}), sufficiency {report['sufficiency']:.1%} "
            f"({report['necessity_pairs']} pairs); LIR {_figure(report['lir'])}, "
            f"SEP {_figure(report['sep'])}, ETD {_figure(report['etd'])} "
            f"({report['path_quality_lists']:,} lists); "
            f"latency p50 {report['latency_ms_p50']:.1f} ms, p99 {report['latency_ms_p99']:.1f} ms")


def _figure(value: float | None) -> str:
    """A path-quality figure, or a dash where it could not be measured (LIR without times)."""
    return "–" if value is None else f"{value:.3f}"


def _previous(out_path: Path, dataset: dict[str, Any]) -> dict[str, Any]:
    """The payload already in ``out_path`` for the same data (else nothing).

    Raises:
        ResultsMismatch: ``out_path`` holds results of a catalogue with another fingerprint.
    """
    if not out_path.exists():
        return {}
    previous = json.loads(out_path.read_text())
    theirs = previous.get("dataset", {})
    if theirs.get("fingerprint") != dataset["fingerprint"]:
        raise ResultsMismatch(
            f"{out_path} holds the results of another catalogue ({theirs.get('path')}, "
            f"fingerprint {theirs.get('fingerprint')}; this one is {dataset['fingerprint']}): "
            "name another file, or replace them without merging")
    return previous


def _payload(previous_path: Path | None, dataset: dict[str, Any], seed: int, k: int,
             results: dict[str, Any], explanations: dict[str, Any] | None) -> dict[str, Any]:
    """The JSON document: these results over those already in ``previous_path`` (same data;
    its models and explanations only if of the same seed), models in registry order; the other
    sections there (``"peers"``, written by ``benchmarks/peers.py``, which writes no seed of its
    own; ``"cold_start"``, by :func:`write_section`) are kept as they are, so a benchmark run
    after them does not erase what they measured."""
    previous = _previous(previous_path, dataset) if previous_path is not None else {}
    seeded = previous if previous.get("seed") == seed else {}
    results = {**seeded.get("models", {}), **results}
    explanations = explanations or seeded.get("explanations")
    order = [name for name in MODELS if name in results]
    payload = {"models": {name: results[name]
                          for name in order + sorted(set(results) - set(order))},
               "device": "cuda:0" if torch.cuda.is_available() else "cpu",
               "dataset": dataset, "seed": seed, "k": k}
    if explanations is not None:
        payload["explanations"] = explanations
    payload.update({section: value for section, value in previous.items()
                    if section not in payload and section != "explanations"})
    return payload


def check_catalogue(out_path: str | Path, dataset: dict[str, Any]) -> None:
    """Raise :class:`ResultsMismatch` when ``out_path`` holds another catalogue's results."""
    if Path(out_path).exists():
        _previous(Path(out_path), dataset)


def write_section(out_path: str | Path, dataset: dict[str, Any], name: str,
                  section: dict[str, Any]) -> Path:
    """Put ``section`` under ``name`` in the results file, keeping everything else there (the
    models' rows whatever their seed); a new file gets the dataset summary too.

    Raises:
        ResultsMismatch: the file holds results of a catalogue with another fingerprint.
    """
    out = Path(out_path)
    payload: dict[str, Any] = {"dataset": dataset}
    if out.exists():
        check_catalogue(out, dataset)
        payload = json.loads(out.read_text())
    payload[name] = section
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    return out


def run_benchmark(catalogue: GraphData | str | Path, models: Sequence[str] = BASELINES,
                  out_path: str | Path | None = None, *, source: str | Path | None = None,
                  seed: int = 0, k: int = 10, merge: bool = True,
                  log: Callable[[str], None] = print,
                  explain: str | None = "graphrec",
                  save_model: str | Path | None = None,
                  order: sp.csr_matrix | None = None,
                  settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Fit and evaluate ``models`` on ``catalogue``; print a table, write JSON to ``out_path``.

    ``catalogue`` is the data itself, or a folder of canonical CSV files to read; ``source``
    says where it came from in the JSON (default: that folder). ``out_path`` ``None`` writes
    nothing. With ``merge``, models already in ``out_path`` for the same data and seed (read
    when writing, so separate runs can fill one file) are kept: a new entry (graphrec's model, an
    ablation) is added without refitting the rest; results of another catalogue there are an
    error (:class:`ResultsMismatch`), found before any model is fitted. The model named
    ``explain`` (graphrec's) also gets its one-user top-10 latency and the explanation report
    (:mod:`graphrec.evaluation.fidelity`); with ``save_model`` its trained model is kept there as
    an artifact (:mod:`graphrec.model.artifact`), so its explanations can be measured again
    without training (:func:`run_explanations`). ``order`` holds the times of the train
    purchases (:func:`~graphrec.evaluation.path_quality.purchase_order`; read from the folder
    when ``catalogue`` is one) for the explanations' LIR. ``settings``: fields of graphrec's
    training configuration for its rows (:func:`make_model`); they are recorded in each row's
    ``params``.
    """
    if isinstance(catalogue, GraphData):
        data = catalogue
    else:
        data = GraphData.from_csv_dir(catalogue)
        order = purchase_order(data, read_purchases(catalogue)) if order is None else order
        source = catalogue if source is None else source
    dataset = dataset_summary(data, "" if source is None else source)
    out = Path(out_path) if out_path is not None else None
    if out is not None and merge:
        _previous(out, dataset)
    results: dict[str, Any] = {}
    explanations: dict[str, Any] | None = None
    payload: dict[str, Any] = {}
    for name in models:
        model = make_model(name, seed, settings)
        log(f"{name}: fitting {model!r}")
        results[name] = row = run_model(model, data, k=k)
        if name == explain:
            row["served"] = served_metrics(model, data, k)
            log(f"{name}: served (explainable items only) ndcg@{k} "
                f"{row['served'][f'ndcg@{k}']:.2f}")
            kgrec = model.model  # type: ignore[attr-defined]  # graphrec's: KGRecRecommender
            if save_model is not None:
                artifact.save(save_model, kgrec, data, config={"benchmark_seed": seed})
                log(f"{name}: model saved in {save_model}")
            row.update(top_k_latency(kgrec, data, k))
            log(f"{name}: top-{k} of one user {row['top10_ms_mean']:.2f} ms mean, "
                f"{row['top10_ms_p99']:.2f} ms p99 over {row['top10_users']:,} users")
            explanations = explanation_report(kgrec, data, k=k, progress=log, order=order)
        log(f"{name}: ndcg@{k} {row[f'ndcg@{k}']:.2f}  fit {row['fit_seconds']:.1f}s  "
            f"eval {row['eval_seconds']:.1f}s  {row['params']}")
        # written after every model, so a long run that stops keeps what it measured
        payload = _payload(out if merge else None, dataset, seed, k, results, explanations)
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(payload, indent=2) + "\n")
    log(format_table(payload.get("models", {}), k))
    if payload.get("explanations"):
        log(format_explanations(payload["explanations"]))
    if out is not None:
        log(f"wrote {out}")
    return payload


def run_explanations(data: GraphData, model_dir: str | Path, out_path: str | Path | None = None,
                     *, source: str | Path = "", seed: int = 0, k: int = 10,
                     log: Callable[[str], None] = print,
                     order: sp.csr_matrix | None = None) -> dict[str, Any]:
    """The explanation report (:func:`~graphrec.evaluation.fidelity.explanation_report`) of the
    model saved in ``model_dir`` (``run_benchmark(save_model=...)``, or ``graphrec train``'s
    artifact of the same data), written as the ``explanations`` of ``out_path``; the models'
    rows already there stay as they are.

    Raises:
        ModelMismatch: the model was trained on other data than ``data``.
        ResultsMismatch: ``out_path`` holds the results of another catalogue.
    """
    saved = artifact.load(model_dir)
    dataset = dataset_summary(data, source)
    if saved.fingerprint != dataset["fingerprint"]:
        raise ModelMismatch(f"{model_dir} was trained on other data (fingerprint "
                            f"{saved.fingerprint}; this catalogue is {dataset['fingerprint']})")
    out = Path(out_path) if out_path is not None else None
    previous: dict[str, Any] = {"dataset": dataset, "seed": seed, "k": k}
    if out is not None and out.exists():
        _previous(out, dataset)  # another catalogue's results: an error before measuring
        previous = json.loads(out.read_text())
    report = explanation_report(saved.load_model(), data, seed=seed, k=k, progress=log,
                                order=order)
    payload = {**previous, "explanations": {**report, "model": saved.version, "seed": seed}}
    log(format_explanations(report))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(payload, indent=2) + "\n")
        log(f"wrote {out}")
    return payload
