"""``graphrec serve``: run the HTTP service under gunicorn with the checked-in configuration."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

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
    }
    for name, value in values.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


class AddressInUse(RuntimeError):
    """Something listens on the address the service was asked to bind already."""


def check_address_free(bind: str) -> None:
    """Raise :class:`AddressInUse` when another process listens on ``bind`` (``HOST:PORT``).

    Gunicorn's workers bind with SO_REUSEPORT (see gunicorn.conf.py), so a second server on the
    same port would not fail: the two would share the port, each answering part of the requests.
    Unix sockets and addresses this check cannot parse or bind are left to gunicorn.
    """
    if bind.startswith(("unix:", "fd://")):
        return
    host, _, port = bind.rpartition(":")
    try:
        free = port_is_free(int(port), host.strip("[]") or "0.0.0.0")
    except (ValueError, OSError):
        return
    if not free:
        raise AddressInUse(f"{bind} is in use by another process: stop it, or serve on another "
                           f"address with --bind HOST:PORT")


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
