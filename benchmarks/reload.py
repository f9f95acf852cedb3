"""Serving through a retrain and a killed worker: a paced load, every answer kept.

Needs a store holding the sample catalogue and a trained model under GRAPHREC_HOME (``graphrec
serve`` on an empty home prepares both). Starts gunicorn with web/gunicorn.conf.py on 127.0.0.1
and sends recommendation requests for the first 100 sample users at ``--rate`` per second
while

1. at ``--train-at`` seconds, ``graphrec train --epochs 2 --seed S`` runs in the same home and
   replaces the model (the workers find it within a second or two and load it in the
   background); S differs from run to run, since the same seed on the same data gives the same
   weights, hence the same model version, and no answer would show the switch;
2. ``--kill-after`` seconds after the new model is in place, one worker is killed with SIGKILL
   (gunicorn starts another, which loads the model before it answers);
3. the load goes on for ``--window`` seconds more, then stops (after ``--max-seconds`` in any
   case: a machine too busy to train in that time ends the run without the kill).

Every answer is kept with the model version that gave it. The report counts answers by status
class and requests that got no answer, and gives the latency (from when each request was due)
in windows: before the retrain, while training ran, the reload window (from the new artifact
until the last answer from the old model, and at least ``--window`` seconds), after the kill
(``--window`` seconds) and the rest, and each second's; and how long both models answered, from
the first answer of the new one to the last of the old. A GET that finds its keep-alive
connection closed is sent again on a fresh one, as HTTP clients do; the report says how many
were.

Prints the figures and writes benchmarks/results/reload.json.

    python benchmarks/reload.py [--rate 200] [--train-at 5] [--kill-after 10] [--window 5]
"""
from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import paced
from benchmarks.serve import loadavg, sample_users, write_report
from benchmarks.server import start_server, stop_server
from graphrec.config import Settings
from web.engine import artifact_signature
from web.serve import migrate_req, settings_env

RESULTS = ROOT / "benchmarks" / "results" / "reload.json"


def workers_of(master: int) -> list[int]:
    """The gunicorn master's worker processes (its children)."""
    text = Path(f"/proc/{master}/task/{master}/children").read_text()
    return [int(pid) for pid in text.split()]


class Timeline:
    """When each step happened, in seconds after the load started."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.marks: dict[str, float] = {}

    def mark(self, name: str) -> None:
        self.marks[name] = round(time.monotonic() - self.start, 2)


def drive(args: argparse.Namespace, env: dict[str, str], master: int, workers: int,
          timeline: Timeline, artifact: Path, until: paced.Until) -> dict:
    """Retrain, wait for the new artifact, kill a worker, wait a window: the steps, in their
    own thread; then (or when a step fails) the load is told to end."""
    steps: dict = {}
    try:
        time.sleep(args.train_at)
        before = artifact_signature(artifact)
        timeline.mark("train_started")
        try:
            train = subprocess.run([sys.executable, "-m", "graphrec.cli", "train", "--epochs",
                                    "2", "--seed", str(args.seed)], env=env,
                                   capture_output=True, text=True, check=False,
                                   timeout=args.max_seconds)
        except subprocess.TimeoutExpired:
            steps["train_exit"] = f"still training after {args.max_seconds:g} s"
            return steps
        timeline.mark("train_exited")
        steps["train_exit"] = train.returncode
        steps["train_said"] = (train.stdout.strip().splitlines() or [""])[-1]
        if artifact_signature(artifact) == before:
            return steps
        age = time.time() - (artifact / "manifest.json").stat().st_mtime
        timeline.marks["artifact_replaced"] = round(time.monotonic() - timeline.start - age, 2)
        time.sleep(args.kill_after)
        steps.update(kill_a_worker(master, workers, timeline))
        time.sleep(args.window)
        return steps
    finally:
        until.end_now()


def kill_a_worker(master: int, workers: int, timeline: Timeline) -> dict:
    """SIGKILL one worker; returns when gunicorn has started its replacement (at most 60 s)."""
    victim = workers_of(master)[0]
    os.kill(victim, signal.SIGKILL)
    timeline.mark("worker_killed")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and victim in workers_of(master):
        time.sleep(0.1)
    while time.monotonic() < deadline and len(workers_of(master)) < workers:
        time.sleep(0.1)
    timeline.mark("worker_respawned")
    return {"killed_pid": victim}


def windows(outcomes: list[paced.Outcome], marks: dict[str, float], old: str,
            window: float, seconds: float) -> dict[str, dict]:
    """Latency and answers in each phase of the run (see the module's docstring)."""
    replaced = marks.get("artifact_replaced", seconds)
    new = [o.due for o in outcomes if o.due >= replaced
           and o.body.get("model_version") not in (None, old)]
    last_old = max((o.due for o in outcomes if o.body.get("model_version") == old
                    and o.due >= replaced), default=replaced) if new else replaced
    reload_end = max(last_old, replaced + window)
    killed = marks.get("worker_killed", seconds)
    bounds = {"before_retrain": (0, marks.get("train_started", seconds)),
              "training": (marks.get("train_started", seconds), replaced),
              "reload_window": (replaced, reload_end),
              "after_kill": (killed, killed + window)}
    out = {}
    for name, (low, high) in bounds.items():
        inside = [o for o in outcomes if low <= o.due < high]
        out[name] = {"from_s": round(low, 2), "to_s": round(high, 2), **paced.summary(inside)}
    taken = [(low, high) for low, high in bounds.values()]
    rest = [o for o in outcomes if not any(low <= o.due < high for low, high in taken)]
    out["rest"] = paced.summary(rest)
    return out


def two_models(outcomes: list[paced.Outcome], old: str) -> dict[str, float | int | None]:
    """When the server answered from both models: from the first answer of the new one to the
    last of the old (by when each request was due), and how many old answers came after the
    first new one. The workers switch together, so this is about a request's time."""
    first_new = min((o.due for o in outcomes if o.body.get("model_version") not in (None, old)),
                    default=None)
    if first_new is None:
        return {"first_new_s": None, "last_old_s": None, "seconds": 0.0, "old_answers_after": 0}
    later_old = [o.due for o in outcomes
                 if o.body.get("model_version") == old and o.due > first_new]
    return {"first_new_s": round(first_new, 3),
            "last_old_s": round(max(later_old), 3) if later_old else None,
            "seconds": round(max(later_old) - first_new, 3) if later_old else 0.0,
            "old_answers_after": len(later_old)}


def per_second(outcomes: list[paced.Outcome]) -> list[dict]:
    """Each second of the run (by when its requests were due): requests, p50 and p99, so that
    the slow answers can be set beside the marks and the server's log."""
    seconds: dict[int, list[paced.Outcome]] = {}
    for o in outcomes:
        seconds.setdefault(int(o.due), []).append(o)
    return [{"second": second, **{key: run[key] for key in ("requests", "p50_ms", "p99_ms")}}
            for second, run in ((s, paced.summary(seconds[s])) for s in sorted(seconds))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200, help="requests per second")
    parser.add_argument("--max-seconds", type=float, default=300, help="the load stops then "
                                                                       "at the latest")
    parser.add_argument("--train-at", type=float, default=5, help="seconds into the load")
    parser.add_argument("--kill-after", type=float, default=10,
                        help="seconds after the new model is in place")
    parser.add_argument("--window", type=float, default=5, help="seconds of the reload and "
                                                                "kill windows, at least")
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000,
                        help="of the retraining (default: from the clock)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    settings = Settings.from_env()
    env = settings_env(settings)
    env["PYTHONPATH"] = str(ROOT)
    users = sample_users(100)
    report = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "loadavg_before": loadavg(),
                          # at 0, connections queued on the killed worker's socket are reset
                          "tcp_migrate_req": migrate_req()},
              "load": {"rate": args.rate, "train_seed": args.seed,
                       "requests": "GET /api/users/<one of 100 sample users>/recommendations",
                       "client": "paced Python threads, keep-alive, latency from when due"}}
    pauses: list[float] = []  # the load generator's own garbage collections (ms)
    proc, port, _ = start_server(env, settings.home / "reload-benchmark.log")
    try:
        workers = report["workers"] = len(workers_of(proc.pid))

        def request_for(i: int) -> paced.Request:
            return "GET", f"/api/users/{users[i % len(users)]}/recommendations", None, {}

        paced.run(port, request_for, rate=args.rate, seconds=5)  # every worker past its first
        old = paced.run(port, request_for, rate=10, seconds=0.5)[0].body["model_version"]
        timeline = Timeline(time.monotonic())
        steps: dict = {}
        until = paced.Until(args.max_seconds, timeline.start)
        driver = threading.Thread(target=lambda: steps.update(
            drive(args, env, proc.pid, workers, timeline, settings.model_path, until)))
        driver.start()
        outcomes = paced.run(port, request_for, rate=args.rate, seconds=args.max_seconds,
                             start=timeline.start, until=until, pauses=pauses)
        driver.join(args.max_seconds)
    finally:
        stop_server(proc)
    marks = timeline.marks
    versions: dict[str, int] = {}
    for o in outcomes:
        version = o.body.get("model_version", "none")
        versions[version] = versions.get(version, 0) + 1
    report.update({"old_model": old, "versions_answering": versions, "steps": steps,
                   "marks_s": marks, "two_models": two_models(outcomes, old),
                   "all": paced.summary(outcomes),
                   "seconds": round(outcomes[-1].due, 1) if outcomes else 0,
                   "windows": windows(outcomes, marks, old, args.window,
                                      outcomes[-1].due + 1 if outcomes else 0),
                   "per_second": per_second(outcomes),
                   "client_gc": {"collections": len(pauses),
                                 "total_ms": round(sum(pauses), 1),
                                 "max_ms": round(max(pauses, default=0.0), 1)},
                   "failures": [vars(o) for o in outcomes
                                if not o.status or o.status >= 500][:20]})
    report["machine"]["loadavg_after"] = loadavg()
    print(f"net.ipv4.tcp_migrate_req: {report['machine']['tcp_migrate_req']}; marks (s): {marks}")
    print(f"answers by model version: {versions}; both answering: {report['two_models']}")
    print(f"the load generator's own garbage collections: {report['client_gc']}")
    for name, run in {"all": report["all"], **report["windows"]}.items():
        print(f"{name:15} {run['requests']:6} requests  {run['answers']}  retried "
              f"{run['retried']}  p50 {run['p50_ms']} / p99 {run['p99_ms']} / max "
              f"{run['max_ms']} ms")
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
