"""One graph store driver and one recommendation service per worker process, made on first use.

Gunicorn forks its workers before any request arrives; nothing here is created before the first
request of a worker, and an engine that finds itself in a different process than the one that
filled it starts afresh, so a driver never crosses a fork. The driver is closed at exit.

A store that fails is not cached as failed: the next request probes it with one trivial query
(no retries, so a dead store answers 503 at once instead of after the driver's retry time) and
carries on as soon as it answers. The local store picks new ports when it restarts, so for it a
failed probe also re-reads where the server now listens and points the same driver object there.
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
from graphrec.store.local import LocalStore
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
        self._lock = threading.RLock()
        self._pid = os.getpid()
        self._store: GraphStore | None = None
        self._service: RecommendationService | None = None
        self._suspect = False

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings.from_env()
        return self._settings

    def store(self) -> GraphStore:
        """The process's store; probed first when the last query through it failed."""
        with self._lock:
            self._forget_if_forked()
            if self._store is None:
                self._store = open_store(self.settings, start_local=False)
                atexit.register(self.close)
                self._suspect = True
            if self._suspect:
                self._probe()
            return self._store

    def service(self) -> RecommendationService:
        """The recommendation service, loaded on first use (and retried until a model exists)."""
        store = self.store()
        with self._lock:
            if self._service is None:
                try:
                    from graphrec.model.artifact import ArtifactError
                    from graphrec.serving.service import RecommendationService
                except ImportError as exc:
                    raise ModelUnavailable(f"the recommendation service is not installed: {exc}")
                try:
                    self._service = RecommendationService.load(self.settings, store,
                                                               **self._options)
                except FileNotFoundError as exc:
                    raise ModelUnavailable(
                        f"no trained model under {self.settings.models_dir}: {exc}") from exc
                except ArtifactError as exc:  # old format, corrupted: a 503 that says which
                    raise ModelUnavailable(f"the trained model cannot be used: {exc}") from exc
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
        with self._lock:
            self.store()
            if not self._suspect:
                self._probe()

    def failed(self) -> None:
        """A query through the store failed: probe it before the next one."""
        self._suspect = True

    def close(self) -> None:
        with self._lock:
            store, self._store, self._service = self._store, None, None
            if store is not None and self._pid == os.getpid():
                store.close()
            atexit.unregister(self.close)

    def _probe(self) -> None:
        assert self._store is not None
        try:
            self._run_probe()
        except StoreUnavailable:
            if not self._repoint_local_store():
                raise
            self._run_probe()
        self._suspect = False

    def _run_probe(self) -> None:
        store = self._store
        try:
            with store.driver.session(database=store.database,
                                      default_access_mode=neo4j.READ_ACCESS) as session:
                session.run(cypher.load("admin/ping")).consume()
        except (neo4j.exceptions.DriverError, neo4j.exceptions.Neo4jError, OSError) as exc:
            raise StoreUnavailable(f"cannot reach {store.description}: "
                                   f"{' '.join(str(exc).split())}") from exc

    def _repoint_local_store(self) -> bool:
        """The local store restarted on other ports: point our store object at the new ones."""
        if not self.settings.uses_local_store:
            return False
        info = LocalStore(self.settings).running()
        if info is None or info.uri in self._store.description:
            return False
        fresh = open_store(self.settings, start_local=False)
        old = self._store.driver
        self._store.driver, self._store.description = fresh.driver, fresh.description
        old.close()
        log.warning("the local store moved: now %s", fresh.description)
        return True

    def _forget_if_forked(self) -> None:
        if self._pid != os.getpid():
            # Inherited from the parent: its sockets are the parent's, never use or close them.
            self._pid = os.getpid()
            self._store = self._service = None
            self._suspect = False


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = Engine(app.config.get("SETTINGS"),
                                       details_max_age=app.config["ITEM_DETAILS_MAX_AGE"],
                                       reason_cache_size=app.config["REASON_CACHE_SIZE"])


def get_engine() -> Engine:
    return current_app.extensions[EXTENSION]
