"""What another local user or a stray listener can learn from or do to the store graphrec uses.

The local store's secrets never appear where other users can read them (a process's command
line), its files are private to the user that runs graphrec, credentials go only to the port the
running store listens on, a store that never answers costs a request seconds (not a minute)
without holding up the worker's other threads, and the service reads as a user that cannot
write.
"""
from __future__ import annotations

import logging
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import psutil
import pytest

from graphrec.config import Settings
from graphrec.store.local import READER_USER, LocalStore
from graphrec.store.connection import GraphStore, StoreForbidden, StoreUnavailable, open_store
from web import create_app
from web.engine import Engine


@pytest.fixture
def local(settings: Settings, session_store: GraphStore) -> LocalStore:
    if not settings.uses_local_store:
        pytest.skip("NEO4J_URI is set: no local store")
    return LocalStore(settings)


# --- 1. secrets off the command line, files private --------------------------------------------

def test_root_password_is_not_on_the_servers_command_line(local: LocalStore) -> None:
    info = local.running()
    assert info is not None
    cmdline = Path(f"/proc/{info.pid}/cmdline").read_bytes()
    assert b"ArcadeDBServer" in cmdline
    leaked = local.password().encode() in cmdline  # not asserted directly: pytest would print it
    assert not leaked, "the root password is on the server's command line"
    assert psutil.Process(info.pid).uids().real == os.getuid()


def test_every_file_and_folder_of_the_store_is_private(local: LocalStore) -> None:
    shared = []
    for folder, dirs, files in os.walk(local.dir):
        for name in [folder, *(os.path.join(folder, entry) for entry in dirs + files)]:
            mode = stat.S_IMODE(os.lstat(name).st_mode)
            if mode & 0o077:
                shared.append(f"{name} {mode:o}")
    assert not shared
    assert stat.S_IMODE(local.dir.stat().st_mode) == 0o700
    assert len(list(local.dir.rglob("*"))) > 10  # the database's own files are in the walk


def test_an_older_stores_files_are_made_private_when_it_starts(tmp_path: Path) -> None:
    """A store created before the files were private (755/644) is fixed by the next start."""
    settings = Settings.from_env({"GRAPHREC_HOME": str(tmp_path), "GRAPHREC_STORE_HEAP": "512m"})
    if not settings.uses_local_store:
        pytest.skip("NEO4J_URI is set: no local store")
    local = LocalStore(settings)
    (local.dir / "root" / "config").mkdir(parents=True, mode=0o755)
    local.dir.chmod(0o755)
    old = local.dir / "root" / "config" / "left-over.json"
    old.write_text("{}")
    old.chmod(0o644)
    try:
        local.start()
        assert stat.S_IMODE(old.stat().st_mode) == 0o600
        assert stat.S_IMODE((local.dir / "root" / "config").stat().st_mode) == 0o700
        assert stat.S_IMODE(local.dir.stat().st_mode) == 0o700
    finally:
        local.stop()


# --- 2. credentials only to the port the running store listens on ------------------------------

class FakeBolt:
    """A listener on ``port`` that plays a Bolt server just long enough to be sent credentials.

    It answers the version handshake (4.4), so a client goes on to send its HELLO with the user
    and password, and records every byte it receives.
    """

    def __init__(self, port: int):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen()
        self.connections = 0
        self.received = bytearray()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(1.0)
                try:
                    self.received += conn.recv(20)
                    conn.sendall(b"\x00\x00\x04\x04")
                    while chunk := conn.recv(4096):
                        self.received += chunk
                except OSError:
                    pass

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
        self.thread.join(5)


@pytest.fixture
def own_store(tmp_path: Path) -> Iterator[Settings]:
    """A local store of its own, to stop and start (the session's store stays up)."""
    settings = Settings.from_env({"GRAPHREC_HOME": str(tmp_path), "GRAPHREC_STORE_HEAP": "512m"})
    if not settings.uses_local_store:
        pytest.skip("NEO4J_URI is set: no local store")
    try:
        yield settings
    finally:
        LocalStore(settings).stop()


def test_credentials_never_go_to_the_port_a_stopped_store_left(own_store: Settings) -> None:
    local = LocalStore(own_store)
    engine = Engine(own_store)
    with open_store(own_store) as cli_store:
        cli_store.write("ingest/users", rows=[{"id": "u1"}])
        assert engine.store().read("stats/labels") == [{"label": "User", "count": 1}]
        first = local.stop()
        with FakeBolt(first.bolt_port) as fake:
            engine.failed()
            with pytest.raises(StoreUnavailable):
                engine.store()
            with pytest.raises(StoreUnavailable):
                cli_store.read("stats/labels")
            second = local.start()
            assert second.bolt_port != first.bolt_port  # the fake holds the old one
            assert engine.store().read("stats/labels") == [{"label": "User", "count": 1}]
            assert cli_store.read("stats/labels") == [{"label": "User", "count": 1}]
        engine.close()
    sent_password = local.password().encode() in fake.received
    assert not sent_password, "the root password went to the old port"
    assert (fake.connections, bytes(fake.received)) == (0, b"")


# --- 3. a store that accepts and never answers -------------------------------------------------

class SilentListener:
    """Accepts every connection and never sends a byte back (a hung server, or a tarpit)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                self.accepted.append(self.sock.accept()[0])
            except OSError:
                return

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()
        self.thread.join(5)


def test_a_store_that_never_answers_costs_a_request_seconds_and_holds_up_no_other(
        tmp_path: Path) -> None:
    """Each request gives up after the driver's bounded wait, all of them at the same time:
    none waits for another's probe (four probes one after another would take 20 s)."""
    with SilentListener() as silent:
        settings = Settings.from_env({"NEO4J_URI": f"bolt://127.0.0.1:{silent.port}",
                                      "GRAPHREC_HOME": str(tmp_path)})
        app = create_app({"TESTING": True, "SETTINGS": settings})
        answers: list[tuple[int, float]] = []

        def ask(path: str) -> None:
            started = time.monotonic()
            status = app.test_client().get(path).status_code
            answers.append((status, time.monotonic() - started))

        paths = [f"/api/users/A{n}/recommendations" for n in range(3)] + ["/api/health"]
        threads = [threading.Thread(target=ask, args=(path,), daemon=True) for path in paths]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=15 - (time.monotonic() - started))
        elapsed = time.monotonic() - started
        try:
            assert not [t for t in threads if t.is_alive()], f"still waiting after {elapsed:.1f}s"
            assert sorted(status for status, _ in answers) == [503] * 4
            assert max(seconds for _, seconds in answers) < 6.5
            assert elapsed < 7
            assert silent.accepted  # the driver did reach the listener: its wait was bounded
            print(f"4 requests against a silent store: 503 each, slowest "
                  f"{max(seconds for _, seconds in answers):.2f}s, all in {elapsed:.2f}s")
        finally:
            app.extensions["graphrec"].close()


# --- 4. the service reads as a user that cannot write ------------------------------------------

WRITES = ["CREATE (:User {id: 'u2'})", "MERGE (:User {id: 'u3'})",
          "MATCH (u:User) DETACH DELETE u", "MATCH (u:User) SET u.name = 'changed'",
          "CREATE (:Brand {name: 'new label'})"]


@pytest.mark.parametrize("statement", WRITES)
def test_the_reader_can_read_and_cannot_write(settings: Settings, store: GraphStore,
                                              statement: str) -> None:
    if not settings.uses_local_store:
        pytest.skip("NEO4J_URI is set: the reader is NEO4J_READER_USER's to set up")
    store.write("ingest/users", rows=[{"id": "u1"}])
    with open_store(settings, read_only=True) as reader:
        assert reader.user == READER_USER
        assert reader.read("stats/labels") == [{"label": "User", "count": 1}]
        with pytest.raises(StoreForbidden) as refused:
            reader.write_text(statement)
    message = str(refused.value)
    assert f"refused the statement to user {READER_USER}" in message and "\n" not in message
    assert store.read_text("MATCH (n) RETURN labels(n) AS labels, n.id AS id, n.name AS name") \
        == [{"labels": ["User"], "id": "u1", "name": None}]


def test_the_service_reads_as_the_reader_and_writes_only_through_its_writer(
        settings: Settings, store: GraphStore) -> None:
    if not settings.uses_local_store:
        pytest.skip("NEO4J_URI is set: the reader is NEO4J_READER_USER's to set up")
    engine = Engine(settings)
    try:
        assert engine.store().user == READER_USER
        with pytest.raises(StoreForbidden):
            engine.store().write("ingest/users", rows=[{"id": "u1"}])
        engine.writer().write("ingest/users", rows=[{"id": "u1"}])
        assert engine.store().read("stats/labels") == [{"label": "User", "count": 1}]
    finally:
        engine.close()


def test_reader_password_is_private_and_not_roots(local: LocalStore) -> None:
    assert stat.S_IMODE(local.reader_password_file.stat().st_mode) == 0o600
    assert len(local.reader_password()) >= 24
    assert local.reader_password() != local.password()


def test_neo4j_reader_comes_from_its_own_settings_or_the_main_user_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    env = {"NEO4J_URI": "bolt://127.0.0.1:7687", "NEO4J_USER": "admin", "NEO4J_PASSWORD": "a",
           "GRAPHREC_HOME": str(tmp_path)}
    readers = {"NEO4J_READER_USER": "web", "NEO4J_READER_PASSWORD": "r"}
    with caplog.at_level(logging.WARNING, logger="graphrec.store"):
        with open_store(Settings.from_env({**env, **readers}), read_only=True) as reader:
            assert reader.user == "web"
        with open_store(Settings.from_env(env)) as writer:
            assert writer.user == "admin"
        assert not caplog.records
        with open_store(Settings.from_env(env), read_only=True) as fallback:
            assert fallback.user == "admin"
    assert [r.getMessage() for r in caplog.records] == [
        "NEO4J_READER_USER is not set: the service reads as admin, who may also write "
        "(README: Users and privileges)"]
