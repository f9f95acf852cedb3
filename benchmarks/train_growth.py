"""How an epoch of training grows with the shop: ``train_epoch`` on catalogues N times Beauty,
in one process, for two values of ``TrainConfig.max_steps_per_epoch`` side by side.

``benchmarks/scale.py`` times training through ``graphrec train`` after ingesting each
catalogue, which takes an hour for N = 1 to 10; this times only the epoch, on catalogues
``benchmarks/synthetic.py`` wrote, so that a change to training can be measured against the
configuration before it in the same run. Each catalogue is read once; each setting trains one
epoch of a fresh model (seed 0) and is timed without the reading. The growth exponent is fitted
over purchases + links by ``scale.py``'s fit.

    python benchmarks/synthetic.py --factor 10 --out /tmp/syn10          # and 1, 2, 5
    python benchmarks/train_growth.py /tmp/syn1 /tmp/syn2 /tmp/syn5 /tmp/syn10 --steps 4 24
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.datasets import read_graph
from benchmarks.scale import exponent
from graphrec.dataset import GraphData
from graphrec.model.train import (
    TrainConfig,
    batches_an_epoch,
    steps_an_epoch,
    train_epoch,
)


def one_epoch(data: GraphData, steps: int, seed: int) -> dict[str, Any]:
    """Seconds of one epoch of a fresh model with ``steps`` at most an epoch."""
    config = TrainConfig(seed=seed, max_steps_per_epoch=steps).for_catalogue(data.num_items)
    torch.manual_seed(seed)
    model = config.build(data)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    started = time.perf_counter()
    loss = train_epoch(model, optimizer, data, config, np.random.default_rng(seed))
    return {"max_steps_per_epoch": steps, "steps": steps_an_epoch(data, config),
            "batches": batches_an_epoch(data, config), "sampled": bool(config.sampled_softmax),
            "seconds": round(time.perf_counter() - started, 2), "loss": loss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("catalogues", nargs="+", type=Path, help="synthetic catalogue folders")
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 24])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/train-growth.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    runs = []
    for folder in args.catalogues:
        data, _ = read_graph(folder)
        size = len(data.train) + len(data.test) + sum(len(p) for p in data.links.values())
        run: dict[str, Any] = {"catalogue": str(folder), "size": size,
                               "items": data.num_items, "users": data.num_users, "epochs": []}
        for steps in args.steps:
            run["epochs"].append(one_epoch(data, steps, args.seed))
            print(f"{folder.name}: size {size:,}, {run['epochs'][-1]}", flush=True)
        runs.append(run)
    exponents = {str(steps): exponent([r["size"] for r in runs],
                                      [r["epochs"][i]["seconds"] for r in runs])
                 for i, steps in enumerate(args.steps)}
    report = {"threads": args.threads, "seed": args.seed, "runs": runs,
              "growth_exponents": exponents}
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    header = " | ".join(f"{s} steps at most: s (steps)" for s in args.steps)
    print(f"| catalogue | purchases + links | {header} |")
    for r in runs:
        cells = " | ".join(f"{e['seconds']:.1f} ({e['steps']})" for e in r["epochs"])
        print(f"| {Path(r['catalogue']).name} | {r['size']:,} | {cells} |")
    print("growth exponents of s/epoch: "
          + ", ".join(f"{s} steps {e}" for s, e in exponents.items()))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
