"""The local graph store: an ArcadeDB server speaking Bolt, started and stopped by graphrec.

With no ``NEO4J_URI`` graphrec runs against this server so that a fresh machine needs neither
Java nor Neo4j: the ``arcadedb-embedded`` wheel ships the server and its own Java runtime. The
server is a separate process (it outlives one command, so later commands reuse it) that listens
on 127.0.0.1 only, with a generated root password kept in a 0600 file.

Two users log in to it: ``root``, for what writes (ingest, train, publish), and
``graphrec_reader``, which the web service uses and which may read every record of the database
and change nothing (its own generated password, in another 0600 file).

The store is private to the user who runs graphrec: the server reads its root password from that
file (never from its command line, which every local user can read in ``/proc``), and every file
and folder under the store's directory is 0600/0700, so no other user can read the database files
either.
"""
from __future__ import annotations

import base64
import errno
import fcntl
import importlib.util
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import neo4j
import psutil

import cypher
from graphrec.config import Settings
from graphrec.private import FOLDER_MODE, make_private, open_private, private_folder, write_private

SERVER_CLASS = "com.arcadedb.server.ArcadeDBServer"
BOLT_PLUGIN = "Bolt:com.arcadedb.bolt.BoltProtocolPlugin"
USER = "root"
#: The user the web service reads as, and its group: every type of the database readable,
#: nothing else (no record created, changed or deleted, no schema change); ArcadeDB enforces it
#: over Bolt as over HTTP.
READER_USER = "graphrec_reader"
READER_GROUP = "reader"
READER_ACCESS: dict[str, Any] = {"resultSetLimit": -1, "readTimeout": -1, "access": [],
                                 "types": {"*": {"access": ["readRecord"]}}}
#: The longest a call to the server's HTTP API (its users and groups) may take.
HTTP_SECONDS = 5.0
#: How servers started by graphrec before 0600 password files were used got their password.
PASSWORD_ARGUMENT = "-Darcadedb.server.rootPassword="
#: How the server is told the folder of its databases (this store's ``root``).
ROOT_ARGUMENT = "-Darcadedb.server.rootPath="

log = logging.getLogger(__name__)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs: one that has exited but is not reaped yet (a zombie: the
    server a command started, which Java ended at once) does not."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _ended(proc: psutil.Process, timeout: float) -> bool:
    """Whether ``proc`` ends within ``timeout`` seconds. A process that has exited but whose
    parent has not reaped it yet (a store that ``graphrec serve`` started, stopped from another
    process) stays a zombie until that parent does, and counts as ended: psutil's ``wait`` on a
    process not our own would wait for it to vanish. Our own child is reaped."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            proc.wait(min(0.2, max(0.0, deadline - time.monotonic())))
            return True
        except psutil.TimeoutExpired:
            pass
        if not _alive(proc.pid):
            return True
        if time.monotonic() >= deadline:
            return False


class LocalStoreError(RuntimeError):
    """The local store could not be started, reached or stopped."""


@dataclass(frozen=True)
class ServerInfo:
    """What a running local server needs to be found again: written to ``server.json``."""

    pid: int
    bolt_port: int
    http_port: int
    database: str

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.bolt_port}"

    @property
    def studio_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


def _package_dir() -> Path:
    spec = importlib.util.find_spec("arcadedb_embedded")
    if spec is None or spec.origin is None:
        raise LocalStoreError("the local store needs the arcadedb-embedded package: "
                              "pip install arcadedb-embedded==26.10.2.post1")
    return Path(spec.origin).parent


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _api_error(exc: urllib.error.HTTPError) -> str:
    """The server's own words for a refused call: its JSON ``detail`` or ``error``."""
    try:
        answer = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        return exc.reason
    return str(answer.get("detail") or answer.get("error") or exc.reason)


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process ``pid`` listens on (none when it is gone)."""
    try:
        connections = psutil.Process(pid).net_connections(kind="tcp")
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return set()
    return {c.laddr.port for c in connections if c.status == psutil.CONN_LISTEN}


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a listener could bind ``host:port`` now.

    SO_REUSEADDR as servers' own sockets set it: connections of a stopped server linger in
    TIME_WAIT on its port for a minute and must not count as taken; a listener does. Errors
    other than the address being in use (a host that is not this machine's) are raised.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
        return True


class LocalStore:
    """The local ArcadeDB server whose files live in ``settings.store_dir``."""

    def __init__(self, settings: Settings):
        self.dir = settings.store_dir
        self.database = settings.database
        self.heap = settings.store_heap

    @property
    def password_file(self) -> Path:
        return self.dir / "password"

    @property
    def reader_password_file(self) -> Path:
        return self.dir / "reader_password"

    @property
    def log_file(self) -> Path:
        return self.dir / "server.log"

    @property
    def _info_file(self) -> Path:
        return self.dir / "server.json"

    def password(self) -> str:
        """The root password, generated on first use and readable by this user only."""
        self._make_dir()
        if not self.password_file.exists():
            fd = open_private(self.password_file, os.O_WRONLY | os.O_EXCL)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(24))
        return self.password_file.read_text().strip()

    def reader_password(self) -> str:
        """The password of :data:`READER_USER`, which :meth:`start` creates on the server."""
        try:
            return self.reader_password_file.read_text().strip()
        except FileNotFoundError:
            raise LocalStoreError(f"the local store has no reader user yet (no "
                                  f"{self.reader_password_file.name}): start it with "
                                  f"graphrec db start") from None

    def _make_dir(self) -> None:
        private_folder(self.dir).chmod(FOLDER_MODE)  # an older store's too

    def running(self) -> ServerInfo | None:
        """The server recorded in ``server.json`` if its process is still alive and is this
        folder's: a ``server.json`` copied with a home (``cp -a`` of a home whose store runs)
        names another folder's server, which must be neither used nor stopped from here."""
        try:
            info = ServerInfo(**json.loads(self._info_file.read_text()))
        except (FileNotFoundError, json.JSONDecodeError, TypeError):
            return None
        try:
            cmdline = psutil.Process(info.pid).cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return None
        ours = SERVER_CLASS in cmdline and self._root_argument() in cmdline
        return info if ours else None

    def _root_argument(self) -> str:
        """The argument that names this folder's databases on the server's command line."""
        return f"{ROOT_ARGUMENT}{self.dir / 'root'}"

    def bolt_resolver(self, address: neo4j.Address) -> list[neo4j.Address]:
        """Where the server accepts Bolt now, for the driver's ``resolver`` option.

        The driver calls it before every connection it opens, so a connection goes only to the
        port ``server.json`` records, and only while the recorded server process is alive and
        listens there itself: after a restart on other ports no credentials are sent to the old
        one, whatever may listen there now. ``ServiceUnavailable`` when the server is down.
        """
        info = self.running()
        if info is None:
            raise neo4j.exceptions.ServiceUnavailable(
                "the local store is not running (start it: graphrec db start)")
        if info.bolt_port not in listening_ports(info.pid):
            raise neo4j.exceptions.ServiceUnavailable(
                f"the local store (pid {info.pid}) does not listen on its Bolt port yet")
        return [neo4j.Address(("127.0.0.1", info.bolt_port))]

    def start(self, timeout: float = 120.0) -> ServerInfo:
        """Start the server, or return the one already running; returns once a query answers."""
        with self._lock():
            info = self.running()
            if info is None:
                info = self._spawn()
            elif any(arg.startswith(PASSWORD_ARGUMENT)
                     for arg in psutil.Process(info.pid).cmdline()):
                log.warning("the local store (pid %d) was started with its root password on its "
                            "command line, where every local user can read it: restart it "
                            "(graphrec db stop, then graphrec db start)", info.pid)
            self._wait_ready(info, timeout)
            self._ensure_reader(info)
            return info

    def stop(self, timeout: float = 60.0) -> ServerInfo | None:
        """Stop the server if it runs; returns what was stopped."""
        with self._lock():
            info = self.running()
            if info is None:
                return None
            proc = psutil.Process(info.pid)
            proc.send_signal(signal.SIGTERM)
            if not _ended(proc, timeout):
                proc.kill()
                if not _ended(proc, 10):
                    raise LocalStoreError(f"the local store (pid {info.pid}) did not stop, "
                                          "even when killed")
            self._info_file.unlink(missing_ok=True)
            return info

    def _ports(self) -> tuple[int, int]:
        """The ports of the last start when they are still free, so the address stays put."""
        ports_file = self.dir / "ports.json"
        try:
            bolt, http = json.loads(ports_file.read_text())
            if port_is_free(bolt) and port_is_free(http):
                return bolt, http
        except (FileNotFoundError, json.JSONDecodeError, TypeError, ValueError):
            pass
        bolt, http = _free_port(), _free_port()
        write_private(ports_file, json.dumps([bolt, http]))
        return bolt, http

    def _spawn(self) -> ServerInfo:
        """Start the server with umask 077, so that whatever it writes is this user's alone.

        The root password goes by its file (``rootPasswordPath``): ArcadeDB reads it when it
        creates the root user, the first time it starts on this store, and keeps only a salted
        hash of it in ``server-users.jsonl``.
        """
        pkg = _package_dir()
        self.password()
        make_private(self.dir)
        bolt_port, http_port = self._ports()
        private_folder(self.dir / "root")
        command = [
            str(pkg / "jre" / "bin" / "java"),
            f"-Xmx{self.heap}",
            self._root_argument(),
            f"-Darcadedb.server.rootPasswordPath={self.password_file}",
            f"-Darcadedb.server.defaultDatabases={self.database}[{USER}]",
            f"-Darcadedb.server.plugins={BOLT_PLUGIN}",
            "-Darcadedb.server.httpIncomingHost=127.0.0.1",
            f"-Darcadedb.server.httpIncomingPort={http_port}",
            "-Darcadedb.bolt.host=127.0.0.1",
            f"-Darcadedb.bolt.port={bolt_port}",
            "-cp", str(pkg / "jars" / "*"),
            SERVER_CLASS,
        ]
        log_fd = open_private(self.log_file, os.O_WRONLY | os.O_APPEND)
        with os.fdopen(log_fd, "ab") as log:
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=self.dir,
                                    start_new_session=True, umask=0o077)
        info = ServerInfo(pid=proc.pid, bolt_port=bolt_port, http_port=http_port,
                          database=self.database)
        write_private(self._info_file, json.dumps(asdict(info)))
        return info

    def _wait_ready(self, info: ServerInfo, timeout: float) -> None:
        """Bolt opens before the database exists, so wait for a real query to answer. A server
        that exits (a setting Java refuses: it ends at once) or refuses the password ends the
        wait there, in one line that says why, not at ``timeout``."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        with neo4j.GraphDatabase.driver(info.uri, auth=(USER, self.password()),
                                        resolver=self.bolt_resolver) as driver:
            while time.monotonic() < deadline:
                if not _alive(info.pid):
                    raise LocalStoreError(f"the local store (pid {info.pid}) exited while "
                                          f"starting: {self._log_tail()}")
                try:
                    with driver.session(database=info.database) as session:
                        session.run(cypher.load("admin/ping")).consume()
                    return
                except neo4j.exceptions.AuthError as exc:
                    raise LocalStoreError(
                        f"the local store (pid {info.pid}) refused the password in "
                        f"{self.password_file} ({exc.code}): restart it with graphrec db stop, "
                        "then graphrec db start") from exc
                except (neo4j.exceptions.Neo4jError, neo4j.exceptions.DriverError,
                        OSError) as exc:
                    last_error = exc
                    time.sleep(0.5)
        raise LocalStoreError(
            f"the local store did not answer on {info.uri} within {timeout:.0f}s (last error: "
            f"{last_error}): {self._log_tail()}")

    def _ensure_reader(self, info: ServerInfo) -> None:
        """Give the server :data:`READER_GROUP` on the database and :data:`READER_USER` in it.

        Both live in the server's security files (``server-groups.json``,
        ``server-users.jsonl``, the password as a salted hash), so this changes something only
        the first time a store starts, or when the password file is missing: then a new
        password is set on the server before the file holding it appears.
        """
        groups = self._server_api(info, "GET", "server/groups")["databases"]
        if groups.get(self.database, {}).get("groups", {}).get(READER_GROUP) != READER_ACCESS:
            self._server_api(info, "POST", "server/groups",
                             {"database": self.database, "name": READER_GROUP, **READER_ACCESS})
        users = {user["name"]: user for user in self._server_api(info, "GET", "server/users")}
        membership = {self.database: [READER_GROUP]}
        known = users.get(READER_USER)
        if (known is not None and known.get("databases") == membership
                and self.reader_password_file.exists()):
            return
        password = secrets.token_urlsafe(24)
        change = {"password": password, "databases": membership}
        if known is None:
            self._server_api(info, "POST", "server/users", {"name": READER_USER, **change})
        else:
            self._server_api(info, "PUT", f"server/users?name={READER_USER}", change)
        write_private(self.reader_password_file, password)  # whole: a reader never sees half

    def _server_api(self, info: ServerInfo, method: str, path: str,
                    body: dict[str, Any] | None = None) -> Any:
        """Call the server's HTTP API as root; returns the answer's ``result``.

        Only once the recorded server process is seen listening on the HTTP port it was given,
        so the root password goes to that server and nowhere else.
        """
        if info.http_port not in listening_ports(info.pid):
            raise LocalStoreError(f"the local store (pid {info.pid}) does not listen on its "
                                  f"HTTP port {info.http_port}")
        token = base64.b64encode(f"{USER}:{self.password()}".encode()).decode()
        request = urllib.request.Request(
            f"{info.studio_url}/api/v1/{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"})
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no http_proxy
        try:
            with direct.open(request, timeout=HTTP_SECONDS) as response:
                return json.load(response)["result"]
        except urllib.error.HTTPError as exc:
            raise LocalStoreError(f"the local store refused {method} /api/v1/{path}: "
                                  f"HTTP {exc.code} {_api_error(exc)}") from None
        except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
            raise LocalStoreError(f"the local store's HTTP API on port {info.http_port} "
                                  f"did not answer {method} /api/v1/{path}: {exc}") from exc

    def _log_tail(self, lines: int = 3) -> str:
        """The server log's last ``lines`` lines that say something, on one line, and where the
        log is: what an error of the store's start ends with."""
        try:
            said = [line.strip()[:200] for line in
                    self.log_file.read_text(errors="replace").splitlines() if line.strip()]
        except FileNotFoundError:
            return f"no log at {self.log_file}"
        return f"its log {self.log_file} ends: {' / '.join(said[-lines:]) or '(empty)'}"

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise start/stop across processes (gunicorn workers, parallel commands)."""
        self._make_dir()
        fd = open_private(self.dir / "lock", os.O_WRONLY)
        with os.fdopen(fd, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
