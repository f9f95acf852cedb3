"""What sharing a propagation between batches costs the model: ``max_steps_per_epoch`` against
itself, in one run, on the same data, seed and config.

A catalogue with many users trains with more batches an epoch than
``TrainConfig.max_steps_per_epoch``; consecutive batches then share one propagation and one
optimizer step (:func:`graphrec.model.train.train_epoch`), so that an epoch costs as much as
the graph and the users, not their product. Fewer steps an epoch may take more epochs to
converge: each setting here trains to convergence (the epochs chosen on the validation split,
then the refit on all of train) and is judged by the papers' protocol on the test split. On
Beauty (11 batches) ``--steps 24`` takes a step per batch and ``--steps 4``, the default, three
batches a step; it is how the default was chosen (on the validation splits of Beauty and
Clothing; README, "Growth").

    python benchmarks/steps_per_epoch.py --steps 24 4            # Beauty (benchmarks/datasets.py)
    python benchmarks/steps_per_epoch.py --data /tmp/beauty-x5 --steps 1000000 24 --epochs 1

``--epochs E`` trains that many epochs on all of train instead (no validation run): the
seconds an epoch of a catalogue too large to train to convergence here, one step per batch
(a ``--steps`` above its batches) against shared steps.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.datasets import BEAUTY, read_graph  # noqa: E402
from graphrec.evaluation.benchmark import dataset_summary, run_model  # noqa: E402
from graphrec.model.train import KGRecRecommender, TrainConfig, steps_an_epoch  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(BEAUTY), help="default: %(default)s")
    parser.add_argument("--out", default="benchmarks/results/steps-per-epoch-beauty.json")
    parser.add_argument("--steps", type=int, nargs="+", default=[24, 4],
                        help="values of max_steps_per_epoch to compare")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int,
                        help="train this many epochs without a validation run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data, _ = read_graph(args.data)
    out = Path(args.out)
    results: dict[str, Any] = {}
    rows = []
    for steps in args.steps:
        config = TrainConfig(seed=args.seed, max_steps_per_epoch=steps)
        taken = steps_an_epoch(data, config.for_catalogue(data.num_items))
        print(f"--- max_steps_per_epoch={steps}: {taken} steps an epoch")
        result = run_model(KGRecRecommender(config, print, args.epochs), data)
        results[str(steps)] = {**result, "steps_an_epoch": taken,
                               "config": dataclasses.asdict(config), "fixed_epochs": args.epochs}
        rows.append((steps, taken, result["epochs"], result["seconds_per_epoch"],
                     result["fit_seconds"], result["ndcg@10"]))
        payload = {"dataset": dataset_summary(data, args.data), "models": results,
                   "torch_threads": torch.get_num_threads()}
        out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"{'max steps':>9} {'steps/epoch':>11} {'epochs':>6} {'s/epoch':>8} {'fit s':>7} "
          f"{'NDCG@10':>8}")
    for steps, taken, epochs, per_epoch, fit_seconds, ndcg in rows:
        print(f"{steps:>9} {taken:>11} {epochs!s:>6} {per_epoch!s:>8} {fit_seconds:>7.1f} "
              f"{ndcg:>8.3f}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
