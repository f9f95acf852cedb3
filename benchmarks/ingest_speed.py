"""Ingest speed: our batched MERGE load against its ceiling and its naive form, on one server.

Three ways of writing the same rows, in one run against the same store:

* ``batched MERGE``: what ``graphrec ingest`` does (``UNWIND $rows ... MERGE``), full catalogue,
  into an empty database; then the same load again (the idempotent re-run).
* ``batched CREATE``: the ceiling for this path: each statement with ``CREATE`` in place of
  ``MERGE`` (no existence check), the same batches, into an empty database.
* ``one MERGE per row``: the same statements sent with one row each, timed on the first
  ``--single-rows`` rows of every step (nodes before the relationships that need them).

Prints a table and writes JSON (default ``benchmarks/results/ingest.json``). The database
named by the environment is emptied: never point this at a store whose data you need.
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import time
from dataclasses import replace
from pathlib import Path

from graphrec.config import Settings
from graphrec.store import GraphStore, open_store
from ingest.detect import read_catalogue
from ingest.loader import Step, load, plan

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "amazon_beauty"


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
    sample = [replace(s, rows=s.rows[:per_step]) for s in steps]
    return timed_load(store, sample, batch_size=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--single-rows", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ingest.json"))
    args = parser.parse_args()

    catalogue = read_catalogue(args.data)
    steps, _ = plan(catalogue)
    results: dict[str, dict[str, float]] = {}
    with open_store(Settings.from_env()) as store:
        print(f"store: {store.description}; {sum(len(s.rows) for s in steps):,} rows")
        store.clear()
        results["batched MERGE"] = timed_load(store, steps, args.batch_size)
        results["batched MERGE, re-run"] = timed_load(store, steps, args.batch_size)
        store.clear()
        results["batched CREATE (ceiling)"] = timed_load(store, as_create(steps), args.batch_size)
        results["one MERGE per row"] = single_rows(store, steps, args.single_rows)
        store.clear()

    merge = results["batched MERGE"]["rows_per_s"]
    summary = {
        "merge_vs_create": merge / results["batched CREATE (ceiling)"]["rows_per_s"],
        "merge_vs_single_row": merge / results["one MERGE per row"]["rows_per_s"],
    }
    print(f"{'method':<26} {'rows':>10} {'seconds':>9} {'rows/s':>10}")
    for name, r in results.items():
        print(f"{name:<26} {r['rows']:>10,} {r['seconds']:>9.1f} {r['rows_per_s']:>10,.0f}")
    print(f"batched MERGE = {summary['merge_vs_create']:.0%} of the CREATE ceiling (goal 80%), "
          f"{summary['merge_vs_single_row']:.0f}x one MERGE per row (goal 50x)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "data": str(args.data), "batch_size": args.batch_size, "results": results,
        "summary": summary, "machine": {"cpus": __import__("os").cpu_count(),
                                        "python": platform.python_version()},
    }, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
