"""gunicorn with the checked-in configuration, for the tests that need a real server: started
on a free port of 127.0.0.1 with its output in a log file, handed over once a test's own
condition of readiness holds, stopped at the end."""
from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from graphrec.config import Settings
from web.serve import gunicorn_command, settings_env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dead_store_env(home: Path, workers: int) -> dict[str, str]:
    """gunicorn's environment for a server whose store is not there (it answers 503)."""
    settings = Settings.from_env({"GRAPHREC_HOME": str(home),
                                  "NEO4J_URI": f"bolt://127.0.0.1:{free_port()}",
                                  "NEO4J_PASSWORD": "x"})
    env = settings_env(settings)
    env.update(GRAPHREC_WEB_WORKERS=str(workers), GRAPHREC_WEB_ACCESSLOG="off")
    return env


@contextmanager
def gunicorn(env: dict[str, str], log_path: Path,
             ready: Callable[[int, psutil.Process], bool],
             timeout: float = 60) -> Iterator[tuple[int, psutil.Process]]:
    """``(port, master)`` of a server started with ``env``, once ``ready(port, master)``; the
    test fails with the server's log when it does not get there within ``timeout`` seconds."""
    port = free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(gunicorn_command(f"127.0.0.1:{port}"), env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            master = psutil.Process(proc.pid)
            deadline = time.monotonic() + timeout
            while not ready(port, master):
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"gunicorn did not get ready: {log_path.read_text()}")
                time.sleep(0.2)
            yield port, master
        finally:
            proc.terminate()
            proc.wait(30)
