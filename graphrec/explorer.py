"""The saved model and the store from Python: what a data scientist opens in a notebook.

``graphrec.connect()`` answers as ``graphrec recommend`` and ``graphrec explain`` do (the same
service, the same lists, ranks and reasons), and gives the reasons as networkx graphs::

    import graphrec

    with graphrec.connect() as shop:          # GRAPHREC_HOME and NEO4J_* as the commands read them
        top = shop.recommend("A3T0EJIUQDEWNI", k=10)
        why = shop.explain("A3T0EJIUQDEWNI", top[0]["item_id"])
        graph = shop.graph("A3T0EJIUQDEWNI")  # every reason path of the top 10, a MultiDiGraph

It connects as the store's reader (the local store's read-only user, ``NEO4J_READER_USER`` on
Neo4j): exploring never needs to write, so it cannot. The model is loaded once; every answer
reads the user's purchases, views and dismissals from the store as they are at that call,
while the items ingested since training are those the catalogue held when it connected
(connect again to take in later ones).
"""
from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Self

from graphrec.config import Settings
from graphrec.store.connection import GraphStore, open_store

if TYPE_CHECKING:
    import networkx as nx

    from graphrec.serving.service import RecommendationService

log = logging.getLogger(__name__)


class NoModel(FileNotFoundError):
    """The home has no trained model."""


def load_service(settings: Settings, store: GraphStore) -> RecommendationService:
    """The saved model as one process uses it for a few answers: item details read per answer,
    no reason cache, no watcher, the checksums of the arrays and weights left to the server,
    the graph's counts (whether the model is stale) read while the model loads, and the other
    shoppers of co-buyer paths named by their ids (whoever runs it reads the store anyway).

    The store is asked first: every answer needs it, and one that cannot be reached
    (:class:`~graphrec.store.connection.StoreUnavailable`) is the error to report, whatever
    else is missing. :class:`NoModel` when none is trained;
    :class:`~graphrec.model.artifact.ArtifactError` when it cannot be used."""
    from graphrec.model.artifact import graph_counts
    from graphrec.serving.service import RecommendationService

    store.read_once("admin/ping")
    with ThreadPoolExecutor(1) as pool:
        counts = pool.submit(graph_counts, store)  # the store counts while the model loads
        try:
            return RecommendationService.load(settings, store, catalogue_check_interval=None,
                                              reason_cache_size=0, hash_arrays=False,
                                              graph_now=counts.result, shoppers_named=True)
        except FileNotFoundError:
            raise NoModel("no trained model: run graphrec train first") from None


class Explorer:
    """A connection to the store with the saved model loaded (:func:`connect`); close it, or
    use it as a context manager. ``service`` is the whole
    :class:`~graphrec.serving.service.RecommendationService` for what these methods do not
    cover."""

    def __init__(self, service: RecommendationService, store: GraphStore):
        self.service = service
        self.store = store

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    @property
    def stale(self) -> str | None:
        """What changed in the graph since the model was trained, in a line; ``None`` while the
        model is up to date."""
        return self.service.freshness.line()

    def recommend(self, user_id: str, k: int = 10) -> list[dict[str, Any]]:
        """The user's top ``k``, each with its first reason, as the API's
        ``/recommendations`` lists them (:class:`~graphrec.serving.service.UnknownUser` for an
        id the store does not hold)."""
        return self.service.recommend(user_id, k)

    def explain(self, user_id: str, item_id: str, top: int = 3) -> dict[str, Any]:
        """The ``top`` reasons for ``item_id``, its score and its rank in :meth:`recommend`'s
        list, as the API's ``/explanation`` answers them."""
        return self.service.explain(user_id, item_id, top=top)

    def graph(self, user_id: str, k: int = 10, top: int = 3) -> nx.MultiDiGraph:
        """The ``top`` reason paths of each of the user's ``k`` recommendations as one graph
        (:func:`graphrec.explain.subgraph.user_graph`)."""
        from graphrec.explain.subgraph import user_graph

        return user_graph(self.service, user_id, k=k, top=top)

    def explanation_graph(self, user_id: str, item_id: str, top: int = 3) -> nx.MultiDiGraph:
        """One recommendation's reasons as a graph
        (:func:`graphrec.explain.subgraph.explanation_graph`)."""
        from graphrec.explain.subgraph import explanation_graph

        return explanation_graph(self.explain(user_id, item_id, top=top))


def connect(home: str | os.PathLike[str] | None = None, *,
            settings: Settings | None = None) -> Explorer:
    """Open the store as its reader and load the saved model of ``home`` (default
    ``GRAPHREC_HOME``, then ``./.graphrec``); ``settings`` instead of the environment's.
    Starts the local store when no ``NEO4J_URI`` is set and it is not running, as the commands
    do. Logs a warning when the model is stale."""
    if settings is None:
        env = dict(os.environ)
        if home is not None:
            env["GRAPHREC_HOME"] = os.fspath(home)
        settings = Settings.from_env(env)
    store = open_store(settings, read_only=True)
    try:
        explorer = Explorer(load_service(settings, store), store)
    except BaseException:
        store.close()
        raise
    stale = explorer.stale
    if stale:
        log.warning("%s", stale)
    return explorer
