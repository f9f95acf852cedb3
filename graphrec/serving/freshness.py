"""Whether a served model is stale: the graph's counts now against those it was trained on."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from graphrec.model import artifact
from graphrec.store.connection import GraphStore, StoreForbidden, StoreUnavailable

__all__ = ["Freshness"]

log = logging.getLogger(__name__)


class Freshness:
    """Whether the model is stale: the graph's counts now
    (:func:`graphrec.model.artifact.graph_counts`, read at most every ``max_age`` seconds)
    against those it was trained on.

    A stale model keeps serving (a user is scored from their live purchases whatever the model
    saw); the counts only tell an operator that retraining would see more. They count every
    relationship by type, which the local store does by scanning them (about 0.1 s of its CPU
    on Beauty, and more as the graph grows), so only ``/api/health`` and
    the commands read them, and a worker at most every ``max_age`` seconds; what serving acts
    on is the catalogue's cheap state (:func:`graphrec.serving.details.catalogue_state`).

    The counts are read on a thread of their own, and a report waits for them at most
    :attr:`WAIT` seconds when it has counts to answer with: a health probe gets an answer in
    bounded time however long the scan takes, and the counts it starts are there for the next
    one. Only the first report, which has none, waits for them. When a re-read fails, the
    last counts are kept for another ``max_age``.
    """

    #: The longest a report waits for counts being read again before it answers with the last.
    WAIT = 1.0

    def __init__(self, store: GraphStore, trained_on: Mapping[str, Any], max_age: float):
        self.store, self.trained_on, self.max_age = store, dict(trained_on), max_age
        self._lock = threading.Lock()
        self._now: dict[str, int] | None = None
        self._read_at = 0.0
        self._reading: threading.Thread | None = None
        self._failed: StoreUnavailable | StoreForbidden | None = None

    def report(self) -> dict[str, Any]:
        """``{"stale", "trained_on", "graph_now"}``; StoreUnavailable when the counts were never
        read and cannot be now."""
        with self._lock:
            due = self._now is None or time.monotonic() - self._read_at >= self.max_age
            if due and self._reading is None:
                self._reading = threading.Thread(target=self._read, name="graph-counts",
                                                 daemon=True)
                self._reading.start()
            reading, first = self._reading, self._now is None
        if reading is not None:
            reading.join(None if first else self.WAIT)
        with self._lock:
            if self._now is None:
                raise self._failed or StoreUnavailable("the graph's counts could not be read")
            now = dict(self._now)
        return {"stale": artifact.is_stale(self.trained_on, now), "trained_on": self.trained_on,
                "graph_now": now}

    def _read(self) -> None:
        """The counts read once, kept (the reading thread's work)."""
        counts, failed = None, None
        try:
            counts = artifact.graph_counts(self.store)
        except (StoreUnavailable, StoreForbidden) as exc:
            failed = exc
        finally:
            with self._lock:
                if counts is not None:
                    self._now = counts
                elif failed is not None and self._now is not None:
                    log.warning("graph counts not refreshed, keeping the old ones: %s", failed)
                self._failed, self._read_at, self._reading = failed, time.monotonic(), None

    def remember(self, now: Mapping[str, int]) -> None:
        """The graph's counts as read just now by the caller (a command reads them while it
        loads the model)."""
        with self._lock:
            self._now, self._read_at = dict(now), time.monotonic()

    def line(self) -> str | None:
        """One line for a command's output when the model is stale, else ``None``."""
        report = self.report()
        if not report["stale"]:
            return None
        trained, now = report["trained_on"], report["graph_now"]
        changes = ", ".join(
            "items' brand or category links changed" if name == artifact.SHAPE
            else f"{name} {trained.get(name)} → {value}"
            for name, value in now.items() if trained.get(name) != value
            and (name != artifact.SHAPE or name in trained))
        when = trained.get("trained_at", "at an unknown time")
        return (f"note: the model is stale (trained {when}; since then {changes}): "
                "graphrec train would learn from the new data")
