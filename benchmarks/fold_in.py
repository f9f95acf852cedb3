"""How well an item folded in from its neighbours stands in for a trained one, and what folding
costs.

For ``--items`` trained items picked at random (seeded) among those with train buyers, a new
item with the same neighbourhood (brand, leaf category, every link either way: a second listing
of the product) is folded into the model through the serving code
(:func:`graphrec.serving.newitems.grow`, one item at a time). For every train buyer of the
original, with that purchase taken out of their history, the original's rank among all items
they did not buy (the trained embedding) is compared with the new item's rank (the original
left out of the ranking, so that the two do not compete).

The same ranks are taken with two other layer-0 rows for the new item, its only free vector
(the later layers come from its neighbours whatever it is): zeros, and the plain mean of its
neighbours' layer-0 rows; :mod:`graphrec.model.foldin` uses the relation-weighted, normalised
neighbourhood sum (the same as layer 1). Also timed: one fold-in of ``--new`` items at once.

    python benchmarks/fold_in.py ARTIFACT_DIR [--items 200] [--new 100] [--seed 0]
                                 [--out benchmarks/results/fold_in.json]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from graphrec.model import artifact
from graphrec.model.artifact import Artifact
from graphrec.model.kernel import Propagated
from graphrec.serving.newitems import grow, item_rows


def layer0_variants(folded: Propagated, new: int) -> dict[str, np.ndarray]:
    """The new item's target row with each layer-0 row compared."""
    layers = folded.layers
    received = folded.edge_col[folded.edge_row == new]
    weight = 1.0 / layers.shape[0]
    target = folded.target[new]
    return {"neighbourhood sum (used)": target,
            "zeros": target - weight * layers[0, new],
            "mean of neighbours": target + weight * (layers[0, received].mean(0)
                                                     - layers[0, new])}


def ranks(loaded: Artifact, items: np.ndarray) -> dict[str, list[int]]:
    state, data = loaded.state, loaded.data
    train = np.asarray(data.train)
    out: dict[str, list[int]] = {"trained": []}
    for n, item in enumerate(items):
        folded = grow(loaded, item_rows(loaded.data, [int(item)], [f"LISTING-{n}"])).state
        new = state.num_items
        variants = layer0_variants(folded, new)
        for user in train[train[:, 1] == item, 0]:
            history = train[(train[:, 0] == user) & (train[:, 1] != item), 1]
            if not len(history):
                continue
            scores = state.scores(history)
            scores[history] = -np.inf
            out["trained"].append(int((scores > scores[item]).sum()) + 1)
            z = state.user_vector(history)
            scores[item] = -np.inf  # the twin does not compete with the new listing
            for name, target in variants.items():
                score = float(z @ target)
                out.setdefault(name, []).append(int((scores > score).sum()) + 1)
    return out


def timing(loaded: Artifact, count: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    items = rng.choice(loaded.state.num_items, count, replace=False)
    rows = item_rows(loaded.data, items.tolist(), [f"TIMED-{n}" for n in range(len(items))])
    started = time.perf_counter()
    grown = grow(loaded, rows)
    seconds = time.perf_counter() - started
    return {"new_items": count, "seconds": round(seconds, 3),
            "arrays_mb": round(sum(getattr(grown.state, name).nbytes
                                   for name in Propagated.ARRAYS) / 2**20, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--new", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    loaded = artifact.load(args.artifact)
    bought = np.unique(np.asarray(loaded.data.train)[:, 1])
    items = np.random.default_rng(args.seed).choice(bought, min(args.items, len(bought)),
                                                    replace=False)
    found = ranks(loaded, items)
    table = {name: {"pairs": len(r), "hr@10": round(float(np.mean(np.array(r) <= 10)) * 100, 1),
                    "hr@50": round(float(np.mean(np.array(r) <= 50)) * 100, 1),
                    "median_rank": float(np.median(r))}
             for name, r in found.items()}
    report = {"model": loaded.version, "trained_on": loaded.trained_on,
              "max_epochs": loaded.config.get("train", {}).get("max_epochs"),
              "best_epoch": loaded.metrics.get("history", {}).get("best_epoch"),
              "items": int(loaded.state.num_items),
              "sampled": len(items), "seed": args.seed, "ranks": table,
              "fold_in": timing(loaded, min(args.new, loaded.state.num_items), args.seed)}
    print(f"{len(items)} items of {loaded.state.num_items}, each folded in as a second listing")
    for name, row in table.items():
        print(f"  {name:<26} pairs {row['pairs']:>5}  HR@10 {row['hr@10']:5.1f}  "
              f"HR@50 {row['hr@50']:5.1f}  median rank {row['median_rank']:g}")
    print(f"fold-in of {report['fold_in']['new_items']} items at once: "
          f"{report['fold_in']['seconds']} s, arrays {report['fold_in']['arrays_mb']} MB")
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
