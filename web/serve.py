"""``graphrec serve``: run the HTTP service under gunicorn with the checked-in configuration."""
from __future__ import annotations

import fcntl
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

from graphrec.config import Settings
from graphrec.store.local import port_is_free

CONFIG = Path(__file__).with_name("gunicorn.conf.py")
DEFAULT_BIND = "127.0.0.1:8000"


def settings_env(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment in which ``Settings.from_env()`` gives back ``settings`` (for workers)."""
    env = dict(os.environ if base is None else base)
    values = {
        "GRAPHREC_HOME": str(settings.home),
        "NEO4J_URI": settings.neo4j_uri,
        "NEO4J_USER": settings.neo4j_user,
        "NEO4J_PASSWORD": settings.neo4j_password,
        "NEO4J_READER_USER": settings.neo4j_reader_user,
        "NEO4J_READER_PASSWORD": settings.neo4j_reader_password,
        "NEO4J_DATABASE": settings.neo4j_database,
        "GRAPHREC_STORE_DIR": str(settings.store_dir_override)
        if settings.store_dir_override else None,
        "GRAPHREC_STORE_HEAP": settings.store_heap,
        "GRAPHREC_REASON_CACHE_SIZE": str(settings.reason_cache_size),
        "GRAPHREC_CATALOGUE_CHECK_INTERVAL": str(settings.catalogue_check_interval),
        "GRAPHREC_MODEL_CHECK_INTERVAL": str(settings.model_check_interval),
        "GRAPHREC_GRAPH_CHECK_INTERVAL": str(settings.graph_check_interval),
        "GRAPHREC_TOPK_INDEX_ITEMS": str(settings.topk_index_items),
        "GRAPHREC_RETRY_AFTER": str(settings.retry_after),
        "GRAPHREC_WEB_WORKERS": str(settings.web_workers),
        "GRAPHREC_WEB_THREADS": str(settings.web_threads),
        "GRAPHREC_WEB_TIMEOUT": str(settings.web_timeout),
        "GRAPHREC_WEB_ACCESSLOG": settings.web_accesslog,
    }
    for name, value in values.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


class BadAddress(RuntimeError):
    """The service cannot listen on the address it was asked to bind."""


class AddressInUse(BadAddress):
    """Something listens on the address the service was asked to bind already."""


def split_address(bind: str) -> tuple[str, int]:
    """``(host, port)`` of ``HOST:PORT`` (``[::1]:8000``, ``:8000`` for every address), or
    :class:`BadAddress` saying why not. Port 0 is refused: each worker listens on a socket of
    its own (``reuse_port``), so each would get a port of its own, none of them the one said;
    a Unix socket too, which ``SO_REUSEPORT`` does not take."""
    host, colon, port = bind.rpartition(":")
    if bind.startswith(("unix:", "fd://")) or not colon or not port.isdecimal():
        raise BadAddress(f"--bind {bind!r}: the service listens on TCP, give HOST:PORT "
                         "(e.g. 127.0.0.1:8000)")
    if not 0 < int(port) < 65536:
        raise BadAddress(f"--bind {bind!r}: a port is 1 to 65535")
    return host.strip("[]") or "0.0.0.0", int(port)


def check_address_free(bind: str) -> None:
    """Raise :class:`AddressInUse` when another process listens on ``bind`` (``HOST:PORT``),
    :class:`BadAddress` when this machine cannot listen there at all (a host that is none of
    its addresses or does not resolve, a port this user may not bind): the workers would fail
    to bind, one after the other, while the master started new ones.

    Gunicorn's workers bind with SO_REUSEPORT (see gunicorn.conf.py), so a second server on the
    same port would not fail: the two would share the port, each answering part of the requests.
    """
    host, port = split_address(bind)
    try:
        free = port_is_free(port, host)
    except OSError as exc:
        raise BadAddress(f"cannot listen on {bind}: {exc.strerror or exc}") from None
    if not free:
        raise AddressInUse(f"{bind} is in use by another process: stop it, or serve on another "
                           f"address with --bind HOST:PORT")


def runtime_dir(env: Mapping[str, str] | None = None) -> Path:
    """This user's private folder for the server's locks: ``$XDG_RUNTIME_DIR/graphrec``, else
    ``/tmp/graphrec-<uid>``; made with mode 0700, and refused when it is a link, belongs to
    another user or others may enter it (anyone could then hold or remove its locks)."""
    env = os.environ if env is None else env
    base = env.get("XDG_RUNTIME_DIR")
    path = Path(base) / "graphrec" if base else Path("/tmp") / f"graphrec-{os.getuid()}"
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as exc:  # XDG_RUNTIME_DIR not there, or not this user's to write in
        raise RuntimeError(f"XDG_RUNTIME_DIR={base}: cannot make {path} in it "
                           f"({exc.strerror}): set it to a folder of this user's") from None
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise RuntimeError(f"{path} must be a folder of this user's that only they can use "
                           f"(mode 0700): remove it, or set XDG_RUNTIME_DIR to such a folder")
    return path


def lock_address(bind: str, folder: Path | None = None) -> IO[bytes]:
    """Take this user's lock on ``bind``'s port for as long as the returned file stays open;
    raise :class:`AddressInUse` when another server holds it.

    Each worker binds its own socket with SO_REUSEPORT, which the kernel lets every process of
    the same user share: two servers started at the same moment both found the port free and
    both stayed up, splitting its requests. The lock is taken before any socket is bound and
    held by gunicorn's master for its life (the kernel drops it when the master dies). It is
    keyed by the port alone, since addresses on one port overlap (0.0.0.0 takes in 127.0.0.1),
    and kept per user, since the kernel refuses to share a port between users anyway.
    """
    _, port = split_address(bind)
    path = (folder or runtime_dir()) / f"serve-port-{port}.lock"
    lock = open(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+b")  # noqa: SIM115 (returned)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise AddressInUse(f"{bind}: another graphrec server of this user is starting or "
                           f"running on port {port}: stop it, or serve on another address "
                           f"with --bind HOST:PORT") from None
    return lock


MIGRATE_REQ = Path("/proc/sys/net/ipv4/tcp_migrate_req")


def migrate_req(setting: Path = MIGRATE_REQ) -> int | None:
    """The kernel's ``net.ipv4.tcp_migrate_req``; None where it has no such setting."""
    try:
        return int(setting.read_text())
    except (OSError, ValueError):
        return None


def queued_connections_advice(setting: Path = MIGRATE_REQ) -> str | None:
    """What to change so that a dead worker loses no connection waiting in its queue, or None.

    Each worker listens on a socket of its own (``reuse_port``); a connection the kernel has
    queued on a worker's socket when that worker dies (``kill -9``, the OOM killer) is reset,
    unless ``net.ipv4.tcp_migrate_req`` is 1, which makes the kernel hand it to another
    worker's socket (Linux 5.14 or later). The service cannot set it (it is the host's, and
    needs privileges the service must not have), so it says so once, at start. None when the
    setting is 1, and when this kernel has no such setting (nothing to change then)."""
    if migrate_req(setting) != 0:
        return None
    return ("net.ipv4.tcp_migrate_req is 0: a connection waiting in a worker's queue when that "
            "worker dies is reset; set it to 1 (sysctl -w net.ipv4.tcp_migrate_req=1) to have "
            "the kernel hand such connections to another worker")


def gunicorn_command(bind: str) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "--config", str(CONFIG), "--bind", bind,
            "--chdir", str(CONFIG.parent.parent), "web:create_app()"]


def serve(bind: str, settings: Settings,
          prepare: Callable[[Settings], None] | None = None) -> int:
    """Run gunicorn until it exits; returns its exit status.

    ``prepare`` runs first, in this process, to set up what the service needs and is missing
    (the store, a catalogue, a trained model): the CLI passes it; the web package trains
    nothing. Workers read their settings from the environment, which is made to match
    ``settings``. SIGINT and SIGTERM are passed on to gunicorn, which stops gracefully.
    :class:`AddressInUse` before anything is set up when ``bind`` is taken.
    """
    check_address_free(bind)
    print(f"graphrec service at http://{bind}/ (Ctrl-C stops it)", flush=True)
    if prepare is not None:
        prepare(settings)
    proc = subprocess.Popen(gunicorn_command(bind), env=settings_env(settings))

    def forward(signum: int, _frame: object) -> None:
        proc.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
