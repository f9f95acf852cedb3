"""The full softmax against the sampled one, in one run, on the same data, seed and config.

Both train graphrec's model with the benchmark's configuration (``TrainConfig`` defaults: the
epochs chosen on the validation split, then the refit on all of train; or, with ``--epochs``,
that many on all of train, the number an earlier benchmark chose), one after the other in this
process; only the softmax differs. Each is judged by the papers' protocol on the test split,
and the result is written after each (so a run that stops keeps what it measured). The goal
(issue #14): the sampled softmax's NDCG@10 within 2 % of the full softmax's.

With more than one ``--negatives`` × ``--corrections`` pair, the sampled softmax's mixture
(``TrainConfig.sampled_negatives``, ``sampled_correction``) is chosen first on the validation
split alone (each pair trained with early stopping, no refit, its best validation NDCG@10 kept
under ``"choice"``), and the test run uses the best pair.

    python benchmarks/sampled_softmax.py --threads 1 --epochs 22   # Beauty (benchmarks/datasets.py)
    python benchmarks/sampled_softmax.py --epochs 22 --negatives 0 4096 --corrections 1 0.5
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
from graphrec.dataset import GraphData  # noqa: E402
from graphrec.evaluation.benchmark import dataset_summary, run_model  # noqa: E402
from graphrec.model.train import KGRecRecommender, TrainConfig  # noqa: E402

#: The goal: the sampled softmax loses at most this share of the full softmax's NDCG@10.
GOAL = 0.02


def compare(results: dict[str, Any]) -> dict[str, Any]:
    """The sampled softmax's NDCG@10 relative to the full one's, and whether the goal is met."""
    if not {"full", "sampled"} <= set(results):
        return {}
    full, sampled = results["full"]["ndcg@10"], results["sampled"]["ndcg@10"]
    change = sampled / full - 1
    return {"ndcg@10_change": round(change, 4), "goal": -GOAL, "met": change >= -GOAL}


def label(config: TrainConfig) -> str:
    """A sampled softmax's mixture, as the key of ``"choice"``."""
    return f"negatives={config.sampled_negatives} correction={config.sampled_correction:g}"


def choose(mixtures: list[TrainConfig], data: GraphData) -> dict[str, dict[str, float]]:
    """The best validation NDCG@10 of each mixture and the epoch it came at (early stopping,
    no refit: the test split is never read)."""
    chosen: dict[str, dict[str, float]] = {}
    for config in mixtures:
        model = KGRecRecommender(config, print, refit=False).fit(data)
        best = {"ndcg@10": max(model.fit_info["validation_ndcg@10"].values()),
                "epochs": model.fit_info["epochs"]}
        chosen[label(config)] = best
        print(f"validation: {label(config)}: ndcg@10 {best['ndcg@10']:.3f} at epoch "
              f"{best['epochs']}")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(BEAUTY), help="default: %(default)s")
    parser.add_argument("--out", default="benchmarks/results/sampled-softmax-beauty.json")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", nargs="+", default=["full", "sampled"],
                        choices=["full", "sampled"])
    parser.add_argument("--epochs", type=int,
                        help="train this many epochs without a validation run (Beauty's "
                             "benchmark chose 22); default: chosen on validation")
    parser.add_argument("--negatives", type=int, nargs="+",
                        default=[TrainConfig.sampled_negatives],
                        help="uniform extra negatives per batch to choose from")
    parser.add_argument("--corrections", type=float, nargs="+",
                        default=[TrainConfig.sampled_correction],
                        help="strengths of the popularity correction to choose from")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data, _ = read_graph(args.data)
    out = Path(args.out)
    results: dict[str, Any] = {}
    base = TrainConfig(seed=args.seed, sampled_softmax=True)
    mixtures = [dataclasses.replace(base, sampled_negatives=negatives, sampled_correction=c)
                for negatives in args.negatives for c in args.corrections]
    choice = choose(mixtures, data) if len(mixtures) > 1 else {}
    sampled = max(mixtures, key=lambda config: choice.get(label(config), {}).get("ndcg@10", 0))
    for name in args.variants:
        config = sampled if name == "sampled" else TrainConfig(seed=args.seed)
        # the sampled softmax trains the epochs its own validation chose, where it was chosen
        epochs = (int(choice[label(sampled)]["epochs"]) if name == "sampled" and choice
                  else args.epochs)
        print(f"--- {name}: {config}, {epochs or 'validation-chosen'} epochs")
        results[name] = {**run_model(KGRecRecommender(config, print, epochs), data),
                         "config": dataclasses.asdict(config), "fixed_epochs": epochs}
        print(f"{name}: ndcg@10 {results[name]['ndcg@10']:.3f} after "
              f"{results[name]['epochs']} epochs, {results[name]['seconds_per_epoch']} s/epoch")
        payload = {"dataset": dataset_summary(data, args.data), "models": results,
                   "choice": choice, "comparison": compare(results),
                   "torch_threads": torch.get_num_threads()}
        out.write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps(compare(results)))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
