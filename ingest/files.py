"""Opening catalogue files, plain or gzipped, and finding them in a directory."""

from __future__ import annotations

import gc
import gzip
import io
import re
import zlib
from collections import deque
from collections.abc import Generator, Iterator, MutableSequence, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ingest.errors import CatalogueError

_GZIP_MAGIC = b"\x1f\x8b"

#: What reading a damaged gzip file raises once its header has been read: a file cut short
#: (``EOFError``), damaged deflate data (``zlib.error``), a bad header or checksum.
GZIP_ERRORS: tuple[type[Exception], ...] = (EOFError, zlib.error, gzip.BadGzipFile)


#: A line and its end as :func:`open_lines` splits them with ``newline=""``: at ``\r\n``, ``\r``
#: or ``\n``, as :class:`io.TextIOWrapper` does with the same argument.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_BREAK = re.compile(rb"\r\n|\r|\n")


class Lines:
    """The lines of one catalogue file, each decoded as UTF-8 when it is read.

    Iterate it (or hand it to :func:`csv.reader`) for the lines, ends included; :attr:`number`
    is then the 1-based number of the line last read. Text that is not UTF-8 or gzip data that
    is cut short or damaged spoil the rest of the file, not one row: no later line can be
    trusted, so reading stops with a :class:`CatalogueError` that names the file and the line.
    Decoding a line at a time, rather than blocks of some 8 KB ahead of the reader as
    :class:`io.TextIOWrapper` does, is what lets that line be the one the bad bytes are on.

    With ``keep``, the lines read since :attr:`taken` was last cleared are kept there, and
    :meth:`read_again` hands some of them out again: a csv row that an unclosed quote ran on
    over the lines after it gives those lines back, to be read as rows of their own.
    :meth:`rewind` does so for lines read past without being kept (too many to hold).
    """

    def __init__(self, path: Path, binary: BinaryIO, *, universal: bool,
                 keep: bool = False) -> None:
        self.path = path
        #: Lines read so far: the line last read, 1-based.
        self.number = 0
        #: The lines read since it was last cleared, when kept (a list), else none (a deque
        #: that holds none).
        self.taken: MutableSequence[str] = [] if keep else deque(maxlen=0)
        self._binary = binary
        self._universal = universal
        # Lines to hand out before reading more, the next one last: those split off a line
        # already read, and those to read again.
        self._pending: list[str] = []

    def __iter__(self) -> Iterator[str]:
        """The lines from the first not yet handed out; after :meth:`read_again`, a new
        iteration (a new csv reader) hands out the lines given back first."""
        return self._read()

    def read_again(self, lines: Sequence[str]) -> None:
        """Hand out ``lines`` again, the last ones read, before any other."""
        self.number -= len(lines)
        self._pending.extend(reversed(lines))

    def rewind(self, number: int) -> None:
        """Go on from line ``number + 1``, the file being read again from its start up to
        there: lines read past without being kept are handed out again."""
        self._binary.seek(0)
        self.number = 0
        self._pending.clear()
        if number > 0:
            skipped = self._read()
            for _ in skipped:
                if self.number >= number:
                    break
            skipped.close()
        self.taken.clear()

    def _read(self) -> Generator[str, None, None]:
        taken, universal = self.taken, self._universal
        # A byte-order mark is dropped from the first line only.
        encoding = "utf-8-sig" if self.number == 0 else "utf-8"
        try:
            yield from self._pending_lines()
            for raw in self._binary:
                try:
                    text = raw.decode(encoding)
                except UnicodeDecodeError as error:
                    raise self._not_utf8(raw, error) from None
                encoding = "utf-8"
                # A line of the binary file ends at \n; one that holds a \r other than that
                # of a final \r\n is several lines with universal newlines.
                if universal and "\r" in text and text.count("\r") != text.endswith("\r\n"):
                    self._pending.extend(reversed(_LINE.findall(text)))
                    yield from self._pending_lines()
                    continue
                self.number += 1
                taken.append(text)
                yield text
        except GZIP_ERRORS as error:
            raise CatalogueError(
                f"truncated or corrupt gzip data near line {self.number + 1} ({error})",
                file=str(self.path)) from None

    def _pending_lines(self) -> Iterator[str]:
        """Hand out the lines given back or split off the line just read."""
        while self._pending:
            self.number += 1
            self.taken.append(text := self._pending.pop())
            yield text

    def _not_utf8(self, raw: bytes, error: UnicodeDecodeError) -> CatalogueError:
        """The error for ``raw``, the next line read, on which ``error`` was found: when it
        is several lines with universal newlines, the one that holds the bad bytes."""
        breaks = list(_BREAK.finditer(raw, 0, error.start)) if self._universal else []
        start = breaks[-1].end() if breaks else 0
        within = UnicodeDecodeError(error.encoding, raw[start:], error.start - start,
                                    error.end - start, error.reason)
        return CatalogueError(f"not UTF-8 text on line {self.number + 1 + len(breaks)} "
                              f"({within})", file=str(self.path))


@contextmanager
def open_lines(path: str | Path, newline: str = "", *, keep: bool = False) -> Iterator[Lines]:
    """The :class:`Lines` of ``path``, decompressed when it is gzipped.

    Compression is recognised by the file's first bytes, not its name. A leading byte-order mark
    is dropped. ``newline`` says where lines end: the default ``""`` at ``\r\n``, ``\r`` or
    ``\n``, as the csv module expects; ``"\n"`` at ``\n`` only, as ``sed -n`` counts them.
    ``keep``: see :class:`Lines`.
    """
    if newline not in ("", "\n"):
        raise ValueError(f'newline must be "" or "\\n", not {newline!r}')
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == _GZIP_MAGIC
    # GzipFile's own line iteration costs a Python call a line; a buffer over it, none. The
    # buffer's 8 KB are also how far ahead of the line read damaged gzip data can be found.
    with io.BufferedReader(gzip.GzipFile(path, "rb")) if gzipped else open(path, "rb") as binary:
        yield Lines(Path(path), binary, universal=newline == "", keep=keep)


#: How the files of a CSV catalogue may end.
CSV_SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz")


def find_file(
    directory: str | Path, stem: str, suffixes: tuple[str, ...] = CSV_SUFFIXES
) -> Path | None:
    """The first of ``directory/stem + suffix`` that exists and is not an unpacked copy (see
    :func:`unpacked_copies`), or None."""
    present = present_files(directory, stem, suffixes)
    copies = unpacked_copies(present)
    return next((path for path in present if path not in copies), None)


def present_files(
    directory: str | Path, stem: str, suffixes: tuple[str, ...] = CSV_SUFFIXES
) -> list[Path]:
    """Those of ``directory/stem + suffix`` that exist."""
    return [path for suffix in suffixes if (path := Path(directory) / f"{stem}{suffix}").is_file()]


def unpacked_copies(paths: Sequence[Path]) -> tuple[Path, ...]:
    """Those of ``paths`` (``X``) whose gzipped file (``X.gz``) is among them too.

    A reader reads the gzipped one and leaves the other out, saying so (:func:`unpacked_note`):
    beside each other they are most likely a download and its unpacked copy, the public copies
    ship gzipped, an unpacked copy may be one whose unpacking was interrupted, and gzip's
    checksum shows the compressed one complete.
    """
    names = {path.name for path in paths}
    return tuple(path for path in paths if f"{path.name}.gz" in names)


def unpacked_note(path: Path) -> str:
    """The note of a reader that left ``path`` out for the gzipped file beside it."""
    return f"read {path.name}.gz, not {path.name} beside it (taken for its uncompressed copy)"


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
