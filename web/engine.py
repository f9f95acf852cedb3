"""One graph store driver and one recommendation service per worker process, made on first use.

Gunicorn forks its workers before any request arrives; nothing here is created before the first
request of a worker, and an engine that finds itself in a different process than the one that
filled it starts afresh, so a driver never crosses a fork. The driver is closed at exit.

A store that fails is not cached as failed: the next request probes it with one trivial query
(no retries, so a dead store answers 503 at once instead of after the driver's retry time) and
carries on as soon as it answers. The local store may come back on other ports: its driver reads
where the server listens before every connection it opens, so the probe reaches it there, and
never sends credentials to the port the old server left.
"""
from __future__ import annotations

import atexit
import gc
import logging
import os
import threading
from typing import TYPE_CHECKING

import neo4j
from flask import Flask, current_app

import cypher
from graphrec.config import Settings
from graphrec.store.connection import GraphStore, StoreUnavailable, open_store

if TYPE_CHECKING:
    from graphrec.serving.service import RecommendationService

log = logging.getLogger(__name__)

EXTENSION = "graphrec"


class ModelUnavailable(RuntimeError):
    """No trained model could be loaded (none trained yet, or the service is not installed)."""


class Engine:
    """The store and the service of this process, for one app."""

    def __init__(self, settings: Settings | None = None, details_max_age: float = 60.0,
                 reason_cache_size: int = 0):
        self._settings = settings
        self._options = {"details_max_age": details_max_age,
                         "reason_cache_size": reason_cache_size}
        self._lock = threading.RLock()  # held briefly: opening, forgetting, closing
        self._loading = threading.Lock()  # held while the service loads (seconds)
        self._pid = os.getpid()
        self._store: GraphStore | None = None
        self._writer: GraphStore | None = None
        self._service: RecommendationService | None = None
        self._suspect = False

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings.from_env()
        return self._settings

    def store(self) -> GraphStore:
        """The process's store; probed first when the last query through it failed.

        The probe runs outside the engine's lock: a store that does not answer costs each
        request that needs it the driver's bounded wait, side by side, rather than one after
        another.
        """
        store = self._opened()
        if self._suspect:
            self._probe(store)
        return store

    def _opened(self) -> GraphStore:
        """The process's store, opened on first use (no query is sent)."""
        with self._lock:
            self._forget_if_forked()
            if self._store is None:
                self._store = open_store(self.settings, start_local=False, read_only=True)
                atexit.register(self.close)
                self._suspect = True
            return self._store

    def writer(self) -> GraphStore:
        """A store connected as the user that may write, opened on first use.

        Only for what the service itself writes: every read goes through :meth:`store`, whose
        user can only read (a bug or an injected statement there cannot change the graph).
        """
        with self._lock:
            self._forget_if_forked()
            if self._writer is None:
                self._writer = open_store(self.settings, start_local=False)
                atexit.register(self.close)
            return self._writer

    def service(self) -> RecommendationService:
        """The recommendation service, loaded on first use (and retried until a model exists)."""
        store = self.store()
        with self._loading:
            if self._service is None:
                try:
                    from graphrec.serving.service import RecommendationService
                except ImportError as exc:
                    raise ModelUnavailable(f"the recommendation service is not installed: {exc}")
                try:
                    self._service = RecommendationService.load(self.settings, store,
                                                               **self._options)
                except FileNotFoundError as exc:
                    raise ModelUnavailable(
                        f"no trained model under {self.settings.models_dir}: {exc}") from exc
                log.info("loaded model %s", self._service.model_version)
            return self._service

    def warm(self) -> None:
        """Connect, load the model and read the item details ahead of the first request (in a
        worker, after the fork); a store or model that is not there yet is only logged:
        requests will retry.

        Then everything loaded so far is moved out of the garbage collector's full passes
        (:func:`gc.freeze`): it lives as long as the worker, and scanning it (some 400,000
        objects for the sample catalogue) stalled each of the worker's requests for about
        200 ms, several times a minute under load.
        """
        try:
            self.service().items.details()
        except (StoreUnavailable, ModelUnavailable) as exc:
            log.warning("not ready yet: %s", exc)
            return
        gc.collect()
        gc.freeze()

    def loaded_service(self) -> RecommendationService | None:
        """The service if it is loaded already (never loads it)."""
        return self._service

    def check_store(self) -> None:
        """Run a trivial query now; raises :class:`StoreUnavailable`."""
        self._probe(self._opened())

    def failed(self) -> None:
        """A query through the store failed: probe it before the next one."""
        self._suspect = True

    def close(self) -> None:
        with self._lock:
            stores = [self._store, self._writer]
            self._store = self._writer = self._service = None
            for store in stores:
                if store is not None and self._pid == os.getpid():
                    store.close()
            atexit.unregister(self.close)

    def _probe(self, store: GraphStore) -> None:
        """One trivial query through ``store``; the store is trusted again once it answers."""
        try:
            with store.driver.session(database=store.database,
                                      default_access_mode=neo4j.READ_ACCESS) as session:
                session.run(cypher.load("admin/ping")).consume()
        except (neo4j.exceptions.DriverError, neo4j.exceptions.Neo4jError, OSError) as exc:
            raise StoreUnavailable(f"cannot reach {store.description}: "
                                   f"{' '.join(str(exc).split())}") from exc
        self._suspect = False

    def _forget_if_forked(self) -> None:
        if self._pid != os.getpid():
            # Inherited from the parent: its sockets are the parent's, never use or close them.
            self._pid = os.getpid()
            self._store = self._writer = self._service = None
            self._suspect = False


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = Engine(app.config.get("SETTINGS"),
                                       details_max_age=app.config["ITEM_DETAILS_MAX_AGE"],
                                       reason_cache_size=app.config["REASON_CACHE_SIZE"])


def get_engine() -> Engine:
    return current_app.extensions[EXTENSION]
