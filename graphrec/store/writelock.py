"""One writer at a time on a graph store: an advisory lock file, ``$GRAPHREC_HOME/write.lock``.

Commands that write (``graphrec ingest``, ``graphrec publish``) hold it for their writes. Two
loads started together otherwise MERGE the same keys in concurrent transactions, and the store
refuses one of them with a ``ConstraintError``. Retrying on that error would do for the ingest,
whose statements are idempotent, but not for every writer: publish deletes then writes each
batch of users, and two publishers interleaved would leave a mix of two runs. Retrying also only
hides that two jobs compete for the same store, each slower than alone. A lock serialises every
writer the same way, says who is waiting on whom, and is released by the kernel when its holder
dies, even by ``kill -9``.

The lock is ``fcntl.flock`` on a file in ``GRAPHREC_HOME``, so it serialises the commands that
share that home (and its local store); writers from other homes or machines to one Neo4j server
are not seen.
"""
from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from graphrec.config import Settings
from graphrec.filelock import acquire
from graphrec.private import open_private, private_folder

LOCK_NAME = "write.lock"
#: How long a writer waits for the one before it (a full-catalogue ingest takes minutes).
DEFAULT_WAIT_SECONDS = 3600.0
_POLL_SECONDS = 0.2


class WriterBusy(RuntimeError):
    """Another writer kept the lock for longer than this one would wait."""


def lock_path(settings: Settings) -> Path:
    return settings.home / LOCK_NAME


@contextmanager
def writer_lock(settings: Settings, holder: str, *, wait: float = DEFAULT_WAIT_SECONDS,
                notify: Callable[[str], None] = print) -> Iterator[None]:
    """Hold the store's write lock for the ``with`` block, waiting at most ``wait`` seconds.

    ``holder`` names this writer (``"graphrec ingest"``) to those who wait for it; ``notify``
    receives one line when this writer has to wait.

    Raises:
        WriterBusy: the lock was still held after ``wait`` seconds.
    """
    path = lock_path(settings)
    private_folder(path.parent)
    descriptor = open_private(path, os.O_RDWR)
    with os.fdopen(descriptor, "r+", encoding="utf-8") as handle:
        if not acquire(handle):
            other = handle.read().strip() or "another graphrec command"
            notify(f"waiting for the other writer on this store ({other}) to finish, "
                   f"at most {wait:.0f}s")
            if not acquire(handle, wait, _POLL_SECONDS):
                raise WriterBusy(f"the other writer ({other}) still holds {path} after "
                                 f"{wait:.0f}s; run this again when it has finished")
        _write_holder(handle, f"{holder}, pid {os.getpid()}")
        try:
            yield
        finally:
            _write_holder(handle, "")
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_holder(handle: TextIO, text: str) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(text)
    handle.flush()
