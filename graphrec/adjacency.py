"""Who is next to whom, row by row: the compressed rows the explanations walk.

The reason paths and the sentences read a graph one row at a time (an item's buyers, a user's
items, an item's linked items) or a few rows at once, and never multiply matrices. So they
keep only what a CSR matrix keeps for that, ``indptr`` and ``indices``, built with one integer
sort: a command that answers one question builds them and answers within its first second,
with no sparse-matrix library to import.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from graphrec.sorted_lookup import sorted_unique


class Adjacency(NamedTuple):
    """Row ``r``'s neighbours are ``indices[indptr[r]:indptr[r + 1]]``, ascending, each once."""

    indptr: np.ndarray
    indices: np.ndarray

    @classmethod
    def of(cls, rows: np.ndarray, cols: np.ndarray, num_rows: int, num_cols: int
           ) -> Adjacency:
        """The pairs ``(rows[k], cols[k])``, a pair listed more than once kept once."""
        key = sorted_unique(np.asarray(rows, dtype=np.int64) * num_cols
                            + np.asarray(cols, dtype=np.int64))
        indptr = np.zeros(num_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(key // num_cols, minlength=num_rows), out=indptr[1:])
        return cls(indptr, key % num_cols)

    def with_pairs(self, rows: np.ndarray, cols: np.ndarray, num_rows: int) -> Adjacency:
        """This adjacency with the pairs ``(rows[k], cols[k])`` added (a pair it has, or one
        listed twice, kept once), grown to ``num_rows`` rows: the new pairs are sorted and
        merged in, the rows already here are not sorted again. :meth:`of` of all the pairs,
        at the cost of copying the arrays once: what a served model's few thousand purchases
        reported live cost beside its millions learnt."""
        indptr = np.concatenate([self.indptr, np.full(num_rows + 1 - len(self.indptr),
                                                      self.indptr[-1], dtype=np.int64)])
        pairs = np.unique(np.stack([np.asarray(rows, dtype=np.int64),
                                    np.asarray(cols, dtype=np.int64)], axis=1), axis=0)
        rows, cols = pairs[:, 0], pairs[:, 1]
        start, stop = indptr[rows], indptr[rows + 1]
        at = _search_rows(self.indices, start, stop, cols)  # where each goes in its row
        new = at == stop
        if len(self.indices):
            new |= self.indices[np.minimum(at, len(self.indices) - 1)] != cols
        added = np.zeros(num_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows[new], minlength=num_rows), out=added[1:])
        return Adjacency(indptr + added, np.insert(self.indices, at[new], cols[new]))

    @property
    def degrees(self) -> np.ndarray:
        """The number of neighbours of each row."""
        return np.diff(self.indptr)

    def row(self, row: int) -> np.ndarray:
        """The neighbours of one row, ascending."""
        return self.indices[self.indptr[row]:self.indptr[row + 1]]

    def gather(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The neighbours of ``rows``, row after row, in a few array operations (no Python loop
        over the rows): ``(the neighbours, the position in rows of each one's row)``."""
        rows = np.asarray(rows, dtype=np.int64)
        starts = self.indptr[rows]
        counts = self.indptr[rows + 1] - starts
        # the arrays' own methods: numpy's function forms add a dispatch a call, and this runs
        # a dozen times a request
        owner = np.arange(len(rows)).repeat(counts)
        entries = np.arange(len(owner)) + (starts - counts.cumsum() + counts).repeat(counts)
        return self.indices[entries], owner


def _search_rows(indices: np.ndarray, start: np.ndarray, stop: np.ndarray, values: np.ndarray
                 ) -> np.ndarray:
    """For each ``k``, the first position in ``indices[start[k]:stop[k]]`` (an ascending row)
    whose value is not below ``values[k]``, as a position in ``indices``: one binary search per
    value, all of them stepped together."""
    lo, hi = start.copy(), stop.copy()
    while (open_ := lo < hi).any():
        mid = (lo + hi) // 2
        below = open_ & (indices[np.minimum(mid, len(indices) - 1)] < values)
        lo = np.where(below, mid + 1, lo)
        hi = np.where(open_ & ~below, mid, hi)
    return lo
