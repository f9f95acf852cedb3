"""Binary-search lookups in an ascending array: found, missing, empty, scalars and shapes."""
from __future__ import annotations

import numpy as np

from graphrec.sorted_lookup import find_sorted, in_sorted, sorted_unique

KEYS = np.array([2, 5, 5, 9])


def test_present_values_give_their_position() -> None:
    position, found = find_sorted(KEYS, np.array([9, 2, 5]))
    assert found.tolist() == [True, True, True]
    assert position.tolist() == [3, 0, 1]  # the first of equal keys


def test_absent_values_below_between_and_above() -> None:
    position, found = find_sorted(KEYS, np.array([0, 3, 10]))
    assert found.tolist() == [False, False, False]
    assert position.tolist() == [0, 1, 3]  # past the end is clipped onto the last key
    assert (KEYS[position] != [0, 3, 10]).all()


def test_empty_keys_find_nothing() -> None:
    position, found = find_sorted(np.zeros(0, dtype=np.int64), np.array([[1, 2], [3, 4]]))
    assert position.shape == found.shape == (2, 2)
    assert not found.any() and not position.any()
    assert in_sorted(np.zeros(0, dtype=np.int64), np.array([1])).tolist() == [False]


def test_no_values() -> None:
    position, found = find_sorted(KEYS, np.zeros(0, dtype=np.int64))
    assert len(position) == len(found) == 0


def test_a_scalar_and_a_matrix_keep_their_shape() -> None:
    assert bool(in_sorted(KEYS, 5)) and not bool(in_sorted(KEYS, 6))
    wanted = np.array([[2, 3], [9, 11]])
    assert in_sorted(KEYS, wanted).tolist() == [[True, False], [True, False]]


def test_agrees_with_isin() -> None:
    rng = np.random.default_rng(0)
    keys = np.unique(rng.integers(0, 1000, size=300))
    wanted = rng.integers(-10, 1010, size=2000)
    position, found = find_sorted(keys, wanted)
    np.testing.assert_array_equal(found, np.isin(wanted, keys))
    np.testing.assert_array_equal(keys[position[found]], wanted[found])


def test_sorted_unique_is_numpys_unique() -> None:
    rng = np.random.default_rng(1)
    for values in (rng.integers(-50, 50, size=1000), np.zeros(0, dtype=np.int64),
                   np.array([7]), np.array([3, 3, 3])):
        np.testing.assert_array_equal(sorted_unique(values), np.unique(values))
