"""Advisory locks between the processes that share a ``GRAPHREC_HOME``: ``fcntl.flock`` on a
file, which the kernel releases when its holder dies, even by ``kill -9``.

The one way graphrec takes such a lock: the store's writers (:mod:`graphrec.store.writelock`),
the workers loading a new model in turn (``web/engine.py``) and those sharing a fold-in
(:mod:`graphrec.serving.folds`).
"""
from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from graphrec.private import open_private

#: How often a waiter tries again.
POLL_SECONDS = 0.05


def acquire(handle: int | IO[str], wait: float = 0.0, poll: float = POLL_SECONDS) -> bool:
    """Lock ``handle`` (a descriptor or an open file) for this process alone, trying for at
    most ``wait`` seconds (``0``: once); whether it is held."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)


@contextmanager
def held(path: Path, wait: float = 0.0) -> Iterator[bool]:
    """Hold the lock of ``path`` (made 0600 if missing) for the ``with`` block, trying for at
    most ``wait`` seconds: whether it is held (the block runs either way)."""
    descriptor = open_private(path, os.O_RDWR)
    try:
        mine = acquire(descriptor, wait)
        try:
            yield mine
        finally:
            if mine:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)
