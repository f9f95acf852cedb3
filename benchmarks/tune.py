"""A field of :class:`~graphrec.model.train.TrainConfig` chosen on the benchmark's protocol:
each value's validation run, then the test figures of the value that won, for graphrec and its
ablations (:data:`~graphrec.evaluation.benchmark.GRAPHREC`).

Two phases, so that the test split is read only for what validation chose:

* ``validation``: for each value and model, the benchmark's validation run (the split carved
  from train, NDCG@10 every ``eval_every`` epochs, early stopping) without the refit; its curve,
  best epoch and learnt relation weights.
* ``test``: for each value and model given, a fresh model trained on all of train for the
  number of epochs its validation run chose (what the benchmark's refit does, seeded the same
  way) and evaluated on test as ``graphrec benchmark`` does (:func:`run_model`).

``--set FIELD=V1,V2`` names the values tried (one field a run; ``--fix FIELD=V`` holds others
at a value other than the benchmark's). Each run is written to ``--out`` as it ends (runs
already there are kept; the key names the model, the field and the value), and the table of
every run there is printed.

    python benchmarks/tune.py validation --set history_dropout=0.3,0.5,0.7
    python benchmarks/tune.py test --set history_dropout=0.7 --models graphrec \\
        graphrec_no_brand_category
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any, cast

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.datasets import BEAUTY, read_graph  # noqa: E402
from graphrec.cli import add_categories_argument  # noqa: E402
from graphrec.dataset import GraphData  # noqa: E402
from graphrec.evaluation.benchmark import (  # noqa: E402
    GRAPHREC,
    RESULTS_DIR,
    check_catalogue,
    dataset_summary,
    run_model,
)
from graphrec.model.train import (  # noqa: E402
    KGRecRecommender,
    TrainConfig,
    parse_setting,
    train,
)


def assignment(text: str) -> tuple[str, list[Any]]:
    """``FIELD=V1,V2`` as ``(field, [values])`` (:func:`~graphrec.model.train.parse_setting`)."""
    try:
        return parse_setting(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def config_for(model: str, seed: int, **fields: Any) -> TrainConfig:
    """The configuration of the benchmark's row ``model`` (graphrec or one of its ablations,
    :data:`~graphrec.evaluation.benchmark.GRAPHREC`) with ``fields`` replaced."""
    recommender = cast(KGRecRecommender, GRAPHREC[model](seed))
    return dataclasses.replace(recommender.config, **fields)


def validation_row(data: GraphData, config: TrainConfig) -> dict[str, Any]:
    """The validation run of ``config`` (no refit): its curve, best epoch and figure, and the
    relation weights of its best model."""
    started = time.perf_counter()
    model, log = train(data, config, print, refit=False)
    curve = log.curve()
    return {"validation_ndcg@10": curve, "epochs": log.best_epoch,
            "best_validation_ndcg@10": curve[log.best_epoch],
            "relations": dict(zip(model.relations, model.relation_weights().tolist())),
            "seconds": round(time.perf_counter() - started, 1),
            "seconds_per_epoch": round(1 / log.epochs_per_second, 3),
            "torch_threads": torch.get_num_threads()}


def test_row(data: GraphData, config: TrainConfig, epochs: int) -> dict[str, Any]:
    """``config`` trained ``epochs`` epochs on all of train and evaluated on test."""
    row = run_model(KGRecRecommender(config, progress=print, epochs=epochs), data)
    row.pop("validation_ndcg@10", None)  # empty: this fit has no validation run
    return row


def key(model: str, fields: dict[str, Any]) -> str:
    return f"{model} @ " + " ".join(f"{field}={value:g}" for field, value in fields.items())


def format_table(runs: dict[str, Any]) -> str:
    lines = [f"{'model @ fields':>48} {'val NDCG':>9} {'epoch':>6} {'test NDCG':>10} "
             f"{'Recall':>7} {'HR':>6} {'Prec':>5}  weights at the best validation epoch"]
    for name, run in runs.items():
        val, test = run.get("validation", {}), run.get("test")
        figures = (f"{test['ndcg@10']:10.3f} {test['recall@10']:7.2f} {test['hr@10']:6.2f} "
                   f"{test['precision@10']:5.2f}" if test else f"{'':>10} {'':>7} {'':>6} {'':>5}")
        weights = " ".join(f"{r}={w:.2f}" for r, w in val.get("relations", {}).items())
        lines.append(f"{name:>48} {val.get('best_validation_ndcg@10', float('nan')):9.3f} "
                     f"{val.get('epochs', 0):6d} {figures}  {weights}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("phase", choices=("validation", "test"))
    parser.add_argument("--data", type=Path, default=BEAUTY)
    parser.add_argument("--out", type=Path,
                        default=RESULTS_DIR / "tune-beauty.json")
    parser.add_argument("--set", type=assignment, required=True, metavar="FIELD=V1,V2",
                        help="the field tried and its values")
    parser.add_argument("--fix", type=assignment, action="append", default=[],
                        metavar="FIELD=V", help="another field held at V (repeatable)")
    parser.add_argument("--models", nargs="+", choices=sorted(GRAPHREC), default=["graphrec"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    add_categories_argument(parser)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data, _ = read_graph(args.data, args.categories)
    dataset = dataset_summary(data, args.data)
    check_catalogue(args.out, dataset)
    payload: dict[str, Any] = (json.loads(args.out.read_text()) if args.out.exists()
                               else {"dataset": dataset, "seed": args.seed, "runs": {}})
    if payload["seed"] != args.seed:
        raise SystemExit(f"{args.out} holds the runs of seed {payload['seed']}, not {args.seed}")
    field, values = args.set
    fixed = {name: value[0] for name, value in args.fix}
    for value in values:
        fields = {**fixed, field: value}
        for model in args.models:
            config = config_for(model, args.seed, **fields)
            name = key(model, fields)
            run = payload["runs"].setdefault(name, {})
            run["config"] = dataclasses.asdict(config)
            if args.phase == "validation":
                run["validation"] = validation_row(data, config)
            else:
                if "validation" not in run:
                    raise SystemExit(f"{name}: run its validation phase first")
                run["test"] = test_row(data, config, run["validation"]["epochs"])
            args.out.write_text(json.dumps(payload, indent=1) + "\n")
            print(format_table({name: run}), flush=True)
    print(format_table(payload["runs"]))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
