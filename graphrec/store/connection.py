"""The graph store connection: one driver per process, every query by file name and parameters.

Neo4j when ``NEO4J_URI`` is set; otherwise the local store (:mod:`graphrec.store.local`), started
on first use. Both are reached through the official ``neo4j`` driver and the same Cypher. A
driver of the local store follows it when it restarts on other ports: before each connection it
opens it reads where the running server listens (:meth:`LocalStore.bolt_resolver`).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Self, TypeVar

import neo4j
from neo4j.exceptions import (
    AuthError,
    ConstraintError,
    Forbidden,
    ServiceUnavailable,
    SessionExpired,
)

# the driver's errors that modules outside this package catch (graphrec.cli, web.errors): taken
# from here, the driver is imported without pandas (graphrec.store)
from neo4j.exceptions import DriverError as DriverError
from neo4j.exceptions import Neo4jError as Neo4jError
from neo4j.exceptions import TransientError as TransientError

import cypher
from graphrec.config import SettingError, Settings
from graphrec.store.local import READER_USER, USER, LocalStore, LocalStoreError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How long the driver keeps retrying a transaction on a lost connection before giving up.
RETRY_SECONDS = 5.0
#: The same for a write on a web request's thread (``open_store(..., on_request=True)``), with
#: the first retry this soon: a few tries within about a second, which a passing failure of a
#: store that answers (a deadlock, a leader switch) needs, rather than the 5 s and more of
#: retries for a store that is down (1, 2 and 4 s apart: 7 s), for which a worker's thread was
#: held from every other request, health checks included (503 after 7 s).
REQUEST_RETRY_SECONDS = 0.5
REQUEST_RETRY_DELAY = 0.1
#: The longest a query waits for a connection: for a free one from the pool, or for a new one to
#: connect, agree on a protocol version and log in (the driver's default is 60 s, for which a
#: server that accepts and never answers held a web worker's thread).
CONNECT_SECONDS = 5.0

#: Ids looked up in the store per query (:meth:`GraphStore.held`).
LOOKUP_BATCH = 10_000


class StoreUnavailable(RuntimeError):
    """The graph store cannot be reached or refuses our credentials."""


class StoreForbidden(RuntimeError):
    """The store refused a statement to the user we are connected as (a reader that wrote)."""


def on_key_race(write: Callable[[], T], seconds: float) -> T:
    """``write()``, run again while it loses races on a uniqueness key, for at most ``seconds``
    (then its last error is raised). ``write`` MERGEs, so running it again is safe. Two
    transactions that MERGE the same new key at once (two first events of one new customer,
    or an ingest's batch of users and a new customer's first event) both create the node on a
    store whose MERGE does not lock the key (ArcadeDB; Neo4j's does), and the later commit
    fails on the constraint; run again, it finds the node the other made. A batch of thousands
    can lose again to the next new customer, until the events stop making its users."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return write()
        except ConstraintError:
            if time.monotonic() >= deadline:
                raise


def one_line(exc: Exception | str) -> str:
    """An error's words on one line, as a command's error and a log line print them (the
    driver's messages span several)."""
    return " ".join(str(exc).split())


class GraphStore:
    """A driver bound to one database. Queries are named by their file under ``cypher/``."""

    def __init__(self, driver: neo4j.Driver, database: str, description: str,
                 user: str | None = None):
        self.driver = driver
        self.database = database
        self.description = description
        self.user = user

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.driver.close()

    def read(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """Run the read query ``cypher/<name>.cypher`` and return its rows as dicts."""
        return self.read_text(cypher.load(name), **params)

    def read_text(self, query: str, **params: Any) -> list[dict[str, Any]]:
        """Run a read query given as text (for statements composed from ``cypher/`` files)."""
        with self._errors():
            result = self.driver.execute_query(query, params, database_=self.database,
                                               routing_=neo4j.RoutingControl.READ)
        return [record.data() for record in result.records]

    def read_once(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """Run the short read query ``cypher/<name>.cypher`` as one auto-commit transaction.

        For the reads a web request makes: no transaction to begin and commit around the query
        (on the local store 0.4 ms a query instead of 0.9 ms), and no retries for seconds when
        the store is down (:class:`StoreUnavailable` at once). A connection that fails is tried
        once more, on a fresh one: the pool may hold a connection the server has closed.
        """
        query = cypher.load(name)
        with self._errors():
            try:
                return self._run_once(query, params)
            except (ServiceUnavailable, SessionExpired):
                return self._run_once(query, params)

    def _run_once(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        with self.driver.session(database=self.database,
                                 default_access_mode=neo4j.READ_ACCESS) as session:
            return session.run(query, params).data()

    def probe(self) -> None:
        """One trivial query, tried once and on no retry: :class:`StoreUnavailable` for any
        failure to answer it (how the web service finds that a store it stopped trusting
        answers again)."""
        try:
            self._run_once(cypher.load("admin/ping"), {})
        except (DriverError, Neo4jError, OSError) as exc:
            raise StoreUnavailable(f"cannot reach {self.description}: {one_line(exc)}") from exc

    def stream(self, name: str, **params: Any) -> Iterator[neo4j.Record]:
        """Yield the rows of a large read query as the driver fetches them, batch by batch.

        Each row is the driver's record, a tuple of the values with ``keys()``: turning every
        row into a dict (``data()``) costs a quarter of the client's time on a read of
        millions of rows."""
        with self._errors(), self.driver.session(
                database=self.database, default_access_mode=neo4j.READ_ACCESS) as session:
            yield from session.run(cypher.load(name), params)

    def held(self, kind: str, ids: Iterable[str]) -> set[str]:
        """Those of ``ids`` the store holds as ``kind`` (``users`` or ``items``:
        ``cypher/lookup/<kind>.cypher``), asked :data:`LOOKUP_BATCH` at a time."""
        return {str(row["id"]) for row in self._looked_up(kind, "ids", sorted(set(ids)))}

    def held_purchases(self, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Those of the ``(user id, item id)`` pairs the store holds as a purchase
        (``cypher/lookup/purchases.cypher``), asked :data:`LOOKUP_BATCH` at a time."""
        wanted = [{"user": user, "item": item} for user, item in sorted(set(pairs))]
        return {(str(row["user"]), str(row["item"]))
                for row in self._looked_up("purchases", "pairs", wanted)}

    def _looked_up(self, name: str, parameter: str, wanted: list[Any]
                   ) -> Iterator[dict[str, Any]]:
        """The rows of ``cypher/lookup/<name>.cypher`` for ``wanted`` (its ``parameter``),
        asked :data:`LOOKUP_BATCH` at a time."""
        for start in range(0, len(wanted), LOOKUP_BATCH):
            yield from self.read(f"lookup/{name}",
                                 **{parameter: wanted[start:start + LOOKUP_BATCH]})

    def write(self, name: str, **params: Any) -> neo4j.SummaryCounters:
        """Run the write statement ``cypher/<name>.cypher`` in one managed transaction."""
        return self.write_text(cypher.load(name), **params)

    def write_text(self, query: str, **params: Any) -> neo4j.SummaryCounters:
        """Run a write statement given as text in one managed transaction."""
        with self._errors():
            result = self.driver.execute_query(query, params, database_=self.database)
        return result.summary.counters

    def write_returning(self, name: str, **params: Any
                        ) -> tuple[list[dict[str, Any]], neo4j.SummaryCounters]:
        """Run the write statement ``cypher/<name>.cypher`` in one managed transaction; its rows
        and what it changed (for a statement whose rows say whether it matched at all)."""
        with self._errors():
            result = self.driver.execute_query(cypher.load(name), params, database_=self.database)
        return [record.data() for record in result.records], result.summary.counters

    def clear(self, batch: int = 10_000) -> int:
        """Delete every node and relationship, in batches; returns the nodes deleted."""
        deleted = 0
        while True:
            counters = self.write("admin/clear_batch", limit=batch)
            deleted += counters.nodes_deleted
            if counters.nodes_deleted < batch:
                return deleted

    def run_script(self, name: str) -> int:
        """Run each statement of a multi-statement file (the schema); returns how many ran."""
        parts = cypher.statements(name)
        with self._errors():
            for statement in parts:
                self.driver.execute_query(statement, database_=self.database)
        return len(parts)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (ServiceUnavailable, SessionExpired) as exc:
            raise StoreUnavailable(f"cannot reach {self.description}: {one_line(exc)}") from exc
        except AuthError as exc:
            raise StoreUnavailable(
                f"{self.description} refused the credentials: {one_line(exc)}") from exc
        except Forbidden as exc:
            raise StoreForbidden(f"{self.description} refused the statement to user "
                                 f"{self.user}: {one_line(exc.message or str(exc))}") from exc


def open_store(settings: Settings, *, start_local: bool = True,
               read_only: bool = False, on_request: bool = False) -> GraphStore:
    """Connect to Neo4j (``NEO4J_URI``) or to the local store, starting it if needed.

    ``read_only``: as the user that may only read, for the web service (the local store's
    :data:`~graphrec.store.local.READER_USER`, or ``NEO4J_READER_USER`` on Neo4j, where the
    main user stands in, with a warning, when none is set). Otherwise as the user that writes:
    ingest, train, publish. ``on_request``: its transactions are retried for
    :data:`REQUEST_RETRY_SECONDS`, not :data:`RETRY_SECONDS` (the web service's writes, which
    a client waits for).
    """
    options: dict[str, Any] = {}
    if on_request:
        options.update(max_transaction_retry_time=REQUEST_RETRY_SECONDS,
                       initial_retry_delay=REQUEST_RETRY_DELAY)
    else:
        options.update(max_transaction_retry_time=RETRY_SECONDS)
    if settings.uses_local_store:
        local = LocalStore(settings)
        try:  # a store that cannot start is one a command cannot reach: exit 3 (graphrec.cli)
            info = local.start() if start_local else local.running()
        except LocalStoreError as exc:
            raise StoreUnavailable(str(exc)) from exc
        if info is None:
            raise StoreUnavailable("the local store is not running (start it: graphrec db start)")
        try:
            auth = (READER_USER, local.reader_password()) if read_only else (USER, local.password())
        except LocalStoreError as exc:
            raise StoreUnavailable(str(exc)) from exc
        uri = info.uri
        # The server may come back on other ports: every connection asks where it listens now.
        options["resolver"] = local.bolt_resolver
        description = f"the local store (database {settings.database})"
    else:
        assert settings.neo4j_uri is not None  # not the local store
        uri, auth = settings.neo4j_uri, _neo4j_auth(settings, read_only)
        description = f"Neo4j at {uri} (database {settings.database})"
    try:
        driver = neo4j.GraphDatabase.driver(uri, auth=auth,
                                            connection_timeout=CONNECT_SECONDS,
                                            connection_acquisition_timeout=CONNECT_SECONDS,
                                            **options)
    except (neo4j.exceptions.ConfigurationError, ValueError) as exc:  # the URI, before a wait
        raise SettingError(f"NEO4J_URI: {one_line(exc)}") from exc
    return GraphStore(driver, settings.database, description, user=auth[0])


def _neo4j_auth(settings: Settings, read_only: bool) -> tuple[str, str]:
    """The Neo4j credentials to read with (the reader's when set) or to write with."""
    if read_only and settings.neo4j_reader_user:
        return settings.neo4j_reader_user, settings.neo4j_reader_password or ""
    if read_only:
        log.warning("NEO4J_READER_USER is not set: the service reads as %s, who may also write "
                    "(README: Users and privileges)", settings.neo4j_user)
    return settings.neo4j_user, settings.neo4j_password or ""
