"""What a fold-in of new items costs a worker as the catalogue grows.

A worker that finds items ingested since training serves a model with them folded in
(:meth:`graphrec.serving.service.RecommendationService.fold_new_items`): the model grown by
them (:func:`graphrec.serving.newitems.grow`: their rows of the graph and layers, the path
index), its id maps, the purchases reported live added, then the path finder and the edge
masking made (:meth:`~graphrec.serving.service.ServedModel.of`). This takes the CPU time of
each of those steps for ``--new`` items (drawn from the model's, seeded, listed again under new
ids with the same brand, categories and links) folded into the model at ``ARTIFACT_DIR`` with
its item side tiled N times (``--grow``): N copies of every item with its brand, categories and
links among its own copy, the trained layers copied, the model's graph normalised again to
match, indexed once before the timing as a saved model is. Each fold-in is taken
``--repeats`` times, the one before still held (a worker serves its model while it makes the
next); the first is reported apart, and the best of the others. ``system`` is the kernel's
share of that CPU: the fresh pages of the new model's arrays (and, where transparent huge
pages are on, the compaction that makes them). ``folded_mb`` is what the folded model's
arrays take of the worker's own memory.

``--workers W`` measures a server's fold-ins instead: the tiled model made once, then W worker
processes forked from it (as gunicorn forks its workers from a master that loaded the model)
fold the same items in at once, each as the service does, through the fold-ins the workers of a
home share (:mod:`graphrec.serving.folds`; a checkout without them folds in every worker);
``--repeats`` rounds, each with other new items (drawn with the next seed) in place of the last
round's, the model of the last still held. For each worker and round: the CPU and wall time of
its fold-in, and the memory it added once all are done, its own (``private_mb``: pages no other
process maps) and its share of all it maps (``pss_mb``), from ``/proc/self/smaps_rollup``.

``--baseline CHECKOUT`` measures another checkout of graphrec the same way in the same run,
the two alternated (ABBA), each pass in a process of its own.

    python benchmarks/fold_in_growth.py ARTIFACT_DIR [--grow 1 5 20] [--new 100] [--workers W]
                                        [--baseline CHECKOUT]
                                        [--out benchmarks/results/fold-in-growth.json]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
sys.path.insert(0, os.environ.get("GRAPHREC_CHECKOUT", str(HERE.parents[1])))

import numpy as np  # noqa: E402  (after the path)

from graphrec.config import one_maths_thread  # noqa: E402
from graphrec.explain.paths import PathFinder  # noqa: E402
from graphrec.model import artifact  # noqa: E402
from graphrec.model.foldin import relation_weights  # noqa: E402
from graphrec.model.kernel import Propagated, normalised_graph, relation_edges  # noqa: E402
from graphrec.serving.newitems import grow, item_rows  # noqa: E402
from graphrec.serving.newpurchases import with_purchases  # noqa: E402
from graphrec.serving.recommend import Recommender  # noqa: E402
from graphrec.serving.service import ServedModel  # noqa: E402

try:  # a checkout before the workers shared their fold-ins folds in each
    from graphrec.serving.folds import SharedFolds  # noqa: E402
except ImportError:
    SharedFolds = None  # type: ignore[assignment,misc]

STEPS = ("grow", "ids", "purchases", "served")


def tiled(loaded: artifact.Artifact, factor: int) -> artifact.Artifact:
    """``loaded`` with ``factor`` copies of its items (``item~k``), each linked, branded and
    categorised as the item it copies (links within its own copy), the trained layers
    copied, the graph normalised again for the grown catalogue and its path index made."""
    if factor == 1:
        return loaded
    state, data, n = loaded.state, loaded.data, loaded.data.num_items
    items = [*data.items, *(f"{item}~{k}" for k in range(1, factor) for item in data.items)]

    def tile(pairs: np.ndarray, both: bool) -> np.ndarray:
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        return np.concatenate([pairs + np.array([k * n, k * n * both]) for k in range(factor)])

    data = dataclasses.replace(
        data, items=np.array(items, dtype=object), item_brand=tile(data.item_brand, False),
        item_category=tile(data.item_category, False),
        links={rel: tile(pairs, True) for rel, pairs in data.links.items()})
    weights = getattr(state, "weights", None)
    weights = np.asarray(relation_weights(state, loaded.data) if weights is None else weights)
    offset = {kind: start + (factor - 1) * n if kind != "item" else 0
              for kind, start in state.offset.items()}
    nodes = state.num_nodes + (factor - 1) * n
    row, col, value, relation = normalised_graph(nodes, offset, state.relations,
                                                 relation_edges(data))
    layers = np.concatenate([np.tile(state.layers[:, :n], (1, factor, 1)),
                             state.layers[:, n:]], axis=1)
    known = "weights" in Propagated.__dataclass_fields__  # a checkout before they were kept
    kept: dict[str, Any] = {"weights": tuple(weights)} if known else {}
    grown = Propagated(layers=layers, target=np.tile(state.target, (factor, 1)), edge_row=row,
                       edge_col=col, edge_type=relation,
                       edge_value=(value * weights[relation]).astype(np.float32),
                       relations=state.relations, num_items=n * factor, offset=offset,
                       exponent=state.exponent, **kept)
    return dataclasses.replace(loaded, state=grown, data=data,
                               ids={**loaded.ids, "items": items},
                               path_index=PathFinder(data).index())


def fold(loaded: artifact.Artifact, base: Recommender, rows: list[dict[str, Any]],
         folds: Path | None = None) -> tuple[dict[str, float], ServedModel]:
    """A worker's fold-in of ``rows``, as the service makes it: each step's CPU seconds, and
    the whole's in the process (``user``) and in the kernel for it (``system``: mostly the
    fresh pages of the new model's arrays). ``folds``: the folder of the fold-ins shared by
    the workers (``None``: this worker's own)."""
    cpu: dict[str, float] = {}
    times = os.times()
    started = time.process_time()
    masking = None
    if folds is not None and SharedFolds is not None:
        folded, masking = SharedFolds(folds).grow(loaded, rows)
    else:
        folded = grow(loaded, rows)
    cpu["grow"], started = time.process_time() - started, time.process_time()
    ids = Recommender(folded, base.index, base.scan, grew_from=base)
    cpu["ids"], started = time.process_time() - started, time.process_time()
    recommender = Recommender(with_purchases(folded, frozenset(), ids), base.index, base.scan,
                              grew_from=ids)
    cpu["purchases"], started = time.process_time() - started, time.process_time()
    served = ServedModel.of(recommender, **({} if masking is None else {"masking": masking}))
    cpu["served"] = time.process_time() - started
    after = os.times()
    cpu["user"], cpu["system"] = after.user - times.user, after.system - times.system
    return cpu, served


def memory_mb() -> dict[str, float]:
    """This process's proportional share of its pages and its private ones, in MB."""
    fields = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        fields[name.rstrip(":")] = int(value) / 1024
    return {"pss": fields["Pss"],
            "private": fields["Private_Clean"] + fields["Private_Dirty"]}


def worker(loaded: artifact.Artifact, base: Recommender, rounds: list[list[dict[str, Any]]],
           folds: Path, barrier: Any, results: Any) -> None:
    """One forked worker's fold-ins, each started with the others' and measured once all are
    done (each holding the model it made, as a worker serves it while it makes the next)."""
    held = []
    for number, rows in enumerate(rounds):
        barrier.wait()
        before, wall = memory_mb(), time.perf_counter()
        cpu, served = fold(loaded, base, rows, folds)
        wall = time.perf_counter() - wall
        held.append(served)
        barrier.wait()
        after = memory_mb()
        results.put({"round": number, "cpu_s": round(cpu["user"] + cpu["system"], 3),
                     "system_s": round(cpu["system"], 3), "wall_s": round(wall, 3),
                     "private_mb": round(after["private"] - before["private"]),
                     "pss_mb": round(after["pss"] - before["pss"]),
                     "folded": int(served.recommender.state.folded)})
    barrier.wait()  # none lets go of its pages before every one has measured


def server(loaded: artifact.Artifact, base: Recommender, rounds: list[list[dict[str, Any]]],
           workers: int) -> list[list[dict[str, Any]]]:
    """``workers`` processes forked from this one folding in the rows of each round at once,
    the new items of a round in place of the last's; each round's figures, a row a worker."""
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(workers, timeout=900), context.Queue()
    with tempfile.TemporaryDirectory(prefix="folds-") as folds:
        processes = [context.Process(target=worker,
                                     args=(loaded, base, rounds, Path(folds), barrier, results))
                     for _ in range(workers)]
        for process in processes:
            process.start()
        out = [results.get(timeout=900) for _ in range(workers * len(rounds))]
        for process in processes:
            process.join()
    return [sorted((row for row in out if row["round"] == n), key=lambda row: row["wall_s"])
            for n in range(len(rounds))]


def measure(path: Path, factors: list[int], new: int, repeats: int, seed: int,
            workers: int = 0) -> list[dict[str, Any]]:
    """One row per factor, with progress on stderr."""
    one_maths_thread(force=True)
    trained = artifact.load(path)
    out: list[dict[str, Any]] = []
    for factor in factors:
        loaded = tiled(trained, factor)
        base = Recommender(loaded)
        ServedModel.of(base)
        picks = np.random.default_rng(seed).choice(trained.data.num_items, new, replace=False)
        rows = item_rows(loaded.data, picks.tolist(), [f"new-{k}" for k in range(new)])
        if workers:
            draws = [np.random.default_rng(seed + n).choice(trained.data.num_items, new,
                                                             replace=False)
                     for n in range(repeats)]
            rounds = [item_rows(loaded.data, picks.tolist(), [f"new-{n}-{k}" for k in range(new)])
                      for n, picks in enumerate(draws)]
            for n, each in enumerate(server(loaded, base, rounds, workers)):
                out.append({"grow": factor, "items": int(loaded.data.num_items),
                            "edges": int(len(loaded.state.edge_row)), "new": new, "round": n,
                            "workers": each,
                            **{f"total_{key}": round(sum(row[key] for row in each), 3)
                               for key in ("cpu_s", "private_mb", "pss_mb")},
                            "last_wall_s": each[-1]["wall_s"]})
                print(f"  x{factor}, round {n}: {workers} workers, "
                      f"{out[-1]['total_cpu_s']:.2f} s of CPU, "
                      f"{out[-1]['total_pss_mb']:,.0f} MB", file=sys.stderr, flush=True)
            del loaded, base
            continue
        runs = []
        for _ in range(repeats):
            cpu, served = fold(loaded, base, rows)
            runs.append(cpu)
        state = served.recommender.state
        folded_mb = sum(getattr(state, name).nbytes for name in Propagated.ARRAYS) / 2**20
        best = min(runs[1:] or runs, key=lambda cpu: sum(cpu[step] for step in STEPS))
        out.append({"grow": factor, "items": int(loaded.data.num_items),
                    "edges": int(len(loaded.state.edge_row)), "new": new,
                    "first_s": round(sum(runs[0][step] for step in STEPS), 3),
                    "best_s": round(sum(best[step] for step in STEPS), 3),
                    "first_system_s": round(runs[0]["system"], 3),
                    "best_system_s": round(best["system"], 3),
                    "best_steps_s": {step: round(best[step], 3) for step in STEPS},
                    "folded_mb": round(folded_mb)})
        print(f"  x{factor}: {out[-1]['items']:,} items, fold-in {out[-1]['first_s']:.2f} s "
              f"first, {out[-1]['best_s']:.2f} s best", file=sys.stderr, flush=True)
        del loaded, base, served, state
    return out


def passes(args: argparse.Namespace) -> dict[str, list[list[dict[str, Any]]]]:
    """This checkout, alone or alternated with ``--baseline`` (ABBA), each pass in a fresh
    process (a worker's memory, not one pass's leftovers)."""
    order = ["this"] if args.baseline is None else ["this", "baseline", "baseline", "this"]
    results: dict[str, list[list[dict[str, Any]]]] = {}
    for name in order:
        checkout = HERE.parents[1] if name == "this" else args.baseline
        print(f"{name} ({checkout}) ...", file=sys.stderr, flush=True)
        command = [sys.executable, str(HERE), str(args.artifact), "--one-pass",
                   "--grow", *map(str, args.grow), "--new", str(args.new),
                   "--repeats", str(args.repeats), "--seed", str(args.seed),
                   "--workers", str(args.workers)]
        done = subprocess.run(command, env={**os.environ, "GRAPHREC_CHECKOUT": str(checkout)},
                              check=True, stdout=subprocess.PIPE, text=True)
        results.setdefault(name, []).append(json.loads(done.stdout))
    return results


def commit(checkout: Path) -> str | None:
    """The checkout's commit (``None`` outside git): what the JSON names each pass by."""
    done = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return done.stdout.strip() or None


#: The columns of each table: heading, width, and the cell of a row as printed.
Column = tuple[str, int, Callable[[dict[str, Any]], str]]
FOLD_COLUMNS: list[Column] = [
    ("items", 9, lambda row: f"{row['items']:,}"), ("edges", 11, lambda row: f"{row['edges']:,}"),
    ("first s", 8, lambda row: f"{row['first_s']:.2f}"),
    ("(system)", 8, lambda row: f"{row['first_system_s']:.2f}"),
    ("best s", 7, lambda row: f"{row['best_s']:.2f}"),
    ("(system)", 8, lambda row: f"{row['best_system_s']:.2f}"),
    ("grow", 6, lambda row: f"{row['best_steps_s']['grow']:.2f}"),
    ("served", 7, lambda row: f"{row['best_steps_s']['served']:.2f}"),
    ("folded MB", 9, lambda row: f"{row['folded_mb']:,}")]
SERVER_COLUMNS: list[Column] = [
    ("items", 9, lambda row: f"{row['items']:,}"), ("round", 5, lambda row: str(row["round"])),
    ("workers", 7, lambda row: str(len(row["workers"]))),
    ("CPU s", 7, lambda row: f"{row['total_cpu_s']:.2f}"),
    ("(system)", 8, lambda row: f"{sum(each['system_s'] for each in row['workers']):.2f}"),
    ("last done s", 11, lambda row: f"{row['last_wall_s']:.2f}"),
    ("private MB", 10, lambda row: f"{row['total_private_mb']:,.0f}"),
    ("PSS MB", 8, lambda row: f"{row['total_pss_mb']:,.0f}")]


def table(results: dict[str, list[list[dict[str, Any]]]], columns: list[Column]) -> None:
    """A row per pass and factor (and round)."""
    print(f"{'checkout':<9} {'x':>3} " + " ".join(f"{name:>{width}}" for name, width, _ in columns))
    for name, runs in results.items():
        for run in runs:
            for row in run:
                print(f"{name:<9} {row['grow']:>3} "
                      + " ".join(f"{cell(row):>{width}}" for _, width, cell in columns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--grow", type=int, nargs="+", default=[1, 5, 20])
    parser.add_argument("--new", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0,
                        help="fold in with this many forked workers at once (0: one, timed alone)")
    parser.add_argument("--baseline", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--one-pass", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_pass:
        print(json.dumps(measure(args.artifact, args.grow, args.new, args.repeats, args.seed,
                                 args.workers)))
        return
    results = passes(args)
    table(results, SERVER_COLUMNS if args.workers else FOLD_COLUMNS)
    if args.out:
        args.out.write_text(json.dumps({
            "model": artifact.load(args.artifact).version, "new": args.new,
            "repeats": args.repeats, "seed": args.seed, "workers": args.workers,
            "commits": {"this": commit(HERE.parents[1]),
                        "baseline": None if args.baseline is None else commit(args.baseline)},
            "passes": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
