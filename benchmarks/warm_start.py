"""Warm start against training from scratch, in one run.

A model is trained on the train split without each user's most recent train purchase (by
``seq``, else the split's order): yesterday's model. On the whole train split, a model is then
trained (a) from scratch and (b) from yesterday's weights (:mod:`graphrec.model.warmstart`),
with the same config, validation split and seed. For each: the epochs and seconds of training
to its best validation NDCG@10, the first epoch at which it reaches the best that training
from scratch reached, and the NDCG@10 on the test split of its model at the best epoch (scored
from all of each user's train purchases; no refit, so that the two runs fit a shared machine).

Yesterday's model never sees the validation split's purchases (they are left out of its
train too): otherwise the warm run would start with those held-out purchases learnt, and its
validation NDCG would flatter it.

    python benchmarks/warm_start.py --data ../shared/datasets/amazon_beauty
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.datasets import read_graph  # noqa: E402
from graphrec.dataset import GraphData  # noqa: E402
from graphrec.evaluation.coldstart import FoldIn, history_order  # noqa: E402
from graphrec.evaluation.evaluate import evaluate, validation_split  # noqa: E402
from graphrec.model.kgrec import KGRec  # noqa: E402
from graphrec.model.train import KGRecRecommender, TrainConfig, TrainingLog, train  # noqa: E402
from graphrec.model.warmstart import WarmStart  # noqa: E402


def latest_train_purchases(data: GraphData, order: np.ndarray) -> np.ndarray:
    """Each user's last train purchase in the order bought (users with at least two)."""
    train = {tuple(pair) for pair in data.train.tolist()}
    in_train = np.array([tuple(pair) in train for pair in order.tolist()], dtype=bool)
    rows = order[in_train]
    last = np.r_[rows[1:, 0] != rows[:-1, 0], True]
    counts = np.bincount(rows[:, 0], minlength=data.num_users)
    return rows[last & (counts[rows[:, 0]] >= 2)]


def without(pairs: np.ndarray, drop: np.ndarray, num_items: int) -> np.ndarray:
    return pairs[~np.isin(pairs[:, 0] * num_items + pairs[:, 1],
                          drop[:, 0] * num_items + drop[:, 1])]


def on_test(model: KGRec, data: GraphData) -> dict[str, float]:
    """The test metrics of ``model``, each user scored from their purchases in ``data.train``."""
    scorer = KGRecRecommender()
    scorer.model = model
    return evaluate(FoldIn(scorer, data.train_matrix()), data)


def summary(history: TrainingLog, test: dict[str, float], target: float) -> dict[str, Any]:
    """Epochs and seconds to the best validation NDCG, and to ``target`` (NDCG, percent)."""
    curve = [r for r in history.epochs if r.phase == "validate"]
    refit = [r for r in history.epochs if r.phase == "refit"]
    reached = next((r.epoch for r in curve if r.val_ndcg is not None
                    and r.val_ndcg >= target), None)
    return {
        "best_epoch": history.best_epoch,
        "best_validation_ndcg@10": history.validation.get("ndcg@10"),
        "seconds_to_best": round(sum(r.seconds for r in curve if r.epoch <= history.best_epoch),
                                 1),
        "epoch_reaching_scratch_best": reached,
        "seconds_to_scratch_best": None if reached is None else round(
            sum(r.seconds for r in curve if r.epoch <= reached), 1),
        "validation_epochs": len(curve), "refit_epochs": len(refit),
        "refit_seconds": round(sum(r.seconds for r in refit), 1),
        "seconds_total": round(history.seconds_total, 1),
        "validation_curve": {r.epoch: r.val_ndcg for r in curve if r.val_ndcg is not None},
        "test": test, "warm_start": history.warm_start}


def run(data: GraphData, order: np.ndarray, config: TrainConfig, old_epochs: int | None,
        save: Callable[[dict[str, Any]], Any] | None = None) -> dict[str, Any]:
    """The three trainings; the result so far goes to ``save`` after each."""
    say = print
    recent = latest_train_purchases(data, order)
    held = validation_split(data, fraction=config.validation_fraction, seed=config.seed).test
    old_train = without(without(data.train, recent, data.num_items), held, data.num_items)
    old_data = dataclasses.replace(data, train=old_train)
    say(f"yesterday's model: {len(old_train):,} train purchases ({len(recent):,} latest and "
        f"the {len(held):,} of the validation split left out)")
    started = time.perf_counter()
    old_model, old_history = train(old_data, config, say, epochs=old_epochs)
    old_test = on_test(old_model, old_data)
    old_seconds = time.perf_counter() - started
    runs: dict[str, Any] = {}
    result: dict[str, Any] = {
        "config": dataclasses.asdict(config),
        "old_model": {"train": len(old_train), "latest_left_out": len(recent),
                      "validation_left_out": len(held), "epochs": old_history.best_epoch,
                      "seconds": round(old_seconds, 1), "test_with_its_train": old_test},
        "torch_threads": torch.get_num_threads()}
    for name in ("scratch", "warm"):
        if save is not None:
            save({**result, **runs})
        warm = WarmStart.from_model(old_model, {"items": data.items, "brands": data.brands,
                                                "categories": data.categories})
        say(f"--- {name}")
        model, history = train(data, config, say, refit=False,
                               warm_start=warm if name == "warm" else None)
        test = on_test(model, data)
        target = runs["scratch"]["best_validation_ndcg@10"] if runs else float("inf")
        runs[name] = summary(history, test, target)
        say(f"{name}: best val ndcg {runs[name]['best_validation_ndcg@10']:.3f} at epoch "
            f"{history.best_epoch} ({runs[name]['seconds_to_best']}s), test ndcg "
            f"{test['ndcg@10']:.3f}")
        if name == "scratch":
            runs[name]["epoch_reaching_scratch_best"] = runs[name]["best_epoch"]
            runs[name]["seconds_to_scratch_best"] = runs[name]["seconds_to_best"]
    result.update(runs)
    if save is not None:
        save(result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", default="benchmarks/results/warm-start-beauty.json")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--old-epochs", type=int,
                        help="epochs of yesterday's model (default: chosen on validation; "
                             "the Beauty run used the 22 that graphrec's benchmark chose)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-epochs", type=int, default=TrainConfig.max_epochs)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--patience", type=int, default=TrainConfig.patience,
                        help="validations without a better NDCG before stopping")
    parser.add_argument("--embedding-dim", type=int, default=TrainConfig.embedding_dim,
                        help="the model's size (default %(default)s)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data, frames = read_graph(args.data)
    config = TrainConfig(seed=args.seed, embedding_dim=args.embedding_dim,
                         max_epochs=args.max_epochs, patience=args.patience,
                         batch_size=args.batch_size)
    dataset = {"path": args.data, "fingerprint": data.fingerprint()}

    def save(result: dict[str, Any]) -> None:
        Path(args.out).write_text(json.dumps({**result, "dataset": dataset}, indent=2) + "\n")

    run(data, history_order(data, frames.purchases), config, args.old_epochs, save)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
