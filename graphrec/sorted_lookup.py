"""Membership and position in an ascending array by binary search.

``np.isin`` and dictionaries cost more than a binary search when the keys are already sorted
(CSR rows, sorted edge keys, the sorted train pairs), which is why the explanations, the edge
masking and negative sampling all look values up this way; this module is the one place that
does it.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def find_sorted(keys: np.ndarray, wanted: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(position, found)`` of each of ``wanted`` in the ascending ``keys`` (any shape,
    a scalar too): ``keys[position] == wanted`` exactly where ``found``.

    ``position`` is clipped into ``keys``, so ``keys[position]`` is always a valid index when
    ``keys`` is not empty; where ``found`` is false it means nothing. Empty ``keys``: nothing is
    found and every position is 0."""
    wanted = np.asarray(wanted)
    if not len(keys):
        return np.zeros(wanted.shape, dtype=np.intp), np.zeros(wanted.shape, dtype=bool)
    position = np.minimum(keys.searchsorted(wanted), len(keys) - 1)
    return position, keys[position] == wanted


def in_sorted(keys: np.ndarray, wanted: Any) -> np.ndarray:
    """``np.isin(wanted, keys)`` for an ascending ``keys``, without its overhead."""
    return find_sorted(keys, wanted)[1]


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)`` of integers by one sort: numpy 2's ``np.unique`` hashes them
    first, several times slower on the millions of edge keys a model's graph has."""
    values = np.sort(np.asarray(values).reshape(-1))
    if not len(values):
        return values
    return values[np.concatenate([[True], values[1:] != values[:-1]])]
