"""What graphrec writes is its owner's only, whatever the umask (``graphrec/private.py``)."""
from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from graphrec.private import make_private, open_private, private_folder, write_private


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    """A umask that leaves what it creates readable by all, as many systems have."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_private_folders_missing_parents_are_private_too(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    folder = private_folder(shared / "home" / "store")
    assert folder.is_dir() and mode(folder) == mode(shared / "home") == 0o700
    assert mode(shared) == 0o755  # a folder that existed keeps its mode
    assert private_folder(folder) == folder  # and one that exists is no error


def test_a_file_opened_private_is_0600_even_when_it_existed_open_to_all(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    path.write_text("old")
    path.chmod(0o644)
    os.close(open_private(path, os.O_RDWR))
    assert mode(path) == 0o600 and path.read_text() == "old"
    write_private(path, "new")
    assert mode(path) == 0o600 and path.read_text() == "new"
    with pytest.raises(FileExistsError):
        open_private(path, os.O_WRONLY | os.O_EXCL)


def test_a_reader_never_finds_a_file_half_written(tmp_path: Path) -> None:
    """Another process reads the file while it is replaced (the workers' switch time, where the
    local store listens): the old text or the new, never an empty file."""
    path = tmp_path / "switch.json"
    write_private(path, "old " * 1000)
    stop, seen = threading.Event(), set()

    def read() -> None:
        while not stop.is_set():
            seen.add(path.read_text()[:4])

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(300):
            write_private(path, ("new " if n % 2 else "old ") * 1000)
    finally:
        stop.set()
        reader.join()
    assert seen <= {"old ", "new "} and mode(path) == 0o600
    assert [entry.name for entry in tmp_path.iterdir()] == ["switch.json"]  # nothing left


def test_making_a_tree_private_takes_group_and_others_off_everything_in_it(
        tmp_path: Path) -> None:
    (tmp_path / "model" / "arrays").mkdir(parents=True)
    (tmp_path / "model" / "arrays" / "target.npy").write_bytes(b"\0")
    (tmp_path / "model" / "run.sh").write_text("")
    (tmp_path / "model" / "run.sh").chmod(0o755)
    make_private(tmp_path / "model")
    assert mode(tmp_path / "model") == mode(tmp_path / "model" / "arrays") == 0o700
    assert mode(tmp_path / "model" / "arrays" / "target.npy") == 0o600
    assert mode(tmp_path / "model" / "run.sh") == 0o700  # the owner's bits kept
