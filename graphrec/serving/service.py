"""Recommendations with their reasons, for the HTTP service: one object per worker process.

It holds the model (:class:`~graphrec.serving.recommend.Recommender`, arrays memory-mapped from the
artifact), the graph the model was trained on (for the reason paths, from the same artifact)
and the store (for what each user has bought by now and for item details). A user is scored
and explained from their purchases as the store holds them at the request: a shopper who
signed up after training, or a purchase made a minute ago, counts at once. A path's weight is
the score the pair loses when the path's edges are masked in the model
(:mod:`graphrec.explain.attribution`), so the first reason is the one the score leans on most,
or of those it leans on about as much the one from the latest purchase
(:mod:`graphrec.explain.ranker`).
Items ingested after training are folded into the model from their neighbours
(:mod:`graphrec.serving.newitems`) when the service loads and again when the worker's look at
the catalogue finds it grown; the purchases reported since the model read its graph are added
to those its co-buyer paths go through (:mod:`graphrec.serving.newpurchases`) as the same looks
find them. What a worker keeps of its answers is
:mod:`graphrec.serving.cache`'s, the items' titles and prices :mod:`graphrec.serving.details`',
whether the model is stale :mod:`graphrec.serving.freshness`'.
"""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, cast

import numpy as np

from graphrec.config import Settings
from graphrec.dataset import GraphData
from graphrec.explain.attribution import EdgeMasking
from graphrec.explain.paths import HistoryWalks, PathFinder, ReasonPath
from graphrec.explain.ranker import PathRanker, starting_with
from graphrec.explain.reasons import (
    anonymised,
    describe,
    describe_popular,
    describe_shown,
    distinct,
    graph_facts,
    other_shoppers,
)
from graphrec.model import artifact
from graphrec.serving.cache import RankedPaths, ReasonCache, UserKey, digest, user_key
from graphrec.serving.details import (
    NO_DETAILS,
    CatalogueState,
    DetailsRead,
    ItemDetails,
    ItemDetailsOnDemand,
    catalogue_state,
)
from graphrec.serving.folds import SharedFolds
from graphrec.serving.freshness import Freshness
from graphrec.serving.newitems import read_new_items
from graphrec.serving.newpurchases import LivePurchases, read_since, with_purchases
from graphrec.serving.ranking import ahead
from graphrec.serving.recommend import (
    FIRST_HOP,
    ItemNotReady,
    Recommender,
    Scored,
    UnknownItem,
    UnknownUser,
)
from graphrec.serving.topk import index_for
from graphrec.store.connection import GraphStore, StoreUnavailable

__all__ = ["ItemNotReady", "RecommendationService", "ServedModel", "Shopper", "UnknownItem",
           "UnknownUser"]

log = logging.getLogger(__name__)

#: The share of its interval by which a worker may look at the catalogue sooner than that
#: (:meth:`RecommendationService.look_at_catalogue`), drawn once for each service: the workers
#: of a server start together, and after a change their reads should not all fall on the cores
#: at once.
SPREAD = 0.5

#: While the catalogue keeps moving from one look to the next (an ingest writing batch after
#: batch, a burst of availability changes), a worker acts on it at most once in this many
#: seconds, and once more at the first look that finds it still: a fold-in costs the server
#: about half a second of CPU on Beauty (made by one worker, mapped by the others) and a read of
#: the details a tenth a worker (and as much of the store's), so acting at every look of a long
#: ingest would take the cores from the requests. A change after a quiet spell is acted on at
#: the first look. Which items are offered is read at every look that finds the marker moved,
#: moving or not (:meth:`~graphrec.serving.details.ItemDetails.refresh_offered`).
ACT_SPACING = 30.0


class Served(NamedTuple):
    """What one request answers from, taken once at its start
    (:attr:`RecommendationService.now`): the model served and the cache of its answers,
    swapped in together by one assignment. The watcher thread serves a new model whenever new
    items are folded in or purchases reported live are taken in, and an answer begun before
    that must keep to the model it began with: mixing the two looks an item's index in the
    grown catalogue up in the path index of the one before (an IndexError, or another item's
    paths where the folded items' places moved)."""

    model: ServedModel
    reasons: ReasonCache

    @property
    def recommender(self) -> Recommender:
        return self.model.recommender

    @property
    def paths(self) -> PathFinder:
        return self.model.paths

    @property
    def ranker(self) -> PathRanker:
        return self.model.ranker

    @property
    def data(self) -> GraphData:
        return self.model.recommender.artifact.data


class Shopper(NamedTuple):
    """What the store says of a user at a request (:meth:`RecommendationService._shopper`)."""

    #: The ids of the items they bought, the latest last.
    bought: list[str]
    #: The items (model indices) they are answered from, ascending
    #: (:meth:`Recommender.basis`: their purchases, or their views while they have none).
    history: np.ndarray
    #: ``history`` in the order it was bought or viewed, the latest last.
    timeline: np.ndarray
    #: What ``history`` is (:data:`~graphrec.serving.recommend.PURCHASES` or ``VIEWS``).
    basis: str
    #: The items they dismissed and those the shop does not offer now
    #: (:mod:`graphrec.serving.events`; neither is ever recommended).
    dismissed: np.ndarray
    unavailable: np.ndarray


@dataclass(frozen=True)
class ServedModel:
    """A model with what answering builds from it once: its id maps, the path index and the
    edge masking (:class:`~graphrec.explain.ranker.PathRanker`).

    Made from the artifact alone, never the store, so that gunicorn's master can make it before
    it forks the workers (``web/gunicorn.conf.py``): each worker then finds it built, and the
    workers share its arrays' pages instead of each building and holding a copy.
    """

    recommender: Recommender
    paths: PathFinder
    ranker: PathRanker

    @classmethod
    def of(cls, recommender: Recommender, masking: EdgeMasking | None = None) -> ServedModel:
        """``masking``: that of the model served until now, kept when it masks the same arrays:
        purchases reported live change the paths and their counts, never the propagation, and
        the masking's arrays are as large as the graph, so making them again at each set of
        purchases cost a worker a copy of the graph (``benchmarks/results/NOTES.md``)."""
        data = recommender.artifact.data
        paths = PathFinder(data, index=recommender.artifact.path_index)
        graph_facts(data, paths.item_users)  # the sentences' counts, from the same index
        if recommender.state.folded:  # the folded items' link keys: here, not in a request
            recommender.new_links  # noqa: B018
        kept = masking if masking is not None and masking.state is recommender.state else None
        return cls(recommender, paths, PathRanker(recommender.state, paths, masking=kept))

    @classmethod
    def load(cls, path: Path, hash_arrays: bool = True, index_items: int = 0) -> ServedModel:
        """The artifact at ``path`` (:func:`graphrec.model.artifact.load`: FileNotFoundError,
        ArtifactError), ready to answer with: its top k searched through an index when it has
        at least ``index_items`` items (:func:`graphrec.serving.topk.index_for`)."""
        loaded = artifact.load(path, hash_arrays)
        return cls.of(Recommender(loaded, index_for(loaded.state.target, index_items)))


def not_served(bought: bool, in_history: bool, same_product: bool, dismissed: bool,
               unavailable: bool, has_path: bool) -> str | None:
    """Why an item is not in the list a user is served, ``None`` when it is: ``bought``,
    ``viewed`` (one of the views a user without purchases is answered from: the list is made
    from it), ``same_product`` (another listing of a product in those:
    :meth:`~graphrec.serving.recommend.Recommender.other_listings`), ``dismissed``,
    ``unavailable`` (the shop does not offer it now), or ``no_path`` (graphrec serves nothing
    it cannot explain)."""
    if bought:
        return "bought"
    if in_history:
        return "viewed"
    if same_product:
        return "same_product"
    if dismissed:
        return "dismissed"
    if unavailable:
        return "unavailable"
    return None if has_path else "no_path"


class RecommendationService:
    """Recommendations and explanations: the web app, ``graphrec recommend``, ``explain`` and
    ``publish``.

    What a request reads, and from where:

    * the model, the graph it was trained on and the path index: from the artifact, fixed for
      the life of the object (a new model means a new service), but for the items ingested
      since training, folded in (:mod:`graphrec.serving.newitems`) when the service loads and
      again when the worker's look at the catalogue (:meth:`look_at_catalogue`, every
      ``catalogue_check_interval`` seconds, in the engine's watcher thread: no request waits on
      it) finds it grown (made once for all the processes serving from one home and mapped
      by each: :class:`SharedFolds`); a read that fails keeps the last fold-in, logged; and for the
      purchases reported live since the model read its graph, which the same looks read
      (:class:`LivePurchases`) and add to the purchases its co-buyer paths, the counts of their
      sentences and the most bought items read (:meth:`take_purchases`);
    * the user's purchases (and dismissals and views): from the store, on every request, in
      one auto-commit query. They are the user: the scores, the items left out and the start of
      every reason path. A user the store does not have is :class:`UnknownUser`; one with no
      purchase (of an item the model knows) is answered from the items they viewed
      (:meth:`Recommender.basis`), and one with neither gets the shop's most bought items, each
      labelled ``popular``. This round trip is also why a request answers 503 when the store is
      down, instead of recommending from what it remembers;
    * item details (titles, prices, brands) and the items the shop does not offer now (never
      recommended to anyone): from ``details`` (:class:`ItemDetails`, which keeps them all and
      reads them again when the same look finds the catalogue's change marker moved, or
      :class:`ItemDetailsOnDemand` for a command); which items are offered, also when the
      request's own query finds the marker moved (:meth:`_shopper`);
    * reason paths: ranked by :meth:`weighted`, the top ones of the last ``reason_cache_size``
      (user, purchases, item) triples kept (:class:`ReasonCache`);
    * whether the model is stale: :class:`Freshness`, for ``/api/health`` and the commands.
    """

    def __init__(self, model: ServedModel, store: GraphStore,
                 details: ItemDetails | ItemDetailsOnDemand, reason_cache_size: int,
                 graph_check_interval: float, catalogue_check_interval: float = 0.0,
                 folds: SharedFolds | None = None, shoppers_named: bool = False):
        self.trained = model.recommender.artifact
        self.folds = SharedFolds(None) if folds is None else folds
        self.store = store
        self.items = details
        self.reason_cache_size = reason_cache_size
        self.shoppers_named = shoppers_named
        self.catalogue_check_interval = catalogue_check_interval
        self._look_share = 1 - SPREAD * random.random()
        self._use(model)
        self.freshness = Freshness(store, self.trained.trained_on, graph_check_interval)
        self._fold_rows: list[Any] = []  # the new items' rows folded in, as read
        self._read_new: frozenset[str] = frozenset()  # their ids (some left out: no edge)
        self._folded = self.trained  # the trained model with those items folded in
        # recommenders of the trained model and of _folded: their id maps serve those after
        self._trained_ids = self._folded_ids = model.recommender
        self.purchases = LivePurchases(read_since(self.trained.trained_on))
        self._purchases_version = 0  # the purchases.version the served model has taken in
        self._purchases_new = 0  # of those, the ones the model had not learnt (/api/health)
        self._purchases_at = -ACT_SPACING  # when the served model last took new ones
        self._catalogue_seen: CatalogueState | None = None  # as last acted on
        self._catalogue_before: CatalogueState | None = None  # at the previous look
        self._looked_at = 0.0
        self._looked_wall = 0.0  # the same, by the wall clock (the SharedFolds signals)
        self._acted_at = -ACT_SPACING  # when a look last acted on a change
        self._asked_for_new = False  # a request named a new item: the next look acts
        # the items not offered, as last read, with the recommender that indexed them
        self._unavailable: tuple[frozenset[str], Recommender, np.ndarray] | None = None

    @classmethod
    def load(cls, settings: Settings, store: GraphStore, *,
             catalogue_check_interval: float | None,
             reason_cache_size: int, hash_arrays: bool = True,
             model: ServedModel | None = None,
             details: DetailsRead | None = None,
             graph_now: Callable[[], Mapping[str, int]] | None = None,
             shoppers_named: bool = False) -> RecommendationService:
        """The model under ``settings.models_dir``, with everything it needs from its artifact
        (``model`` when the caller loaded it already, :class:`ServedModel`); item details kept
        (starting from ``details`` when the caller read them already) and the catalogue looked
        at every ``catalogue_check_interval`` seconds (``0``: never; :meth:`look_at_catalogue`),
        or, when ``None`` (a command), item details read per answer; the top reasons of
        ``reason_cache_size`` pairs kept (the web service passes its settings',
        :class:`graphrec.config.Settings`).
        ``hash_arrays``: see :func:`graphrec.model.artifact.load`. ``graph_now``: the
        graph's counts as the caller reads them (a command starts the read before it loads the
        model, so that the two overlap), instead of reading them here. ``shoppers_named``: the
        other shoppers of co-buyer paths by their ids (a command's, whose user reads the store
        anyway), rather than as ``shopper #1``, … (:func:`~graphrec.explain.reasons.anonymised`:
        the web service's answers). New items are folded in
        through ``settings.folds_dir``, shared with the other processes of the home.

        FileNotFoundError when no model is trained; ArtifactError when it cannot be used.
        """
        if model is None:
            model = ServedModel.load(settings.model_path, hash_arrays, settings.topk_index_items)
        serving = catalogue_check_interval is not None
        labels = (ItemDetails(store, model.recommender.item_ids, details) if serving
                  else ItemDetailsOnDemand(store))
        service = cls(model, store, labels, reason_cache_size, settings.graph_check_interval,
                      catalogue_check_interval=catalogue_check_interval or 0.0,
                      folds=SharedFolds(settings.folds_dir), shoppers_named=shoppers_named)
        try:
            if graph_now is not None:  # a command's: it says whether the model is stale
                counts = graph_now()
                service.freshness.remember(counts)
            else:  # the item count alone (the full counts scan every relationship)
                counts = {"items": catalogue_state(store).items}
            service.purchases.read(store)
        except StoreUnavailable as exc:
            log.warning("the catalogue not read, no new item or purchase taken in yet: %s", exc)
        else:
            if service._must_fold(counts):  # the items ingested since training, before serving
                service._fold_or_keep()
            else:  # none: what an earlier model or catalogue left in the home goes
                service.folds.clear()
            if service.purchases.version != service._purchases_version:
                service._serve()
        return service

    @property
    def model_version(self) -> str:
        return self.recommender.version

    @property
    def folded(self) -> int:
        """How many items ingested after training are folded into the model now."""
        return self.recommender.state.folded

    def health(self) -> dict[str, Any]:
        """The ``model`` block of ``/api/health``."""
        return {"ok": True, "version": self.model_version, **self.freshness.report(),
                "folded_items": self.folded, "live_purchases": self._purchases_new}

    # --- items ingested after training ------------------------------------------------------

    def fold_new_items(self) -> int:
        """Fold in the catalogue's items the model was not trained on, as the store holds them
        now (one query), in place of those folded in before; how many are folded in.
        StoreUnavailable when the store cannot be read (the last fold-in stays). Called by the
        service's load and by its look at the catalogue, in the watcher thread: one at a time."""
        rows = read_new_items(self.store, self.trained.ids["items"])
        if rows != self._fold_rows:
            self._take_fold(rows, *self.folds.grow(self.trained, rows))
        return self.folded

    def adopt_shared_fold(self) -> bool:
        """Serve the fold-in of the catalogue's new items as the store holds them now when
        another worker of the home made it (:meth:`SharedFolds.mapped`): mapped, never made;
        whether the model served changed. StoreUnavailable as :meth:`fold_new_items`."""
        rows = read_new_items(self.store, self.trained.ids["items"])
        if rows == self._fold_rows:
            return False
        shared = self.folds.mapped(self.trained, rows)
        if shared is None:
            return False
        self._take_fold(rows, *shared)
        return True

    def _take_fold(self, rows: list[Any], folded: artifact.Artifact, masking: EdgeMasking | None
                   ) -> None:
        """Serve ``folded``, the fold-in of the new items' ``rows``."""
        self._folded = folded
        self._folded_ids = Recommender(folded, self.recommender.index,
                                       self.recommender.scan, grew_from=self._trained_ids)
        self._serve(new_items=True, masking=masking)
        self._fold_rows = rows
        self._read_new = frozenset(row["item_id"] for row in rows)
        log.info("%d items ingested after training folded into the model", self.folded)

    def take_purchases(self, now: float) -> None:
        """Read the purchases reported live since the last read (one query, through an index:
        in a quiet shop none) and, when there are new ones, serve a model whose paths go
        through them: at once after a quiet spell, else at most every :data:`ACT_SPACING`
        seconds (each worker makes its own, and a busy shop reports purchases every second).
        Nothing is read in between: a read returns the purchases of the last seconds again
        (:data:`~graphrec.serving.newpurchases.OVERLAP_MS`), which in a busy shop took the
        workers' CPU from the requests at every look (``benchmarks/results/NOTES.md``). A read
        that fails keeps what was read, logged. Users forgotten since the last read
        (:meth:`LivePurchases.forgotten_since`, one lookup) make the read due at once."""
        try:
            if now - self._purchases_at < ACT_SPACING and \
                    not self.purchases.forgotten_since(self.store):
                return
            self.purchases.read(self.store)
        except StoreUnavailable as exc:
            log.warning("purchases reported live not read, the %d taken before stay: %s",
                        len(self.purchases.pairs), exc)
            return
        if self.purchases.version == self._purchases_version:
            return
        self._purchases_at = now
        self._serve()
        log.info("%d purchases reported since training added to the co-buyer paths",
                 self._purchases_new)

    def _serve(self, new_items: bool = False, masking: EdgeMasking | None = None) -> None:
        """Serve the trained model with the new items folded in and the purchases reported
        live among its graph's purchases. The trained items' index or scan table serves the
        grown catalogue: the folded rows come after those it covers, and every search scores
        them apart. ``new_items``: the items folded in changed, so their details are read
        first (the whole catalogue's: a tenth of a second of CPU on Beauty, which new
        purchases alone do not need). ``masking``: that of the new items' fold-in, when
        :class:`SharedFolds` mapped it; else the one served is kept where it fits."""
        version, pairs = self.purchases.version, frozenset(self.purchases.pairs)
        grown = with_purchases(self._folded, pairs, self._folded_ids)
        model = ServedModel.of(Recommender(
            grown, self.recommender.index,
            self.recommender.scan, grew_from=self._folded_ids),
            masking=self.now.ranker.masking if masking is None else masking)
        if new_items:
            self.items.track(model.recommender.item_ids)
        self._use(model)
        self._purchases_version = version
        # the pairs read within the clock margin before training (newpurchases) may be learnt
        self._purchases_new = len(grown.data.train) - len(self._folded.data.train)

    @property
    def look_interval(self) -> float:
        """Seconds between two looks at the catalogue: ``catalogue_check_interval`` or a
        little less (:data:`SPREAD`)."""
        return self.catalogue_check_interval * self._look_share

    def look_if_due(self) -> bool:
        """:meth:`look_at_catalogue` when :attr:`look_interval` seconds have passed since the
        last look, or at once when a request asked for an item the store holds and this model
        does not yet (:class:`ItemNotReady`: the client was told to come back after
        ``Retry-After``, 2 s, which a look due up to an interval later and then acting missed
        under load), in this worker or in another of the home (:meth:`SharedFolds.ask`: the
        client's next try may reach any), or when another worker of the home made a fold-in
        (:meth:`SharedFolds.made_since`); never when ``catalogue_check_interval`` is 0. Whether
        it looked. The engine's watcher thread calls this every second or so."""
        if self.catalogue_check_interval <= 0:
            return False
        if time.monotonic() - self._looked_at < self.look_interval and not self._asked() \
                and not self.folds.made_since(self._looked_wall):
            return False
        self.look_at_catalogue()
        return True

    def look_at_catalogue(self) -> None:
        """A worker's one look at the catalogue (:meth:`look_if_due`): the purchases reported
        live since the last look (:meth:`take_purchases`), then the catalogue's size and change
        marker (:func:`catalogue_state`; two queries that no store answers by scanning: in one,
        ArcadeDB would not use the index the first takes). Only when the size or the marker
        moved does it act on them, here, in the caller's thread: the items ingested since
        training folded in when the size moved (or some are folded in already), then the item
        details read again when the marker moved since they were read (a fold-in that found new
        items has read them with the new ones).

        One look serves both: a new item is on the pages within one interval of its ingest, and
        a load that moves both the size and the marker has the details read once. A catalogue
        still moving since the previous look is acted on at most every :data:`ACT_SPACING`
        seconds, and at the first look that finds it still; which items are offered is read
        meanwhile at each look that finds the marker moved, and a fold-in of the catalogue as it
        is that another worker wrote since the last look is mapped (:meth:`adopt_shared_fold`),
        so that the workers list new items together. The graph's full counts, which scan
        every relationship on the local store (about 0.1 s of its CPU on Beauty, from every
        worker), are read for ``/api/health`` alone. A change that could not be read (the store
        unavailable) is looked at again at the next look."""
        asked, made = self._asked(), self.folds.made_since(self._looked_wall)
        self._looked_at, self._looked_wall = time.monotonic(), time.time()
        now, self._asked_for_new = self._looked_at, False  # this look answers the ask
        self.take_purchases(now)
        state = catalogue_state(self.store)
        before, self._catalogue_before = self._catalogue_before, state
        if state == self._catalogue_seen:
            return
        if state != before and now - self._acted_at < ACT_SPACING and not asked:
            # still moving, and acted on lately: once it stops, or ACT_SPACING after; but
            # which items are offered, at once (an indexed query of those not offered), and
            # another worker's fold-in of the catalogue as it is, mapped (SharedFolds)
            if made and self.adopt_shared_fold():
                self._acted_at = now
            self.items.refresh_offered(state.changed)
            return
        self._acted_at = now
        if self._must_fold({"items": state.items}) and not self._fold_or_keep():
            return
        self.items.refresh(state.changed)
        self._catalogue_seen = state

    def _asked(self) -> bool:
        """Whether a request, of this worker or another of the home, asked for an item the
        store holds and the model did not, since this worker's last look."""
        return self._asked_for_new or self.folds.asked_since(self._looked_wall)

    def _must_fold(self, counts: Mapping[str, int]) -> bool:
        """Whether the catalogue, with ``counts``, may hold items to fold in: other items than
        the model was trained on, or some folded in already (which may have changed)."""
        return counts.get("items") != self.trained.trained_on.get("items") or bool(self.folded)

    def _fold_or_keep(self) -> bool:
        """Fold in the new items, or keep those folded in before when they cannot be read
        (logged); False when the store could not be read."""
        try:
            self.fold_new_items()
        except StoreUnavailable as exc:
            log.warning("new items not read, the %d folded in before stay: %s", self.folded,
                        exc)
            return False
        except ValueError as exc:  # the artifact's graph does not fit its arrays
            log.error("new items cannot be folded into this model (retrain): %s", exc)
        return True

    def _use(self, model: ServedModel) -> None:
        """Serve ``model`` (the trained one, or one with new items folded in) with a cache of
        its own (the paths and lists may have changed): one assignment, which a request reads
        once, first (:class:`Served`)."""
        self.now = Served(model, ReasonCache(self.reason_cache_size))

    @property
    def recommender(self) -> Recommender:
        """The recommender served now (a request takes :attr:`now` instead, once)."""
        return self.now.recommender

    # --- the answers --------------------------------------------------------------------------

    def ranked(self, user_id: str, history: np.ndarray, k: int,
               exclude: np.ndarray | None = None, walks: HistoryWalks | None = None,
               now: Served | None = None) -> list[Scored]:
        """The top ``k`` for a user who bought ``history`` (model indices), never one of
        ``exclude`` (what they dismissed), only among items with at least one reason path:
        graphrec recommends nothing it cannot explain. ``walks``: the path index's
        :meth:`~graphrec.explain.paths.PathFinder.walks` of ``history``, when the caller
        lists paths from it too. ``now``: the model the request answers from (the one served
        now when None)."""
        now = now or self.now
        if walks is None:
            walks = now.paths.walks(history)
        return now.recommender.recommend(
            history, k, accept=lambda items: now.paths.has_candidates(history, items, walks),
            exclude=exclude)

    def recommend(self, user_id: str, k: int = 10) -> list[dict[str, Any]]:
        """The user's top ``k``, each with its first reason: from their purchases, or
        from the items they viewed while they have none (the reasons then start with
        ``VIEWED``), or ``popular`` ones for a user with neither, and for one whose purchases
        (or views) lead to no item by a reason path (a new brand's first product, in a
        category of its own: once a retrain knows it, its buyer's list was empty). ValueError
        for a ``k`` under 1."""
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        now = self.now  # once, first (Served)
        kept = now.reasons
        shopper = self._shopper(user_id, now)
        history = shopper.history
        excluded = never_served(shopper.dismissed, shopper.unavailable)
        if not len(history):
            return self._popular(now, shopper, excluded, k)
        walks = now.paths.walks(history)  # for the ranking and the reasons: once
        key, served = user_key(user_id, shopper.timeline), digest(excluded)
        ranked = kept.served_list(key, served, k)  # the page seen again
        if ranked is None:
            ranked = self.ranked(user_id, history, k, exclude=excluded, walks=walks, now=now)
            kept.keep_list(key, served, ranked)
        if not ranked:  # nothing explainable to offer from the history: as for none
            return self._popular(now, shopper, excluded, k)
        weighted = self._reasons(now, key, shopper, [r.item_id for r in ranked], 1, walks)
        best = {item: paths[0] for item, paths in weighted.items() if paths}
        details, titles = self.items.labels(self.named_items(
            [r.item_id for r in ranked], [p for _, p in best.values()], now))
        explained = [r.item_id for r in ranked if r.item_id in best]  # shown as one answer
        reasons = dict(zip(explained, self._shown(
            [describe(best[item][1], now.data, titles, best[item][0], user_id)
             for item in explained])))
        return [{"rank": r.rank, "item_id": r.item_id, "score": r.score, "new": r.new,
                 **details.get(r.item_id, NO_DETAILS), "category": category,
                 "reason": reasons.get(r.item_id)}
                for r, category in zip(ranked, self._categories(now, [r.item_id for r in ranked]))]

    def rank_again(self, lists: ReasonCache, until: float) -> int:
        """Serve again, to fill this service's cache, the lists ``lists`` keeps (another
        model's: the one this service replaces), the latest first, until ``time.time()`` is
        ``until``; how many. For the seconds a new model waits before every worker answers
        from it (``web.engine.switch_time``): pages seen again are then found kept at the
        switch, rather than ranked by every worker in the same second. A user gone or an item
        not taken in yet is skipped; an unreachable store ends it."""
        served = 0
        for key, k in lists.recent_lists():
            if time.time() >= until:
                break
            user_id, _ = cast(UserKey, key)  # what recommend keeps its lists under
            try:
                self.recommend(user_id, k)
            except (UnknownUser, UnknownItem, ItemNotReady):
                continue
            served += 1
        return served

    def explain(self, user_id: str, item_id: str, top: int = 3) -> dict[str, Any]:
        """The ``top`` reasons of ``item_id`` for the user, its score and ``rank``: its place
        in the list :meth:`recommend` serves (``None`` when it is not served: bought already,
        in the views a list without purchases is made from, another listing of a product in
        those, dismissed, not offered by the shop now, or no reason path: :func:`not_served`);
        ``basis`` says what the user is answered from (:meth:`Recommender.basis`, or
        ``popular``, as :meth:`recommend` falls back to it). ValueError for a ``top`` under
        1: with no reason shown, a served item would read as one without a reason path."""
        if top < 1:
            raise ValueError(f"top must be at least 1, not {top}")
        now = self.now  # once, first (Served)
        kept = now.reasons
        index = self._item_index(now, item_id)
        shopper = self._shopper(user_id, now)
        history, dismissed, unavailable = shopper.history, shopper.dismissed, shopper.unavailable
        excluded = never_served(dismissed, unavailable)
        if not len(history):
            return self._explain_popular(now, user_id, item_id, index, shopper)
        already = item_id in shopper.bought
        walks = now.paths.walks(history)  # for the reasons and the rank: once
        key = user_key(user_id, shopper.timeline)
        # More candidates than shown, so that paths that read as one already said (two co-buyers
        # of one item, two listings of one product) leave room for the next ones. An item of
        # the history (bought, or viewed by a shopper answered from views) is never served.
        candidates = [] if index in history else self._reasons(
            now, key, shopper, [item_id], max(top, kept.keep), walks)[item_id]
        _, titles = self.items.labels(self.named_items([item_id], [p for _, p in candidates],
                                                       now))
        paths = distinct(candidates, now.data, titles, top)

        def accept(items: np.ndarray) -> np.ndarray:  # what the list serves: items with paths
            return now.paths.has_candidates(history, items, walks)

        listed_apart = index not in history and now.recommender.lists_twice(index) and \
            index in now.recommender.same_product(history, excluded)
        rank, why = None, not_served(already, index in history, listed_apart,
                                    index in dismissed, index in unavailable, bool(paths))
        if why is not None and not self._leads_anywhere(now, key, shopper, excluded, walks):
            # the list is the popular one (recommend): its rank, basis and reason
            return self._explain_popular(now, user_id, item_id, index, shopper)
        if why is None:  # served: its place in the list served
            place = kept.place(key, digest(excluded), item_id)  # on the page just seen
            score, rank = place if place is not None else now.recommender.served_place(
                history, index, accept, excluded)
        else:
            score = now.recommender.score(history, index)
        return {"user_id": user_id, "item_id": item_id, "score": score, "rank": rank,
                "not_served": why, "already_bought": already, "basis": shopper.basis,
                "paths": self._shown(describe_shown(paths, now.data, titles, user_id))}

    def _leads_anywhere(self, now: Served, key: UserKey, shopper: Shopper,
                        excluded: np.ndarray, walks: HistoryWalks) -> bool:
        """Whether the shopper's history leads to at least one item the list may serve (by a
        reason path, none of ``excluded``): else :meth:`recommend` serves the popular list.
        The list kept for them answers when it has an item; else the best item is searched
        for (a list's search, for one item)."""
        if now.reasons.served_list(key, digest(excluded), 1):
            return True
        return bool(self.ranked(key[0], shopper.history, 1, exclude=excluded, walks=walks,
                                now=now))

    def _shown(self, paths: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One answer's described paths (an explanation's, or the first reasons of a list) as
        this service shows them: other shoppers by id, or not (``shoppers_named``), numbered
        across the whole answer. Named, only those whose purchases the paths go through the store
        holds are: one forgotten since the model was trained (:mod:`graphrec.serving.erasure`),
        which the model still counts as a co-buyer, is numbered, and so is one whose id a new
        customer took since (one query, where any path goes through another shopper)."""
        if not self.shoppers_named:
            return anonymised(paths)
        claims = other_shoppers(paths)
        if not claims:
            return paths
        held = self.store.held_purchases(set().union(*claims.values()))
        return anonymised(paths, named={user for user, pairs in claims.items() if pairs <= held})

    def weighted(self, user_id: str, history: np.ndarray, item_ids: list[str],
                 walks: HistoryWalks | None = None, limit: int | None = None,
                 timeline: np.ndarray | None = None, now: Served | None = None
                 ) -> dict[str, RankedPaths]:
        """Each item's candidate paths from ``history`` with their weights, in the order they
        are shown (the first ``limit`` of each, or all): strongest first, but for the latest
        purchase's first of those about as strong (``timeline``,
        :meth:`~graphrec.explain.ranker.PathRanker.ranked`). ``now``: as for :meth:`ranked`."""
        now = now or self.now
        indices = [now.recommender.item_index(item_id) for item_id in item_ids]
        ranked = now.ranker.ranked_items(history, indices, now.recommender.user_index(user_id),
                                         walks, limit, timeline)
        return dict(zip(item_ids, ranked))

    # --- helpers ------------------------------------------------------------------------------

    def _item_index(self, now: Served, item_id: str) -> int:
        """The item's index in the model of ``now``. An item it does not know, which a worker
        looking at the catalogue has not read yet but the store holds (ingested since its last
        look, and maybe on another worker's page already), is :class:`ItemNotReady`, and the
        next look acts at once; else :class:`UnknownItem` (not in the catalogue, or read and
        left out: no edge to anything the model knows)."""
        try:
            return now.recommender.item_index(item_id)
        except UnknownItem:
            if self.catalogue_check_interval <= 0 or \
                    item_id in self._read_new or \
                    not self.store.read_once("service/catalogue_item", item=item_id):
                raise
            self._asked_for_new = True
            self.folds.ask()
            raise ItemNotReady(item_id) from None

    def _shopper(self, user_id: str, now: Served | None = None) -> Shopper:
        """What the store says of the user now (:class:`Shopper`), as the model of ``now``
        answers it; :class:`UnknownUser` when the store has no such user. The same query
        returns the catalogue's change marker: when the items offered were read with another,
        they are read again first (one indexed query, on the first request after a change),
        so that no answer lists an item whose setting off was acknowledged before it began,
        and two workers never rank a list apart for an item one of them still offers."""
        rows = self.store.read_once("service/user_history", user=user_id)
        if not rows:
            raise UnknownUser(user_id)
        self.items.refresh_offered(rows[0]["changed"])
        return self.shopper(rows[0], now)

    def shopper(self, row: Mapping[str, Any], now: Served | None = None) -> Shopper:
        """A user's row of ``service/user_history`` or ``publish/histories`` (``items``,
        ``dismissed``, ``viewed``, each in the order they came) as the model of ``now`` (the
        one served now when None) answers it."""
        recommender = (now or self.now).recommender
        history, timeline, basis = recommender.basis(row["items"], row["viewed"])
        # a listing dismissed is its product dismissed: its twin is not offered in its place
        return Shopper(row["items"], history, timeline, basis,
                       recommender.listings_of(recommender.history(row["dismissed"])),
                       self.unavailable(recommender))

    def unavailable(self, recommender: Recommender | None = None) -> np.ndarray:
        """The indices in ``recommender`` (the one served now when None) of the items the shop
        does not offer now, ascending: mapped once for each read of them (:attr:`items`) and
        each model, not once a request."""
        ids, recommender = self.items.unavailable(), recommender or self.recommender
        known = self._unavailable
        if known is None or known[0] is not ids or known[1] is not recommender:
            known = self._unavailable = (ids, recommender, recommender.history(ids))
        return known[2]

    def _reasons(self, now: Served, key: tuple[str, bytes], shopper: Shopper,
                 item_ids: list[str], top: int, walks: HistoryWalks) -> dict[str, RankedPaths]:
        """At least the first ``top`` paths of each item (through the cache of ``now``, the
        model the request took, when it keeps that many) for the user of ``key``
        (:func:`~graphrec.serving.cache.user_key`): kept per user and history in the order it
        was bought, so that a new purchase is never answered from the paths of the old ones.
        The paths start with the relationship the shopper's ``basis`` names (kept as the
        finder walks them: one history is ranked alike whatever it holds)."""
        user_id, history, timeline, kept = key[0], shopper.history, shopper.timeline, now.reasons
        if top > kept.keep:
            found = self.weighted(user_id, history, item_ids, walks, timeline=timeline, now=now)
        else:
            found = kept.get(key, item_ids, lambda missing: self.weighted(
                user_id, history, missing, walks, kept.keep, timeline, now))
        return starting_with(found, FIRST_HOP[shopper.basis])

    def named_items(self, item_ids: list[str], paths: Iterable[ReasonPath],
                    now: Served | None = None) -> list[str]:
        """The item ids an answer shows, whose labels it reads: its items and those its paths
        (found by the model of ``now``) go through."""
        items = (now or self.now).data.items
        return [*item_ids, *(str(items[i]) for p in paths for t, i in p.nodes if t == "item")]

    @staticmethod
    def _had(now: Served, shopper: Shopper) -> np.ndarray:
        """What the most bought items leave out for ``shopper`` as theirs: what they bought,
        and what they viewed when their list is made from views (as their own list does)."""
        return np.union1d(now.recommender.history(shopper.bought), shopper.history)

    def _popular(self, now: Served, shopper: Shopper, excluded: np.ndarray, k: int
                 ) -> list[dict[str, Any]]:
        """The fallback of a user with no purchase the model can use, or none that leads to an
        item by a reason path: the most bought items (none of theirs (:meth:`_had`), none in
        ``excluded``: dismissed, or not offered now)."""
        ranked = now.recommender.popular(k, self._had(now, shopper), excluded)
        details, _ = self.items.labels([r.item_id for r in ranked])
        return [{"rank": r.rank, "item_id": r.item_id, "score": r.score, "new": False,
                 **details.get(r.item_id, NO_DETAILS), "category": category,
                 "reason": self._popular_reason(now, r.item_id, details, category)}
                for r, category in zip(ranked, self._categories(now, [r.item_id for r in ranked]))]

    def _popular_reason(self, now: Served, item_id: str,
                        details: Mapping[str, Mapping[str, Any]], category: str | None
                        ) -> dict[str, Any]:
        """The popularity reason of ``item_id``, whose most specific category (as
        :meth:`_categories` names it) is ``category``."""
        return describe_popular(item_id, details.get(item_id, NO_DETAILS), category,
                                int(now.recommender.buyers[now.recommender.item_index(item_id)]))

    @staticmethod
    def _categories(now: Served, item_ids: list[str]) -> list[str | None]:
        """Each item's most specific category in the model of ``now``, as the sentences name
        it (:meth:`~graphrec.explain.reasons.GraphFacts.categories`)."""
        index = now.recommender.item_map
        return graph_facts(now.data).categories([index[item_id] for item_id in item_ids])

    def _explain_popular(self, now: Served, user_id: str, item_id: str, index: int,
                         shopper: Shopper) -> dict[str, Any]:
        """What :meth:`explain` says to a user answered from the most bought items
        (:meth:`_popular`): the popularity reason, and the item's place in that list."""
        dismissed, unavailable = shopper.dismissed, shopper.unavailable
        history, excluded = self._had(now, shopper), never_served(dismissed, unavailable)
        buyers = now.recommender.popular_counts(history, excluded)
        already = item_id in shopper.bought
        listed_apart = index not in history and now.recommender.lists_twice(index) and \
            index in now.recommender.same_product(history, excluded, popular=True)
        why = not_served(already, index in shopper.history, listed_apart, index in dismissed,
                         index in unavailable, True)
        rank = None if why else int(ahead(buyers, index).sum()) + 1
        details, _ = self.items.labels([item_id])
        return {"user_id": user_id, "item_id": item_id,
                "score": float(now.recommender.buyers[index]), "rank": rank,
                "not_served": why, "already_bought": already, "basis": "popular",
                "paths": [self._popular_reason(now, item_id, details,
                                               self._categories(now, [item_id])[0])]}


def never_served(dismissed: np.ndarray, unavailable: np.ndarray) -> np.ndarray:
    """The items a user is never served: those they dismissed and those not offered now
    (sorted, no repeats, as each of them is)."""
    return np.union1d(dismissed, unavailable) if len(unavailable) else dismissed
