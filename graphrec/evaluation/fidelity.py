"""How good the explanations are, measured on a trained model: coverage, fidelity, necessity,
sufficiency, what the lists read like, latency.

- Coverage: the share of the top-10 recommendations of every user with a test purchase that
  have at least one candidate reason path. graphrec serves only such items
  (:mod:`graphrec.serving.ranking`), so for the lists it serves this is 1 by construction whenever a
  user has ten explainable items; the share in the model's own top 10, before that rule, is
  reported beside it (``coverage_unfiltered``).
- Fidelity: for sampled (user, recommended item) pairs with two or more candidate paths, mask
  the top-ranked path's edges, then a random other candidate's, and compare how far the item
  falls in the user's ranking (``fidelity_ratio`` = mean rank drop top / mean rank drop random;
  a ranking that follows the model gives well above 1). Every path's edges include the
  ``BOUGHT`` edge of its history item, so two paths through the same item share most of their
  effect; the ratio is also given over the pairs whose candidates go through two or more
  history items, where the choice of path can matter most.
- Necessity: the share of the sampled pairs whose item leaves the top 10 when the edges of the
  reason shown first are masked, and beside it the share for which masking some one candidate
  path does (``necessity_best_single_path``): the most any choice of a first reason could
  reach, since an item the model ranks from several purchases can stay in the top 10 whichever
  single path is taken out. Sufficiency: the share that stays in the top 10 when, of the
  user's purchases, only those the three reasons shown start from are kept. Both use the
  masking that weighs the paths (:class:`graphrec.explain.attribution.EdgeMasking`); a rank is
  the model's, among the items the user did not buy. Masking the three shown reasons together
  also tells how often the item leaves the top 10.
- LIR, SEP, ETD of the served lists (:mod:`graphrec.evaluation.path_quality`).
- Latency: one explanation (candidates, their weights by masking, the JSON of the top three)
  p50/p99 over the same pairs, in process; the HTTP benchmark adds the store and the server.
"""
from __future__ import annotations

import functools
import operator
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from graphrec.dataset import GraphData
from graphrec.evaluation.evaluate import Keep, top_k
from graphrec.evaluation.path_quality import PathQuality, timeline
from graphrec.explain.attribution import Mask
from graphrec.explain.paths import PathFinder, ReasonPath
from graphrec.explain.ranker import RECENT_WITHIN, PathRanker, WeightedPath
from graphrec.explain.reasons import ShownPath, describe_shown, distinct
from graphrec.model.kgrec import KGRec

Progress = Callable[[str], None]


def recommendations(model: KGRec, data: GraphData, k: int = 10,
                    keep: Keep | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(users, top k items [users, k])`` for every user with a test purchase; ``keep`` as in
    :func:`graphrec.evaluation.evaluate.top_k` (``-1`` ends a list shorter than ``k``)."""
    users = np.unique(data.test[:, 0])
    return users, top_k(model, users, data.train_matrix(), k=k, keep=keep)


def coverage(ranker: PathRanker, users: np.ndarray, ranked: np.ndarray) -> float:
    """Share of the recommended items that have at least one candidate path."""
    covered = sum(int(ranker.paths.has_train_candidates(int(u), row[row >= 0]).sum())
                  for u, row in zip(users, ranked))
    return covered / int((ranked >= 0).sum())


@dataclass(frozen=True)
class PairRanks:
    """Where one served item ranks (1 = first, among the items the user did not buy) with parts
    of its explanation masked; ``random`` is ``None`` for a pair with a single candidate path."""

    base: int
    top: int
    random: int | None
    top3: int
    only_top3: int
    history_items: int
    #: The lowest place any single candidate path's masking sends the item to.
    best: int


def pair_ranks(ranker: PathRanker, history: np.ndarray, item: int,
               candidates: list[WeightedPath], served: list[ShownPath],
               rng: np.random.Generator) -> PairRanks:
    """The ranks of ``item`` for a user who bought ``history``: with its top path's edges
    masked (necessity), with those of a random other of its ``candidates`` (every path, strongest
    first; fidelity's comparison), with those of the ``served`` reasons (the top three shown),
    and with every purchase but those the served reasons start from taken out of the user's
    history (sufficiency: their ``BOUGHT`` edges are the only ones of the user's kept; the
    graph's own edges stay)."""
    masking = ranker.masking
    masks = [masking.path_mask(path) for _, path in served]
    shown = functools.reduce(operator.or_, masks)
    others = frozenset(int(i) for i in history) - {path.via_item for _, path in served}
    each = [masking.score_rank(history, item, masking.path_mask(path))
            for _, path in candidates]
    random = each[int(rng.integers(1, len(candidates)))] if len(candidates) > 1 else None
    return PairRanks(base=masking.score_rank(history, item),
                     top=masking.score_rank(history, item, masks[0]),
                     random=random, top3=masking.score_rank(history, item, shown),
                     only_top3=masking.score_rank(history, item, Mask(history=others)),
                     history_items=len({path.via_item for _, path in candidates}),
                     best=max(each))


def top_path(ranker: PathRanker, user: int, item: int, bought: np.ndarray | None = None
             ) -> ReasonPath:
    """The reason the service shows first for a pair, ``bought`` the user's purchases in the
    order they were made (:meth:`PathRanker.ranked`'s ``timeline``)."""
    return ranker.ranked(ranker.paths.history(user), item, user, bought)[0][1]


def bought_in_order(order: sp.csr_matrix | None, user: int) -> np.ndarray | None:
    """``user``'s purchases in the order they were made, as the service reads them from the
    store; ``None`` without times (the reasons then go strongest first)."""
    return None if order is None else timeline(order, user)


def explanation_report(model: KGRec, data: GraphData, pairs: int = 1000, seed: int = 0,
                       k: int = 10, progress: Progress | None = None,
                       order: sp.csr_matrix | None = None, lists: int = 2000,
                       recent_within: float = RECENT_WITHIN) -> dict[str, Any]:
    """Coverage over every test user's top ``k`` as served, and over the model's own top ``k``;
    fidelity, necessity, sufficiency and latency on ``pairs`` of the served recommendations;
    LIR, SEP and ETD (:mod:`graphrec.evaluation.path_quality`) of the served lists of ``lists``
    users, ``order`` giving the times of their purchases (LIR is ``None`` without it, and the
    reasons then go strongest first); ``recent_within``: the
    :class:`~graphrec.explain.ranker.PathRanker`'s, the service's by default."""
    say = progress or (lambda line: None)
    ranker = PathRanker(model.eval().propagated(), PathFinder(data), recent_within)
    users, unfiltered = recommendations(model, data, k)
    model_share = coverage(ranker, users, unfiltered)
    users, ranked = recommendations(model, data, k, keep=ranker.paths.has_train_candidates)
    share = coverage(ranker, users, ranked)
    served = np.flatnonzero(ranked.ravel() >= 0)
    say(f"explanations: coverage {share:.2%} of {served.size:,} top-{k} recommendations served "
        f"({model_share:.2%} of the model's top {k} before passing over unexplained items)")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(served, min(pairs, served.size), replace=False)
    times, measured = [], []
    for n, flat in enumerate(chosen, start=1):
        user, item = int(users[flat // k]), int(ranked.flat[flat])
        history, bought = ranker.paths.history(user), bought_in_order(order, user)
        started = time.perf_counter()
        candidates = ranker.ranked(history, item, user, bought)
        reasons = distinct(candidates, data, {}, 3)
        describe_shown(reasons, data, {})
        times.append((time.perf_counter() - started) * 1000)
        measured.append(pair_ranks(ranker, history, item, candidates, reasons, rng))
        if n % 250 == 0:
            say(f"explanations: {n}/{len(chosen)} pairs")
    report = {"coverage": share, "recommendations": int(served.size),
              "coverage_unfiltered": model_share, "short_lists": int((ranked[:, -1] < 0).sum()),
              **masking_figures(measured, k), "latency_ms_p50": float(np.percentile(times, 50)),
              "latency_ms_p99": float(np.percentile(times, 99)), "latency_pairs": len(times)}
    sampled = rng.choice(len(users), min(lists, len(users)), replace=False)
    say(f"explanations: LIR, SEP and ETD of {len(sampled):,} users' served lists")
    shown = []
    for row in sampled:
        user = int(users[row])
        bought = bought_in_order(order, user)
        shown.append((user, [top_path(ranker, user, int(item), bought)
                             for item in ranked[row] if item >= 0]))
    return {**report, **PathQuality(data, order).report(shown)}


def masking_figures(measured: list[PairRanks], k: int = 10) -> dict[str, Any]:
    """Fidelity (mean rank drop of the top path over that of a random other, over the pairs
    with two or more candidates), necessity (share of pairs out of the top ``k`` once their top
    path is masked), sufficiency (share still in the top ``k`` with only their top three paths'
    purchases kept) and how often masking the top three takes an item out of the top ``k``."""
    base = np.array([m.base for m in measured], dtype=float)
    top = np.array([m.top for m in measured], dtype=float) - base
    both = [m for m in measured if m.random is not None]
    drop_top = np.array([m.top - m.base for m in both], dtype=float)
    drop_random = np.array([(m.random or 0) - m.base for m in both], dtype=float)
    several = np.array([m.history_items >= 2 for m in both], dtype=bool)
    return {"fidelity_ratio": _ratio(drop_top, drop_random),
            "fidelity_ratio_several_history_items": _ratio(drop_top[several],
                                                           drop_random[several]),
            "fidelity_pairs_several_history_items": int(several.sum()),
            "rank_drop_top_mean": float(drop_top.mean()) if len(both) else float("nan"),
            "rank_drop_random_mean": float(drop_random.mean()) if len(both) else float("nan"),
            "fidelity_pairs": len(both),
            "necessity": float(np.mean([m.top > k for m in measured])),
            "necessity_best_single_path": float(np.mean([m.best > k for m in measured])),
            "sufficiency": float(np.mean([m.only_top3 <= k for m in measured])),
            "necessity_pairs": len(measured),
            "top_path_rank_drop_mean_all_pairs": float(top.mean()),
            "top3_masked_out_of_top10": float(np.mean([m.top3 > k for m in measured])),
            "base_rank_within_top10": float(np.mean(base <= k))}


def _ratio(top: np.ndarray, other: np.ndarray) -> float:
    """Mean rank drop of the top paths over that of the random ones."""
    return float(top.mean() / max(other.mean(), 1e-9)) if len(top) else float("nan")
