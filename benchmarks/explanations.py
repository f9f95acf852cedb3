"""Explanation coverage and latency of the saved model, on the graph in the store.

Coverage: the share of top-10 recommendations (every user with a test purchase, or the first
``--users``) that have at least one reason path. Latency: ``RecommendationService.explain`` for
``--pairs`` (user, recommended item) pairs, p50 and p99. Prints a table and writes JSON.

    GRAPHREC_HOME=... python benchmarks/explanations.py [--users 0] [--pairs 1000]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from graphrec.config import Settings
from graphrec.service import RecommendationService
from graphrec.store import open_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=0, help="0: every user with a test item")
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/explanations.json"))
    args = parser.parse_args()
    with open_store(Settings.from_env()) as store:
        service = RecommendationService.load(Settings.from_env(), store)
        data, rec = service.data, service.recommender
        users = [data.users[u] for u in np.unique(data.test[:, 0])]
        users = users[: args.users] if args.users else users
        pairs, covered = [], 0
        for user in users:
            for r in rec.recommend(user, 10):
                pairs.append((user, r.item_id))
                covered += bool(service.paths.candidates(rec.user_index(user),
                                                         rec.item_index(r.item_id)))
        rng = np.random.default_rng(0)
        chosen = rng.choice(len(pairs), min(args.pairs, len(pairs)), replace=False)
        times = []
        for i in chosen:
            started = time.perf_counter()
            service.explain(*pairs[i])
            times.append((time.perf_counter() - started) * 1000)
    result = {"coverage": covered / len(pairs), "recommendations": len(pairs),
              "latency_ms_p50": float(np.percentile(times, 50)),
              "latency_ms_p99": float(np.percentile(times, 99)), "pairs_timed": len(times),
              "model": rec.version}
    print(f"coverage {result['coverage']:.1%} of {len(pairs):,} top-10 recommendations; "
          f"explain p50 {result['latency_ms_p50']:.1f} ms, p99 {result['latency_ms_p99']:.1f} ms "
          f"over {len(times):,} pairs (store queries included)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
