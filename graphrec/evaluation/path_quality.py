r"""What a list of explanations is like to read: LIR, SEP and ETD of the served reason paths.

Balloccu et al., "Post Processing Recommender Systems with Knowledge Graphs for Recency,
Popularity, and Diversity of Explanations" (SIGIR 2022), score the path that explains each
recommended item. The definitions here follow hopwise's implementation of them
(``hopwise/evaluator/metrics.py``: ``LIR``, ``SEP``, and ``PTD`` for ETD), so graphrec's
figures can stand beside those of the path-reasoning peers that library runs:

- **LIR**, linking-interaction recency: the user's purchases sorted by time (``seq``), the
  exponentially weighted moving average of their times (``span`` = their number), min-max
  normalised per user: 0 for the oldest purchase, 1 for the latest. A path's LIR is that of the
  purchase it starts from. A user whose average cannot be normalised (one purchase) gives 0.
- **SEP**, shared-entity popularity: the entity a path reaches the item through (the node just
  before it: a brand, a category, a bought or middle item, another shopper), scored by its
  number of relationships in the graph, through the same normalised moving average over the
  entities of its type sorted by that number (0 the least connected, 1 the most). Unlike
  hopwise, where entities of equal degree get different values depending on the order they were
  listed in, entities of equal degree share one value: the mean of their positions' values.
- **ETD**, explanation-type diversity: the number of distinct path kinds in a user's served
  list over ``min(len(list), number of kinds the catalogue can give)``.

Each is the mean over the served paths (LIR, SEP; hopwise averages paths, not lists) or over
the lists (ETD). Higher LIR (recent purchases) and higher ETD read better; a low SEP means the
explanations go through specific entities rather than ones everything shares.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.signal import lfilter

from graphrec.dataset import GraphData
from graphrec.explain.paths import ReasonPath


def normalised_ema(values: np.ndarray) -> np.ndarray:
    """The moving average hopwise applies to sorted values (pandas ``ewm(span=n).mean()``:
    weights ``(1 - α)^age`` with ``α = 2 / (n + 1)``), min-max normalised to [0, 1]. Values all
    equal are replaced by their positions first; a single value gives ``nan``."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) and values.max() == values.min():
        values = np.arange(len(values), dtype=np.float64)
    decay = 1 - 2 / (len(values) + 1)
    average = lfilter([1], [1, -decay], values) / lfilter([1], [1, -decay], np.ones_like(values))
    low, high = average.min(initial=np.inf), average.max(initial=-np.inf)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (average - low) / (high - low)


def purchase_order(data: GraphData, purchases: pd.DataFrame) -> sp.csr_matrix | None:
    """Users × items, the ``seq`` of each train purchase (its place in the user's history,
    :meth:`GraphData.purchase_history`), or ``None`` when ``purchases`` (``user_id, item_id,
    split[, seq]``) says nothing of time."""
    history = data.purchase_history(purchases)
    timed = history[history["train"] & history["seq"].notna()]
    if timed.empty:
        return None
    return sp.csr_matrix((timed["seq"], (timed["user"], timed["item"])),
                         shape=(data.num_users, data.num_items))


def read_purchases(folder: str | Path) -> pd.DataFrame:
    """The purchases file of a canonical CSV folder (``purchases.csv[.gz]``), as text."""
    for suffix in (".csv.gz", ".csv"):
        if (path := Path(folder) / f"purchases{suffix}").exists():
            return pd.read_csv(path, dtype=str, keep_default_na=False)
    raise FileNotFoundError(f"{folder}: no purchases.csv[.gz]")


def _by_time(order: sp.csr_matrix, user: int) -> tuple[np.ndarray, np.ndarray]:
    """``user``'s purchases of ``order`` and their times, the latest last."""
    start, end = order.indptr[user], order.indptr[user + 1]
    items, times = order.indices[start:end], order.data[start:end]
    sort = np.argsort(times, kind="stable")
    return items[sort], times[sort]


def timeline(order: sp.csr_matrix, user: int) -> np.ndarray:
    """``user``'s purchases in the order they were bought, the latest last: what the service
    reads from the store to show reasons from recent purchases first
    (:class:`~graphrec.explain.ranker.PathRanker`)."""
    return _by_time(order, user)[0].astype(np.int64)


def recency(order: sp.csr_matrix, user: int) -> dict[int, float]:
    """LIR of each of ``user``'s purchases: item → normalised moving average of their times."""
    items, times = _by_time(order, user)
    values = normalised_ema(times)
    if np.isnan(values).any():
        return {}
    return dict(zip(items.tolist(), values.tolist()))


def degrees(data: GraphData) -> dict[str, np.ndarray]:
    """Each node's number of relationships in the graph the paths walk, per node type: an
    item's train buyers, links (either way), brand and category; a user's train purchases; a
    brand's items; a category's items and hierarchy edges."""
    items = np.bincount(data.train[:, 1], minlength=data.num_items)
    for pairs in data.links.values():
        items += np.bincount(pairs.ravel(), minlength=data.num_items)
    items += np.bincount(data.item_brand[:, 0], minlength=data.num_items)
    items += np.bincount(data.item_category[:, 0], minlength=data.num_items)
    categories = np.bincount(data.item_category[:, 1], minlength=len(data.categories))
    categories += np.bincount(data.category_parent.ravel(), minlength=len(data.categories))
    return {"item": items, "user": np.bincount(data.train[:, 0], minlength=data.num_users),
            "brand": np.bincount(data.item_brand[:, 1], minlength=len(data.brands)),
            "category": categories}


def popularity(degree: np.ndarray) -> np.ndarray:
    """SEP of every node of one type from its degree: the normalised moving average over the
    nodes sorted by degree, ties sharing the mean of their values."""
    if not len(degree):
        return np.zeros(0)
    sort = np.argsort(degree, kind="stable")
    values = np.nan_to_num(normalised_ema(degree[sort]))
    _, group, size = np.unique(degree[sort], return_inverse=True, return_counts=True)
    shared = np.bincount(group, weights=values) / size
    out = np.empty(len(degree))
    out[sort] = shared[group]
    return out


def path_kinds(data: GraphData) -> list[str]:
    """The kinds of reason path this catalogue can give (ETD's denominator)."""
    linked = [relation for relation, pairs in data.links.items() if len(pairs)]
    return [*(["brand"] if len(data.item_brand) else []),
            *(["category"] if len(data.item_category) else []),
            *linked, "collaborative", *(["link_chain"] if linked else [])]


class PathQuality:
    """LIR, SEP and ETD of served lists of one catalogue; the tables are built once."""

    def __init__(self, data: GraphData, order: sp.csr_matrix | None):
        self.order = order
        self.sep = {kind: popularity(degree) for kind, degree in degrees(data).items()}
        self.kinds = len(path_kinds(data))

    def lir(self, user: int, paths: Sequence[ReasonPath]) -> list[float]:
        """The LIR of each path's linking purchase (empty when purchase times are unknown)."""
        if self.order is None:
            return []
        of_item = recency(self.order, user)
        return [of_item.get(path.via_item, 0.0) for path in paths]

    def sep_of(self, path: ReasonPath) -> float:
        """The SEP of the entity just before the recommended item."""
        kind, index = path.nodes[-2]
        return float(self.sep[kind][index])

    def etd(self, paths: Sequence[ReasonPath]) -> float:
        """Distinct kinds over ``min(len(paths), kinds the catalogue can give)``."""
        if not paths:
            return 0.0
        return len({path.kind for path in paths}) / min(len(paths), self.kinds)

    def report(self, lists: Sequence[tuple[int, Sequence[ReasonPath]]]) -> dict[str, Any]:
        """``lir``, ``sep`` (means over the paths) and ``etd`` (mean over the lists) of the
        served lists ``(user, the top path of each recommended item)``, and ``kinds``: each
        kind's share of the paths and its mean SEP, the most frequent first (what a list's
        reasons go through, and so where its SEP comes from)."""
        lir = [value for user, paths in lists for value in self.lir(user, paths)]
        shown = [path for _, paths in lists for path in paths]
        sep = np.array([self.sep_of(path) for path in shown])
        etd = [self.etd(paths) for _, paths in lists]
        names, of_path, counts = np.unique(np.array([path.kind for path in shown], dtype=object),
                                           return_inverse=True, return_counts=True)
        sums = np.bincount(of_path, weights=sep, minlength=len(names))
        by_kind = {str(names[k]): {"share": int(counts[k]) / len(sep),
                                   "sep": float(sums[k] / counts[k])}
                   for k in np.argsort(-counts, kind="stable")}
        return {"lir": float(np.mean(lir)) if lir else None,
                "sep": float(sep.mean()) if len(sep) else None,
                "etd": float(np.mean(etd)) if etd else None,
                "path_quality_lists": len(lists), "path_quality_paths": len(sep),
                "kinds": by_kind}
