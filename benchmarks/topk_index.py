"""One user's top 10 at N times Beauty's catalogue: the exact scan against the index.

For each item table (``--factors`` times Beauty's 12,101 items, in ``--dims`` dimensions) and
``--users`` user vectors it times, per user, what a request computes to rank (the history's
items excluded, as the service does):

* ``exact``: the scores of every item (one float32 matrix-vector product) and their top 10
  (:func:`graphrec.serving.ranking.top`), on one thread, and on two (the table in two halves,
  each scored and partitioned in a thread of its own, the two top 10s merged);
* ``index``: :func:`graphrec.serving.topk.top_indexed` on an
  :class:`~graphrec.serving.topk.ItemIndex` (faiss inverted file of 8-bit rows, inner
  product): candidates from the index, scored exactly;

and the index's recall@10 against the exact top 10 (the share of the exact top 10 that the
index's top 10 holds, averaged over users). The index is the one the service builds (its
default clusters and probes); the recall@10 of each of ``--probes`` is measured on a second,
disjoint set of ``--users`` users, the tuning set the default probes were chosen on (the fewest
whose recall@10 there is at least 0.995 in every table, so that other users keep 0.99).

The tables: with ``--model ARTIFACT_DIR``, that model's item table (``target``) and users (their
train histories); copy ``c > 0`` of the table is the table plus Gaussian noise of ``--noise``
times each dimension's standard deviation (another item near each, as a bigger shop of the same
kind would have), and the 64-dimension tables are the 256-dimension ones through one seeded
Gaussian projection (which keeps inner products in expectation), users likewise. Without a
model: a seeded synthetic table whose row norms are log-normal (a few items far longer than
most, as trained tables have) and users summed from random histories.

Single-threaded BLAS throughout (the environment below is set before numpy loads): a gunicorn
worker answers one request per thread, and the two-thread figures are made with two explicit
threads.

    python benchmarks/topk_index.py [--model ARTIFACT_DIR] [--factors 1 5 20 50] [--dims 64 256]
                                    [--users 1000] [--out benchmarks/results/topk-index.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graphrec.config import one_maths_thread  # noqa: E402

one_maths_thread(force=True)  # before numpy loads: one thread each, whatever the environment says

import numpy as np  # noqa: E402

from graphrec.model.kernel import scores  # noqa: E402
from graphrec.serving.ranking import top  # noqa: E402
from graphrec.serving.topk import ItemIndex, top_indexed  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "topk-index.json"
BEAUTY_ITEMS = 12_101
K = 10

#: A query: (user vector, the items it must not get).
Query = tuple[np.ndarray, np.ndarray]


def from_model(path: Path, users: int, seed: int) -> tuple[np.ndarray, list[Query]]:
    """The model's item table and ``users`` of its train users (vector, history), seeded."""
    from graphrec.model import artifact

    loaded = artifact.load(path, hash_arrays=False)
    state, train = loaded.state, np.asarray(loaded.data.train)
    rng = np.random.default_rng(seed)
    picked = rng.choice(np.unique(train[:, 0]), users, replace=False)
    order = np.argsort(train[:, 0], kind="stable")
    starts = np.searchsorted(train[order, 0], picked)
    ends = np.searchsorted(train[order, 0], picked, side="right")
    queries = []
    for start, end in zip(starts, ends):
        history = np.unique(train[order[start:end], 1])
        queries.append((state.user_vector(history), history))
    return np.asarray(state.target, dtype=np.float32), queries


def synthetic(users: int, seed: int, dim: int = 256) -> tuple[np.ndarray, list[Query]]:
    """A Beauty-sized table with log-normal row norms, and users summed from 2 to 20 rows."""
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((BEAUTY_ITEMS, dim)).astype(np.float32)
    rows *= (rng.lognormal(0.0, 0.5, BEAUTY_ITEMS)
             / np.linalg.norm(rows, axis=1)).astype(np.float32)[:, None]
    queries = []
    for _ in range(users):
        history = np.unique(rng.integers(0, BEAUTY_ITEMS, rng.integers(2, 21)))
        z = rows[history].sum(0) / np.sqrt(len(history))
        queries.append((z.astype(np.float32), history))
    return rows, queries


def grown(base: np.ndarray, factor: int, noise: float, seed: int) -> np.ndarray:
    """``factor`` copies of ``base``, every copy after the first perturbed."""
    rng = np.random.default_rng(seed)
    scale = (noise * base.std(0)).astype(np.float32)
    copies = [base] + [base + rng.standard_normal(base.shape, dtype=np.float32) * scale
                       for _ in range(factor - 1)]
    return np.ascontiguousarray(np.concatenate(copies))


def exact_top(table: np.ndarray, query: Query) -> np.ndarray:
    s = scores(query[0], table)
    s[query[1]] = -np.inf
    return top(s, K)


def exact_top_threads(pool: ThreadPoolExecutor, halves: list[tuple[int, np.ndarray]],
                      query: Query) -> np.ndarray:
    """The exact top 10 with each half of the table scored and partitioned in its own thread."""

    def half(part: tuple[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        start, rows = part
        s = scores(query[0], rows)
        history = query[1] - start
        s[history[(history >= 0) & (history < len(rows))]] = -np.inf
        best = top(s, K)
        return best + start, s[best]

    found = list(pool.map(half, halves))
    items = np.concatenate([f[0] for f in found])
    return items[top(np.concatenate([f[1] for f in found]), K)]


def timed(queries: list[Query], answer: Callable[[Query], np.ndarray]
          ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Each query's answer, its wall-clock milliseconds and the calling thread's CPU
    milliseconds (what the query costs without the time other processes took the core: the
    figure that survives a busy machine, for the one-thread paths)."""
    answers, wall, cpu = [], [], []
    for query in queries:
        start, start_cpu = time.perf_counter(), time.thread_time()
        answers.append(answer(query))
        cpu.append((time.thread_time() - start_cpu) * 1e3)
        wall.append((time.perf_counter() - start) * 1e3)
    return answers, np.asarray(wall), np.asarray(cpu)


def recall(found: list[np.ndarray], truth: list[np.ndarray]) -> float:
    return float(np.mean([len(np.intersect1d(f, t)) / len(t) for f, t in zip(found, truth)]))


def percentiles(ms: np.ndarray, cpu: np.ndarray | None = None) -> dict[str, float]:
    out = {"p50_ms": round(float(np.percentile(ms, 50)), 3),
           "p99_ms": round(float(np.percentile(ms, 99)), 3)}
    if cpu is not None:
        out.update({"cpu_p50_ms": round(float(np.percentile(cpu, 50)), 3),
                    "cpu_p99_ms": round(float(np.percentile(cpu, 99)), 3)})
    return out


def measure(table: np.ndarray, report: list[Query], tune: list[Query], probes: list[int]
            ) -> dict[str, Any]:
    """The exact scan's and the index's figures on one table."""
    truth, one, one_cpu = timed(report, lambda q: exact_top(table, q))
    middle = len(table) // 2
    halves = [(0, table[:middle]), (middle, table[middle:])]
    with ThreadPoolExecutor(2) as pool:
        two_answers, two, _ = timed(report, lambda q: exact_top_threads(pool, halves, q))
    assert all(np.array_equal(a, b) for a, b in zip(two_answers, truth))
    start = time.perf_counter()
    index = ItemIndex(table)
    build = time.perf_counter() - start
    tune_truth = [exact_top(table, q) for q in tune]
    default, sweep = index.probes, {}
    for p in probes:
        index.probes = p
        sweep[p] = recall([top_indexed(index, table, q[0], K, q[1])[0] for q in tune], tune_truth)
    index.probes = default
    found, indexed, indexed_cpu = timed(report,
                                        lambda q: top_indexed(index, table, q[0], K, q[1])[0])
    return {"items": len(table), "dim": int(table.shape[1]),
            "exact_1_thread": percentiles(one, one_cpu), "exact_2_threads": percentiles(two),
            "index": {"lists": index.lists, "probes": index.probes, "build_s": round(build, 2),
                      **percentiles(indexed, indexed_cpu),
                      "recall@10": round(recall(found, truth), 4),
                      "tuning_recall@10_by_probes": {str(p): round(r, 4)
                                                     for p, r in sweep.items()}}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="an artifact directory (else synthetic)")
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 5, 20, 50])
    parser.add_argument("--dims", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--probes", type=int, nargs="+", default=[8, 16, 24, 32, 48, 64, 96, 128])
    parser.add_argument("--noise", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    base, queries = (from_model(args.model, 2 * args.users, args.seed) if args.model
                     else synthetic(2 * args.users, args.seed))
    rows = []
    for dim in args.dims:
        projection = (np.random.default_rng(args.seed).standard_normal((base.shape[1], dim))
                      / np.sqrt(dim)).astype(np.float32)
        same = dim == base.shape[1]
        table_base = base if same else base @ projection
        projected = queries if same else [(z @ projection, h) for z, h in queries]
        report, tune = projected[:args.users], projected[args.users:]
        for factor in args.factors:
            table = grown(table_base, factor, args.noise, args.seed + factor)
            row = {"factor": factor, **measure(table, report, tune, args.probes)}
            rows.append(row)
            print_row(row)
    out = {"source": str(args.model) if args.model else "synthetic", "users": args.users,
           "k": K, "noise": args.noise, "recall_goal": 0.99, "goal_p99_ms": 5.0,
           "machine": {"cpus": os.cpu_count(), "processor": platform.processor(),
                       "loadavg_at_end": os.getloadavg()}, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")


def print_row(row: dict[str, Any]) -> None:
    e1, e2, ix = row["exact_1_thread"], row["exact_2_threads"], row["index"]
    print(f"N={row['factor']:>3} items={row['items']:>8,} d={row['dim']:>3} | "
          f"exact 1t p50 {e1['p50_ms']:7.2f} p99 {e1['p99_ms']:7.2f} "
          f"(cpu {e1['cpu_p50_ms']:6.2f} {e1['cpu_p99_ms']:6.2f}) | "
          f"2t p50 {e2['p50_ms']:7.2f} p99 {e2['p99_ms']:7.2f} | "
          f"index lists {ix['lists']:>5} probes {ix['probes']:>3} build {ix['build_s']:5.1f}s "
          f"p50 {ix['p50_ms']:6.2f} p99 {ix['p99_ms']:6.2f} "
          f"(cpu {ix['cpu_p50_ms']:5.2f} {ix['cpu_p99_ms']:5.2f}) "
          f"recall@10 {ix['recall@10']:.4f}", flush=True)


if __name__ == "__main__":
    main()
