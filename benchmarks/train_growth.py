"""How an epoch of training grows with the shop: ``train_epoch`` on catalogues N times Beauty,
each in a process of its own, for one or more values of ``TrainConfig.max_steps_per_epoch``,
with the epoch taken apart into its two costs.

``benchmarks/scale.py`` times training through ``graphrec train`` after ingesting each
catalogue, which takes hours from N = 20 up; this times only the epoch, on catalogues
``benchmarks/synthetic.py`` wrote, so that a change to training can be measured against the
configuration before it in the same run. Each catalogue is read once, in a child process (its
peak RSS is that catalogue's alone, and no allocator state carries from one size to the next);
each setting trains one epoch of a fresh model (seed 0), timed without the reading.

An epoch is ``steps`` propagations over the item graph (forward and backward), whose cost is
the graph's, and ``batches`` softmaxes, whose cost is a batch's users times its candidates (the
batch's held-back items plus the uniform negatives, :func:`graphrec.model.train._batches`), so
the report gives, per catalogue: one propagation's seconds (timed alone after the epoch), the
rest of the epoch (the batches), the candidates a batch scores on average, and the batches'
seconds per candidate scored. Growth exponents are fitted over purchases + links by
``scale.py``'s fit.

    python benchmarks/synthetic.py --factor 10 --out /tmp/syn10          # and 1, 2, 5, 20, 50
    python benchmarks/train_growth.py /tmp/syn1 /tmp/syn2 /tmp/syn5 /tmp/syn10 --steps 4 24
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.datasets import read_graph  # noqa: E402
from benchmarks.scale import exponent  # noqa: E402
from graphrec.dataset import GraphData  # noqa: E402
from graphrec.model.kgrec import KGRec  # noqa: E402
from graphrec.model.train import (  # noqa: E402
    TrainConfig,
    _batches,
    batches_an_epoch,
    steps_an_epoch,
    train_epoch,
)


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def candidates_a_batch(data: GraphData, config: TrainConfig, seed: int) -> dict[str, float]:
    """Mean held-back purchases and softmax candidates of the epoch's batches: the same draws
    as :func:`train_epoch` makes from the same seed (it draws nothing else without fold-in
    dropout)."""
    held, candidates = [], []
    for batch in _batches(data, config, np.random.default_rng(seed), torch.device("cpu")):
        held.append(batch.total)
        candidates.append(len(batch.candidates) if config.sampled_softmax else data.num_items)
    return {"held_back": round(float(np.mean(held)), 1),
            "candidates": round(float(np.mean(candidates)), 1)}


def propagation_seconds(model: KGRec, repeats: int = 2) -> float:
    """Best of ``repeats`` forward and backward passes of the item propagation alone."""
    best = float("inf")
    for _ in range(repeats):
        model.zero_grad()
        started = time.perf_counter()
        propagated = model.item_representations()
        propagated.backward(torch.ones_like(propagated))
        best = min(best, time.perf_counter() - started)
    return best


def one_epoch(data: GraphData, steps: int, seed: int) -> dict[str, Any]:
    """One epoch of a fresh model with ``steps`` at most an epoch, and its parts."""
    config = TrainConfig(seed=seed, max_steps_per_epoch=steps).for_catalogue(data.num_items)
    torch.manual_seed(seed)
    model = config.build(data)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    started = time.perf_counter()
    loss = train_epoch(model, optimizer, data, config, np.random.default_rng(seed))
    seconds = time.perf_counter() - started
    taken = steps_an_epoch(data, config)
    batches = batches_an_epoch(data, config)
    propagation = propagation_seconds(model)
    drawn = candidates_a_batch(data, config, seed)
    in_batches = max(0.0, seconds - taken * propagation)
    return {"max_steps_per_epoch": steps, "steps": taken, "batches": batches,
            "sampled": bool(config.sampled_softmax), "seconds": round(seconds, 2),
            "propagation_seconds": round(propagation, 3),
            "batches_seconds": round(in_batches, 2), **drawn,
            "us_per_candidate": round(1e6 * in_batches / (batches * drawn["candidates"]), 2),
            "loss": loss}


def measure(folder: Path, steps: list[int], seed: int, threads: int) -> dict[str, Any]:
    """Everything measured on one catalogue (run in a child process)."""
    torch.set_num_threads(threads)
    data = read_graph(folder)[0]  # the reader's frames would stay alive beside it
    size = len(data.train) + len(data.test) + sum(len(p) for p in data.links.values())
    run: dict[str, Any] = {"catalogue": str(folder), "size": size, "items": data.num_items,
                           "users": data.num_users, "read_rss_mb": _peak_rss_mb(),
                           "epochs": []}
    for setting in steps:
        run["epochs"].append(one_epoch(data, setting, seed))
        print(f"{folder.name}: size {size:,}, {run['epochs'][-1]}", file=sys.stderr, flush=True)
    run["peak_rss_mb"] = _peak_rss_mb()
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("catalogues", nargs="+", type=Path, help="synthetic catalogue folders")
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 24])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/train-growth.json"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.catalogues[0], args.steps, args.seed, args.threads)))
        return
    runs = []
    for folder in args.catalogues:
        child = subprocess.run(
            [sys.executable, "-m", "benchmarks.train_growth", str(folder), "--child",
             "--steps", *map(str, args.steps), "--threads", str(args.threads),
             "--seed", str(args.seed)], stdout=subprocess.PIPE, text=True, check=True)
        runs.append(json.loads(child.stdout.splitlines()[-1]))
    sizes = [r["size"] for r in runs]
    exponents = {str(steps): {part: exponent(sizes, [r["epochs"][i][part] for r in runs])
                              for part in ("seconds", "batches_seconds", "propagation_seconds")}
                 for i, steps in enumerate(args.steps)}
    exponents["peak_rss"] = {"mb": exponent(sizes, [r["peak_rss_mb"] for r in runs])}
    report = {"threads": args.threads, "seed": args.seed, "runs": runs,
              "growth_exponents": exponents}
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print("| catalogue | purchases + links | steps at most | epoch s (steps) | propagation s "
          "| batches s (batches) | candidates a batch | µs a candidate | peak RSS |")
    for r in runs:
        for e in r["epochs"]:
            print(f"| {Path(r['catalogue']).name} | {r['size']:,} | {e['max_steps_per_epoch']} "
                  f"| {e['seconds']:.1f} ({e['steps']}) | {e['propagation_seconds']:.2f} "
                  f"| {e['batches_seconds']:.1f} ({e['batches']}) | {e['candidates']:,.0f} "
                  f"| {e['us_per_candidate']:.2f} | {r['peak_rss_mb'] / 1024:.1f} GB |")
    print("growth exponents: " + json.dumps(exponents))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
