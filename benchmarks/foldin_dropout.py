"""``TrainConfig.foldin_dropout`` chosen on validation: how well items folded in after training
are found, and what they cost the other items, for each share tried.

On what a cold model of the cold-start protocol may learn from
(:attr:`graphrec.evaluation.coldstart.ColdStartSplit.train`, the test split never read), a
second draw of items (10 % of those with buyers, seeded with ``--seed`` + 1) loses its train
purchases too, and 10 % of every user's remaining train purchases are held out
(:func:`graphrec.evaluation.evaluate.validation_split`). graphrec is trained, for each share,
on the catalogue without both draws of items and folds them in as the service does
(:class:`~graphrec.evaluation.coldstart.ItemsFoldedIn`); then

* ``items``: the buyers of the second draw rank every item from their other purchases, and the
  drawn items they bought are what must be found (HR@10, NDCG@10), as in the protocol's
  cold-items case;
* ``warm``: every user ranks every item from the purchases kept, and the held-out purchases of
  items with buyers are what must be found (NDCG@10): what folded items that crowd the lists
  cost;
* ``folded_share``: the share of the warm lists' top 10 taken by folded items, and
  ``warm_without_folded`` the warm case with folded items never recommended: what they cost.

Each model is also measured with the folded items' layer-0 rows scaled (``--layer0-scales``,
after training, without retraining): 1 is the row :mod:`graphrec.model.foldin` gives, 0 none.
``drawn_share`` is the share of the warm lists' top 10 taken by the second draw and
``drawn_demand`` that draw's share of the purchases.

    python benchmarks/foldin_dropout.py --data ../shared/datasets/amazon_beauty \
        --embedding-dim 64 --epochs 22 --shares 0 0.1 0.3 --layer0-scales 1 0.5 0 --threads 1
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.datasets import read_graph  # noqa: E402
from graphrec.dataset import GraphData  # noqa: E402
from graphrec.evaluation import coldstart  # noqa: E402
from graphrec.evaluation.evaluate import evaluate, top_k, validation_split  # noqa: E402
from graphrec.model.train import KGRecRecommender, TrainConfig  # noqa: E402


def validation_cases(cs: coldstart.ColdStartSplit, seed: int
                     ) -> tuple[GraphData, np.ndarray, GraphData, GraphData]:
    """``(train, folded, items, warm)``: what the model learns from, the items it must fold in
    (both draws), and the two validation cases (see the module's docstring)."""
    bought = np.unique(cs.train.train[:, 1])
    drawn = np.sort(np.random.default_rng(seed + 1).choice(
        bought, size=round(0.1 * len(bought)), replace=False))
    lost = np.isin(cs.train.train[:, 1], drawn)
    rest = dataclasses.replace(cs.train, train=cs.train.train[~lost])
    held = validation_split(rest, seed=seed)
    items = dataclasses.replace(held, test=cs.train.train[lost])
    return held, np.union1d(cs.cold_items, drawn), items, held


class _Without:
    """``model`` never recommending the items of ``mask``: the warm lists without folded items."""

    def __init__(self, model: coldstart.ItemsFoldedIn, mask: np.ndarray) -> None:
        self.model, self.mask = model, mask

    def score_history(self, history: Any) -> np.ndarray:
        scores = self.model.score_history(history)
        scores[:, self.mask] = -np.inf
        return scores


def figures(model: coldstart.ItemsFoldedIn, folded_items: np.ndarray, items: GraphData,
            warm: GraphData) -> dict[str, Any]:
    """The validation figures of a fitted model (see the module's docstring); ``drawn_share``
    counts the second draw (the items of ``items.test``) in the warm lists' top 10."""
    found = evaluate(coldstart.FoldIn(model, items.train_matrix()), items)
    kept = evaluate(coldstart.FoldIn(model, warm.train_matrix()), warm)
    users = np.flatnonzero(np.diff(warm.test_matrix().indptr))
    top = top_k(coldstart.FoldIn(model, warm.train_matrix()), users, warm.train_matrix())
    is_folded = np.zeros(model.num_items, dtype=bool)
    is_folded[folded_items] = True
    is_drawn = np.zeros(model.num_items, dtype=bool)
    is_drawn[np.unique(items.test[:, 1])] = True
    unfolded = evaluate(coldstart.FoldIn(_Without(model, is_folded), warm.train_matrix()), warm)
    return {"items": {"hr@10": found["hr@10"], "ndcg@10": found["ndcg@10"]},
            "warm": {"ndcg@10": kept["ndcg@10"], "hr@10": kept["hr@10"]},
            "warm_without_folded": {"ndcg@10": unfolded["ndcg@10"], "hr@10": unfolded["hr@10"]},
            "folded_share": float(is_folded[top[top >= 0]].mean()),
            "drawn_share": float(is_drawn[top[top >= 0]].mean()),
            "drawn_demand": len(items.test) / (len(items.test) + len(warm.train) + len(warm.test)),
            "folded_catalogue_share": float(is_folded.mean())}


def measure(config: TrainConfig, epochs: int, cs: coldstart.ColdStartSplit, seed: int,
            scales: list[float]) -> dict[str, Any]:
    """One model trained with ``config``; its figures with the folded items' layer-0 rows
    scaled by each of ``scales`` (1: :mod:`graphrec.model.foldin`'s row; 0: a zero row), the
    trade-off between finding folded items and keeping them out of other lists."""
    train, folded_items, items, warm = validation_cases(cs, seed)
    model = coldstart.ItemsFoldedIn(KGRecRecommender(config, print, epochs=epochs),
                                    folded_items).fit(train)
    state = model.state
    assert state is not None
    new = slice(state.num_items - state.folded, state.num_items)
    out: dict[str, Any] = {"fit_seconds": model.fit_info["seconds_per_epoch"] * epochs}
    for scale in scales:
        target = state.target.copy()
        target[new] -= (1 - scale) / state.layers.shape[0] * state.layers[0, new]
        model.state = dataclasses.replace(state, target=target)
        out[f"layer0 x {scale:g}"] = figures(model, folded_items, items, warm)
    model.state = state
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--embedding-dim", type=int, default=TrainConfig.embedding_dim)
    parser.add_argument("--epochs", type=int, default=22)
    parser.add_argument("--shares", type=float, nargs="+", default=[0.0, 0.1, 0.3])
    parser.add_argument("--layer0-scales", type=float, nargs="+", default=[1.0])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data, frames = read_graph(args.data)
    cs = coldstart.split(data, coldstart.history_order(data, frames.purchases), seed=args.seed)
    rows: dict[str, Any] = {}
    for share in args.shares:
        config = TrainConfig(seed=args.seed, embedding_dim=args.embedding_dim,
                             foldin_dropout=share)
        rows[str(share)] = measure(config, args.epochs, cs, args.seed, args.layer0_scales)
        args.out.write_text(json.dumps({"data": args.data, "epochs": args.epochs,
                                        "embedding_dim": args.embedding_dim, "seed": args.seed,
                                        "shares": rows}, indent=1) + "\n")
    print(f"{'foldin_dropout':>14} {'scaled':>15} {'items HR':>9} {'items NDCG':>11} "
          f"{'warm NDCG':>10} {'without folded':>15} {'folded share of top 10':>23} "
          f"{'drawn share / demand':>21}")
    for share, measured in rows.items():
        for scale, row in measured.items():
            if scale == "fit_seconds":
                continue
            print(f"{share:>14} {scale:>15} {row['items']['hr@10']:9.2f} "
                  f"{row['items']['ndcg@10']:11.2f} {row['warm']['ndcg@10']:10.2f} "
                  f"{row['warm_without_folded']['ndcg@10']:15.2f} "
                  f"{100 * row['folded_share']:22.1f}% "
                  f"{100 * row['drawn_share']:11.1f}% / {100 * row['drawn_demand']:.1f}%")
    first = next(row for key, row in next(iter(rows.values())).items() if key != "fit_seconds")
    print(f"folded items are {100 * first['folded_catalogue_share']:.1f}% of the catalogue; "
          f"wrote {args.out}")


if __name__ == "__main__":
    main()
