"""HTTP service benchmark: gunicorn with web/gunicorn.conf.py against the local store.

Needs a store holding a catalogue and a trained model under GRAPHREC_HOME (``graphrec serve``
on an empty home prepares both). Starts gunicorn on 127.0.0.1, then drives it with an open-loop
load generator (asyncio + aiohttp, keep-alive): a fixed request rate spread over 50 concurrent
connections, for recommendations and for explanations in turn. Latency is measured from each
request's scheduled time, so a server that falls behind shows it in p99 instead of silently
being sent fewer requests. Prints a table and writes benchmarks/results/serve.json.

    python benchmarks/serve.py [--rate 200] [--seconds 20] [--connections 50]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graphrec.config import Settings  # noqa: E402
from web.serve import gunicorn_command, settings_env  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "serve.json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_ready(url: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"{url}/api/health") as response:
                    if response.status == 200:
                        return await response.json()
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise SystemExit(f"the service at {url} did not get ready in {timeout:.0f}s")


async def pick_targets(url: str, users: list[str]) -> list[tuple[str, str]]:
    """(user, item) pairs to explain: each user's recommendations."""
    pairs = []
    async with aiohttp.ClientSession() as http:
        for user in users:
            async with http.get(f"{url}/api/users/{user}/recommendations?k=5") as response:
                body = await response.json()
                pairs += [(user, rec["item_id"]) for rec in body["recommendations"]]
    return pairs


async def drive(paths: list[str], url: str, rate: float, seconds: float,
                connections: int) -> dict:
    """Send ``rate`` requests per second for ``seconds`` over ``connections`` connections."""
    total = int(rate * seconds)
    queue: asyncio.Queue[tuple[float, str] | None] = asyncio.Queue()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)

    async def worker(http: aiohttp.ClientSession) -> None:
        while (job := await queue.get()) is not None:
            scheduled, path = job
            try:
                async with http.get(url + path) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
            except (aiohttp.ClientError, asyncio.TimeoutError):
                statuses[0] = statuses.get(0, 0) + 1
            latencies.append(time.monotonic() - scheduled)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        workers = [asyncio.create_task(worker(http)) for _ in range(connections)]
        started = time.monotonic()
        for n in range(total):
            when = started + n / rate
            delay = when - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            queue.put_nowait((when, paths[n % len(paths)]))
        for _ in workers:
            queue.put_nowait(None)
        await asyncio.gather(*workers)
        elapsed = time.monotonic() - started
    ms = np.array(latencies) * 1000
    return {"requests": total, "seconds": round(elapsed, 2),
            "req_per_s": round(total / elapsed, 1),
            "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1),
            "max_ms": round(float(ms.max()), 1),
            "statuses": {str(k): v for k, v in sorted(statuses.items())}}


def sample_users(limit: int) -> list[str]:
    import csv
    import gzip
    with gzip.open(ROOT / "graphrec" / "sample" / "beauty" / "purchases.csv.gz", "rt") as fh:
        users = list(dict.fromkeys(row["user_id"] for row in csv.DictReader(fh)))
    return users[:limit]


async def run(args: argparse.Namespace, url: str) -> dict:
    health = await wait_ready(url)
    users = sample_users(args.users)
    pairs = await pick_targets(url, users[:100])
    recommend = [f"/api/users/{user}/recommendations?k=10" for user in users]
    explain = [f"/api/users/{u}/recommendations/{i}/explanation" for u, i in pairs]
    await drive(recommend[:200], url, args.rate, 2, args.connections)  # warm-up
    return {
        "model_version": health["checks"]["model"]["version"],
        "recommendations": await drive(recommend, url, args.rate, args.seconds, args.connections),
        "explanations": await drive(explain, url, args.rate, args.seconds, args.connections),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200, help="requests per second")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--workers", type=int, help="GRAPHREC_WEB_WORKERS for this run")
    parser.add_argument("--threads", type=int, help="GRAPHREC_WEB_THREADS for this run")
    args = parser.parse_args()

    settings = Settings.from_env()
    env = settings_env(settings)
    if args.workers:
        env["GRAPHREC_WEB_WORKERS"] = str(args.workers)
    if args.threads:
        env["GRAPHREC_WEB_THREADS"] = str(args.threads)
    url = f"http://127.0.0.1:{free_port()}"
    log = open(settings.home / "serve-benchmark.log", "wb")
    proc = subprocess.Popen(gunicorn_command(url.removeprefix("http://")), env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        results = asyncio.run(run(args, url))
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()

    cores = os.cpu_count()
    workers = int(env.get("GRAPHREC_WEB_WORKERS") or min(cores + 1, 8))
    threads = int(env.get("GRAPHREC_WEB_THREADS") or 4)
    report = {"machine": {"cpus": cores, "python": platform.python_version()},
              "server": {"workers": workers, "threads": threads, "worker_class": "gthread"},
              "load": {"rate": args.rate, "seconds": args.seconds,
                       "connections": args.connections},
              **results}
    print(f"gunicorn {workers} workers x {threads} threads on {cores} cpus; "
          f"offered {args.rate:.0f} req/s over {args.connections} connections")
    print(f"{'endpoint':<16} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  statuses")
    for name in ("recommendations", "explanations"):
        r = results[name]
        print(f"{name:<16} {r['req_per_s']:>8.1f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} "
              f"{r['max_ms']:>8.1f}  {r['statuses']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
