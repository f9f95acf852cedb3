"""What purchases reported live cost a worker: the model its paths walk, made again with them.

A worker that finds new purchases at a look serves a model whose graph holds them
(:meth:`graphrec.serving.service.RecommendationService.take_purchases`): the purchases added
(:func:`graphrec.serving.newpurchases.with_purchases`), then the path finder and the masking
made again (:meth:`~graphrec.serving.service.ServedModel.of`), which index the graph's
purchases. For each count of ``--purchases``, that many purchases drawn at random (seeded, half
of them by new customers, each a few items) are added to the model at ``ARTIFACT_DIR``, and the
CPU time of making the served model is taken, the best of ``--repeats``; 0 is the model as
trained, read from its saved path index (what a worker's start costs, for comparison).
The served model is made as the service makes it: from the model's id maps, made once
(``with_purchases(..., known)``, ``Recommender(..., grew_from=known)``), and with the edge
masking of the model served before (``ServedModel.of(..., masking=...)``), except for 0,
which makes it as a worker's start does.

``--grow N ...`` measures the same on the model's purchases made N times as many: N copies of
its users, each copy with the same purchases (the shop's growth in shoppers; the items and
their arrays stay the model's), indexed once before the timing as a saved model is.

    python benchmarks/live_purchases.py ARTIFACT_DIR [--purchases 0 100 1000 10000]
                                        [--grow 1 5 20 50]
                                        [--out benchmarks/results/live-purchases.json]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphrec.config import one_maths_thread  # noqa: E402  (after the path)
from graphrec.explain.paths import PathFinder  # noqa: E402
from graphrec.model import artifact  # noqa: E402
from graphrec.serving.newpurchases import with_purchases  # noqa: E402
from graphrec.serving.recommend import Recommender  # noqa: E402
from graphrec.serving.service import ServedModel  # noqa: E402


def drawn(loaded: artifact.Artifact, count: int, rng: np.random.Generator
          ) -> set[tuple[str, str]]:
    """``count`` purchases: half by the model's users, half by new customers of four items."""
    users, items = loaded.ids["users"], loaded.ids["items"]
    known = rng.integers(0, len(users), count - count // 2)
    pairs = {(users[u], items[i]) for u, i in zip(known, rng.integers(0, len(items),
                                                                      len(known)))}
    pairs |= {(f"new-{n // 4}", items[i])
              for n, i in enumerate(rng.integers(0, len(items), count // 2))}
    return pairs


def grown(loaded: artifact.Artifact, factor: int) -> artifact.Artifact:
    """``loaded`` with ``factor`` copies of its users (``user~k``), each with the purchases
    of the user it copies, and the path index of that graph."""
    if factor == 1:
        return loaded
    data, users = loaded.data, list(loaded.ids["users"])
    ids = users + [f"{user}~{k}" for k in range(1, factor) for user in users]
    train = np.concatenate([data.train + np.array([k * len(users), 0]) for k in range(factor)])
    data = dataclasses.replace(data, users=np.array(ids, dtype=object), train=train)
    return dataclasses.replace(loaded, data=data, ids={**loaded.ids, "users": ids},
                               path_index=PathFinder(data).index())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--purchases", type=int, nargs="+", default=[0, 100, 1000, 10000])
    parser.add_argument("--grow", type=int, nargs="+", default=[1])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    one_maths_thread(force=True)
    trained = artifact.load(args.artifact)
    scan = Recommender(trained).scan
    rows = []
    for factor in args.grow:
        loaded = grown(trained, factor)
        known = Recommender(loaded, None, scan)
        before = ServedModel.of(known)  # the model the worker serves until then
        rng = np.random.default_rng(args.seed)
        for count in args.purchases:
            pairs = drawn(trained, count, rng) if count else set()
            best = float("inf")
            for _ in range(args.repeats):
                started = time.process_time()
                served = ServedModel.of(Recommender(with_purchases(loaded, pairs, known), None,
                                                    scan, grew_from=known),
                                        masking=before.ranker.masking if pairs else None)
                best = min(best, time.process_time() - started)
            data = served.recommender.artifact.data
            rows.append({"grow": factor, "purchases": len(pairs),
                         "graph_purchases": int(len(data.train)),
                         "users": int(data.num_users), "cpu_s": round(best, 3)})
            row = rows[-1]
            print(f"x{factor:<3} {row['purchases']:>7,} purchases added: "
                  f"{row['graph_purchases']:,} in the graph, {row['users']:,} users; the served "
                  f"model made in {row['cpu_s']:.3f} s of CPU", flush=True)
    if args.out:
        args.out.write_text(json.dumps({
            "model": trained.version, "items": int(trained.state.num_items),
            "seed": args.seed, "repeats": args.repeats, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
