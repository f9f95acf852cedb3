"""Files and folders that only the user who runs graphrec can read, whatever the umask.

What graphrec keeps is catalogue data (the store's database, rejected rows, trained models,
which hold every purchase and user id) or credentials (the store's passwords), so each part
writes it through these helpers rather than with the process's default modes: folders 0700,
files 0600 (``SECURITY.md``).
"""
from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

#: The permission bits of group and others: none of them is ever set on what graphrec writes.
SHARED_BITS = 0o077
FOLDER_MODE, FILE_MODE = 0o700, 0o600


def private_folder(path: Path) -> Path:
    """``path`` made if missing, 0700, and so are its missing parents (``mkdir -p`` would make
    those with the umask's mode: a ``GRAPHREC_HOME`` made as the store's parent would be
    open to all); a folder that exists keeps its mode."""
    missing = [folder for folder in [path, *path.parents] if not folder.exists()]
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another process
            folder.mkdir(mode=FOLDER_MODE)
    return path


def open_private(path: Path, flags: int) -> int:
    """``os.open(path, flags | O_CREAT)`` with the file's mode 0600, also when it existed
    already with another (``flags`` as ``os.open``'s; add ``O_EXCL`` to refuse one that does)."""
    descriptor = os.open(path, flags | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(descriptor, FILE_MODE)
    except OSError:
        os.close(descriptor)
        raise
    return descriptor


def write_private(path: Path, text: str) -> None:
    """``text`` written to ``path`` (replacing what it held), the file 0600, whole: into a file
    of its own beside it, then moved into place, so that another process reading ``path``
    meanwhile (where the local store listens, the workers' switch time) finds the old text or
    the new, never an empty or half-written file."""
    pending = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        with os.fdopen(open_private(pending, os.O_WRONLY | os.O_EXCL), "w",
                       encoding="utf-8") as fh:
            fh.write(text)
        os.replace(pending, path)
    except BaseException:
        pending.unlink(missing_ok=True)
        raise


def make_private(top: Path) -> None:
    """Take every permission of group and others off ``top`` and everything under it (links
    are left alone): for what was written with the default modes, by a library that takes no
    mode (``numpy.save``, ``torch.save``) or by an older graphrec."""
    for folder, dirs, files in os.walk(top):
        for entry in [folder, *(os.path.join(folder, name) for name in dirs + files)]:
            mode = os.lstat(entry).st_mode
            if not stat.S_ISLNK(mode) and stat.S_IMODE(mode) & SHARED_BITS:
                os.chmod(entry, stat.S_IMODE(mode) & ~SHARED_BITS)
