"""Title, price and brand of the items an answer names, and which items the shop does not offer
now: read from the store, kept by a worker (:class:`ItemDetails`) or read per answer by a
command (:class:`ItemDetailsOnDemand`)."""
from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphrec.serving.events import read_unavailable
from graphrec.store.connection import GraphStore, StoreUnavailable

__all__ = ["NO_DETAILS", "DetailsRead", "ItemDetails", "ItemDetailsOnDemand", "Labels",
           "read_details"]

log = logging.getLogger(__name__)

#: The share of ``max_age`` by which a worker's copy of the details may be read again sooner
#: than that (:class:`ItemDetails`), so that the workers of one server spread their reads.
SPREAD = 0.5

#: What an item without details in the store is answered with.
NO_DETAILS: Mapping[str, Any] = {"title": None, "price": None, "brand": None}

#: ``(item id → {"title", "price", "brand"}, item id → title)``.
Labels = tuple[dict[str, Mapping[str, Any]], dict[str, str | None]]

#: What one read of the store gives: the labels, and the ids of the items not offered now.
Read = tuple[Labels, frozenset[str]]


class ItemDetails:
    """Title, price and brand of every item of the model, and the items the shop does not
    offer now (``Item.available`` false: never recommended), read in one query and kept.

    They only label an answer, and there are few of them (well under 1 kB an item), so a worker
    reads them all once instead of querying the items of each answer. They are read again once
    older than ``max_age`` seconds, in a background thread that the request finding them so
    starts: reading a whole catalogue takes long, and no request should wait on it. Meanwhile,
    and if that read fails, requests answer from the copy they have: a title, a price or an
    item's availability may lag the store by ``max_age`` seconds. Only the first read makes
    requests wait.

    Each copy is read again a little sooner than ``max_age``, by a share of it drawn once for
    each object (at most :data:`SPREAD`): the workers of a server start from the copy their
    master read, and refreshed at the same second, their reads (a fraction of a second of
    Python each, decoding the catalogue's rows) all fell on the cores at once, and every request
    of that second waited behind them.
    """

    def __init__(self, store: GraphStore, item_ids: Sequence[str], max_age: float,
                 read: DetailsRead | None = None):
        self.store, self.item_ids, self.max_age = store, list(item_ids), max_age
        self._early = 1 - SPREAD * random.random()  # this copy's share of max_age
        self._lock = threading.Lock()
        self._copy: Read | None = None
        self._read_at = 0.0
        if read is not None:  # read before (gunicorn's master): as old as it is
            self._copy, self._read_at = (read.labels, read.unavailable), read.at

    @property
    def refresh_age(self) -> float:
        """How old this copy may grow before it is read again: ``max_age`` or a little less."""
        return self.max_age * self._early

    def labels(self, item_ids: Iterable[str]) -> tuple[Mapping[str, Mapping[str, Any]],
                                                       Mapping[str, str | None]]:
        """``(item id → {"title", "price", "brand"}, item id → title)`` covering ``item_ids``
        (here: every item; the store's missing ones are absent)."""
        return self._current()[0]

    def unavailable(self) -> frozenset[str]:
        """The ids of the items the shop does not offer now (as last read)."""
        return self._current()[1]

    def warm(self) -> None:
        """Read them all now, ahead of the first answer that needs them."""
        self._current()

    def track(self, item_ids: Sequence[str]) -> None:
        """Keep the details of ``item_ids`` from now on (the catalogue grew), read here, in the
        caller's thread; requests answer from the old copy meanwhile."""
        with self._lock:
            self._copy = _read_details(self.store, item_ids)
            self.item_ids, self._read_at = list(item_ids), time.monotonic()

    def _current(self) -> Read:
        if self._copy is None:
            with self._lock:  # the first read: every request needs it
                if self._copy is None:
                    self._read()
        elif time.monotonic() - self._read_at >= self.refresh_age and \
                self._lock.acquire(blocking=False):  # one refresh at a time; released by it
            threading.Thread(target=self._refresh, name="graphrec-item-details",
                             daemon=True).start()
        assert self._copy is not None  # read above
        return self._copy

    def _refresh(self) -> None:
        """Read them again (in a thread of its own, holding the lock taken for it). A failure
        is logged, never raised: no request waits on this thread to hear of it."""
        try:
            self._read()
        except StoreUnavailable as exc:
            self._read_at = time.monotonic()  # keep the old copy a while longer
            log.warning("item details not refreshed, keeping the old copy: %s", exc)
        except Exception:  # a closed driver (the worker stopping), a store's error
            self._read_at = time.monotonic()
            log.exception("item details not refreshed, keeping the old copy")
        finally:
            self._lock.release()

    def _read(self) -> None:
        self._copy = _read_details(self.store, self.item_ids)
        self._read_at = time.monotonic()


class ItemDetailsOnDemand:
    """Title, price and brand of just the items an answer names, read when asked, and the items
    the shop does not offer now: for a command that answers once, where reading the whole
    catalogue would be most of its time."""

    def __init__(self, store: GraphStore):
        self.store = store

    def labels(self, item_ids: Iterable[str]) -> tuple[Mapping[str, Mapping[str, Any]],
                                                       Mapping[str, str | None]]:
        return _read_details(self.store, sorted(set(item_ids)))[0]

    def unavailable(self) -> frozenset[str]:
        """Read now: the ids of the items the shop does not offer."""
        return read_unavailable(self.store)

    def warm(self) -> None:
        """Nothing to read ahead: each answer reads its own items."""

    def track(self, item_ids: Sequence[str]) -> None:
        """Nothing to keep: each answer reads its own items."""


def _read_details(store: GraphStore, item_ids: Sequence[str]) -> Read:
    """The labels of ``item_ids`` and those of them the shop does not offer now."""
    details: dict[str, Mapping[str, Any]] = {}
    unavailable = set()
    rows = store.read_once("service/items", ids=list(item_ids))
    for item_id, title, price, brand, available in rows[0]["items"] if rows else ():
        if available is False:
            unavailable.add(item_id)
        details[item_id] = {"title": title, "price": price, "brand": brand}
    return (details, {key: row["title"] for key, row in details.items()}), frozenset(unavailable)


@dataclass(frozen=True)
class DetailsRead:
    """The details of a model's items as read once (:func:`read_details`), to start an
    :class:`ItemDetails` with: ``at`` is when (``time.monotonic()``, which a forked process
    shares), so that a copy older than its ``max_age`` is read again as any other."""

    labels: Labels
    at: float
    unavailable: frozenset[str] = frozenset()


def read_details(store: GraphStore, item_ids: Sequence[str]) -> DetailsRead:
    """Every item's details now (one query): what gunicorn's master reads for its workers,
    whose reading it would otherwise be most of their start."""
    labels, unavailable = _read_details(store, item_ids)
    return DetailsRead(labels, time.monotonic(), unavailable)
