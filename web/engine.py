"""One graph store driver and one recommendation service per worker process, made on first use.

Gunicorn forks its workers before any request arrives; nothing here is created before the first
request of a worker, and an engine that finds itself in a different process than the one that
filled it starts afresh, so a driver never crosses a fork. The driver is closed at exit.

A store that fails is not cached as failed: the next request probes it with one trivial query
(no retries, so a dead store answers 503 at once instead of after the driver's retry time) and
carries on as soon as it answers. The local store may come back on other ports: its driver reads
where the server listens before every connection it opens, so the probe reaches it there, and
never sends credentials to the port the old server left.

A new model is picked up without a restart: a background thread of each worker looks at the
artifact's manifest (one ``stat`` every ``model_check_interval`` seconds); when ``graphrec
train`` has replaced it, the thread loads the new service beside the old one and then swaps the
reference, so no request waits on the load and each request finishes on the service it started
with. The workers of a server load it one after another and swap it in at one time, which the
first to load it sets (:func:`switch_time`): until then every worker answers from the model
before, so that a page and its explanation never come from two models; a worker that starts
meanwhile (one gunicorn replaces) answers from that model too when the master loaded it before
the fork, and switches with the others. A new artifact that
fails to load is logged and the old model keeps serving. The same thread has the service look
at the catalogue when a look is due
(:meth:`~graphrec.serving.service.RecommendationService.look_at_catalogue`): the items ingested
since training are folded in, and the item details read again, there rather than in a request.
"""
from __future__ import annotations

import atexit
import gc
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from flask import Flask, current_app

from graphrec.config import Settings
from graphrec.filelock import held
from graphrec.private import write_private
from graphrec.store.connection import GraphStore, StoreUnavailable, open_store

if TYPE_CHECKING:
    from graphrec.serving.details import DetailsRead
    from graphrec.serving.service import RecommendationService, ServedModel

log = logging.getLogger(__name__)

EXTENSION = "graphrec"
#: The longest :meth:`Engine.close` waits for a background thread to finish its query.
CLOSE_WAIT = 10.0


class ModelUnavailable(RuntimeError):
    """No trained model could be loaded (none trained yet, or the service is not installed).

    The message is for the server's log; ``public`` is what a client may be told (no path)."""

    def __init__(self, message: str, public: str = "no model is loaded"):
        super().__init__(message)
        self.public = public


Signature = tuple[int, int, int]


def artifact_signature(path: Path) -> Signature | None:
    """What changes when an artifact is replaced: its manifest's inode, size and modification
    time (``artifact.save`` moves a whole new directory into place); None when there is no
    artifact."""
    try:
        stat = os.stat(path / "manifest.json")
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


#: The longest the workers of one home wait for each other before answering from a new model.
SWITCH_WAIT_MAX = 30.0

#: Seconds between the workers' collections of the old model once they have switched together
#: (:func:`refreeze`): each holds its worker's interpreter for 70-170 ms on Beauty, and four at
#: once on two cores were the switch's slowest second.
COLLECT_SPACING = 0.5


def switch_time(models_dir: Path, signature: Signature, workers: int, load_seconds: float,
                tick: float, previous: Signature | None = None) -> tuple[float, int]:
    """When (``time.time()``) the ``workers`` processes that serve one home start answering
    from the artifact with ``signature``, as the first of them to load it set it, and how many
    loaded it before this one: each loads it in its turn (:func:`reload_turn`, under which this
    is called) and keeps answering from the model before until then, so that no page from one
    worker and explanation from another come from two models. The first sets it for the others
    to load theirs as it did, a turn of the watcher apart (at most :data:`SWITCH_WAIT_MAX`
    seconds on); a worker later than that answers from the new model once it has it. One
    worker: at once. A file that cannot be read is set anew; one that cannot be written
    (logged) leaves this worker to switch at once, as the others then do: the watcher that
    calls this must outlive a full disk. ``previous``: the artifact the workers answer from
    until then, as the first recorded it (:func:`held_back`)."""
    path = models_dir / ".switch.json"
    agreed = _agreed(path, signature)
    if agreed is not None:
        at, before, previous = agreed
    else:
        at, before = time.time() + min(SWITCH_WAIT_MAX,
                                       max(0, workers - 1) * (load_seconds + tick)), 0
    try:
        write_private(path, json.dumps({"signature": list(signature), "at": at,
                                        "loaded": before + 1,
                                        "from": list(previous) if previous else None}))
    except OSError as exc:
        log.warning("the workers switch to the new model each once loaded (%s): %s", path, exc)
        return time.time(), before
    return at, before


class Switch(NamedTuple):
    """The workers' switch to a new artifact, as the first to load it recorded it."""

    at: float
    loaded: int
    #: The artifact they answer from until ``at``.
    previous: Signature | None


def _agreed(path: Path, signature: Signature) -> Switch | None:
    """The switch ``path`` holds to the artifact with ``signature``: when, how many workers
    loaded it, and from which artifact; None when it holds another's, none, or cannot be
    read."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if tuple(record["signature"]) != signature:
            return None
        previous = record.get("from")
        return Switch(float(record["at"]), int(record["loaded"]),
                      (int(previous[0]), int(previous[1]), int(previous[2])) if previous
                      else None)
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def held_back(models_dir: Path, signature: Signature | None,
              preloaded: Signature | None) -> bool:
    """Whether a worker starting now should answer from the ``preloaded`` artifact (the one
    gunicorn's master loaded before the fork) rather than from the artifact with ``signature``
    in place: the workers of the home agreed to switch to that one at a time still to come,
    and answer from ``preloaded`` until then. A worker that gunicorn starts in those seconds
    (after a crash, a kill, its timeout) then answers what the others answer, and switches
    with them (its watcher loads the new artifact and finds the time agreed)."""
    if signature is None or preloaded is None or preloaded == signature:
        return False
    agreed = _agreed(models_dir / ".switch.json", signature)
    return agreed is not None and agreed.at > time.time() and agreed.previous == preloaded


@contextmanager
def reload_turn(models_dir: Path) -> Iterator[bool]:
    """Whether this process may load a new model now: one worker at a time (a lock file beside
    the models, taken without waiting), so that while one loads the others keep answering at
    full speed from the model they have; the rest take their turn at their next check."""
    with held(models_dir / ".reload.lock") as mine:
        yield mine


class Engine:
    """The store and the service of this process, for one app.

    ``settings`` default to the environment's; the other arguments, when given, stand in for
    the settings' values of the same names (the app passes its Flask config's)."""

    def __init__(self, settings: Settings | None = None,
                 catalogue_check_interval: float | None = None,
                 reason_cache_size: int | None = None,
                 model_check_interval: float | None = None):
        self._settings = settings
        self._catalogue_interval = (self.settings.catalogue_check_interval
                                    if catalogue_check_interval is None
                                    else catalogue_check_interval)
        self._reason_cache_size = (self.settings.reason_cache_size if reason_cache_size is None
                                   else reason_cache_size)
        self._check_interval = (self.settings.model_check_interval
                                if model_check_interval is None else model_check_interval)
        #: The processes that serve this home together (gunicorn's workers, set in its
        #: master): a new model is answered from by all at once (:func:`switch_time`).
        self.workers = 1
        self._collect_after = 0.0  # seconds past a turn before the old model is collected
        self._lock = threading.RLock()  # held briefly: opening, forgetting, closing
        self._loading = threading.Lock()  # held while the service loads (seconds)
        self._pid = os.getpid()
        self._store: GraphStore | None = None
        self._writer: GraphStore | None = None
        self._writer_suspect = False  # probe the writer before the next write
        self._service: RecommendationService | None = None
        self._suspect = False
        self._loaded: Signature | None = None  # the artifact the service was loaded from
        self._rejected: Signature | None = None  # the last artifact that failed to load
        self._watcher: threading.Thread | None = None
        self._look_failed: str | None = None  # what the failing looks raise, said once
        self._stop = threading.Event()
        # Loaded by gunicorn's master before the fork (:meth:`preload`), kept across it.
        self._preloaded: tuple[Signature, ServedModel] | None = None
        self._preloaded_details: DetailsRead | None = None

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

        Only for what the service itself writes (feedback events): every read goes through
        :meth:`store`, whose user can only read (a bug or an injected statement there cannot
        change the graph). Dropped after a failed write (:meth:`failed_write`), so that the next
        write connects afresh, to where the store listens now.

        A write waits on a request's thread, which a store that is down must not hold: its
        transactions are retried for about a second at most (``on_request``), and a writer
        just opened, or one of a store a query found down since, is probed first (one trivial
        query, tried once, outside the lock as :meth:`store`'s), so that while the store is
        down each write answers 503 at once, as the reads do.
        """
        with self._lock:
            self._forget_if_forked()
            if self._writer is None:
                self._writer = open_store(self.settings, start_local=False, on_request=True)
                self._writer_suspect = True
                atexit.register(self.close)
            writer, suspect = self._writer, self._writer_suspect
        if suspect:
            writer.probe()
            self._writer_suspect = False
        return writer

    def failed_write(self) -> None:
        """A write through :meth:`writer` could not reach the store: the next write connects
        afresh, and the next read probes the store first."""
        with self._lock:
            writer, self._writer = self._writer, None
            self._suspect = True
        if writer is not None:
            writer.close()

    def service(self) -> RecommendationService:
        """The recommendation service, loaded on first use (and retried until a model exists);
        from then on a background thread replaces it when a new model is trained."""
        store = self.store()
        with self._loading:
            if self._service is None:
                signature = artifact_signature(self.settings.model_path)
                preloaded = self._preloaded[0] if self._preloaded is not None else None
                held = held_back(self.settings.models_dir, signature, preloaded)
                if held:  # the watcher loads the new one, to switch with the others
                    signature = preloaded
                self._service = self._load_service(store, signature)
                self._loaded = signature
                log.info("loaded model %s%s", self._service.model_version,
                         ", which the other workers answer from until their switch to the "
                         "new one" if held else "")
                self._watch()
            return self._service

    def preload(self) -> None:
        """Load the model's arrays, path index and edge masking now
        (:class:`~graphrec.serving.service.ServedModel`), and read its items' details: in
        gunicorn's master, before it forks the workers (``web/gunicorn.conf.py``). Each worker
        then makes its service from them, if the artifact is still the one loaded here, instead
        of loading, building and reading its own: a worker starts in the time it takes to
        connect, and the workers share the pages of what was built here.

        The details are read through a store connection of this call's own, closed before it
        returns, so that no driver crosses the fork. Nothing is lost when there is no model
        yet, it cannot be loaded or the store does not answer: the message is logged and each
        worker loads or reads its own."""
        signature = artifact_signature(self.settings.model_path)  # before: a newer one is seen
        try:
            from graphrec.model.artifact import ArtifactError
            from graphrec.serving.details import read_details
            from graphrec.serving.service import ServedModel
        except ImportError as exc:
            log.warning("no model loaded before the workers start: %s", exc)
            return
        try:
            model = ServedModel.load(self.settings.model_path,
                                     index_items=self.settings.topk_index_items)
        except (FileNotFoundError, ArtifactError) as exc:
            log.warning("no model loaded before the workers start (each loads its own): %s", exc)
            return
        if signature is None:
            return
        self._preloaded = (signature, model)
        log.info("loaded model %s before the workers start", model.recommender.version)
        try:
            store = open_store(self.settings, start_local=False, read_only=True)
            try:
                self._preloaded_details = read_details(store, model.recommender.item_ids)
            finally:
                store.close()
        except StoreUnavailable as exc:
            log.warning("item details not read before the workers start: %s", exc)

    def _load_service(self, store: GraphStore, signature: Signature | None
                      ) -> RecommendationService:
        """The service of the artifact with ``signature``: made from the model loaded before
        the fork when that is the same artifact, else loaded from it."""
        try:
            from graphrec.model.artifact import ArtifactError
            from graphrec.serving.service import RecommendationService
        except ImportError as exc:
            raise ModelUnavailable(f"the recommendation service is not installed: {exc}") from exc
        preloaded = self._preloaded
        same = preloaded is not None and signature is not None and preloaded[0] == signature
        try:
            return RecommendationService.load(
                self.settings, store, catalogue_check_interval=self._catalogue_interval,
                reason_cache_size=self._reason_cache_size,
                model=preloaded[1] if same and preloaded is not None else None,
                details=self._preloaded_details if same else None)
        except FileNotFoundError as exc:
            raise ModelUnavailable(
                f"no trained model under {self.settings.models_dir}: {exc}") from exc
        except ArtifactError as exc:  # old format, corrupted: a 503 that says which
            raise ModelUnavailable(f"the trained model cannot be used: {exc}",
                                   f"the trained model cannot be used: {exc.reason}") from exc

    def _watch(self) -> None:
        """Start this process's watcher (once; none when neither the model nor the catalogue
        is to be looked at)."""
        if self._tick() is None or self._watcher is not None:
            return
        self._stop.clear()
        self._watcher = threading.Thread(target=self._watch_loop, name="graphrec-model-watcher",
                                         daemon=True)
        self._watcher.start()

    def _tick(self) -> float | None:
        """Seconds between the watcher's turns: the shorter of the two intervals that are set
        (the service spaces its looks at the catalogue itself); None when neither is."""
        return min((i for i in (self._check_interval, self._catalogue_interval) if i > 0),
                   default=None)

    def _watch_loop(self) -> None:
        tick = self._tick()
        assert tick is not None  # checked by _watch
        while not self._stop.wait(tick):
            if self._check_interval > 0 and self.reload_if_changed() \
                    and not self._stop.wait(tick + self._collect_after):
                refreeze()  # by now the requests that were on the old service have finished
            self._look_at_graph()

    def _look_at_graph(self) -> None:
        """Have the service look at the catalogue when a look is due (``look_if_due``), which
        folds in the items ingested since training and reads the item details again when they
        changed, here rather than in a request.

        A look that fails is logged once, not at every look (every second or two while the
        store is down), and the first look that succeeds after it says so: the watcher, which
        also loads every newly trained model, goes on either way."""
        service = self._service
        if service is None:
            return
        try:
            looked = service.look_if_due()
        except StoreUnavailable as exc:
            if self._look_failed is None:
                log.warning("the catalogue not looked at (tried again at each look, said "
                            "once): %s", exc)
            self._look_failed = "unavailable"
        except Exception as exc:  # a store's error, a bug: logged once a kind
            if self._look_failed != type(exc).__name__:
                log.exception("the catalogue not looked at (tried again at each look, said "
                              "once)")
            self._look_failed = type(exc).__name__
        else:
            if looked and self._look_failed is not None:
                log.info("the catalogue looked at again")
                self._look_failed = None

    def reload_if_changed(self) -> bool:
        """Load the artifact if it changed since the service was loaded, and swap it in at the
        time the workers of the home agreed (:func:`switch_time`); meanwhile the new service
        ranks the lists the old one served last (:meth:`_rank_again`), and the old one looks
        at the catalogue.

        Called by the watcher thread, outside any request. A load that fails is logged and the
        old service keeps answering; an artifact that failed is not tried again until it changes
        once more, except when the store was unreachable (tried again on the next check).
        Returns whether a new service is in place.
        """
        signature = artifact_signature(self.settings.model_path)
        if signature is None or signature in (self._loaded, self._rejected):
            return False
        with reload_turn(self.settings.models_dir) as mine:
            if not mine:
                return False
            started = time.monotonic()
            fresh = self._load_fresh(signature)
            if fresh is None:
                return False
            took = time.monotonic() - started
            at, before = switch_time(self.settings.models_dir, signature, self.workers, took,
                                     self._tick() or 1.0, previous=self._loaded)
        waited = max(0.0, at - time.time())
        again = self._rank_again(fresh, at)
        while (left := at - time.time()) > 0:
            if self._stop.wait(min(left, self._tick() or left)):
                return False  # closing
            self._look_at_graph()
        with self._lock:
            was = self._service.model_version if self._service is not None else "none"
            self._service, self._loaded = fresh, signature
        self._collect_after = before * COLLECT_SPACING  # the workers' collections one by one
        log.info("reloaded model %s (was %s) in %.1f s, answering from it %.1f s later with "
                 "the other workers (%d lists served before ranked with it meanwhile)",
                 fresh.model_version, was, took, waited, again)
        return True

    def _rank_again(self, fresh: RecommendationService, until: float) -> int:
        """Have ``fresh`` rank the lists the service it replaces keeps, until ``until``
        (:meth:`~graphrec.serving.service.RecommendationService.rank_again`); how many. A store
        that fails, or any other failure, stops it (logged): the switch goes ahead, and the
        pages are ranked as they are asked for."""
        before = self._service
        if before is None or until <= time.time():
            return 0
        try:
            return fresh.rank_again(before.now.reasons, until)
        except StoreUnavailable as exc:
            log.warning("the new model ranked no more lists before the switch: %s", exc)
        except Exception:  # the watcher must outlive any failure; the switch goes ahead
            log.exception("the new model ranked no more lists before the switch")
        return 0

    def _load_fresh(self, signature: Signature) -> RecommendationService | None:
        """The service of the artifact with ``signature``, its item details read; None when it
        could not be loaded (logged)."""
        try:
            store = self.store()
            fresh = self._load_service(store, signature)
            fresh.items.warm()  # read before the swap: the first request must not wait on it
        except StoreUnavailable as exc:
            log.warning("new model not loaded, the store is unavailable (retrying): %s", exc)
            return None
        except Exception:  # the thread must outlive any failure; the old model keeps serving
            self._rejected = signature
            log.exception("new model not loaded, the old one keeps serving")
            return None
        return fresh

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
            self.service().items.warm()
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
        """A query through the store failed: probe it before the next one, and before the next
        write."""
        self._suspect = self._writer_suspect = True

    def close(self) -> None:
        """Stop the background work that reads through the stores (the watcher thread: a
        reload, a look at the catalogue; a bounded wait), then close them."""
        self._stop.set()
        with self._lock:
            stores = [self._store, self._writer]
            watcher = self._watcher
            self._store = self._writer = self._service = self._watcher = None
        if self._pid == os.getpid() and watcher is not None \
                and watcher is not threading.current_thread():
            watcher.join(timeout=CLOSE_WAIT)
        with self._lock:
            for store in stores:
                if store is not None and self._pid == os.getpid():
                    store.close()
            atexit.unregister(self.close)

    def _probe(self, store: GraphStore) -> None:
        """One trivial query through ``store``; the store is trusted again once it answers."""
        store.probe()
        self._suspect = False

    def _forget_if_forked(self) -> None:
        if self._pid != os.getpid():
            # Inherited from the parent: its sockets are the parent's, never use or close them.
            self._pid = os.getpid()
            self._store = self._writer = self._service = self._watcher = None
            self._loaded = self._rejected = None
            self._suspect = self._writer_suspect = False


def refreeze() -> None:
    """After a model swap in a worker whose loaded objects were frozen (:meth:`Engine.warm`):
    collect the old service (the collector never looks at frozen objects, so its reference
    cycles would stay for the life of the worker) and freeze the new one."""
    if gc.get_freeze_count():
        started = time.monotonic()
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        log.info("collected the old model in %.0f ms", (time.monotonic() - started) * 1000)


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = Engine(app.config.get("SETTINGS"),
                                       catalogue_check_interval=app.config[
                                           "CATALOGUE_CHECK_INTERVAL"],
                                       reason_cache_size=app.config["REASON_CACHE_SIZE"],
                                       model_check_interval=app.config["MODEL_CHECK_INTERVAL"])


def get_engine() -> Engine:
    return current_app.extensions[EXTENSION]
