"""``graphrec serve``'s gunicorn: connections spread over the workers, one server a port, and
slow clients do not hold the workers.

The server here points at a store that is not there: it starts, answers 503, and these tests
need nothing more of it.
"""
from __future__ import annotations

import re
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests

from benchmarks.slow_clients import SlowClients, probe
from graphrec.cli import EXIT_FAILED, main
from graphrec.config import Settings
from tests.gunicorn_server import dead_store_env, free_port, gunicorn
from tests.waiting import wait_for
from web.serve import (
    AddressInUse,
    BadAddress,
    gunicorn_command,
    lock_address,
    queued_connections_advice,
    runtime_dir,
    serve,
    settings_env,
)
from web.worker import REQUEST_TIMEOUT

WORKERS = 3


def listening_sockets(port: int) -> int:
    """Listening TCP sockets on ``port`` in this network namespace, each counted once however
    many processes hold it (from /proc/net/tcp: local address, state 0A = LISTEN)."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for line in lines
               if line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A")


def answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/api/health", timeout=30).status_code == 503
    except requests.ConnectionError:
        return False


def all_workers_answer(port: int, master: psutil.Process) -> bool:
    """Every worker listens (one loads its app before it does) and the server answers."""
    return (len(master.children()) >= WORKERS and listening_sockets(port) >= WORKERS
            and answers(f"http://127.0.0.1:{port}"))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, int, psutil.Process]]:
    with gunicorn(dead_store_env(tmp_path, WORKERS), tmp_path / "gunicorn.log",
                  all_workers_answer) as (port, master):
        yield f"http://127.0.0.1:{port}", port, master


def test_each_worker_listens_on_a_socket_of_its_own(server) -> None:
    _, port, _ = server
    assert listening_sockets(port) == WORKERS  # on one shared socket: 1


def test_the_kernel_spreads_connections_over_the_workers(server) -> None:
    url, port, master = server
    sessions = [requests.Session() for _ in range(30)]
    try:
        for session in sessions:
            assert session.get(f"{url}/api/health", timeout=30).status_code == 503
        held = Counter()
        for worker in master.children():
            held[worker.pid] = sum(1 for c in worker.net_connections(kind="tcp")
                                   if c.laddr.port == port and c.status == "ESTABLISHED")
        assert sum(held.values()) == 30
        # Hashed evenly over 3 sockets, a worker gets none of 30 with odds of 1 in 60,000; on
        # one shared socket the worker that was idle took all 30.
        assert len(held) == WORKERS and min(held.values()) >= 1, held
    finally:
        for session in sessions:
            session.close()


def test_the_server_says_at_start_when_a_dying_worker_would_reset_queued_connections(
        server, tmp_path: Path) -> None:
    advice = queued_connections_advice()  # this host's own setting
    log = (tmp_path / "gunicorn.log").read_text()
    if advice is None:
        assert "tcp_migrate_req" not in log
    else:
        assert advice in log and "[WARNING]" in log.split(advice)[0].splitlines()[-1]


def test_the_advice_follows_the_kernel_setting(tmp_path: Path) -> None:
    setting = tmp_path / "tcp_migrate_req"
    setting.write_text("0\n")
    advice = queued_connections_advice(setting)
    assert advice is not None and "sysctl -w net.ipv4.tcp_migrate_req=1" in advice
    setting.write_text("1\n")
    assert queued_connections_advice(setting) is None
    assert queued_connections_advice(tmp_path / "absent") is None  # a kernel without it


def test_serve_refuses_an_address_in_use_before_setting_anything_up(tmp_path: Path) -> None:
    settings = Settings.from_env({"GRAPHREC_HOME": str(tmp_path)})
    prepared = []
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        bind = f"127.0.0.1:{other.getsockname()[1]}"
        with pytest.raises(AddressInUse, match=f"{bind} is in use"):
            serve(bind, settings, prepare=prepared.append)
    assert prepared == []


def test_gunicorn_with_the_config_exits_when_the_address_is_in_use(tmp_path: Path) -> None:
    env = settings_env(Settings.from_env({"GRAPHREC_HOME": str(tmp_path)}))
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        bind = f"127.0.0.1:{other.getsockname()[1]}"
        done = subprocess.run(gunicorn_command(bind), env=env, capture_output=True, text=True,
                              timeout=60, check=False)
    assert done.returncode == 1
    assert f"{bind} is in use by another process" in done.stderr


def test_an_access_log_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    """It names the shoppers of every request: gunicorn made it with the umask's mode (0644)."""
    log = tmp_path / "access.log"
    env = settings_env(Settings.from_env({"GRAPHREC_HOME": str(tmp_path),
                                          "GRAPHREC_WEB_ACCESSLOG": str(log)}))
    with socket.socket() as other:  # gunicorn reads its config, then finds the port taken
        other.bind(("127.0.0.1", 0))
        other.listen()
        command = gunicorn_command(f"127.0.0.1:{other.getsockname()[1]}")
        done = subprocess.run(["sh", "-c", 'umask 022; exec "$@"', "sh", *command], env=env,
                              capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1 and "is in use" in done.stderr
    assert log.stat().st_mode & 0o777 == 0o600


def test_serve_command_says_the_address_is_in_use(capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.setenv("GRAPHREC_HOME", str(tmp_path))
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        bind = f"127.0.0.1:{other.getsockname()[1]}"
        assert main(["serve", "--bind", bind]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert f"{bind} is in use by another process" in err and "--bind" in err
    assert not (tmp_path / "store").exists()


def test_slow_clients_do_not_hold_the_workers(server) -> None:
    """40 connections sending a header line every 2 s; before, they held the 3 x 2 threads and
    no health check was answered."""
    _, port, _ = server
    with SlowClients("127.0.0.1", port, 40, interval=2.0) as clients:
        wait_for(lambda: clients.lines >= 1, "a second header line from every slow client")
        latencies = probe("127.0.0.1", port, ["/api/health"] * 20, rate=10, timeout=1.0)
    answered = [s for s in latencies if s is not None]
    assert len(answered) == 20, f"{20 - len(answered)} of 20 health checks not answered in 1 s"


def test_a_stopping_server_does_not_wait_for_slow_clients(server) -> None:
    """A stopping worker gives an incomplete request 2 s, as gthread gives a kept-alive
    connection, not the 10 s a running worker gives it (closed 9.0 s after the stop before)."""
    _, port, master = server
    with socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT + 10) as conn:
        conn.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        time.sleep(1.5)
        started = time.monotonic()
        master.terminate()
        assert conn.recv(1) == b""
        closed_after = time.monotonic() - started
    assert closed_after < REQUEST_TIMEOUT - 5, f"closed {closed_after:.1f} s after the stop"


def test_a_request_not_complete_in_time_is_closed(server) -> None:
    _, port, _ = server
    with socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT + 10) as conn:
        conn.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        assert conn.recv(1) == b""
        waited = time.monotonic() - started
    assert REQUEST_TIMEOUT - 0.5 < waited < REQUEST_TIMEOUT + 3  # expiry is checked each second


def test_of_servers_started_together_on_one_port_exactly_one_stays(tmp_path: Path) -> None:
    env = dead_store_env(tmp_path, WORKERS)
    bind = f"127.0.0.1:{free_port()}"
    starts = [subprocess.Popen(gunicorn_command(bind), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True) for _ in range(4)]
    try:
        deadline = time.monotonic() + 60
        while sum(p.poll() is None for p in starts) > 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        running = [p for p in starts if p.poll() is None]
        assert len(running) == 1
        assert answers(f"http://{bind}")
        for refused in (p for p in starts if p is not running[0]):
            assert refused.returncode == 1
            errors = [line for line in refused.stderr.read().splitlines() if "Error" in line]
            assert errors == [f"Error: {bind}: another graphrec server of this user is starting "
                              f"or running on port {bind.rpartition(':')[2]}: stop it, or "
                              f"serve on another address with --bind HOST:PORT"]
    finally:
        for proc in starts:
            proc.terminate()
            proc.wait(30)
            proc.stderr.close()


def test_the_port_lock_is_held_while_its_file_is_open(tmp_path: Path) -> None:
    held = lock_address("127.0.0.1:8123", tmp_path)
    with pytest.raises(AddressInUse, match="port 8123"):
        lock_address("0.0.0.0:8123", tmp_path)  # the same port on another address
    held.close()
    lock_address("127.0.0.1:8123", tmp_path).close()
    assert (tmp_path / "serve-port-8123.lock").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(("bind", "said"), [
    ("127.0.0.1:0", "a port is 1 to 65535"), ("127.0.0.1:99999", "a port is 1 to 65535"),
    ("127.0.0.1:-5", "give HOST:PORT"), ("8307", "give HOST:PORT"), ("abc", "give HOST:PORT"),
    ("unix:/tmp/graphrec.sock", "listens on TCP"),
    ("192.0.2.1:8309", "cannot listen on 192.0.2.1:8309"),  # none of this machine's addresses
    ("nosuchhost.invalid:8306", "cannot listen on nosuchhost.invalid:8306")])
def test_an_address_the_workers_could_not_listen_on_is_refused_before_anything(
        tmp_path: Path, bind: str, said: str) -> None:
    """Such an address reached gunicorn, whose workers failed to bind it one after the other
    while the master started new ones, for ever (port 0: each worker on a port of its own,
    none of them printed; 99999: a traceback)."""
    settings = Settings.from_env({"GRAPHREC_HOME": str(tmp_path)})
    prepared: list[Settings] = []
    with pytest.raises(BadAddress, match=re.escape(said)):
        serve(bind, settings, prepare=prepared.append)
    assert prepared == []


def test_a_runtime_folder_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="XDG_RUNTIME_DIR=.*: cannot make"):
        runtime_dir({"XDG_RUNTIME_DIR": str(tmp_path / "absent")})


def test_the_runtime_folder_is_private(tmp_path: Path) -> None:
    folder = runtime_dir({"XDG_RUNTIME_DIR": str(tmp_path)})
    assert folder == tmp_path / "graphrec" and folder.stat().st_mode & 0o777 == 0o700
    folder.chmod(0o755)
    with pytest.raises(RuntimeError, match="only they can use"):
        runtime_dir({"XDG_RUNTIME_DIR": str(tmp_path)})
