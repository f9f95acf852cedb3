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
