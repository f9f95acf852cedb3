"""benchmarks/serve.py's split of the CPU a request took: the server is its master and every
process forked from it (gunicorn's workers do the work), read while they run."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from benchmarks.serve import CpuMeter

#: A master that forks a worker; the worker burns ``BURN`` s of CPU once ``start`` exists,
#: says so in ``done``, and lives on (as a worker does between runs).
SERVER = """
import os, sys, time
start, done = sys.argv[1], sys.argv[2]
if os.fork() == 0:
    while not os.path.exists(start):
        time.sleep(0.01)
    end = time.process_time() + {burn}
    while time.process_time() < end:
        pass
    open(done, "w").close()
    time.sleep(60)
    os._exit(0)
time.sleep(60)
"""
BURN = 0.4


def test_the_workers_cpu_is_the_servers(tmp_path: Path) -> None:
    start, done = tmp_path / "start", tmp_path / "done"
    server = subprocess.Popen([sys.executable, "-c", SERVER.format(burn=BURN), str(start),
                               str(done)])
    try:
        master = psutil.Process(server.pid)
        deadline = time.monotonic() + 30
        while not master.children() and time.monotonic() < deadline:
            time.sleep(0.01)
        meter = CpuMeter(master, None)
        before = meter.read()
        start.touch()
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        after = meter.read()
    finally:
        for process in psutil.Process(server.pid).children(recursive=True):
            process.kill()
        server.kill()
        server.wait()
    assert done.exists()
    spent = CpuMeter.per_request(before, after, 4)  # as if 4 requests had been answered
    assert spent["server"] == pytest.approx(1000 * BURN / 4, rel=0.25)
    assert spent["store"] == 0
    assert spent["machine"] >= spent["server"] * 0.9
