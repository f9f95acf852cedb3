"""Write rate of feedback events: POST /api/users/<id>/events through gunicorn to the store.

Needs a store holding the sample catalogue and a trained model under GRAPHREC_HOME (``graphrec
serve`` on an empty home prepares both). Starts gunicorn with web/gunicorn.conf.py on 127.0.0.1
with a token made for the run (in the server's environment), then posts events for sample users
and catalogue items, 80 % views, 10 % dismissals and 10 % purchases, drawn with a fixed seed:

* ``saturated``: ``--connections`` clients, each posting again as soon as it is answered, for
  ``--seconds``: the most events per second the service writes;
* ``at_rate``: paced at ``--rate`` events per second for ``--seconds``: latency p50 / p99.

The events it wrote are removed afterwards (:func:`graphrec.serving.events.forget_since`).
Prints the figures and writes benchmarks/results/events.json.

    python benchmarks/events.py [--rate 100] [--seconds 10] [--connections 8]
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import secrets
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import paced
from benchmarks.serve import loadavg, sample_users, write_report
from benchmarks.server import start_server, stop_server
from graphrec.config import Settings
from graphrec.serving.events import forget_since, now_ms
from graphrec.store.connection import open_store
from web.serve import settings_env

RESULTS = ROOT / "benchmarks" / "results" / "events.json"
KINDS = ["view"] * 8 + ["dismiss", "purchase"]


def events(users: list[str], items: list[str], token: str, seed: int = 0):
    """request_for(i): the i-th event, the same for every run with the same seed."""
    draw = random.Random(seed)
    table = [(draw.choice(users), draw.choice(items), draw.choice(KINDS)) for _ in range(50_000)]
    headers = {"Authorization": f"Bearer {token}"}

    def request_for(i: int) -> paced.Request:
        user, item, kind = table[i % len(table)]
        return "POST", f"/api/users/{user}/events", {"item_id": item, "kind": kind}, headers
    return request_for


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100, help="paced events per second")
    parser.add_argument("--seconds", type=float, default=10, help="per run")
    parser.add_argument("--connections", type=int, default=8, help="clients when saturated")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    settings = Settings.from_env()
    token = secrets.token_urlsafe(32)
    env = settings_env(settings)
    env.update({"GRAPHREC_API_TOKEN": token, "PYTHONPATH": str(ROOT)})
    since = now_ms()
    report = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "loadavg_before": loadavg()},
              "mix": {"view": 0.8, "dismiss": 0.1, "purchase": 0.1}}
    with open_store(settings, start_local=False) as store:
        items = sorted(row["item_id"] for row in store.read("export/items"))
        proc, port, _ = start_server(env, settings.home / "events-benchmark.log")
        try:
            request_for = events(sample_users(1000), items, token)
            paced.run(port, request_for, rate=50, seconds=2, threads=4)  # warm up
            outcomes = paced.run(port, request_for, rate=0, seconds=args.seconds,
                                    threads=args.connections, saturate=True)
            report["saturated"] = {**paced.summary(outcomes), "connections": args.connections,
                                   "events_per_s": round(len(outcomes) / args.seconds, 1)}
            time.sleep(2)
            outcomes = paced.run(port, request_for, rate=args.rate, seconds=args.seconds)
            report["at_rate"] = {**paced.summary(outcomes), "offered_per_s": args.rate,
                                 "events_per_s": round(len(outcomes) / args.seconds, 1)}
        finally:
            stop_server(proc)
            removed = forget_since(store, since)
            report["removed_afterwards"] = removed
    report["machine"]["loadavg_after"] = loadavg()
    for name in ("saturated", "at_rate"):
        run = report[name]
        print(f"{name:10} {run['events_per_s']:8.1f} events/s  p50 {run['p50_ms']} ms  "
              f"p99 {run['p99_ms']} ms  answers {run['answers']}")
    print(f"removed the {removed} events written")
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
