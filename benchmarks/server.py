"""The server a benchmark measures: gunicorn with ``web/gunicorn.conf.py`` on a free port of
127.0.0.1, this checkout's or another's (a ``git worktree`` of an older commit, the baseline
measured in the same run), started, waited for and stopped with every wait bounded.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from web.serve import gunicorn_command  # noqa: E402  (after the path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 180) -> dict:
    """The server's ``/api/health`` answer once it gives one, within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with status {proc.returncode} before it was ready")
        try:
            return get_json(f"{url}/api/health")
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise SystemExit(f"the service at {url} did not get ready in {timeout:.0f}s")


def gunicorn_in(code: Path, bind: str) -> list[str]:
    """The command that serves the checkout ``code`` (this one or a baseline's) on ``bind``,
    to be started in ``code``: ``python -m`` puts its working directory first on sys.path,
    ahead of PYTHONPATH, so a server started elsewhere would import the code found there."""
    return [sys.executable, "-m", "gunicorn", "--config", str(code / "web" / "gunicorn.conf.py"),
            "--bind", bind, "--chdir", str(code), "web:create_app()"]


class Server(NamedTuple):
    """A started server: its process, its port and its first ``/api/health`` answer."""

    proc: subprocess.Popen
    port: int
    health: dict


def start_server(env: dict[str, str], log_path: Path, ready_timeout: float = 180,
                 code: Path | None = None) -> Server:
    """gunicorn on a free port, healthy within ``ready_timeout`` seconds; started in ``code``
    (another checkout, a baseline), whose modules ``python -m gunicorn`` then imports first,
    when given. Its output goes to ``log_path``."""
    port = free_port()
    bind = f"127.0.0.1:{port}"
    command = gunicorn_command(bind) if code is None else gunicorn_in(code, bind)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                cwd=code)
    try:
        health = wait_ready(f"http://127.0.0.1:{port}", proc, ready_timeout)
        if health.get("status") != "ok":
            raise SystemExit(f"the service is not ready: {health}")
    except BaseException:
        stop_server(proc)
        raise
    return Server(proc, port, health)


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
