"""Gunicorn under light load while the local store stops and comes back.

While the store is down every answer is a quick 503 (never a 500, never a hang), writes'
included; once it is up again the same workers answer 200 within 5 seconds. Runs on its own
GRAPHREC_HOME, so the session's store is never stopped.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Self

import psutil
import pytest
import requests

from graphrec.config import Settings
from graphrec.store.connection import open_store
from graphrec.store.local import LocalStore
from tests.apps import sample_users, train_sample
from tests.gunicorn_server import gunicorn
from tests.waiting import wait_for
from web.serve import settings_env


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Settings]:
    """A local store of its own with the sample and a trained model."""
    settings = Settings.from_env({"GRAPHREC_HOME": str(tmp_path), "GRAPHREC_STORE_HEAP": "1g"})
    if not settings.uses_local_store:
        pytest.skip("NEO4J_URI is set: the test stops and starts the local store")
    try:
        with open_store(settings) as store:
            train_sample(settings, store)
        yield settings
    finally:
        LocalStore(settings).stop()


@pytest.fixture
def server(home: Settings, tmp_path: Path) -> Iterator[tuple[str, psutil.Process]]:
    env = settings_env(home)
    env.update(GRAPHREC_WEB_WORKERS="2", GRAPHREC_WEB_THREADS="4")
    with gunicorn(env, tmp_path / "gunicorn.log", healthy) as (port, master):
        yield f"http://127.0.0.1:{port}", master


def healthy(port: int, master: psutil.Process) -> bool:
    """Both workers forked and the service answering: the first worker can answer the health
    check while the master is still forking the second."""
    if len(master.children()) < 2:
        return False
    try:
        return requests.get(f"http://127.0.0.1:{port}/api/health", timeout=30).status_code == 200
    except requests.RequestException:
        return False


class Load:
    """A few threads asking for recommendations in a loop; records (time, status, seconds)."""

    def __init__(self, url: str, users: list[str], threads: int = 3):
        self.url, self.users = url, users
        self.results: list[tuple[float, int, float]] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(n,)) for n in range(threads)]

    def run(self, n: int) -> None:
        with requests.Session() as http:
            i = n
            while not self.stop.is_set():
                user = self.users[i % len(self.users)]
                i += 1
                started = time.monotonic()
                try:
                    status = http.get(f"{self.url}/api/users/{user}/recommendations?k=5",
                                      timeout=20).status_code
                except requests.RequestException:
                    status = 0
                self.results.append((started, status, time.monotonic() - started))
                time.sleep(0.05)

    def __enter__(self) -> Self:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def between(self, start: float, end: float = float("inf")) -> list[tuple[float, int, float]]:
        return [r for r in self.results if start <= r[0] < end]


def test_store_down_gives_503_and_service_recovers(home: Settings, server) -> None:
    url, master = server
    workers = {p.pid for p in master.children()}
    assert len(workers) == 2
    local = LocalStore(home)

    def answered(status: int, since: float, count: int) -> bool:
        return sum(1 for _, s, _ in load.between(since) if s == status) >= count

    with Load(url, sample_users(20)) as load:
        wait_for(lambda: answered(200, 0, 20), "20 answers before the stop")
        down = time.monotonic()
        local.stop()
        stopped = time.monotonic()
        wait_for(lambda: answered(503, stopped, 40), "40 answers 503 while the store is down")
        start = time.monotonic()
        local.start()
        up = time.monotonic()
        wait_for(lambda: answered(200, up, 40), "40 answers 200 once the store is back")

    before = load.between(0, down)
    assert before and {status for _, status, _ in before} == {200}
    during = load.between(stopped, start)
    statuses = {status for _, status, _ in during}
    assert 503 in statuses and statuses <= {503}, statuses
    assert max(seconds for _, _, seconds in during) < 10
    after = load.between(up)
    first_ok = min(t for t, status, _ in after if status == 200)
    assert first_ok - up < 5, f"first 200 {first_ok - up:.1f}s after the store was back"
    assert {status for t, status, _ in after if t > first_ok} == {200}
    assert {p.pid for p in master.children()} == workers
    print(f"503s while down: {len(during)} (slowest {max(s for _, _, s in during):.2f}s); "
          f"first 200 {first_ok - up:.2f}s after restart")


TOKEN = "fault-token-0123456789abcdef"


@pytest.fixture
def writing_server(home: Settings, tmp_path: Path) -> Iterator[str]:
    """2 workers of 2 threads, writes on."""
    env = settings_env(home)
    env.update(GRAPHREC_WEB_WORKERS="2", GRAPHREC_WEB_THREADS="2", GRAPHREC_API_TOKEN=TOKEN)
    with gunicorn(env, tmp_path / "gunicorn.log", healthy) as (port, _):
        yield f"http://127.0.0.1:{port}"


def test_writes_while_the_store_is_down_answer_503_quickly_and_health_checks_too(
        home: Settings, writing_server: str) -> None:
    """Each write held its thread about 7 s before its 503 (the writer's retries), so six
    of them at once took every thread of the server, and a health check waited 6.75 s behind
    them: the writers are connected when the store stops, as in a shop."""
    url = writing_server

    def event(user: str) -> requests.Response:
        return requests.post(f"{url}/api/users/{user}/events", timeout=30,
                             json={"item_id": "B00AE0790U", "kind": "view"},
                             headers={"Authorization": f"Bearer {TOKEN}"})

    for n in range(8):  # on new connections: both workers' writers connected
        assert event(f"WRITER-{n}").status_code == 201
    LocalStore(home).stop()
    answers: dict[str, list[tuple[int, float]]] = {"write": [], "health": []}

    def timed(kind: str, call: Callable[[], requests.Response]) -> None:
        started = time.monotonic()
        status = call().status_code
        answers[kind].append((status, time.monotonic() - started))

    writes = [threading.Thread(target=timed, args=("write", partial(event, f"DOWN-{n}")))
              for n in range(6)]
    for thread in writes:
        thread.start()
    time.sleep(0.3)
    for _ in range(3):
        timed("health", partial(requests.get, f"{url}/api/health", timeout=30))
    for thread in writes:
        thread.join()
    assert {status for status, _ in answers["write"] + answers["health"]} == {503}, answers
    assert max(seconds for _, seconds in answers["write"]) < 2.5, answers
    assert max(seconds for _, seconds in answers["health"]) < 2.5, answers
    print(f"slowest write {max(s for _, s in answers['write']):.2f}s, slowest health check "
          f"{max(s for _, s in answers['health']):.2f}s while the store was down")
