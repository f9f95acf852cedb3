"""What another local user or a stray listener can learn from or do to the store graphrec uses.

The local store's secrets never appear where other users can read them (a process's command
line), its files are private to the user that runs graphrec, credentials go only to the port the
running store listens on, a store that never answers costs a request seconds (not a minute)
without holding up the worker's other threads, and the service reads as a user that cannot
write.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

import psutil
import pytest

from graphrec.config import Settings
from graphrec.localstore import LocalStore
from graphrec.store import GraphStore


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
