"""How long a web worker takes to start, the CPU it spends doing so, and the memory it holds.

Needs a store and a trained model under GRAPHREC_HOME, as ``benchmarks/serve.py`` does. For
each checkout measured (``--baseline DIR`` first, then this one, alternately ``--rounds``
times) it starts gunicorn with ``web/gunicorn.conf.py`` and ``--workers`` workers on
127.0.0.1 and records:

* ``server_ready_s``: from launching gunicorn to its first healthy answer (``/api/health``);
* each worker's resident memory once the server is ready, from ``/proc/PID/smaps_rollup``:
  RSS, PSS (shared pages divided among the processes sharing them) and private (the pages
  that are its alone); the master's too;
* ``restarts``: ``--restarts`` times, one worker killed with SIGKILL and its replacement
  timed from the moment its process started (``/proc/PID/stat``) until it listens on the
  port (a worker opens its socket only once it has loaded the model, :mod:`web.worker`), and
  the CPU seconds it used until then (user + system). The CPU time is the figure a loaded
  machine changes least.

Prints a table and writes benchmarks/results/worker_start.json.

    python benchmarks/worker_start.py [--baseline DIR] [--workers 4] [--restarts 3]
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.serve import describe_code, loadavg, write_report
from benchmarks.server import free_port, get_json
from graphrec.config import Settings
from web.serve import settings_env

RESULTS = ROOT / "benchmarks" / "results" / "worker_start.json"
TICKS = os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The processes ``pid`` forked (gunicorn's master: its workers)."""
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def memory_mb(pid: int) -> dict[str, float]:
    """RSS, PSS and private memory of a process, MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0]) / 1024
    return {"rss": round(fields["Rss"], 1), "pss": round(fields["Pss"], 1),
            "private": round(fields["Private_Clean"] + fields["Private_Dirty"], 1)}


def started_and_cpu(pid: int) -> tuple[float, float]:
    """When the process started (seconds since boot) and the CPU seconds it has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # after the command's ")": field 3 is the state, so utime (14) is index 11
    utime, stime, start = int(fields[11]), int(fields[12]), int(fields[19])
    return start / TICKS, (utime + stime) / TICKS


def uptime() -> float:
    return float(Path("/proc/uptime").read_text().split()[0])


def listening_inodes(port: int) -> set[str]:
    """The socket inodes listening on ``port`` (IPv4)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
            inodes.add(fields[9])
    return inodes


def listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds a socket listening on ``port``."""
    wanted = {f"socket:[{inode}]" for inode in listening_inodes(port)}
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                return True
        except OSError:
            continue
    return False


def wait_for(condition, timeout: float, what: str, interval: float = 0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise SystemExit(f"timed out waiting for {what}")


def healthy(url: str) -> bool:
    try:
        return get_json(f"{url}/api/health").get("status") == "ok"
    except OSError:
        return False


def restart(master: int, port: int) -> dict[str, float]:
    """Kill one worker; the replacement's seconds from its start to listening, and its CPU."""
    before = set(children(master))
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    new = wait_for(lambda: set(children(master)) - before - {victim}, 30, "a new worker")
    pid = new.pop()
    wait_for(lambda: listens(pid, port), 60, f"worker {pid} to listen", 0.005)
    ready = uptime()
    started, cpu = started_and_cpu(pid)
    return {"seconds": round(ready - started, 2), "cpu_s": round(cpu, 2)}


def measure(code: Path, settings: Settings, workers: int, restarts: int) -> dict:
    env = settings_env(settings)
    env.update(PYTHONPATH=str(code), GRAPHREC_WEB_WORKERS=str(workers),
               GRAPHREC_WEB_ACCESSLOG="off")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "gunicorn", "--config", str(code / "web" / "gunicorn.conf.py"),
               "--bind", f"127.0.0.1:{port}", "--chdir", str(code), "web:create_app()"]
    log_path = settings.home / f"worker-start-{code.name}.log"
    with open(log_path, "wb") as log:
        launched = time.monotonic()
        proc = subprocess.Popen(command, env=env, cwd=code, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: healthy(url) or proc.poll() is not None, 180, "the server", 0.05)
            if proc.poll() is not None:
                raise SystemExit(f"gunicorn exited with {proc.returncode}; see {log_path}")
            ready = time.monotonic() - launched
            wait_for(lambda: len(children(proc.pid)) == workers
                     and all(listens(p, port) for p in children(proc.pid)), 120,
                     "every worker to listen")
            pids = children(proc.pid)
            out = {"code": describe_code(code), "workers": workers,
                   "server_ready_s": round(ready, 2),
                   "first_workers_cpu_s": [started_and_cpu(p)[1] for p in pids],
                   "master_mb": memory_mb(proc.pid),
                   "worker_mb": [memory_mb(p) for p in pids]}
            out["restarts"] = [restart(proc.pid, port) for _ in range(restarts)]
            return out
        finally:
            proc.terminate()
            proc.wait(30)


def print_table(report: dict) -> None:
    print(f"load average before {report['loadavg_before']} after {report['loadavg_after']}")
    print(f"{'code':<28} {'server ready s':>14} {'worker start s':>16} {'its CPU s':>12} "
          f"{'worker RSS/PSS/private MB':>27}")
    for run in report["runs"]:
        starts = "/".join(f"{r['seconds']:.2f}" for r in run["restarts"])
        cpus = "/".join(f"{r['cpu_s']:.2f}" for r in run["restarts"])
        mem = run["worker_mb"]
        average = {k: sum(m[k] for m in mem) / len(mem) for k in ("rss", "pss", "private")}
        print(f"{run['code']:<28} {run['server_ready_s']:>14.2f} {starts:>16} {cpus:>12} "
              f"{average['rss']:>10.0f}/{average['pss']:.0f}/{average['private']:.0f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="another checkout to measure first, e.g. a git worktree")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1,
                        help="times each checkout is measured, alternately")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    settings = Settings.from_env()
    codes = ([args.baseline.resolve()] if args.baseline else []) + [ROOT]
    report: dict = {"loadavg_before": loadavg(), "cpus": os.cpu_count(), "runs": []}
    for _ in range(args.rounds):
        for code in codes:
            report["runs"].append(measure(code, settings, args.workers, args.restarts))
    report["loadavg_after"] = loadavg()
    print_table(report)
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
