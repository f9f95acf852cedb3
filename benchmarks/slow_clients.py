"""Slow clients against the HTTP service: do health checks and pages still answer?

Each slow client opens a connection to the service and sends a request head one header line at
a time, a line every ``--interval`` seconds, never finishing it (a "slow loris"); a connection
the server closes is opened again at once. While ``--clients`` of them are open, fresh
connections ask for ``/api/health`` and for recommendations, ``--probes`` of each at
``--probe-rate`` per second, each given ``--probe-timeout`` seconds; the latencies of the
answers and the count of requests left unanswered are reported, and first the same requests
with no slow client open. Everything on 127.0.0.1, for a bounded time.

Needs a store holding the sample catalogue and a trained model under GRAPHREC_HOME (as
``benchmarks/serve.py``). ``--baseline DIR`` measures another checkout's server first in the
same run (its own code and gunicorn.conf.py), against the same store and model.

    python benchmarks/slow_clients.py [--clients 100] [--baseline DIR]

Prints a table and writes benchmarks/results/slow_clients.json.
"""
from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Self

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.serve import (  # noqa: E402 (after the path above)
    describe_code,
    loadavg,
    sample_users,
    write_report,
)
from benchmarks.server import free_port, wait_ready  # noqa: E402
from graphrec.config import Settings  # noqa: E402
from web.serve import settings_env  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "slow_clients.json"


class SlowClients:
    """``count`` connections to ``host:port`` that send a request head a line every
    ``interval`` seconds and never end it, from one thread, until :meth:`stop` or the context
    exits; ``reopened`` counts the connections the server closed (each is opened again),
    ``lines`` the header lines each connection has sent after its first two."""

    def __init__(self, host: str, port: int, count: int, interval: float = 2.0):
        self.address, self.count, self.interval = (host, port), count, interval
        self.reopened = self.lines = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._socks: list[socket.socket] = []

    def _open(self) -> socket.socket:
        conn = socket.create_connection(self.address, timeout=5)
        conn.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        conn.setblocking(False)
        return conn

    def _run(self) -> None:
        self._socks = [self._open() for _ in range(self.count)]
        line = 0
        while not self._stop.wait(self.interval):
            line += 1
            for n, conn in enumerate(self._socks):
                try:
                    conn.send(f"X-Slow-{line}: {line}\r\n".encode())
                    if conn.recv(4096, socket.MSG_PEEK) == b"":
                        raise ConnectionResetError
                except BlockingIOError:
                    continue
                except OSError:
                    conn.close()
                    try:
                        self._socks[n] = self._open()
                    except OSError:  # the server has gone: nothing to hold any more
                        return
                    self.reopened += 1
            self.lines = line

    def __enter__(self) -> Self:
        self._thread.start()
        deadline = time.monotonic() + 30
        while len(self._socks) < self.count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for conn in self._socks:
            conn.close()


def timed_get(host: str, port: int, path: str, timeout: float) -> float | None:
    """Seconds a GET of ``path`` on a fresh connection took to answer; None when it did not
    answer within ``timeout`` (or failed)."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        conn.getresponse().read()
    except OSError:
        return None
    finally:
        conn.close()
    seconds = time.perf_counter() - started
    return seconds if seconds <= timeout else None


def probe(host: str, port: int, paths: list[str], rate: float,
          timeout: float) -> list[float | None]:
    """One GET per path, started at ``rate`` per second whatever the answers' delays."""
    with ThreadPoolExecutor(max_workers=max(1, int(rate * timeout) + 1)) as pool:
        futures = []
        for path in paths:
            futures.append(pool.submit(timed_get, host, port, path, timeout))
            time.sleep(1 / rate)
        return [f.result() for f in futures]


def summary(latencies: list[float | None]) -> dict:
    answered = sorted(s * 1000 for s in latencies if s is not None)
    out = {"requests": len(latencies), "unanswered": len(latencies) - len(answered)}
    if len(answered) == len(latencies) and answered:
        out.update(p50_ms=round(answered[len(answered) // 2], 1),
                   p99_ms=round(answered[min(len(answered) - 1, int(0.99 * len(answered)))], 1),
                   max_ms=round(answered[-1], 1))
    return out


def measure(code: Path, settings: Settings, args: argparse.Namespace) -> dict:
    env = settings_env(settings)
    env.update(PYTHONPATH=str(code), GRAPHREC_WEB_ACCESSLOG="off")
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--config", str(code / "web" / "gunicorn.conf.py"),
               "--bind", f"127.0.0.1:{port}", "--chdir", str(code), "web:create_app()"]
    users = sample_users(args.probes)
    paths = {"health": ["/api/health"] * args.probes,
             "recommendations": [f"/api/users/{u}/recommendations?k=10" for u in users]}
    log_path = settings.home / f"slow-clients-{code.name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_ready(f"http://127.0.0.1:{port}", proc)
            for path in paths["recommendations"]:  # every worker past its first requests
                timed_get("127.0.0.1", port, path, 30)
            out = {"code": describe_code(code), "quiet": {}, "slow_clients": {}}
            for name, batch in paths.items():
                out["quiet"][name] = summary(probe("127.0.0.1", port, batch, args.probe_rate,
                                                   args.probe_timeout))
            with SlowClients("127.0.0.1", port, args.clients, args.interval) as slow:
                time.sleep(2 * args.interval)
                for name, batch in paths.items():
                    out["slow_clients"][name] = summary(
                        probe("127.0.0.1", port, batch, args.probe_rate, args.probe_timeout))
            out["slow_clients"]["reopened"] = slow.reopened
            return out
        finally:
            proc.terminate()
            proc.wait(30)


def print_table(report: dict, args: argparse.Namespace) -> None:
    print(f"{report['cpus']} cpus, load average before {report['loadavg_before']} after "
          f"{report['loadavg_after']}; {args.clients} slow clients (a header line every "
          f"{args.interval:g} s); {args.probes} probes of each endpoint at {args.probe_rate:g}/s, "
          f"{args.probe_timeout:g} s each")
    for label, run in report["runs"].items():
        print(f"\n{label}: {run['code']}")
        print(f"{'endpoint':<16} {'slow clients':>12} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
              f"{'unanswered':>10}")
        for phase, clients in (("quiet", 0), ("slow_clients", args.clients)):
            for name in ("health", "recommendations"):
                r = run[phase][name]
                figures = [f"{r[k]:>8.1f}" if k in r else f"{'-':>8}"
                           for k in ("p50_ms", "p99_ms", "max_ms")]
                print(f"{name:<16} {clients:>12} {' '.join(figures)} "
                      f"{r['unanswered']:>5} of {r['requests']}")
        print(f"slow connections the server closed (each opened again): "
              f"{run['slow_clients']['reopened']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between lines")
    parser.add_argument("--probes", type=int, default=200, help="requests of each endpoint")
    parser.add_argument("--probe-rate", type=float, default=20, help="requests per second")
    parser.add_argument("--probe-timeout", type=float, default=3.0, help="seconds")
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="another checkout to measure first, e.g. a git worktree of an "
                             "older commit")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    settings = Settings.from_env()
    report = {"cpus": os.cpu_count(), "loadavg_before": loadavg(), "runs": {}}
    if args.baseline:
        report["runs"]["baseline"] = measure(args.baseline.resolve(), settings, args)
    report["runs"]["this checkout"] = measure(ROOT, settings, args)
    report["loadavg_after"] = loadavg()
    print_table(report, args)
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
