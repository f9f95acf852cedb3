"""Title, price and brand of the items an answer names, and which items the shop does not offer
now: read from the store, kept by a worker (:class:`ItemDetails`) or read per answer by a
command (:class:`ItemDetailsOnDemand`).

A worker knows when to read them again from the catalogue's change marker
(``(:Catalogue {name: 'items'}).changed``, :func:`catalogue_state`): every write of graphrec
that changes an item's title, price, brand or availability (``graphrec ingest``, the
availability endpoint and command) gives it a new random value in the same transaction or
right after, and a worker reads the whole catalogue's details only when the marker differs from
the one it read with them.
"""
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

__all__ = ["NO_DETAILS", "CatalogueState", "DetailsRead", "ItemDetails", "ItemDetailsOnDemand",
           "Labels", "catalogue_state", "read_details"]

log = logging.getLogger(__name__)

#: The share of ``max_age`` by which a worker may look at the change marker sooner than that
#: (:class:`ItemDetails`), so that the workers of one server spread their reads after a change.
SPREAD = 0.5

#: What an item without details in the store is answered with.
NO_DETAILS: Mapping[str, Any] = {"title": None, "price": None, "brand": None}

#: ``(item id → {"title", "price", "brand"}, item id → title)``.
Labels = tuple[dict[str, Mapping[str, Any]], dict[str, str | None]]


class ItemDetails:
    """Title, price and brand of every item of the model, and the items the shop does not
    offer now (``Item.available`` false: never recommended), read in one query and kept.

    They only label an answer, and there are few of them (well under 1 kB an item), so a worker
    reads them all once instead of querying the items of each answer. Once the copy has gone
    ``max_age`` seconds without a look at the store, the request finding it so starts a
    background thread that reads the catalogue's change marker (one short query) and, only when
    the marker differs from the copy's, the details again: reading a whole catalogue takes long
    (on the full Beauty catalogue about 0.1 s of the worker's CPU and as much of the store's),
    and no request should wait on it. Re-read on a timer instead, every worker paid that every
    ``max_age`` seconds on a catalogue that had not changed, and the requests of those seconds
    waited behind it. Meanwhile, and if a read fails, requests answer from the copy they have:
    a title, a price or an item's availability may lag the store by ``max_age`` seconds. Only
    the first read makes requests wait.

    Each copy looks at the marker a little sooner than ``max_age``, by a share of it drawn once
    for each object (at most :data:`SPREAD`): the workers of a server start from the copy their
    master read, and after a change their re-reads should not all fall on the cores at once.
    """

    def __init__(self, store: GraphStore, item_ids: Sequence[str], max_age: float,
                 read: DetailsRead | None = None):
        self.store, self.item_ids, self.max_age = store, list(item_ids), max_age
        self._early = 1 - SPREAD * random.random()  # this copy's share of max_age
        self._lock = threading.Lock()
        self._copy: DetailsRead | None = read  # read before (gunicorn's master), or None
        self._checked_at = read.at if read is not None else 0.0  # as old as it is

    @property
    def refresh_age(self) -> float:
        """How long this copy goes without a look at the change marker: ``max_age`` or a
        little less."""
        return self.max_age * self._early

    def labels(self, item_ids: Iterable[str]) -> tuple[Mapping[str, Mapping[str, Any]],
                                                       Mapping[str, str | None]]:
        """``(item id → {"title", "price", "brand"}, item id → title)`` covering ``item_ids``
        (here: every item; the store's missing ones are absent)."""
        return self._current().labels

    def unavailable(self) -> frozenset[str]:
        """The ids of the items the shop does not offer now (as last read)."""
        return self._current().unavailable

    def warm(self) -> None:
        """Read them all now, ahead of the first answer that needs them."""
        self._current()

    def track(self, item_ids: Sequence[str]) -> None:
        """Keep the details of ``item_ids`` from now on (the catalogue grew), read here, in the
        caller's thread; requests answer from the old copy meanwhile."""
        with self._lock:
            self._copy = read_details(self.store, item_ids)
            self.item_ids, self._checked_at = list(item_ids), self._copy.at

    def _current(self) -> DetailsRead:
        if self._copy is None:
            with self._lock:  # the first read: every request needs it
                if self._copy is None:
                    self._read()
        elif time.monotonic() - self._checked_at >= self.refresh_age and \
                self._lock.acquire(blocking=False):  # one refresh at a time; released by it
            threading.Thread(target=self._refresh, name="graphrec-item-details",
                             daemon=True).start()
        assert self._copy is not None  # read above
        return self._copy

    def _refresh(self) -> None:
        """Read them again if the catalogue changed since (in a thread of its own, holding the
        lock taken for it). A failure is logged, never raised: no request waits on this thread
        to hear of it."""
        try:
            assert self._copy is not None  # a refresh follows the first read
            if catalogue_state(self.store).changed == self._copy.changed:
                self._checked_at = time.monotonic()
            else:
                started = time.monotonic()
                self._read()
                log.info("item details of %d items read again (the catalogue changed) in "
                         "%.0f ms", len(self.item_ids), 1000 * (self._checked_at - started))
        except StoreUnavailable as exc:
            self._checked_at = time.monotonic()  # keep the old copy a while longer
            log.warning("item details not refreshed, keeping the old copy: %s", exc)
        except Exception:  # a closed driver (the worker stopping), a store's error
            self._checked_at = time.monotonic()
            log.exception("item details not refreshed, keeping the old copy")
        finally:
            self._lock.release()

    def _read(self) -> None:
        self._copy = read_details(self.store, self.item_ids)
        self._checked_at = self._copy.at


class ItemDetailsOnDemand:
    """Title, price and brand of just the items an answer names, read when asked, and the items
    the shop does not offer now: for a command that answers once, where reading the whole
    catalogue would be most of its time."""

    def __init__(self, store: GraphStore):
        self.store = store

    def labels(self, item_ids: Iterable[str]) -> tuple[Mapping[str, Mapping[str, Any]],
                                                       Mapping[str, str | None]]:
        return _read_labels(self.store, sorted(set(item_ids)))[0]

    def unavailable(self) -> frozenset[str]:
        """Read now: the ids of the items the shop does not offer."""
        return read_unavailable(self.store)

    def warm(self) -> None:
        """Nothing to read ahead: each answer reads its own items."""

    def track(self, item_ids: Sequence[str]) -> None:
        """Nothing to keep: each answer reads its own items."""


@dataclass(frozen=True)
class CatalogueState:
    """What a worker looks at every few seconds (one query that no store answers by scanning):
    how many items the catalogue holds and its change marker, a new value after every write
    that changes an item's details or availability (``None`` while nothing has written one)."""

    items: int
    changed: str | None


def catalogue_state(store: GraphStore) -> CatalogueState:
    """The catalogue's :class:`CatalogueState` now (``cypher/service/catalogue_state``)."""
    row = store.read_once("service/catalogue_state")[0]
    return CatalogueState(int(row["items"]), row["changed"])


def _read_labels(store: GraphStore, item_ids: Sequence[str]
                 ) -> tuple[Labels, frozenset[str]]:
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
    """The details of a model's items as read once (:func:`read_details`): what an
    :class:`ItemDetails` keeps, and what gunicorn's master starts its workers' with. ``changed``
    is the catalogue's change marker (:attr:`CatalogueState.changed`) as read just before them;
    ``at`` is when they were read (``time.monotonic()``, which a forked process shares), so
    that a copy older than its ``max_age`` looks at the marker as any other."""

    labels: Labels
    unavailable: frozenset[str]
    changed: str | None
    at: float


def read_details(store: GraphStore, item_ids: Sequence[str]) -> DetailsRead:
    """Every item's details now (two queries: the change marker first, so that a write
    committed between them is seen as a change at the next look)."""
    changed = catalogue_state(store).changed
    labels, unavailable = _read_labels(store, item_ids)
    return DetailsRead(labels, unavailable, changed, time.monotonic())
