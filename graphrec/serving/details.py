"""Title, price and brand of the items an answer names, and which items the shop does not offer
now: read from the store, kept by a worker (:class:`ItemDetails`) or read per answer by a
command (:class:`ItemDetailsOnDemand`).

A worker knows when to read them again from the catalogue's change marker
(``(:Catalogue {name: 'items'}).changed``, :func:`catalogue_state`): every write of graphrec
that changes an item's title, price, brand or availability (``graphrec ingest``, the
availability endpoint and command) gives it a new random value in the same transaction or
right after. The service's look at the catalogue
(:meth:`~graphrec.serving.service.RecommendationService.look_at_catalogue`, the one look a
worker takes, which also finds the items ingested since training) reads the marker, and the
whole catalogue's details are read again only when it differs from the one they were read with.
While the catalogue keeps moving, that read waits (the service's ``ACT_SPACING``), but which
items are offered is read at once (:meth:`ItemDetails.refresh_offered`, one query through an
index), and not only at a look: every request reads the marker with the user's history, and
the first request to find it moved reads which items are offered before it answers. An item
sold out must leave the next page, whichever worker answers it; a title can wait.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphrec.serving.events import read_unavailable
from graphrec.store.connection import GraphStore

__all__ = ["NO_DETAILS", "CatalogueState", "DetailsRead", "ItemDetails", "ItemDetailsOnDemand",
           "Labels", "catalogue_state", "read_details"]

log = logging.getLogger(__name__)

#: What an item without details in the store is answered with.
NO_DETAILS: Mapping[str, Any] = {"title": None, "price": None, "brand": None}

#: ``(item id → {"title", "price", "brand"}, item id → title)``.
Labels = tuple[dict[str, Mapping[str, Any]], dict[str, str | None]]


class ItemDetails:
    """Title, price and brand of every item of the model, and the items the shop does not
    offer now (``Item.available`` false: never recommended), read in one query and kept.

    They only label an answer, and there are few of them (well under 1 kB an item), so a worker
    reads them all once instead of querying the items of each answer. Reading a whole catalogue
    takes long (on the full Beauty catalogue about 0.1 s of the worker's CPU and as much of the
    store's), so only the first read makes requests wait: later ones happen outside any request,
    when the service's look at the catalogue finds its change marker moved (:meth:`refresh`) or
    new items folded in (:meth:`track`), and requests answer from the copy they have meanwhile
    (and when a read fails).
    """

    def __init__(self, store: GraphStore, item_ids: Sequence[str],
                 read: DetailsRead | None = None):
        self.store, self.item_ids = store, list(item_ids)
        self._lock = threading.Lock()  # one read at a time
        self._copy: DetailsRead | None = read  # read before (gunicorn's master), or None
        # the change marker which items are offered was last read with
        self._offered_at = read.changed if read is not None else None

    @property
    def changed(self) -> str | None:
        """The change marker the copy was read with (``None`` before the first read)."""
        return self._copy.changed if self._copy is not None else None

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

    def refresh(self, changed: str | None) -> bool:
        """Read them again when the catalogue's change marker is now ``changed`` and the copy
        was read with another (in the caller's thread; requests answer from the old copy
        meanwhile); whether they were read. A copy not read yet stays for the first answer to
        read. Errors are the caller's: the copy stays as it was."""
        with self._lock:
            if self._copy is None or self._copy.changed == changed:
                return False
            started = time.monotonic()
            self._keep(read_details(self.store, self.item_ids))
        log.info("item details of %d items read again (the catalogue changed) in %.0f ms",
                 len(self.item_ids), 1000 * (time.monotonic() - started))
        return True

    def refresh_offered(self, changed: str | None) -> bool:
        """Read again which items are offered (not their titles) when the change marker is
        now ``changed`` and they were read with another; whether they were read. For a look
        that lets the whole read wait: the copy keeps the marker its titles were read with, so
        :meth:`refresh` still reads them when it comes. Every request asks (with the marker
        it read), so the marker is compared before the lock is taken: only the requests that
        find it moved wait for the read, or for one in progress."""
        if self._offered_at == changed:
            return False
        with self._lock:
            if self._copy is None or self._offered_at == changed:
                return False
            copy = self._copy
            self._copy = DetailsRead(copy.labels, read_unavailable(self.store), copy.changed)
            self._offered_at = changed
        return True

    def track(self, item_ids: Sequence[str]) -> None:
        """Keep the details of ``item_ids`` from now on (the catalogue grew), read here, in the
        caller's thread; requests answer from the old copy meanwhile."""
        with self._lock:
            self._keep(read_details(self.store, item_ids))
            self.item_ids = list(item_ids)

    def _keep(self, read: DetailsRead) -> None:
        self._copy, self._offered_at = read, read.changed

    def _current(self) -> DetailsRead:
        if self._copy is None:
            with self._lock:  # the first read: every request needs it
                if self._copy is None:
                    self._keep(read_details(self.store, self.item_ids))
        assert self._copy is not None  # read above
        return self._copy


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

    def refresh(self, changed: str | None) -> bool:
        """Nothing kept to read again."""
        return False

    def refresh_offered(self, changed: str | None) -> bool:
        """Nothing kept to read again."""
        return False

    def warm(self) -> None:
        """Nothing to read ahead: each answer reads its own items."""

    def track(self, item_ids: Sequence[str]) -> None:
        """Nothing to keep: each answer reads its own items."""


@dataclass(frozen=True)
class CatalogueState:
    """What a worker looks at every few seconds (one query that no store answers by scanning):
    how many items the catalogue holds and its change marker, a new value after every write
    that changes an item's details or availability (``None`` while nothing has written one).
    Either moving is the one sign a worker acts on: new items to fold in, details to read."""

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
    is the catalogue's change marker (:attr:`CatalogueState.changed`) as read just before them."""

    labels: Labels
    unavailable: frozenset[str]
    changed: str | None


def read_details(store: GraphStore, item_ids: Sequence[str]) -> DetailsRead:
    """Every item's details now (two queries: the change marker first, so that a write
    committed between them is seen as a change at the next look)."""
    changed = catalogue_state(store).changed
    labels, unavailable = _read_labels(store, item_ids)
    return DetailsRead(labels, unavailable, changed)
