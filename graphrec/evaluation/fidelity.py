"""How good the explanations are, measured on a trained model: coverage, fidelity, latency.

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
  history items, where the choice of path can matter most. Masking the top three paths
  together also tells how often the item leaves the top 10.
- Latency: one explanation (candidates, their weights by masking, the JSON of the top three)
  p50/p99 over the same pairs, in process; the HTTP benchmark adds the store and the server.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from graphrec.dataset import GraphData
from graphrec.evaluation.evaluate import Keep, top_k
from graphrec.explain.attribution import Mask
from graphrec.explain.paths import PathFinder
from graphrec.explain.ranker import PathRanker, WeightedPath
from graphrec.explain.reasons import describe
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


def _rank_drops(ranker: PathRanker, user: int, item: int, weighted: list[WeightedPath],
                rng: np.random.Generator) -> tuple[int, int, int, int] | None:
    """``(rank drop of the top path, of a random other path, rank with the top 3 masked,
    how many history items the candidates go through)`` for the ranked paths ``weighted``."""
    if len(weighted) < 2:
        return None
    masking, history = ranker.masking, ranker.paths.history(user)
    masks = [masking.path_mask(path) for _, path in weighted]
    base = masking.score_rank(history, item)
    top = masking.score_rank(history, item, masks[0]) - base
    other = masking.score_rank(history, item, masks[int(rng.integers(1, len(masks)))]) - base
    top3 = masking.score_rank(history, item,
                              masks[0] | masks[1] | (masks[2] if len(masks) > 2 else Mask()))
    return top, other, top3, len({path.via_item for _, path in weighted})


def explanation_report(model: KGRec, data: GraphData, pairs: int = 1000, seed: int = 0,
                       k: int = 10, progress: Progress | None = None) -> dict[str, Any]:
    """Coverage over every test user's top ``k`` as served, and over the model's own top ``k``;
    fidelity and latency on ``pairs`` of the served recommendations."""
    say = progress or (lambda line: None)
    ranker = PathRanker(model.eval().propagated(), PathFinder(data))
    users, unfiltered = recommendations(model, data, k)
    model_share = coverage(ranker, users, unfiltered)
    users, ranked = recommendations(model, data, k, keep=ranker.paths.has_train_candidates)
    share = coverage(ranker, users, ranked)
    served = np.flatnonzero(ranked.ravel() >= 0)
    say(f"explanations: coverage {share:.2%} of {served.size:,} top-{k} recommendations served "
        f"({model_share:.2%} of the model's top {k} before passing over unexplained items)")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(served, min(pairs, served.size), replace=False)
    times, drops = [], []
    for n, flat in enumerate(chosen, start=1):
        user, item = int(users[flat // k]), int(ranked.flat[flat])
        started = time.perf_counter()
        weighted = ranker.ranked(ranker.paths.history(user), item, user)
        [describe(path, data, {}, weight) for weight, path in weighted[:3]]
        times.append((time.perf_counter() - started) * 1000)
        result = _rank_drops(ranker, user, item, weighted, rng)
        if result is not None:
            drops.append(result)
        if n % 250 == 0:
            say(f"explanations: {n}/{len(chosen)} pairs")
    top, other, top3, via = (np.array(column, dtype=float) for column in zip(*drops))
    several = via >= 2
    return {"coverage": share, "recommendations": int(served.size),
            "coverage_unfiltered": model_share, "short_lists": int((ranked[:, -1] < 0).sum()),
            "fidelity_ratio": _ratio(top, other),
            "fidelity_ratio_several_history_items": _ratio(top[several], other[several]),
            "fidelity_pairs_several_history_items": int(several.sum()),
            "rank_drop_top_mean": float(top.mean()), "rank_drop_random_mean": float(other.mean()),
            "top3_masked_out_of_top10": float((top3 > k).mean()),
            "fidelity_pairs": len(drops), "latency_ms_p50": float(np.percentile(times, 50)),
            "latency_ms_p99": float(np.percentile(times, 99)), "latency_pairs": len(times)}


def _ratio(top: np.ndarray, other: np.ndarray) -> float:
    """Mean rank drop of the top paths over that of the random ones."""
    return float(top.mean() / max(other.mean(), 1e-9)) if len(top) else float("nan")
