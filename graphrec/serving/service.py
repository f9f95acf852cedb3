"""Recommendations with their reasons, for the HTTP service: one object per worker process.

It holds the model (:class:`~graphrec.serving.recommend.Recommender`), the train graph the model was
trained on (for the reason paths) and the store (for what each user has bought by now and for
item details). A path's weight is the score the pair loses when the path's edges are masked in
the model (:mod:`graphrec.explain.attribution`), so the first reason is the one the score leans on most.
"""
from __future__ import annotations

import logging
import pickle
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from graphrec.model import artifact
from graphrec.config import Settings
from graphrec.dataset import GraphData
from graphrec.explain.ranker import Explainer
from graphrec.store.export import export_graph
from graphrec.explain.paths import ReasonPath
from graphrec.explain.reasons import describe
from graphrec.serving.recommend import Recommender, Scored, UnknownItem, UnknownUser
from graphrec.store.connection import GraphStore, StoreUnavailable

__all__ = ["ItemDetails", "ReasonCache", "RecommendationService", "UnknownItem", "UnknownUser"]

log = logging.getLogger(__name__)


#: What an item without details in the store is answered with.
NO_DETAILS: Mapping[str, Any] = {"title": None, "price": None, "brand": None}

Weighted = list[tuple[float, ReasonPath]]


class ReasonCache:
    """The strongest ``keep`` reason paths of the (user, item) pairs asked for last, at most
    ``size`` pairs (0: none kept).

    Ranking a pair's paths is most of what a request costs (with edge masking, milliseconds a
    pair), and its answer depends only on the model and the graph it was trained on, both fixed
    for the life of the service: a kept answer never goes stale. The page asks for a user's
    recommendations with their top reasons, then for the explanation of the one clicked, which
    is then already here; so are the reasons of a page seen again.

    A pair is kept pickled (about 400 bytes, 5 us to load) rather than as path objects: bytes
    are not tracked by Python's garbage collector, so a full cache adds nothing to the pauses of
    its full collections, where 20,000 pairs as objects (over a million of them) would add
    hundreds of milliseconds to each.
    """

    def __init__(self, size: int, keep: int = 3):
        self.size, self.keep = size, keep
        self._pairs: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, user_id: str, item_ids: Sequence[str],
            rank: Callable[[list[str]], dict[str, Weighted]]) -> dict[str, Weighted]:
        """Each item's kept paths; those of the pairs not kept are ranked by ``rank(items)``."""
        found: dict[str, Weighted] = {}
        missing = []
        with self._lock:
            for item_id in item_ids:
                kept = self._pairs.get((user_id, item_id))
                if kept is None:
                    missing.append(item_id)
                else:
                    self._pairs.move_to_end((user_id, item_id))
                    found[item_id] = pickle.loads(kept)
        if missing:
            ranked = rank(missing)  # outside the lock: other requests go on meanwhile
            with self._lock:
                for item_id in missing:
                    found[item_id] = ranked[item_id][: self.keep]
                    if self.size:
                        self._pairs[(user_id, item_id)] = pickle.dumps(found[item_id])
                while len(self._pairs) > self.size:
                    self._pairs.popitem(last=False)
        return found


class ItemDetails:
    """Title, price and brand of every item of the model, read in one query and kept.

    They only label an answer, and there are few of them (well under 1 kB an item), so a worker
    reads them all once instead of querying the items of each answer. They are read again once
    older than ``max_age`` seconds, by the request that finds them so; meanwhile, and if that
    read fails, the other requests answer from the copy they have: a title or a price may lag
    the store by ``max_age`` seconds. Only the first read makes requests wait.
    """

    def __init__(self, store: GraphStore, item_ids: Sequence[str], max_age: float):
        self.store, self.item_ids, self.max_age = store, list(item_ids), max_age
        self._lock = threading.Lock()
        self._copy: tuple[dict[str, Mapping[str, Any]], dict[str, str | None]] | None = None
        self._read_at = 0.0

    def details(self) -> Mapping[str, Mapping[str, Any]]:
        """Item id → ``{"title", "price", "brand"}``; items the store lacks are absent."""
        return self._current()[0]

    def titles(self) -> Mapping[str, str | None]:
        """Item id → title."""
        return self._current()[1]

    def _current(self) -> tuple[dict[str, Mapping[str, Any]], dict[str, str | None]]:
        if self._copy is None:
            with self._lock:  # the first read: every request needs it
                if self._copy is None:
                    self._read()
        elif time.monotonic() - self._read_at >= self.max_age and \
                self._lock.acquire(blocking=False):  # one request reads, the others go on
            try:
                self._read()
            except StoreUnavailable as exc:
                self._read_at = time.monotonic()  # keep the old copy for another max_age
                log.warning("item details not refreshed, keeping the old copy: %s", exc)
            finally:
                self._lock.release()
        return self._copy

    def _read(self) -> None:
        rows = self.store.read_once("service/items", ids=self.item_ids)
        details = {row.pop("item_id"): row for row in rows}
        self._copy = details, {key: row["title"] for key, row in details.items()}
        self._read_at = time.monotonic()


class RecommendationService:
    """Recommendations and explanations: the web app, ``graphrec explain`` and ``publish``.

    What a request reads, and from where:

    * the model, the train graph and the path index: in memory, fixed for the life of the
      object (a new model means a new service);
    * item details (titles, prices, brands): from :class:`ItemDetails`, which keeps them all
      and re-reads them every ``details_max_age`` seconds: display data may lag a little;
    * reason paths: ranked by :meth:`_weighted`, the top ones of the last
      ``reason_cache_size`` pairs kept (:class:`ReasonCache`): they never change;
    * the user's purchases: from the store, on every request, in one auto-commit query. They
      must not lag: an item bought after the model was trained is never recommended, and the
      store is the only place that knows of it. This round trip is also why a request answers
      503 when the store is down, instead of recommending from what it remembers.
    """

    def __init__(self, recommender: Recommender, data: GraphData, store: GraphStore,
                 details_max_age: float = 60.0, reason_cache_size: int = 0):
        self.recommender = recommender
        self.data = data
        self.store = store
        self.items = ItemDetails(store, recommender.item_ids, details_max_age)
        self.reasons = ReasonCache(reason_cache_size)
        self.explainer = Explainer(recommender.model, data)
        self.paths = self.explainer.paths

    @classmethod
    def load(cls, settings: Settings, store: GraphStore, details_max_age: float = 60.0,
             reason_cache_size: int = 0) -> RecommendationService:
        """The model under ``settings.models_dir`` and the graph it was trained on, read from
        the store (the artifact refuses a graph that changed since: retrain then).

        FileNotFoundError when no model is trained.
        """
        data, _ = export_graph(store)
        recommender = Recommender(artifact.load(settings.model_path, data=data))
        return cls(recommender, data, store, details_max_age, reason_cache_size)

    @property
    def model_version(self) -> str:
        return self.recommender.version

    def ranked(self, user_id: str, k: int, bought: Iterable[str]) -> list[Scored]:
        """The user's top ``k`` not in ``bought``, only among items with at least one reason
        path: graphrec recommends nothing it cannot explain."""
        user = self.recommender.user_index(user_id)
        return self.recommender.recommend(
            user_id, k, bought=bought, accept=lambda items: self.paths.has_candidates(user, items))

    def recommend(self, user_id: str, k: int = 10) -> list[dict[str, Any]]:
        ranked = self.ranked(user_id, k, self._bought(user_id))
        weighted = self._reasons(user_id, [r.item_id for r in ranked], top=1)
        best = {item: paths[0] for item, paths in weighted.items() if paths}
        details, titles = self.items.details(), self.items.titles()
        out = []
        for r in ranked:
            reason = None
            if r.item_id in best:
                weight, path = best[r.item_id]
                reason = describe(path, self.data, titles, weight)
            out.append({"rank": r.rank, "item_id": r.item_id, "score": r.score,
                        **details.get(r.item_id, NO_DETAILS), "reason": reason})
        return out

    def explain(self, user_id: str, item_id: str, top: int = 3) -> dict[str, Any]:
        bought = self._bought(user_id)
        scores = self.recommender.scores(user_id)
        index = self.recommender.item_index(item_id)
        rank = int((scores > scores[index]).sum()) + 1
        paths = self._reasons(user_id, [item_id], top)[item_id][:top]
        titles = self.items.titles()
        return {"user_id": user_id, "item_id": item_id, "score": float(scores[index]),
                "rank": rank, "already_bought": item_id in bought,
                "paths": [describe(p, self.data, titles, w) for w, p in paths]}

    def _weighted(self, user_id: str, item_ids: list[str]
                  ) -> dict[str, list[tuple[float, ReasonPath]]]:
        """Each item's candidate paths with their weights, strongest first."""
        user = self.recommender.user_index(user_id)
        return {item_id: self.explainer.ranked(user, self.recommender.item_index(item_id))
                for item_id in item_ids}

    def _reasons(self, user_id: str, item_ids: list[str], top: int) -> dict[str, Weighted]:
        """At least the ``top`` strongest paths of each item (through the cache when it keeps
        that many)."""
        if top > self.reasons.keep:
            return self._weighted(user_id, item_ids)
        return self.reasons.get(user_id, item_ids, lambda missing: self._weighted(user_id, missing))

    def _bought(self, user_id: str) -> list[str]:
        """Every item the store says the user bought, now (see the class's docstring)."""
        self.recommender.user_index(user_id)
        rows = self.store.read_once("service/user_purchases", user=user_id)
        return rows[0]["items"] if rows else []
