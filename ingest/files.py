"""Opening catalogue files, plain or gzipped, and finding them in a directory."""

from __future__ import annotations

import gc
import gzip
import io
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from ingest.errors import CatalogueError

_GZIP_MAGIC = b"\x1f\x8b"

#: What reading a damaged gzip file raises once its header has been read: a file cut short
#: (``EOFError``), damaged deflate data (``zlib.error``), a bad header or checksum.
GZIP_ERRORS: tuple[type[Exception], ...] = (EOFError, zlib.error, gzip.BadGzipFile)


def open_text(path: str | Path, newline: str = "") -> TextIO:
    """Open ``path`` for reading as UTF-8 text, decompressing it if it is gzipped.

    Compression is recognised by the file's first bytes, not its name. A leading byte-order mark
    is dropped. ``newline`` is passed to :class:`io.TextIOWrapper`: the default ``""`` leaves line
    endings to the csv module; ``"\n"`` splits lines at ``\n`` only, as ``sed -n`` counts them.
    """
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == _GZIP_MAGIC
    binary = gzip.open(path, "rb") if gzipped else open(path, "rb")
    return io.TextIOWrapper(binary, encoding="utf-8-sig", newline=newline)


@contextmanager
def unreadable_is_unusable(path: str | Path, line: Callable[[], int]) -> Iterator[None]:
    """Turn a failure to decode ``path`` into a :class:`CatalogueError` naming the file and
    ``line()``, the line being read when it happened.

    Text that is not UTF-8 and gzip data that is cut short or damaged spoil the rest of the
    file, not one row: no later line can be trusted, so the whole catalogue is refused.
    """
    try:
        yield
    except UnicodeDecodeError as error:
        raise CatalogueError(
            f"not UTF-8 text near line {line()} ({error})", file=str(path)
        ) from None
    except GZIP_ERRORS as error:
        raise CatalogueError(
            f"truncated or corrupt gzip data near line {line()} ({error})", file=str(path)
        ) from None


def find_file(
    directory: str | Path, stem: str, suffixes: tuple[str, ...] = (".csv", ".csv.gz")
) -> Path | None:
    """The first of ``directory/stem + suffix`` that exists, or None."""
    for suffix in suffixes:
        candidate = Path(directory) / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small objects.

    Reading a million link rows creates millions of lists and records, none of them cyclic; the
    collector's repeated passes over them cost more than the parsing itself (about 3x here).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
