"""A fold-in of new items made once per server and memory-mapped by each of its workers.

Every worker looks at the catalogue on its own and folds the items ingested since training into
the model it serves (:meth:`~graphrec.serving.service.RecommendationService.fold_new_items`).
The folded model is as large as the graph: the trained layers and edges copied with the new
rows between them, the grown graph's path index, and the edge masking's keys over them. Made by
each worker, a server of four holds four copies and pays for each on the cores its requests need
(``benchmarks/fold_in_growth.py --workers``; the figures are in ``benchmarks/results/NOTES.md``).

:class:`SharedFolds` makes each fold-in once. The first worker to need one takes a lock named
after it, folds, writes the arrays under its folder (``$GRAPHREC_HOME/folds/<name>/``, moved
into place whole) and maps them; the others wait on the lock, then map the same files: the
server holds one copy, in the page cache, and its workers' CPU goes to the requests. Each maps
its pages in once (:func:`_touch`) before serving from them, so no request pays a page's first
fault.

A fold-in is named after what it is made of: the trained model's version and the new items' rows
as the store returned them, in a canonical order. Workers that read the same catalogue map the
same files, and one that read a later catalogue makes its own. Writing one removes the folder's
others, and so does a catalogue with nothing left to fold in (the new items removed, say): a
worker serving from one keeps its pages until it lets go of them, as the kernel keeps a mapped
file that is deleted. A service that loads a model with nothing to fold in removes them all
(:meth:`clear`). Only those older than ``keep_for`` seconds go: while a catalogue changes, the
workers' looks fall at different moments, and one that read the catalogue a moment before the
others must not remove the fold-in they are about to map (they would make it again).

The folder also carries two signals between the workers, each a file whose time a worker's
watcher compares with its last look at every turn, so that the workers of a server follow a
change of the catalogue together rather than each at its own look:

* ``asked``: a request named an item the store holds and its worker has not taken in yet,
  answered 503 with ``Retry-After``; the client's next try may reach any worker (a new
  connection lands on any of them), so every worker looks at its next turn
  (:meth:`SharedFolds.ask`, :meth:`SharedFolds.asked_since`);
* ``made``: a worker wrote a fold-in; every other worker looks at its next turn and maps it
  (:meth:`SharedFolds.mapped`) even while the catalogue keeps moving, when it is the fold-in of
  the catalogue it reads, and never makes one on that signal, so that one worker's fold-in
  never sets off another's (:meth:`SharedFolds.made_since`). Before, a list and an explanation
  from two workers ranked a new item's neighbours apart for as long as their looks differed.

Sharing saves memory and CPU; answering never needs it. Without a folder (``None``), with one
that cannot be written or read, or when the lock is held for longer than ``wait`` seconds, a
worker folds on its own as before, and says so in the log.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from graphrec.explain.attribution import EdgeMasking
from graphrec.explain.paths import PathFinder
from graphrec.filelock import held
from graphrec.model.artifact import Artifact
from graphrec.model.foldin import Allocate, in_memory
from graphrec.model.kernel import Propagated
from graphrec.private import make_private, open_private, private_folder
from graphrec.serving.newitems import Row, grow

__all__ = ["SharedFolds", "fold_name"]

log = logging.getLogger(__name__)

#: How long a worker waits for another that is making the same fold-in before it makes its own
#: (a fold-in at fifty times Beauty's items takes about twenty seconds).
WAIT_SECONDS = 120.0
#: The grown graph's arrays a fold-in changes (the purchases and category tree it keeps).
_GRAPH = ("item_brand", "item_category", "item_product")
_META = "fold.json"
#: The files a worker touches when a request asked for an item it has not taken in yet, and
#: when it wrote a fold-in.
_ASKED, _MADE = "asked", "made"


def fold_name(trained: Artifact, rows: Sequence[Row]) -> str:
    """The name of the fold-in of ``rows`` into ``trained``: what it is made of, hashed. The
    rows and their lists in a canonical order: the store returns them in none
    (``cypher/service/new_items.cypher``), and two workers reading the same catalogue must
    name the same fold-in."""
    canonical = sorted(
        ({key: sorted(value, key=str) if isinstance(value, list) else value
          for key, value in row.items()} for row in rows),
        key=lambda row: str(row.get("item_id")))
    digest = hashlib.sha256(trained.version.encode())
    digest.update(json.dumps(canonical, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:24]


class SharedFolds:
    """Fold-ins made once under ``folder`` and mapped by every process that serves from it;
    ``folder`` ``None``: each caller folds on its own."""

    def __init__(self, folder: Path | None, wait: float = WAIT_SECONDS,
                 keep_for: float = WAIT_SECONDS):
        self.folder, self.wait, self.keep_for = folder, wait, keep_for
        self._touched: dict[str, float] = {}  # when this process last touched each signal

    def grow(self, trained: Artifact, rows: Sequence[Row]) -> tuple[Artifact, EdgeMasking | None]:
        """``trained`` with the items of ``rows`` folded in (:func:`~graphrec.serving.newitems.
        grow`, with a path index), and the edge masking of its arrays when it was made or
        mapped here (``None`` when nothing was folded in or the caller folded on its own: the
        served model makes its masking then)."""
        if self.folder is None:
            return _folded(trained, rows), None
        name = fold_name(trained, rows)
        folding = False  # an error of the fold itself is the caller's, not the folder's
        try:
            private_folder(self.folder)
            if not self._written(name):
                with held(self.folder / f"{name}.lock", self.wait) as mine:
                    if not mine:
                        log.warning("another worker has been folding in these items for over "
                                    "%.0fs: this worker folds them on its own", self.wait)
                        folding = True
                        return _folded(trained, rows), None
                    if not self._written(name):  # else another made it while this one waited
                        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp",
                                                    dir=self.folder))
                        try:
                            folding = True
                            folded = _folded(trained, rows, _in_files(tmp))
                            folding = False
                            if folded.state is trained.state:  # nothing to fold in (now)
                                self._clear(keep=name)
                                return folded, None
                            self._write(tmp, name, folded)
                            self._signal(_MADE)
                        finally:  # gone already once moved into place
                            shutil.rmtree(tmp, ignore_errors=True)
                        self._clear(keep=name)
            # mapped outside the lock: the workers that waited map the files side by side
            found = self._read(name, trained)
            if found is None:
                raise FileNotFoundError(f"{self.folder / name} is gone")
            return found
        except (OSError, ValueError, KeyError) as exc:
            if folding and not isinstance(exc, _Unwritable):
                raise  # folding again alone would fail the same way, under a wrong log line
            log.warning("the shared fold-in under %s is not usable (%s): this worker folds the "
                        "new items on its own", self.folder, exc)
            return _folded(trained, rows), None

    def mapped(self, trained: Artifact, rows: Sequence[Row]
               ) -> tuple[Artifact, EdgeMasking] | None:
        """The fold-in of ``rows`` into ``trained`` when another process has written it, mapped
        as :meth:`grow` maps it; ``None`` when none has (nothing is made here) or it cannot be
        read (logged)."""
        if self.folder is None:
            return None
        name = fold_name(trained, rows)
        try:
            return self._read(name, trained) if self._written(name) else None
        except (OSError, ValueError, KeyError) as exc:
            log.warning("the shared fold-in under %s is not usable (%s)", self.folder, exc)
            return None

    def ask(self) -> None:
        """Have every worker of this folder look at the catalogue at its watcher's next turn
        (:meth:`asked_since`)."""
        self._signal(_ASKED)

    def asked_since(self, when: float) -> bool:
        """Whether a worker asked (:meth:`ask`) after ``when`` (``time.time()``): one ``stat``,
        at each turn of a worker's watcher."""
        return self._since(_ASKED, when)

    def made_since(self, when: float) -> bool:
        """Whether another worker wrote a fold-in (:meth:`grow`) after ``when``: this
        process's own is not news to it."""
        return self._since(_MADE, max(when, self._touched.get(_MADE, 0.0)))

    def _signal(self, name: str) -> None:
        """Touch the folder's file ``name``. A folder that cannot be written is logged; the
        workers then look when their looks are due."""
        if self.folder is None:
            return
        try:
            private_folder(self.folder)
            path = self.folder / name
            os.close(open_private(path, os.O_WRONLY))
            os.utime(path)
            self._touched[name] = time.time()  # at or after the file's time
        except OSError as exc:
            log.warning("the other workers not told to look at the catalogue (%s): %s",
                        self.folder, exc)

    def _since(self, name: str, when: float) -> bool:
        if self.folder is None:
            return False
        try:
            return (self.folder / name).stat().st_mtime > when
        except FileNotFoundError:  # never touched (or long ago: cleared with the old fold-ins)
            return False

    def _written(self, name: str) -> bool:
        assert self.folder is not None
        return (self.folder / name / _META).exists()

    def _write(self, tmp: Path, name: str, folded: Artifact) -> None:
        """The arrays of ``folded`` and of its edge masking written to ``tmp`` (those of its
        state are there already: :func:`_in_files`), moved into place whole as
        ``folder/name``."""
        assert self.folder is not None and folded.path_index is not None
        state, data = folded.state, folded.data
        masking = EdgeMasking(state)
        arrays = {**{f"state_{key}": getattr(state, key) for key in Propagated.ARRAYS},
                  **{f"graph_{key}": getattr(data, key) for key in _GRAPH},
                  **{f"link_{rel}": pairs for rel, pairs in data.links.items()},
                  **{f"paths_{key}": value for key, value in folded.path_index.items()},
                  **{f"masking_{key}": value for key, value in masking.derived().items()}}
        # a derived array that is one of the state's (the typed entries of a graph sorted
        # so already) is written once, named as that one
        same = {key: other for key, value in arrays.items() if key.startswith("masking_")
                for other in arrays if other.startswith("state_") and arrays[other] is value}
        arrays = {key: value for key, value in arrays.items() if key not in same}
        first = len(folded.ids["items"]) - state.folded
        meta = {"model": folded.version, "serving": state.meta(),
                "new_items": folded.ids["items"][first:], "arrays": sorted(arrays),
                "same": same}
        for key, array in arrays.items():
            if not (tmp / f"{key}.npy").exists():
                np.save(tmp / f"{key}.npy", np.ascontiguousarray(array), allow_pickle=False)
        (tmp / _META).write_text(json.dumps(meta), encoding="utf-8")
        make_private(tmp)
        os.replace(tmp, self.folder / name)
        log.info("%d new items folded in and shared under %s", state.folded, self.folder / name)

    def _read(self, name: str, trained: Artifact) -> tuple[Artifact, EdgeMasking] | None:
        """Fold-in ``name`` of ``trained``, mapped and its pages mapped in; ``None`` when it
        is not there (removed by a later one meanwhile). ``ValueError`` when what is there
        does not fit ``trained``."""
        assert self.folder is not None
        folder = self.folder / name
        try:
            meta = json.loads((folder / _META).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        if meta["model"] != trained.version:
            raise ValueError(f"{folder} was folded into another model")
        arrays = {key: np.load(folder / f"{key}.npy", mmap_mode="r", allow_pickle=False)
                  for key in meta["arrays"]}
        arrays.update({key: arrays[other] for key, other in meta["same"].items()})
        _touch(arrays.values())

        def part(prefix: str) -> dict[str, np.ndarray]:
            return {key[len(prefix):]: value for key, value in arrays.items()
                    if key.startswith(prefix)}

        state = Propagated.from_arrays(part("state_"), meta["serving"])
        new = [str(item) for item in meta["new_items"]]
        items = [*trained.ids["items"], *new]
        if state.folded != len(new) or state.target.shape[0] != len(items):
            raise ValueError(f"{folder}'s arrays do not fit its items")
        graph = part("graph_")
        data = dataclasses.replace(
            trained.data, items=np.array(items, dtype=object), item_brand=graph["item_brand"],
            item_category=graph["item_category"], links=part("link_"),
            # a fold-in written before products were kept: the trained items' alone
            item_product=graph.get("item_product", trained.data.item_product))
        folded = dataclasses.replace(trained, state=state, data=data, path_index=part("paths_"),
                                     ids={**trained.ids, "items": items})
        return folded, EdgeMasking(state, derived=part("masking_"))

    def clear(self) -> None:
        """Remove every fold-in of the folder: a model that has no new items to fold in, as
        when it was just trained on the whole catalogue, leaves none of an earlier model's or
        catalogue's on disk. A folder that cannot be read is logged and left."""
        if self.folder is None or not self.folder.is_dir():
            return
        try:
            self._clear(keep=None)
        except OSError as exc:
            log.warning("the fold-ins under %s not removed: %s", self.folder, exc)

    def _clear(self, keep: str | None) -> None:
        """Remove every fold-in of the folder but ``keep``, with their locks and any left half
        written, once older than ``keep_for`` (a server keeps one catalogue's; a worker serving
        from another keeps its pages)."""
        assert self.folder is not None
        older = time.time() - self.keep_for
        for entry in self.folder.iterdir():
            if keep is not None and entry.name in (keep, f"{keep}.lock"):
                continue
            try:
                if entry.lstat().st_mtime > older:
                    continue
            except FileNotFoundError:  # removed meanwhile by another worker
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def _folded(trained: Artifact, rows: Sequence[Row], allocate: Allocate = in_memory
            ) -> Artifact:
    """:func:`~graphrec.serving.newitems.grow`, with the grown graph indexed here when the
    model was saved without its index (once, not at each new set of purchases)."""
    folded = grow(trained, rows, allocate)
    if folded is not trained and folded.path_index is None:
        folded = dataclasses.replace(folded, path_index=PathFinder(folded.data).index())
    return folded


class _Unwritable(OSError):
    """A fold-in's file that could not be made: the folder's fault, not the fold's."""


def _in_files(folder: Path) -> Allocate:
    """An :data:`~graphrec.model.foldin.Allocate` that makes each grown array of the state in
    a file of ``folder`` (``state_<name>.npy``, mapped): the fold-in writes them in the page
    cache the workers map, where made in memory they took that memory and a copy to the files
    (the most of a fold-in's cost at scale: ``benchmarks/results/NOTES.md``).

    Each file's blocks are reserved before its pages are written: a page of a mapped file
    that the disk has no room for is a ``SIGBUS`` that kills the worker, where a full disk
    must only leave it to fold in memory (:class:`_Unwritable`). A system that cannot
    reserve them (macOS) makes the arrays in memory, and they are saved as the others."""
    if not hasattr(os, "posix_fallocate"):
        return in_memory

    def allocate(name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        path = folder / f"state_{name}.npy"
        try:
            array = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
            with path.open("r+b") as file:
                os.posix_fallocate(file.fileno(), 0, path.stat().st_size)
        except OSError as exc:
            raise _Unwritable(exc.errno, f"{path.name}: {exc.strerror}") from exc
        return array
    return allocate


def _touch(arrays: Any) -> None:
    """Read a byte of every page of the mapped ``arrays``: each process maps the page cache's
    pages in once here, in the thread that folds, not at the first requests that read them."""
    page = 4096
    for array in arrays:
        flat = np.asarray(array).reshape(-1).view(np.uint8)
        if len(flat):
            int(flat[::page].max())

