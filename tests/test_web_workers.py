"""``web.worker.ServiceWorker``: when a request counts as arrived, and a worker that dies is
replaced without a client noticing (the replacement takes connections only once it has loaded
the model).

The server is gunicorn with the checked-in configuration on the session's store, the sample and
a model trained on it.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from graphrec.config import Settings
from graphrec.store.connection import GraphStore
from tests.apps import sample_users, train_sample
from tests.gunicorn_server import gunicorn
from tests.test_web_serve import listening_sockets
from web.serve import settings_env
from web.worker import MAX_REQUEST_BYTES, request_complete

WORKERS = 2

HEAD = b"POST /api/events HTTP/1.1\r\nHost: x\r\n"


@pytest.mark.parametrize(("data", "complete"), [
    (b"GET /api/health HTTP/1.1\r\nHost: x\r\n", False),
    (b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n", True),
    (b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\nGET /", True),  # pipelined: one is in
    (HEAD + b"Content-Length: 5\r\n\r\nabc", False),
    (HEAD + b"content-length:5\r\n\r\nabcde", True),
    (HEAD + b"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n", True),
    (HEAD + f"Content-Length: {MAX_REQUEST_BYTES}\r\n\r\n".encode(), None),
    (b"GET /" + b"a" * MAX_REQUEST_BYTES, None),
])
def test_a_request_is_complete_with_its_head_and_declared_body(data: bytes,
                                                              complete: bool | None) -> None:
    assert request_complete(data) is complete


def get(port: int, path: str, timeout: float = 10) -> tuple[int | str, float]:
    """(status, or the error's name; seconds) of a GET on a fresh connection."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        outcome: int | str = response.status
    except OSError as exc:
        outcome = type(exc).__name__
    finally:
        conn.close()
    return outcome, time.monotonic() - started


@pytest.fixture
def server(settings: Settings, session_store: GraphStore,
           tmp_path: Path) -> Iterator[tuple[int, psutil.Process]]:
    train_sample(settings, session_store)
    env = settings_env(settings)
    env.update(GRAPHREC_WEB_WORKERS=str(WORKERS), GRAPHREC_WEB_ACCESSLOG="off")
    with gunicorn(env, tmp_path / "gunicorn.log", all_workers_healthy, timeout=90) as server:
        yield server


def all_workers_healthy(port: int, _master: psutil.Process) -> bool:
    return listening_sockets(port) >= WORKERS and get(port, "/api/health")[0] == 200


def test_graphrecs_log_lines_are_in_gunicorns_log(server, tmp_path: Path) -> None:
    """In gunicorn's format and at its level: the INFO lines that say which model each process
    loaded were dropped before (Python's default level is WARNING)."""
    port, master = server
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/api/health")
    version = json.loads(conn.getresponse().read())["checks"]["model"]["version"]
    conn.close()
    log = (tmp_path / "gunicorn.log").read_text()
    assert re.search(rf"^\[[^]]+\] \[{master.pid}\] \[INFO\] loaded model {version} before the "
                     "workers start$", log, re.M), log
    workers = re.findall(rf"^\[[^]]+\] \[(\d+)\] \[INFO\] loaded model {version}$", log, re.M)
    assert sorted(map(int, workers)) == sorted(p.pid for p in master.children()), log


def test_a_killed_worker_is_replaced_without_delaying_a_request(server) -> None:
    port, master = server
    paths = [f"/api/users/{user}/recommendations?k=10" for user in sample_users(40)]
    for path in paths:  # every worker past its first requests
        assert get(port, path)[0] == 200
    # Held from before the kill: the master may reap the worker before a handle made after the
    # kill could find it, and waiting on a handle to a reaped process returns at once.
    worker = master.children()[0]
    victim = worker.pid
    results = []
    deadline = None
    # One request at a time, 20 a second, each on a new connection, as new visitors come; the
    # worker is killed between two requests, so none is in flight on it.
    for i in range(600):
        if i == 20:
            os.kill(victim, signal.SIGKILL)
            worker.wait(10)  # its socket's queue dies with it
            deadline = time.monotonic() + 60
        if deadline and listening_sockets(port) == WORKERS and victim not in \
                {p.pid for p in master.children()} and len(results) >= 20 + 60:
            break  # replaced, and three seconds of requests since
        started = time.monotonic()
        results.append(get(port, paths[i % len(paths)]))
        time.sleep(max(0.0, 0.05 - (time.monotonic() - started)))
    assert deadline and time.monotonic() < deadline, "the worker was not replaced"
    slowest = max(seconds for _, seconds in results)
    print(f"{len(results)} requests, slowest {slowest * 1000:.0f} ms")
    # Before, new connections waited in the replacement's backlog while it loaded: 5 s, and two
    # not answered in 10 s, of 80 requests.
    late = [(n, status, round(seconds, 2)) for n, (status, seconds) in enumerate(results)
            if status != 200 or seconds >= 1.0]
    assert late == []
