"""Ingest speed: our batched MERGE load against its ceiling and its naive form, on one server.

Three ways of writing the same rows, in one run against the same store:

* ``batched MERGE``: what ``graphrec ingest`` does (``UNWIND $rows ... MERGE``), full catalogue,
  into an empty database; then the same load again (the idempotent re-run).
* ``batched CREATE``: the ceiling for this path: each statement with ``CREATE`` in place of
  ``MERGE`` (no existence check), the same batches, into an empty database.
* ``one MERGE per row``: the same statements sent with one row each, timed on the first
  ``--single-rows`` rows of every step (the nodes the relationships MATCH are loaded, untimed,
  in between, so every timed row does its full work).
* ``lookups only``: the relationship statements cut before their MERGE (``RETURN count(*)``):
  the two index lookups every relationship row needs, without writing anything. No way of
  writing those rows can beat it.

Prints a table and writes JSON (default ``benchmarks/results/ingest.json``). The database
named by the environment is emptied: never point this at a store whose data you need.
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.datasets import BEAUTY  # noqa: E402
from graphrec.config import Settings  # noqa: E402
from graphrec.store.connection import GraphStore, open_store  # noqa: E402
from ingest.detect import read_catalogue  # noqa: E402
from ingest.loader import Step, batches, load, plan  # noqa: E402


def as_create(steps: list[Step]) -> list[Step]:
    """The same statements with CREATE instead of MERGE (``ON CREATE SET`` has no CREATE form)."""
    return [replace(s, statement=re.sub(r"\bMERGE\b", "CREATE", s.statement))
            for s in steps if "ON CREATE" not in s.statement]


def timed_load(store: GraphStore, steps: list[Step], batch_size: int) -> dict[str, float]:
    started = time.perf_counter()
    report = load(store, steps, batch_size=batch_size)
    seconds = time.perf_counter() - started
    return {"rows": report.total_rows, "created": report.total_created, "seconds": seconds,
            "rows_per_s": report.total_rows / seconds}


def single_rows(store: GraphStore, steps: list[Step], per_step: int) -> dict[str, float]:
    store.clear()
    nodes = [s for s in steps if s.creates == "nodes"]
    rels = [s for s in steps if s.creates == "relationships"]
    first = timed_load(store, [replace(s, rows=s.rows[:per_step]) for s in nodes], 1)
    load(store, nodes)
    second = timed_load(store, [replace(s, rows=s.rows[:per_step]) for s in rels], 1)
    rows, seconds = first["rows"] + second["rows"], first["seconds"] + second["seconds"]
    return {"rows": rows, "created": first["created"] + second["created"], "seconds": seconds,
            "rows_per_s": rows / seconds}


def lookups_only(store: GraphStore, steps: list[Step], batch_size: int) -> dict[str, float]:
    """Read-only: each relationship statement up to its MERGE, on the loaded graph."""
    rows, started = 0, time.perf_counter()
    for step in (s for s in steps if s.creates == "relationships"):
        query = step.statement.split("MERGE")[0] + "RETURN count(*) AS n"
        for batch in batches(step.rows, batch_size):
            store.read_text(query, rows=batch)
        rows += len(step.rows)
    seconds = time.perf_counter() - started
    return {"rows": rows, "created": 0, "seconds": seconds, "rows_per_s": rows / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=BEAUTY)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--single-rows", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=2,
                        help="alternate the MERGE and CREATE loads this often; keep the best")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ingest.json"))
    args = parser.parse_args()

    catalogue = read_catalogue(args.data)
    steps, _ = plan(catalogue)
    with open_store(Settings.from_env()) as store:
        print(f"store: {store.description}; {sum(len(s.rows) for s in steps):,} rows")
        runs: dict[str, list[dict[str, float]]] = {}
        for _ in range(args.repeat):  # alternated, so that load from elsewhere hits both
            store.clear()
            runs.setdefault("batched MERGE", []).append(timed_load(store, steps, args.batch_size))
            runs.setdefault("batched MERGE, re-run", []).append(
                timed_load(store, steps, args.batch_size))
            runs.setdefault("lookups only (no write)", []).append(
                lookups_only(store, steps, args.batch_size))
            store.clear()
            runs.setdefault("batched CREATE (ceiling)", []).append(
                timed_load(store, as_create(steps), args.batch_size))
            runs.setdefault("one MERGE per row", []).append(
                single_rows(store, steps, args.single_rows))
        results = {name: max(r, key=lambda x: x["rows_per_s"]) for name, r in runs.items()}
        store.clear()

    merge = results["batched MERGE"]["rows_per_s"]
    summary = {
        "merge_vs_create": merge / results["batched CREATE (ceiling)"]["rows_per_s"],
        "merge_vs_single_row": merge / results["one MERGE per row"]["rows_per_s"],
    }
    print(f"best of {args.repeat} runs each")
    print(f"{'method':<26} {'rows':>10} {'seconds':>9} {'rows/s':>10}")
    for name, r in results.items():
        print(f"{name:<26} {r['rows']:>10,} {r['seconds']:>9.1f} {r['rows_per_s']:>10,.0f}")
    print(f"batched MERGE = {summary['merge_vs_create']:.0%} of the CREATE ceiling (goal 80%), "
          f"{summary['merge_vs_single_row']:.0f}x one MERGE per row (goal 50x)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "data": str(args.data), "batch_size": args.batch_size, "repeat": args.repeat,
        "results": results, "all_runs": runs,
        "summary": summary, "machine": {"cpus": __import__("os").cpu_count(),
                                        "python": platform.python_version()},
    }, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
