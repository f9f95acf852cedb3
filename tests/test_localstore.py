"""The local store graphrec starts itself: private, reused, persistent, and clear when down."""
from __future__ import annotations

import socket
import stat
import subprocess
import sys
import time

import psutil
import pytest

from graphrec.config import Settings
from graphrec.store.connection import GraphStore, StoreUnavailable, open_store
from graphrec.store.local import LocalStore, port_is_free


@pytest.fixture
def local(settings: Settings, session_store: GraphStore) -> LocalStore:
    if not settings.uses_local_store:
        pytest.skip("NEO4J_URI is set: no local store")
    return LocalStore(settings)


def ended(pid: int) -> bool:
    """Whether ``pid`` has exited: gone, or a zombie its parent has not reaped yet (a handle
    made between a ``pid_exists`` and its use could find it reaped meanwhile)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_listens_on_loopback_only(local: LocalStore) -> None:
    info = local.running()
    assert info is not None
    listening = [c.laddr for c in psutil.Process(info.pid).net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN]
    ports = {addr.port for addr in listening}
    assert {info.bolt_port, info.http_port} <= ports
    assert {addr.ip.removeprefix("::ffff:") for addr in listening} == {"127.0.0.1"}


def test_password_is_private(local: LocalStore) -> None:
    mode = stat.S_IMODE(local.password_file.stat().st_mode)
    assert mode == 0o600
    assert len(local.password()) >= 24


def test_start_reuses_the_running_server(local: LocalStore) -> None:
    before = local.running()
    assert local.start().pid == before.pid


def test_data_survives_a_restart(tmp_path) -> None:
    settings = Settings.from_env({"GRAPHREC_HOME": str(tmp_path)})
    local = LocalStore(settings)
    try:
        with open_store(settings) as store:
            store.write("ingest/users", rows=[{"id": "u1"}, {"id": "u2"}])
        first = local.stop()
        assert first is not None and local.running() is None
        with open_store(settings) as store:
            assert store.read("stats/labels") == [{"label": "User", "count": 2}]
        second = local.running()
        assert second.pid != first.pid
        assert (second.bolt_port, second.http_port) == (first.bolt_port, first.http_port)
    finally:
        local.stop()
    assert local.stop() is None


def _port_left_in_time_wait() -> int:
    """A loopback port whose only socket is a closed connection in TIME_WAIT, as after a stop.

    The listener sets SO_REUSEADDR as the store's server sockets do (Java's default on Linux).
    """
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        served, _ = listener.accept()
        served.close()  # the listening side closes first, so its end waits
        client.recv(1)
        client.close()
    return port


def test_a_port_in_time_wait_counts_as_free() -> None:
    port = _port_left_in_time_wait()
    waiting = [c for c in psutil.net_connections(kind="tcp4")
               if c.laddr.port == port and c.status == psutil.CONN_TIME_WAIT]
    assert waiting
    assert port_is_free(port)
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen()
        assert not port_is_free(port)


def test_unreachable_store_is_one_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings.from_env({"NEO4J_URI": f"bolt://127.0.0.1:{port}", "GRAPHREC_HOME": "x"})
    with open_store(settings) as store, pytest.raises(StoreUnavailable) as err:
        store.read("stats/labels")
    message = str(err.value)
    assert f"127.0.0.1:{port}" in message and "\n" not in message


def test_stop_when_another_process_started_the_store(tmp_path) -> None:
    """A store started by a process that still runs (``graphrec serve`` starts its own) ends as
    that process's zombie until it reaps it: ``graphrec db stop`` from elsewhere counts it as
    stopped at once, instead of waiting a minute and failing with a traceback."""
    home = str(tmp_path)
    starter = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
         "from graphrec.config import Settings\n"
         "from graphrec.store.local import LocalStore\n"
         "LocalStore(Settings.from_env({'GRAPHREC_HOME': sys.argv[1]})).start()\n"
         "print('up', flush=True)\n"
         "time.sleep(300)\n", home],
        stdout=subprocess.PIPE, text=True)
    local = LocalStore(Settings.from_env({"GRAPHREC_HOME": home}))
    try:
        assert starter.stdout is not None and starter.stdout.readline().strip() == "up"
        info = local.running()
        assert info is not None and psutil.Process(info.pid).ppid() == starter.pid
        started = time.monotonic()
        assert local.stop() == info
        assert time.monotonic() - started < 20
        assert local.running() is None
        assert ended(info.pid)
        assert starter.poll() is None  # the starter was not touched
    finally:
        starter.kill()
        starter.wait()
        local.stop()


def test_a_store_that_cannot_start_is_one_line_at_once(
        tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    """Java refuses the heap setting and exits at once: the command says so in one line, with
    the log's words, in seconds (it waited its whole two minutes for the exited child, which
    stays a zombie until reaped), and exits 3 as for any store it cannot reach."""
    from graphrec.cli import EXIT_STORE, main

    env = {"GRAPHREC_HOME": str(tmp_path), "GRAPHREC_STORE_HEAP": "bogus"}
    started = time.monotonic()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        patch.delenv("NEO4J_URI", raising=False)
        assert main(["stats"]) == EXIT_STORE
    assert time.monotonic() - started < 30
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exited while starting" in err
    assert "Invalid maximum heap size" in err and str(tmp_path) in err


def test_a_store_that_refuses_its_password_is_one_line_at_once(tmp_path) -> None:
    """The password file replaced while the store runs (an older home's, a restore): the
    server refuses it, and retrying the same password for two minutes could not help."""
    settings = Settings.from_env({"GRAPHREC_HOME": str(tmp_path)})
    local = LocalStore(settings)
    try:
        local.start()
        local.password_file.write_text("not-the-password")
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as err:
            open_store(settings)
        assert time.monotonic() - started < 30
        message = str(err.value)
        assert "refused the password" in message and "\n" not in message
        assert "not-the-password" not in message
    finally:
        local.stop()


def test_a_copied_record_of_another_folders_server_is_not_this_store(
        local: LocalStore, tmp_path) -> None:
    """A home copied while its store ran (``cp -a``) holds that store's ``server.json``: the
    copy's commands must neither use that server (its password is not the copy's) nor stop it."""
    other = LocalStore(Settings.from_env({"GRAPHREC_HOME": str(tmp_path)}))
    other.dir.mkdir(parents=True)
    (other.dir / "server.json").write_bytes((local.dir / "server.json").read_bytes())
    running = local.running()
    assert running is not None
    assert other.running() is None
    assert other.stop() is None
    assert local.running() == running and not ended(running.pid)
