"""Cold start, measured: shoppers and products the model never trained on.

The protocol follows GRECS (arXiv 2406.07420). From the catalogue's train split, with a seed:

* **cold users**: a share of the users (10 %) is held out of training entirely. At request
  time each reveals the first 1, 2 or 3 of its purchases (by ``seq``, else the train split's
  order; train and test purchases alike, since a cold user's whole history is unseen) and the
  rest of its purchases are what it must be recommended. They are drawn among users with more
  purchases than the most revealed, so each has something to find at every level.
* **cold items**: a share of the items (10 %) loses every train purchase; the items keep
  their brand, category and links. The users who bought them in test (warm users only) rank
  every item they did not buy in train, and the cold items they bought are what must be found.
  graphrec meets them as the service meets items ingested after training
  (:class:`ItemsFoldedIn`): it trains on the catalogue without them and folds them in from
  their neighbours afterwards.

Every model learns from what is left (:attr:`ColdStartSplit.train`) and scores a user from a
history row it is given (:class:`FoldIn`, each model's ``score_history``): graphrec's user is
the items they bought, item-kNN and EASE score ``history @ W``, popularity ignores it. The
reference is graphrec **retrained** with the cold users' revealed purchases and the cold
items' purchases included, for the same number of epochs as the cold model, scored from the
same histories. One retrained model serves every level: each cold user is assigned one level
(1, 2 or 3, a third of them each, seeded) and enters its training with that many purchases,
so the model is compared at level ``n`` on the cold users of level ``n`` only (a user whose
later purchases it learnt from would flatter it at a lower level), user by user: the goals
carry the mean per-user difference and its standard error (:func:`paired`).

Drawn together (the default), cold users and cold items meet: a tenth of a cold user's later
purchases are of cold items, which the cold model knows only folded in and the reference knows
trained, so the users' figures carry the items' gap too. With ``item_fraction=0`` the users are
measured alone (every item warm, the reference retrained with the cold users only), with
``user_fraction=0`` the items alone: the two scenarios of the cold-start literature, each
isolating one kind of fold-in.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.dataset import GraphData
from graphrec.evaluation.evaluate import evaluate, evaluate_per_user, top_k
from graphrec.explain.paths import PathFinder
from graphrec.model import kernel

if TYPE_CHECKING:
    import pandas as pd

    from graphrec.model.kernel import Propagated
    from graphrec.model.train import KGRecRecommender

#: The models folded in by default: the baselines that score from a history row, and graphrec.
MODELS: tuple[str, ...] = ("popularity", "itemknn", "ease", "graphrec")
#: Revealed purchases of a cold user, the levels reported.
REVEAL: tuple[int, ...] = (1, 2, 3)
#: The issue's goals: cold users' NDCG at least this share of the retrained model's; cold
#: items' HR at least this share of the same items trained warm.
USER_GOAL, ITEM_GOAL = 0.95, 0.5


class FoldInModel(Protocol):
    """A fitted model that scores users from a history it is given."""

    fit_info: dict[str, Any]

    def fit(self, data: GraphData) -> Any: ...

    def score_history(self, history: sp.csr_matrix) -> torch.Tensor | np.ndarray: ...


class FoldIn:
    """A model as an evaluation scorer whose users are the rows of ``history``."""

    def __init__(self, model: FoldInModel, history: sp.csr_matrix) -> None:
        self.model, self.history = model, history.tocsr()

    def score_users(self, users: np.ndarray) -> torch.Tensor | np.ndarray:
        return self.model.score_history(self.history[np.asarray(users)])


def history_order(data: GraphData, purchases: pd.DataFrame) -> np.ndarray:
    """:meth:`GraphData.purchase_history` as ``[user, item]`` rows: every known purchase, grouped
    by user, each user's in the order bought."""
    return data.purchase_history(purchases)[["user", "item"]].to_numpy(np.int64)


def catalogue_without(data: GraphData, items: np.ndarray) -> GraphData:
    """``data`` as the store held it before ``items`` (indices) were ingested: the other items
    in their order with their purchases and the links among them, the brands they have and the
    categories on their paths (their leaf categories and every ancestor); the same users. What
    a model that never knew ``items`` trains on."""
    keep = np.ones(data.num_items, dtype=bool)
    keep[np.asarray(items, dtype=np.int64)] = False
    item_index = np.cumsum(keep) - 1

    def purchases(pairs: np.ndarray) -> np.ndarray:
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        pairs = pairs[keep[pairs[:, 1]]]
        return np.stack([pairs[:, 0], item_index[pairs[:, 1]]], axis=1)

    def reindex(pairs: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Item → node pairs of the kept items, the nodes renumbered among ``present``."""
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        pairs = pairs[keep[pairs[:, 0]]]
        index = np.cumsum(present) - 1
        return np.stack([item_index[pairs[:, 0]], index[pairs[:, 1]]], axis=1), index

    item_brand = np.asarray(data.item_brand, dtype=np.int64).reshape(-1, 2)
    has_brand = np.zeros(len(data.brands), dtype=bool)
    has_brand[item_brand[keep[item_brand[:, 0]], 1]] = True
    item_category = np.asarray(data.item_category, dtype=np.int64).reshape(-1, 2)
    parent = np.asarray(data.category_parent, dtype=np.int64).reshape(-1, 2)
    has_category = np.zeros(len(data.categories), dtype=bool)
    has_category[item_category[keep[item_category[:, 0]], 1]] = True
    while True:  # the ancestors of every category present
        more = has_category.copy()
        more[parent[has_category[parent[:, 0]], 1]] = True
        if np.array_equal(more, has_category):
            break
        has_category = more
    brand_pairs, _ = reindex(item_brand, has_brand)
    category_pairs, category_index = reindex(item_category, has_category)
    parent = parent[has_category[parent[:, 0]]]
    links = {}
    for relation, pairs in data.links.items():
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        links[relation] = item_index[pairs[keep[pairs].all(axis=1)]].reshape(-1, 2)
    return GraphData(users=data.users, items=data.items[keep], brands=data.brands[has_brand],
                     categories=data.categories[has_category], train=purchases(data.train),
                     test=purchases(data.test), item_brand=brand_pairs,
                     item_category=category_pairs, category_parent=category_index[parent],
                     links=links, item_product=(data.item_product[keep] if len(data.item_product)
                                                else data.item_product))


class ItemsFoldedIn:
    """graphrec meeting the cold items the way the service meets items ingested after
    training: it trains on the catalogue without them (:func:`catalogue_without`), then folds
    them in from their brand, category and links through the service's code
    (:func:`graphrec.serving.newitems.fold_rows`, :func:`graphrec.model.foldin.fold_in`).
    Trained in the graph with no purchase instead, a cold item's only free vector would be
    pushed down by every softmax and never up. Scores come back in the catalogue's item order;
    a cold item with no neighbour the model knows is not folded in (the service never
    recommends it, and a purchase of it does not count): ``-inf``, and left out of histories.
    """

    def __init__(self, recommender: KGRecRecommender, cold_items: np.ndarray) -> None:
        self.recommender = recommender
        self.cold_items = np.asarray(cold_items, dtype=np.int64)
        self.state: Propagated | None = None
        self.columns = np.zeros(0, dtype=np.int64)  # the catalogue index of each model item
        self.links = sp.csr_matrix((0, 0))  # the model's items × its folded ones (folded_links)
        self.num_items = 0

    @property
    def fit_info(self) -> dict[str, Any]:
        return {**self.recommender.fit_info,
                "cold_items_folded": int(self.state.folded) if self.state is not None else 0}

    def fit(self, data: GraphData) -> ItemsFoldedIn:
        """Train on the catalogue without the cold items, then fold them in as the service
        does (the cold items' rows as the store would give them to it)."""
        from graphrec.serving.newitems import fold_rows, folded_links, item_rows

        before = catalogue_without(data, self.cold_items)
        self.recommender.fit(before)
        if self.recommender.model is None:
            raise RuntimeError("the recommender did not train a model")
        self.state, grown = fold_rows(self.recommender.model.propagated(), before,
                                      item_rows(data, self.cold_items.tolist()))
        self.links = folded_links(grown, before.num_items)
        position = {str(item): n for n, item in enumerate(data.items)}
        self.columns = np.array([position[str(item)] for item in grown.items], dtype=np.int64)
        self.num_items = data.num_items
        return self

    def model_scores(self, history: sp.csr_matrix) -> np.ndarray:
        """The model's score of every catalogue item for each row of a users × items 0/1
        matrix (``-inf``: an item not folded in)."""
        if self.state is None:
            raise RuntimeError("fit the model first")
        known = history.tocsr()[:, self.columns]
        out = np.full((known.shape[0], self.num_items), -np.inf, dtype=np.float32)
        out[:, self.columns] = self._scores(known)
        return out

    def score_history(self, history: sp.csr_matrix) -> np.ndarray:
        """Each row's catalogue ranked as the service lists it: minus each item's place (the
        trained items by score, the folded ones in places of their own,
        :func:`~graphrec.serving.ranking.new_item_places`), ``-inf`` for what the row bought
        and for items not folded in. Ranking is what is measured, so the places are the
        scores."""
        from graphrec.serving.ranking import (
            folded_places,
            new_item_order,
            new_item_slots,
            trained_places,
        )

        if self.state is None:
            raise RuntimeError("fit the model first")
        known = history.tocsr()[:, self.columns]
        scores = self._scores(known)
        rows, cols = known.nonzero()
        scores[rows, cols] = -np.inf
        first = self.state.num_items - self.state.folded
        links = np.asarray((known @ self.links).todense())
        place = np.zeros(scores.shape, dtype=np.float32)
        ranks = np.arange(1, first + 1)
        for row in range(len(scores)):
            trained = scores[row, :first]
            ranked = new_item_order(scores[row, first:], links[row])
            slots = new_item_slots(links[row, ranked])
            order = np.argsort(-trained, kind="stable")  # ties: the lower index first
            place[row, order] = trained_places(ranks, slots)
            place[row, first + ranked] = folded_places(np.arange(1, len(ranked) + 1), slots,
                                                       int(np.isfinite(trained).sum()))
        out = np.full((known.shape[0], self.num_items), -np.inf, dtype=np.float32)
        out[:, self.columns] = np.where(np.isfinite(scores), -place, -np.inf)
        return out

    def _scores(self, known: sp.csr_matrix) -> np.ndarray:
        """The model's scores of its items (trained, then folded) for rows of its items."""
        assert self.state is not None
        z = kernel.user_vectors(np.asarray(known @ self.state.target),
                                np.asarray(known.sum(axis=1)).ravel(), self.state.exponent)
        return np.asarray(kernel.scores(z.astype(np.float32), self.state.target))

    def __repr__(self) -> str:
        return f"ItemsFoldedIn({self.recommender!r}, {len(self.cold_items)} cold items)"


def _rows(pairs: np.ndarray) -> np.ndarray:
    return np.unique(pairs, axis=0).reshape(-1, 2) if len(pairs) else pairs.reshape(-1, 2)


@dataclass(frozen=True)
class ColdStartSplit:
    """The catalogue split for the cold-start protocol (see the module's docstring).

    ``data`` is the catalogue as given, ``train`` what a cold model may learn from (the train
    purchases of warm users, none of a cold item), ``histories`` the cold users' purchases in
    the order bought (``[user, item]`` rows) and ``position`` each row's place (0-based);
    ``level`` the revealed count each cold user has in the retrained reference's training.
    """

    data: GraphData
    train: GraphData
    cold_users: np.ndarray
    cold_items: np.ndarray
    histories: np.ndarray
    position: np.ndarray
    level: np.ndarray

    @property
    def levels(self) -> tuple[int, ...]:
        """The revealed counts measured: :data:`REVEAL`, none when no user is cold."""
        return REVEAL if len(self.cold_users) else ()

    @property
    def cases(self) -> list[str]:
        """The cases measured: ``users@n`` for each of :attr:`levels`, then ``items`` when
        some items are cold. A scenario with only one kind of cold entity (a fraction of 0)
        measures that kind alone, against a reference in which the other kind is warm."""
        return [f"users@{n}" for n in self.levels] + (["items"] if len(self.cold_items) else [])

    def _warm(self, pairs: np.ndarray) -> np.ndarray:
        return pairs[~np.isin(pairs[:, 0], self.cold_users)]

    def users_case(self, revealed: int, same_level: bool = False) -> GraphData:
        """Cold users with their first ``revealed`` purchases as ``train`` (the history they
        are scored from and what is never recommended) and the rest as ``test``; with
        ``same_level`` only the cold users of that level (:attr:`level`)."""
        rows = self.histories
        shown = self.position < revealed
        if same_level:
            mine = np.isin(rows[:, 0], self.cold_users[self.level == revealed])
            rows, shown = rows[mine], shown[mine]
        return dataclasses.replace(self.data, train=_rows(rows[shown]), test=_rows(rows[~shown]))

    def retrain_data(self) -> GraphData:
        """The whole train split with each cold user's purchases replaced by the first
        :attr:`level` of them (cold items keep their purchases): what the retrained reference
        learns from."""
        of_user = np.searchsorted(self.cold_users, self.histories[:, 0])
        shown = self.histories[self.position < self.level[of_user]]
        return dataclasses.replace(self.data, train=_rows(np.concatenate(
            [self._warm(self.data.train), shown])), test=self._warm(self.data.test))

    def items_case(self) -> GraphData:
        """Warm users who bought a cold item in test: their train purchases are what is never
        recommended (``train``), the cold items they bought in test what must be found."""
        test = self._warm(self.data.test)
        return dataclasses.replace(self.data, train=self._warm(self.data.train),
                                   test=test[np.isin(test[:, 1], self.cold_items)])

    def summary(self) -> dict[str, Any]:
        items = self.items_case()
        cases = {f"users@{n}": len(self.users_case(n).test) for n in REVEAL}
        levels = {f"users@{n}": int((self.level == n).sum()) for n in REVEAL}
        return {"cold_users": len(self.cold_users), "cold_items": len(self.cold_items),
                "train": len(self.train.train),
                "cold_item_train_purchases_removed": int(np.isin(
                    self._warm(self.data.train)[:, 1], self.cold_items).sum()),
                "test_purchases": {**cases, "items": len(items.test)},
                "item_case_users": int(len(np.unique(items.test[:, 0]))),
                "retrained_level_users": levels}


def split(data: GraphData, order: np.ndarray, *, user_fraction: float = 0.1,
          item_fraction: float = 0.1, seed: int = 0) -> ColdStartSplit:
    """Draw the cold users and items of ``data`` (``order``: :func:`history_order`)."""
    rng = np.random.default_rng(seed)
    counts = np.bincount(order[:, 0], minlength=data.num_users)
    eligible = np.flatnonzero(counts > max(REVEAL))
    wanted = min(len(eligible), round(user_fraction * data.num_users))
    cold_users = np.sort(rng.choice(eligible, size=wanted, replace=False))
    cold_items = np.sort(rng.choice(data.num_items, size=round(item_fraction * data.num_items),
                                    replace=False))
    level = np.resize(np.asarray(REVEAL), len(cold_users))[rng.permutation(len(cold_users))]
    histories = order[np.isin(order[:, 0], cold_users)]
    starts = np.searchsorted(histories[:, 0], histories[:, 0])
    train = data.train[~np.isin(data.train[:, 0], cold_users)
                       & ~np.isin(data.train[:, 1], cold_items)]
    test = data.test[~np.isin(data.test[:, 0], cold_users)]
    return ColdStartSplit(data=data, train=dataclasses.replace(data, train=train, test=test),
                          cold_users=cold_users, cold_items=cold_items, histories=histories,
                          position=np.arange(len(histories)) - starts, level=level)


def measure(model: FoldInModel, case: GraphData, history: sp.csr_matrix, k: int = 10
            ) -> dict[str, float]:
    """The four metrics at ``k`` of ``model`` on ``case``, its users scored from ``history``."""
    return evaluate(FoldIn(model, history), case, k=k)


def reason_share(model: FoldInModel, case: GraphData, history: sp.csr_matrix,
                 finder: PathFinder, k: int = 10, only: np.ndarray | None = None
                 ) -> dict[str, float]:
    """How many of the model's top ``k`` (of the items in ``only``, when given) for the users of
    ``case`` have a reason path from the user's history: ``recommendations``, ``with_path``,
    ``share`` (percent)."""
    relevant = case.test_matrix()
    users = np.flatnonzero(np.diff(relevant.indptr))
    ranked = top_k(FoldIn(model, history), users, case.train_matrix(), k=k)
    total = found = 0
    for user, row in zip(users, ranked):
        items = row[row >= 0]
        if only is not None:
            items = items[np.isin(items, only)]
        if len(items):
            bought = history.indices[history.indptr[user]:history.indptr[user + 1]]
            found += int(finder.has_candidates(bought, items).sum())
            total += len(items)
    return {"recommendations": total, "with_path": found,
            "share": 100.0 * found / total if total else 100.0}


def _fit(model: FoldInModel, data: GraphData) -> float:
    started = time.perf_counter()
    model.fit(data)
    return round(time.perf_counter() - started, 2)


def _params(model: FoldInModel) -> dict[str, Any]:
    return {key: value for key, value in getattr(model, "fit_info", {}).items()
            if key not in ("validation_ndcg@10", "relations")}


def evaluate_model(model: FoldInModel, cs: ColdStartSplit, k: int = 10) -> dict[str, Any]:
    """A model fitted on ``cs.train``, on every case: ``users@n`` and ``items``."""
    row: dict[str, Any] = {f"users@{n}": measure(model, cs.users_case(n),
                                                 cs.users_case(n).train_matrix(), k)
                           for n in cs.levels}
    if "items" in cs.cases:
        row["items"] = measure(model, cs.items_case(), cs.train.train_matrix(), k)
    return row


def retrained(cold: Any, cs: ColdStartSplit, k: int = 10) -> tuple[dict[str, Any], Any]:
    """graphrec retrained with the cold users and items included (:meth:`~ColdStartSplit.
    retrain_data`, the epochs the cold model chose), scored from the same histories: at level
    ``n`` on the cold users of that level, and on the cold items as in :func:`evaluate_model`
    but from the warm users' whole train purchases. ``(row, model)``."""
    from graphrec.model.train import KGRecRecommender

    model = KGRecRecommender(cold.config, cold.progress, epochs=cold.log.best_epoch)
    row: dict[str, Any] = {"fit_seconds": _fit(model, cs.retrain_data()),
                           "epochs": cold.log.best_epoch}
    for n in cs.levels:
        case = cs.users_case(n, same_level=True)
        row[f"users@{n}"] = measure(model, case, case.train_matrix(), k)
    if "items" in cs.cases:
        items = cs.items_case()
        row["items"] = measure(model, items, items.train_matrix(), k)
    return row, model


def paired(cold: FoldInModel, warm: FoldInModel, cs: ColdStartSplit, k: int = 10
           ) -> dict[str, Any]:
    """Per level, the cold model against the retrained one on the same users (those of the
    level), user by user: the mean of the per-user NDCG@``k`` differences (cold − retrained,
    points) and its standard error, so that a ratio short of the goal can be told from noise."""
    out: dict[str, Any] = {}
    for n in cs.levels:
        case = cs.users_case(n, same_level=True)
        users, a = evaluate_per_user(FoldIn(cold, case.train_matrix()), case, k)
        _, b = evaluate_per_user(FoldIn(warm, case.train_matrix()), case, k)
        diff = (a[:, 0] - b[:, 0]) * 100
        out[f"users@{n}"] = {"users": len(users), "difference": float(diff.mean()),
                             "difference_se": float(diff.std(ddof=1) / np.sqrt(len(diff)))}
    return out


def same_level(model: FoldInModel, cs: ColdStartSplit, k: int = 10) -> dict[str, Any]:
    """A cold model on the users the retrained reference is measured on at each level."""
    return {f"users@{n}": measure(model, case, case.train_matrix(), k)
            for n in cs.levels for case in [cs.users_case(n, same_level=True)]}


def explained(model: FoldInModel, cs: ColdStartSplit, k: int = 10) -> dict[str, Any]:
    """The share of the cold model's top ``k`` with a reason path: for the cold users at each
    level, and of the cold items recommended in the items case."""
    finder = PathFinder(cs.train)
    out = {f"users@{n}": reason_share(model, cs.users_case(n), cs.users_case(n).train_matrix(),
                                      finder, k) for n in cs.levels}
    if "items" in cs.cases:
        out["items"] = reason_share(model, cs.items_case(), cs.train.train_matrix(), finder, k,
                                    only=cs.cold_items)
    return out


def goals(cold: dict[str, Any], warm: dict[str, Any], k: int = 10,
          pairs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The issue's goals, met or not, with the figures compared; with ``pairs``
    (:func:`paired`), each user goal also carries the per-user difference, its standard error
    and the ratio's (``ratio_se``: the difference's over the retrained NDCG)."""
    out: dict[str, Any] = {}
    for n in REVEAL:
        case = f"users@{n}"
        if case not in warm:
            continue
        a, b = cold[case][f"ndcg@{k}"], warm[case][f"ndcg@{k}"]
        out[case] = {"cold_ndcg": a, "retrained_ndcg": b, "ratio": a / b if b else None,
                     "goal": USER_GOAL, "met": bool(b and a / b >= USER_GOAL)}
        if pairs is not None:
            out[case] |= {**pairs[case], "ratio_se": pairs[case]["difference_se"] / b
                          if b else None}
    if "items" not in warm:
        return out
    a, b = cold["items"][f"hr@{k}"], warm["items"][f"hr@{k}"]
    out["items"] = {"cold_hr": a, "warm_hr": b, "ratio": a / b if b else None,
                    "goal": ITEM_GOAL, "met": bool(b and a / b >= ITEM_GOAL)}
    return out


def run_cold_start(data: GraphData, order: np.ndarray, models: Sequence[str] = MODELS, *,
                   seed: int = 0, k: int = 10, user_fraction: float = 0.1,
                   item_fraction: float = 0.1, log: Callable[[str], None] = print,
                   factories: dict[str, Callable[[int], Any]] | None = None,
                   save: Callable[[dict[str, Any]], Any] | None = None) -> dict[str, Any]:
    """The protocol on ``data`` for ``models`` (names of the benchmark's registry, or
    ``factories``); the ``"cold_start"`` section of the results JSON, handed to ``save`` after
    every model too (a long run that stops keeps what it measured). graphrec's entry also gets
    its retrained reference, its reason-path shares and the goals."""
    from graphrec.evaluation.benchmark import resolve_model
    from graphrec.model.train import KGRecRecommender

    cs = split(data, order, user_fraction=user_fraction, item_fraction=item_fraction, seed=seed)
    protocol = {"user_fraction": user_fraction, "item_fraction": item_fraction,
                "reveal": list(REVEAL), "seed": seed, "k": k, **cs.summary()}
    log(f"cold start: {protocol['cold_users']:,} cold users, {protocol['cold_items']:,} cold "
        f"items ({protocol['cold_item_train_purchases_removed']:,} train purchases removed); "
        f"{len(cs.train.train):,} train purchases left")
    section: dict[str, Any] = {"protocol": protocol, "models": {}}

    def keep() -> None:
        if save is not None:
            save(section)

    for name in models:
        # every model named here scores from a history row (the command checks it first)
        made = ((factories or {}).get(name) or resolve_model(name))(seed)
        fitted = cast(FoldInModel, ItemsFoldedIn(made, cs.cold_items)
                      if isinstance(made, KGRecRecommender) else made)
        log(f"cold start: fitting {name} ({fitted!r})")
        fit_seconds = _fit(fitted, cs.train)
        row = {**evaluate_model(fitted, cs, k), "fit_seconds": fit_seconds,
               "params": _params(fitted)}
        section["models"][name] = row
        log(format_row(name, row, k))
        if isinstance(fitted, ItemsFoldedIn):
            cold = fitted.recommender
            row["epochs"] = cold.log.best_epoch if cold.log else None
            row["explained"] = explained(fitted, cs, k)
            row["same_users"] = {**same_level(fitted, cs, k),
                                 **{case: row[case] for case in ("items",) if case in row}}
            keep()
            row["retrained"], reference = retrained(cold, cs, k)
            row["goals"] = goals(row["same_users"], row["retrained"], k,
                                 paired(fitted, reference, cs, k))
            log(format_row(f"{name} retrained", row["retrained"], k))
        keep()
    log(format_table(section, k))
    return section


def _cases(row: dict[str, Any]) -> list[str]:
    """The cases a result row has, in the table's order."""
    return [case for case in [f"users@{n}" for n in REVEAL] + ["items"] if case in row]


def format_row(name: str, row: dict[str, Any], k: int = 10) -> str:
    cases = _cases(row)
    return f"cold start {name}: " + ", ".join(
        f"{case} ndcg {row[case][f'ndcg@{k}']:.2f} hr {row[case][f'hr@{k}']:.2f}"
        for case in cases) + f"  (fit {row['fit_seconds']:.0f}s)"


def format_table(section: dict[str, Any], k: int = 10) -> str:
    """NDCG / Recall / HR at ``k`` per model and case; graphrec's retrained reference and
    goals under it."""
    cases = _cases(next(iter(section["models"].values()), {}))
    header = f"{'model':<22}" + "".join(f"{case + ' N/R/HR':>24}" for case in cases)
    lines = [header, "-" * len(header)]

    def line(name: str, row: dict[str, Any]) -> str:
        return f"{name:<22}" + "".join(
            f"{row[c][f'ndcg@{k}']:>8.2f}{row[c][f'recall@{k}']:>8.2f}{row[c][f'hr@{k}']:>8.2f}"
            for c in cases)

    for name, row in section["models"].items():
        lines.append(line(name, row))
    for name, row in section["models"].items():
        if "retrained" in row:
            lines.append("on the cold users of each level (the retrained model's):")
            lines.append(line(name, row["same_users"]))
            lines.append(line(f"{name} retrained", row["retrained"]))
    for name, row in section["models"].items():
        for case, goal in row.get("goals", {}).items():
            spread = (f" ± {goal['ratio_se']:.3f} (per-user difference "
                      f"{goal['difference']:+.2f} ± {goal['difference_se']:.2f} points)"
                      if goal.get("ratio_se") is not None else "")
            lines.append(f"goal {case}: ratio {goal['ratio'] or 0:.3f}{spread} (goal "
                         f"{goal['goal']}): {'met' if goal['met'] else 'missed'}")
        for case, share in row.get("explained", {}).items():
            lines.append(f"{name} {case}: {share['with_path']:,} of {share['recommendations']:,} "
                         f"recommendations with a reason path ({share['share']:.2f}%)")
    return "\n".join(lines)
