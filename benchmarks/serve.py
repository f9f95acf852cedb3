"""HTTP service benchmark: gunicorn with web/gunicorn.conf.py against the local store, driven by
wrk.

Needs a store holding the catalogue ``--data`` names and a model trained on it under
GRAPHREC_HOME, and ``wrk`` on PATH (Debian/Ubuntu:
``apt-get install -y wrk``; macOS: ``brew install wrk``): a load generator written in C, so that
on a small machine the client takes little of the CPU the server is measured on.

Starts gunicorn on 127.0.0.1 with the checked-in configuration and, for each endpoint, runs wrk
over ``--connections`` keep-alive connections twice:

* ``at_rate``: requests paced to ``--rate`` per second in all (the goal: that rate with p99 at
  most ``--p99-goal`` ms). Latency is the server's while it keeps up; when it cannot, the rate
  reached falls short of the rate asked for, and the run says so.
* ``saturated``: every connection sends its next request as soon as the last one is answered:
  the most the server answers per second. Latencies here follow from the queue the connections
  build (mean latency = connections / rate), so they are not the goal's p99.

It does so for two kinds of traffic, each on a server of its own:

* ``first_visits``: the reason cache off (``GRAPHREC_REASON_CACHE_SIZE=0``), so every request
  ranks its reason paths, as for a user not seen lately. Recommendations cycle through the first
  ``--users`` users of the catalogue's purchases, explanations through each of the first 100
  users' top 5.
* ``repeat_visits``: the checked-in configuration, the first 100 users only, after their pages
  were asked for until every worker keeps their reasons: a page seen again, and the explanation
  clicked on a page just seen.

``--data`` is the catalogue's folder, the users' source: the full Beauty catalogue
(``../shared/datasets/amazon_beauty``) by default, in a home where it is ingested and trained
(``graphrec ingest``, ``graphrec train``); ``--data graphrec/sample/beauty`` is the quick mode,
on the bundled sample (``graphrec serve`` on an empty home prepares it). Prints a table and
writes benchmarks/results/serve-<catalogue>.json (serve-beauty.json), serve.json for the
sample.

    python benchmarks/serve.py [--data DIR] [--rate 500] [--seconds 15] [--connections 50]
                               [--baseline DIR]   # also measure the checkout in DIR, first
                               [--abba]           # ... and both again, in the other order

Each wrk run also says where the cores went: CPU milliseconds a request of the server
(gunicorn's master and workers), of the store (the local store's process; none when
``NEO4J_URI`` names another machine), of wrk, and of the machine in all (``cpu_ms_per_request``:
what the three leave of the machine's total is other work, a noisy machine's sign).

``--baseline`` runs another checkout's server (its own code and gunicorn.conf.py, e.g. a
``git worktree`` of an older commit) against the same store and model, in the same run: each
kind of traffic on the baseline first and then on this checkout (``baseline`` holds its first
visits, ``baseline_repeat_visits`` its repeats), so that both see the machine's load of the same
minutes. The server measured second has been seen to do worse than the first, whichever code
it ran (the p99 at 500 req/s doubled), so ``--abba`` measures each kind four times: the
baseline, this checkout, this checkout again, the baseline again (the second passes under
``_2`` labels), which puts each in both places.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import platform
import resource
import runpy
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.datasets import BEAUTY
from benchmarks.server import get_json, start_server, stop_server
from graphrec.config import Settings
from graphrec.evaluation.benchmark import catalogue_name
from graphrec.store.local import LocalStore
from web.serve import settings_env

RESULTS = ROOT / "benchmarks" / "results"
SAMPLE = ROOT / "graphrec" / "sample" / "beauty"
SCRIPT = ROOT / "benchmarks" / "serve.lua"
ENDPOINTS = ("recommendations", "explanations")
RUNS = ("first_visits", "repeat_visits")
WRK_MISSING = ("benchmarks/serve.py drives the server with wrk, which is not on PATH: install it "
               "(Debian/Ubuntu: apt-get install -y wrk; macOS: brew install wrk)")


def catalogue_users(data: Path, limit: int) -> list[str]:
    """The first ``limit`` users of a catalogue's purchases, in the file's order."""
    users: dict[str, None] = {}
    with gzip.open(data / "purchases.csv.gz", "rt") as fh:
        for row in csv.DictReader(fh):
            users[row["user_id"]] = None
            if len(users) == limit:
                break
    return list(users)


def sample_users(limit: int) -> list[str]:
    return catalogue_users(SAMPLE, limit)


def default_out(data: Path) -> Path:
    """serve.json for the bundled sample, serve-<catalogue>.json for any other."""
    if data.resolve() == SAMPLE.resolve():
        return RESULTS / "serve.json"
    return RESULTS / f"serve-{catalogue_name(data)}.json"


def request_paths(url: str, users: list[str]) -> dict[str, list[str]]:
    """The request paths of each endpoint, in the order wrk cycles through them."""
    pairs = []
    for user in users[:100]:
        body = get_json(f"{url}/api/users/{user}/recommendations?k=5")
        pairs += [(user, rec["item_id"]) for rec in body["recommendations"]]
    return {"recommendations": [f"/api/users/{u}/recommendations?k=10" for u in users],
            "explanations": [f"/api/users/{u}/recommendations/{i}/explanation" for u, i in pairs]}


class CpuMeter:
    """CPU seconds spent by the server's processes, the store's, wrk's and the whole machine's
    between two readings: where the cores went during a run."""

    def __init__(self, server: psutil.Process, store: psutil.Process | None):
        self.server, self.store = server, store

    @staticmethod
    def _seconds(process: psutil.Process) -> float:
        try:
            times = process.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return 0.0
        return times.user + times.system

    def read(self) -> dict[str, float]:
        machine = psutil.cpu_times()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once it has exited
        return {"server": sum(self._seconds(p) for p in
                              [self.server, *self.server.children(recursive=True)]),
                "store": self._seconds(self.store) if self.store is not None else 0.0,
                "wrk": children.ru_utime + children.ru_stime,
                "machine": machine.user + machine.nice + machine.system + machine.irq
                + machine.softirq}

    @staticmethod
    def per_request(before: dict[str, float], after: dict[str, float], requests: int
                    ) -> dict[str, float]:
        return {name: round(1000 * (after[name] - before[name]) / max(requests, 1), 3)
                for name in before}


def store_process(settings: Settings) -> psutil.Process | None:
    """The local store's process, when this machine runs it."""
    if settings.neo4j_uri:
        return None
    info = LocalStore(settings).running()
    return psutil.Process(info.pid) if info is not None else None


def wrk(url: str, paths_file: Path, seconds: float, connections: int, rate: float = 0,
        meter: CpuMeter | None = None) -> dict:
    """One wrk run (one thread: ample for this load, and it leaves the cores to the server);
    with ``meter``, the CPU milliseconds a request of each part (``cpu_ms_per_request``).

    Starts on an idle server: a saturated run before it leaves requests the server is still
    answering when wrk stops, which would otherwise count against this run's latencies."""
    wait_idle(url)
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
               "-s", str(SCRIPT), url, "--", str(paths_file), f"{rate:g}"]
    before = meter.read() if meter is not None else None
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    if meter is not None and before is not None:
        result["cpu_ms_per_request"] = meter.per_request(before, meter.read(),
                                                         result["requests"])
    result["req_per_s"] = round(result["requests"] / result["seconds"], 1)
    if rate:
        result["offered_req_per_s"] = rate
    return result


def wait_idle(url: str, quick_ms: float = 20, timeout: float = 30) -> None:
    """Until three health checks in a row answer within ``quick_ms``."""
    quick, deadline = 0, time.monotonic() + timeout
    while quick < 3 and time.monotonic() < deadline:
        started = time.perf_counter()
        get_json(f"{url}/api/health")
        quick = quick + 1 if (time.perf_counter() - started) * 1000 < quick_ms else 0
        time.sleep(0.2)


def server_config(env: dict[str, str], code: Path) -> dict:
    """The settings gunicorn takes from ``code``'s web/gunicorn.conf.py in ``env``."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        conf = runpy.run_path(str(code / "web" / "gunicorn.conf.py"))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {"workers": conf["workers"], "worker_class": conf.get("worker_class", "sync"),
            "threads": conf.get("threads", 1), "accesslog": conf.get("accesslog"),
            "reuse_port": conf.get("reuse_port", False)}


def measure(code: Path, settings: Settings, args: argparse.Namespace, tmp: Path,
            users: list[str], overrides: dict[str, str], fill: bool) -> dict:
    """Start ``code``'s server, warm it up, run wrk on each endpoint; returns the figures.

    ``fill``: first ask for the recommendations until passes get no faster (every worker then
    keeps the reasons of these users), see :func:`fill_caches`.
    """
    env = settings_env(settings)
    env["PYTHONPATH"] = str(code)
    env.update(overrides)
    for name, value in (("GRAPHREC_WEB_WORKERS", args.workers),
                        ("GRAPHREC_WEB_THREADS", args.threads)):
        if value:
            env[name] = str(value)
    proc, port, health = start_server(env, settings.home / f"serve-benchmark-{code.name}.log",
                                      code=code)
    url = f"http://127.0.0.1:{port}"
    try:
        files = {}
        for name, lines in request_paths(url, users).items():
            files[name] = tmp / f"{name}.txt"
            files[name].write_text("\n".join(lines) + "\n")
        for name in ENDPOINTS:  # every worker past its first requests
            wrk(url, files[name], 3, args.connections)
        out = {"code": describe_code(code), "server": server_config(env, code),
               "overrides": overrides, "users": len(users),
               "model_version": health["checks"]["model"]["version"]}
        if fill:
            out["fill"] = fill_caches(url, files["recommendations"], args)
        meter = CpuMeter(psutil.Process(proc.pid), store_process(settings))
        for name in ENDPOINTS:
            out[name] = {
                "at_rate": wrk(url, files[name], args.seconds, args.connections, args.rate,
                               meter),
                "saturated": wrk(url, files[name], args.seconds, args.connections,
                                 meter=meter),
            }
        return out
    finally:
        stop_server(proc)


def passes(kind: str, baseline: Path | None, abba: bool) -> list[tuple[str, Path]]:
    """The servers one kind of traffic is measured on, in order, with their labels in the
    report: the baseline's (when there is one) and this checkout's, then with ``abba`` the two
    again in the other order."""
    order = [(kind, ROOT)]
    if baseline is not None:
        order.insert(0, ("baseline" if kind == "first_visits" else f"baseline_{kind}", baseline))
        if abba:
            order += [(f"{name}_2", code) for name, code in reversed(order)]
    return order


def fill_caches(url: str, paths_file: Path, args: argparse.Namespace) -> dict:
    """Saturated passes of 5 s, at least four, until one is under 5 % faster than the one
    before (or ``--fill-seconds`` have passed)."""
    rates: list[float] = []
    started = time.monotonic()
    while time.monotonic() - started < args.fill_seconds:
        rates.append(wrk(url, paths_file, 5, args.connections)["req_per_s"])
        if len(rates) >= 4 and rates[-1] < 1.05 * rates[-2]:
            break
    return {"seconds": round(time.monotonic() - started, 1), "pass_req_per_s": rates}


def describe_code(code: Path) -> str:
    try:
        return subprocess.run(["git", "-C", str(code), "describe", "--always", "--dirty"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return str(code)


def write_report(out: Path, report: dict) -> None:
    """The benchmark's JSON, where the README's tables come from."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {out}")


def loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def verdict(result: dict, goal_rate: float, goal_p99: float) -> str:
    at = result["at_rate"]
    met = at["req_per_s"] >= 0.98 * goal_rate and at["p99_ms"] <= goal_p99 \
        and set(at["statuses"]) == {"200"}
    return "met" if met else "NOT met"


def print_table(report: dict, args: argparse.Namespace) -> None:
    machine = report["machine"]
    print(f"catalogue {report['data']}; {machine['cpus']} cpus, load average before "
          f"{machine['loadavg_before']} after "
          f"{machine['loadavg_after']}; wrk over {args.connections} keep-alive connections, "
          f"{args.seconds:g} s a run; goal {args.rate:g} req/s with p99 <= {args.p99_goal:g} ms")
    for label, run in report["runs"].items():
        server = run["server"]
        sockets = ("a listening socket per worker" if server.get("reuse_port")
                   else "one shared listening socket")
        print(f"\n{label}: {run['code']}, {run['users']} users; gunicorn {server['workers']} "
              f"workers x {server['threads']} threads ({server['worker_class']}), "
              f"{sockets}, "
              f"access log {server['accesslog'] or 'off'}"
              f"{''.join(f', {k}={v}' for k, v in run['overrides'].items())}")
        print(f"{'endpoint':<16} {'load':<14} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'max ms':>8}  {'CPU ms a request: server/store/wrk/machine':<44} statuses")
        for name in ENDPOINTS:
            for mode, load in (("at_rate", f"{args.rate:g}/s offered"), ("saturated", "saturated")):
                r = run[name][mode]
                errors = {k: v for k, v in r["socket_errors"].items() if v}
                cpu = r.get("cpu_ms_per_request")
                cpu_text = ("/".join(f"{cpu[part]:.2f}" for part in
                                     ("server", "store", "wrk", "machine")) if cpu else "-")
                print(f"{name:<16} {load:<14} {r['req_per_s']:>8.1f} {r['p50_ms']:>8.1f} "
                      f"{r['p99_ms']:>8.1f} {r['max_ms']:>8.1f}  {cpu_text:<44} {r['statuses']}"
                      f"{' socket errors ' + str(errors) if errors else ''}")
            if name == "explanations":  # the goal is the explanations'
                print(f"{'':<16} goal: {verdict(run[name], args.rate, args.p99_goal)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500, help="offered requests per second")
    parser.add_argument("--p99-goal", type=float, default=25, help="ms")
    parser.add_argument("--seconds", type=float, default=15, help="per wrk run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--data", type=Path, default=BEAUTY,
                        help="the catalogue's folder, whose users are asked for (default: the "
                             "full Beauty; graphrec/sample/beauty: the quick mode)")
    parser.add_argument("--users", type=int, default=1000, help="users of first visits")
    parser.add_argument("--fill-seconds", type=float, default=90,
                        help="at most this long filling the caches before repeat visits")
    parser.add_argument("--workers", type=int, help="GRAPHREC_WEB_WORKERS for this run")
    parser.add_argument("--threads", type=int, help="GRAPHREC_WEB_THREADS for this run")
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="another checkout to measure first, e.g. a git worktree of an "
                             "older commit")
    parser.add_argument("--abba", action="store_true",
                        help="with --baseline: the baseline, this checkout, this checkout, the "
                             "baseline, for each kind of traffic (cancels the order's effect)")
    parser.add_argument("--runs", nargs="+", choices=RUNS, default=list(RUNS),
                        help="which kinds of traffic to measure (default: both)")
    parser.add_argument("--out", type=Path,
                        help="default: benchmarks/results/serve-<catalogue>.json, serve.json "
                             "for the sample")
    args = parser.parse_args()
    if args.abba and not args.baseline:
        parser.error("--abba compares with a --baseline")
    if not (args.data / "purchases.csv.gz").is_file():
        print(f"{args.data}: no purchases.csv.gz (--data names a catalogue's folder)",
              file=sys.stderr)
        return 2
    if shutil.which("wrk") is None:
        print(WRK_MISSING, file=sys.stderr)
        return 1

    settings = Settings.from_env()
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_before": loadavg()},
        "load": {"generator": "wrk, 1 thread, keep-alive", "connections": args.connections,
                 "seconds": args.seconds, "rate": args.rate},
        "goal": {"req_per_s": args.rate, "p99_ms": args.p99_goal},
        "data": catalogue_name(args.data),
        "runs": {}}
    runs = report["runs"]
    first_visits = {"GRAPHREC_REASON_CACHE_SIZE": "0"}
    users = catalogue_users(args.data, max(args.users, 100))
    kinds = {"first_visits": (users[:args.users], first_visits, False),
             "repeat_visits": (users[:100], {}, True)}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.runs:  # each kind on its servers in turn (:func:`passes`)
            users, overrides, fill = kinds[kind]
            for name, code in passes(kind, args.baseline and args.baseline.resolve(),
                                     args.abba):
                runs[name] = measure(code, settings, args, Path(tmp), users, overrides, fill)
    report["machine"]["loadavg_after"] = loadavg()
    print_table(report, args)
    write_report(args.out or default_out(args.data), report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
