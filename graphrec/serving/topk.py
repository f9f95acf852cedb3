"""The top k of a large catalogue from an index instead of a scan of every item.

A user's top k is the largest inner products :math:`z^\\top P_i` (maximum inner product search,
not cosine: an item's norm is part of its score). Scanning the whole item table costs one pass
over ``[items, d]`` float32 per request, linear in the catalogue; past some size that pass alone
exceeds the answer's time goal (``benchmarks/topk_index.py``, ``benchmarks/results/NOTES.md``).

:class:`ItemIndex` is an inverted file (faiss ``IndexIVFScalarQuantizer``, inner product): the
item rows are split into ``lists`` clusters by k-means and a query reads only the ``probes``
clusters whose centroids score highest, their rows held in 8 bits a coordinate (a quarter of
the float32 table's bytes: at 600,000 rows of 256 dimensions reading the probed rows, not
computing on them, is most of a query). It only proposes candidates: :func:`top_indexed`
scores them exactly with the model's own :func:`~graphrec.model.kernel.scores`, so every score
served is the exact one (the 8-bit rounding can only change which candidates are proposed),
and the ranking rules of :mod:`graphrec.serving.ranking` (excluded items, the ``accept`` rule,
ties to the lower index) apply to the candidates unchanged. Excluded items (bought,
dismissed) are asked for on top of the window, and the request grows fourfold while too few
candidates survive, so the list is never short because of exclusions.

An inverted file rather than a graph index (HNSW): its build is a k-means on a sample and one
assignment pass, seconds where HNSW takes minutes at 600,000 rows on one core, and a server
builds it at every start. faiss is told to use one thread: the index is built in gunicorn's
master before the workers are forked, and GNU OpenMP's thread pool does not survive a fork (a
worker that searched with the master's pool would hang); one request is one query, which faiss
does not parallelise anyway.

Items folded in after training (:mod:`graphrec.model.foldin`) come after the rows the index was
built on: :func:`top_indexed` scans those few rows exactly with every request, so a folded item
is found from the first request on without rebuilding the index.

faiss is an optional dependency (``pip install 'graphrec[scale]'``): below the catalogue size
that needs it (:attr:`graphrec.config.Settings.topk_index_items`) the service scans, and the
import happens only when an index is built (without faiss, a large catalogue is scanned, with
a warning).
"""
from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from graphrec.model.kernel import scores
from graphrec.serving.ranking import Accept, top_accepted

log = logging.getLogger(__name__)

#: Training rows per cluster for the k-means (faiss warns below 39); more only slows the build.
TRAIN_PER_LIST = 64


def default_lists(rows: int) -> int:
    """Clusters for ``rows`` items: about ``2 sqrt(rows)`` (a few hundred rows each), the
    balance of the centroid scan against the rows read in the probed clusters."""
    return max(1, min(rows, round(2 * math.sqrt(rows))))


class ItemIndex:
    """An inverted file over item rows, searched by inner product, one thread.

    ``probes``: the clusters a query reads (default :attr:`PROBES`); ``lists``: how many there
    are (default :func:`default_lists`). ``seed`` makes the k-means sample and so the index
    reproducible. ``quantized=False`` keeps the rows in float32: four times the bytes read a
    query, for a candidate order that is the exact one within the probed clusters.
    """

    #: The fewest probes whose recall@10 against the exact scan was at least 0.995 on the
    #: tuning users of every table of ``benchmarks/topk_index.py`` (Beauty's model at 1 to 50
    #: times its items, 64 and 256 dimensions; ``benchmarks/results/topk-index.json``): the
    #: margin keeps other users above 0.99.
    PROBES = 64

    def __init__(self, rows: np.ndarray, lists: int | None = None, probes: int | None = None,
                 seed: int = 0, quantized: bool = True):
        try:
            import faiss
        except ImportError as exc:  # an optional extra: say which
            raise ImportError("a catalogue this large is searched through faiss: "
                              "pip install 'graphrec[scale]'") from exc
        faiss.omp_set_num_threads(1)
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        self.size, dim = rows.shape
        self.lists = default_lists(self.size) if lists is None else lists
        quantizer = faiss.IndexFlatIP(dim)
        index = (faiss.IndexIVFScalarQuantizer(quantizer, dim, self.lists,
                                               faiss.ScalarQuantizer.QT_8bit,
                                               faiss.METRIC_INNER_PRODUCT) if quantized
                 else faiss.IndexIVFFlat(quantizer, dim, self.lists, faiss.METRIC_INNER_PRODUCT))
        sample = min(self.size, TRAIN_PER_LIST * self.lists)
        picked = np.sort(np.random.default_rng(seed).choice(self.size, sample, replace=False))
        index.cp.seed = seed
        index.train(rows[picked])
        index.add(rows)
        self._quantizer = quantizer  # the index refers to it without owning it
        self._index: Any = index
        self.probes = self.PROBES if probes is None else probes

    @property
    def probes(self) -> int:
        """The clusters a query reads (at most :attr:`lists`): more, higher recall and
        slower."""
        return int(self._index.nprobe)

    @probes.setter
    def probes(self, probes: int) -> None:
        self._index.nprobe = max(1, min(self.lists, probes))

    def nearest(self, z: np.ndarray, count: int) -> np.ndarray:
        """Indices of (up to) the ``count`` rows of highest inner product with ``z`` that the
        probed clusters hold, best first."""
        query = np.ascontiguousarray(np.asarray(z, dtype=np.float32).reshape(1, -1))
        _, found = self._index.search(query, min(count, self.size))
        found = found[0]
        return found[found >= 0].astype(np.int64)


def index_for(target: np.ndarray, min_items: int) -> ItemIndex | None:
    """The index of ``target``'s rows when there are at least ``min_items`` (``0``: never),
    else ``None``: the catalogue is scanned, exactly as before there was an index. Without
    faiss installed the catalogue is scanned too, with a warning: slower answers, not none."""
    if not min_items or len(target) < min_items:
        return None
    try:
        return ItemIndex(target)
    except ImportError as exc:
        log.warning("%d items, every one scanned for each top k: %s", len(target), exc)
        return None


def top_indexed(index: ItemIndex, target: np.ndarray, z: np.ndarray, k: int,
                excluded: np.ndarray, accept: Accept | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best items for the user vector ``z`` among ``target``'s rows, none of
    ``excluded``, only those ``accept`` lets through: their indices best first and their exact
    scores (``target @ z``), as :func:`~graphrec.serving.ranking.top_accepted` over every row
    would give them when the index finds the true best.

    ``index`` covers ``target``'s first ``index.size`` rows; the rows after them (items folded
    in since) are always candidates. The index is asked for ``2k`` plus the excluded items, and
    four times as many while fewer than ``k`` candidates pass; when that reaches the indexed
    rows, every row is scored.
    """
    excluded = np.unique(np.asarray(excluded, dtype=np.int64))
    tail = np.arange(index.size, len(target), dtype=np.int64)
    count = 2 * k + len(excluded)
    while True:
        everything = count >= index.size
        candidates = (np.arange(len(target), dtype=np.int64) if everything
                      else np.union1d(index.nearest(z, count), tail))  # ascending: ties as top()
        exact = scores(z, target[candidates])
        exact[np.isin(candidates, excluded, assume_unique=True)] = -np.inf
        local = None if accept is None else _on(candidates, accept)
        best = top_accepted(exact, k, local)
        if len(best) == k or everything:
            return candidates[best], exact[best]
        count *= 4


def _on(candidates: np.ndarray, accept: Accept) -> Accept:
    """``accept`` asked about candidates by their position in ``candidates``."""
    return lambda positions: accept(candidates[positions])
