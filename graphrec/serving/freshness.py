"""Whether a served model is stale: the graph's counts now against those it was trained on."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from graphrec.model import artifact
from graphrec.store.connection import GraphStore, StoreUnavailable

__all__ = ["Freshness"]

log = logging.getLogger(__name__)


class Freshness:
    """Whether the model is stale: the graph's counts now
    (:func:`graphrec.model.artifact.graph_counts`, read at most every ``max_age`` seconds)
    against those it was trained on.

    A stale model keeps serving (a user is scored from their live purchases whatever the model
    saw); the counts only tell an operator that retraining would see more. They count every
    relationship by type, which the local store does by scanning them (about 0.1 s of its CPU
    on Beauty), so only ``/api/health`` and the commands read them, and a worker at most every
    ``max_age`` seconds; what serving acts on is the catalogue's cheap state
    (:func:`graphrec.serving.details.catalogue_state`). When a re-read fails, the last counts
    are kept for another ``max_age``.
    """

    def __init__(self, store: GraphStore, trained_on: Mapping[str, Any], max_age: float):
        self.store, self.trained_on, self.max_age = store, dict(trained_on), max_age
        self._lock = threading.Lock()
        self._now: dict[str, int] | None = None
        self._read_at = 0.0

    def report(self) -> dict[str, Any]:
        """``{"stale", "trained_on", "graph_now"}``."""
        with self._lock:
            if self._now is None or time.monotonic() - self._read_at >= self.max_age:
                try:
                    self._now = artifact.graph_counts(self.store)
                except StoreUnavailable:
                    if self._now is None:
                        raise
                    log.warning("graph counts not refreshed, keeping the old ones")
                self._read_at = time.monotonic()
            now = dict(self._now)
        return {"stale": artifact.is_stale(self.trained_on, now), "trained_on": self.trained_on,
                "graph_now": now}

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
        changes = ", ".join(f"{name} {trained.get(name)} → {value}"
                            for name, value in now.items() if trained.get(name) != value)
        when = trained.get("trained_at", "at an unknown time")
        return (f"note: the model is stale (trained {when}; since then {changes}): "
                "graphrec train would learn from the new data")
