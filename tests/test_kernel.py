"""The one symmetric normalisation, pinned on a graph small enough to work out by hand."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from graphrec.evaluation.baselines.lightgcn import normalized_adjacency
from graphrec.model.kernel import normalised_graph, symmetric_normalised

# Five nodes; 0–1 listed in both directions, 0–2 twice, a self-loop on 3, and 2–4. As an
# undirected 0/1 graph: 0–1, 0–2, 2–4, so the degrees are 2, 1, 2, 0, 1.
SRC = np.array([0, 1, 0, 0, 3, 2])
DST = np.array([1, 0, 2, 2, 3, 4])
ROWS = [0, 0, 1, 2, 2, 4]
COLS = [1, 2, 0, 0, 4, 2]
EXACT = [2 ** -0.5, 0.5, 2 ** -0.5, 0.5, 2 ** -0.5, 2 ** -0.5]  # 1 / sqrt(d_row * d_col)


def test_symmetric_normalised_on_a_small_graph() -> None:
    row, col, value = symmetric_normalised(5, SRC, DST)
    assert row.tolist() == ROWS and col.tolist() == COLS
    assert value.dtype == np.float32
    # The float32 bits the model trains with (0.5 comes out one ulp low: 2^-1/2 squared).
    np.testing.assert_array_equal(value, np.array(
        [0.70710677, 0.49999997, 0.70710677, 0.49999997, 0.70710677, 0.70710677],
        dtype=np.float32))
    np.testing.assert_allclose(value, EXACT, rtol=1e-7)


def test_symmetric_normalised_in_float64() -> None:
    row, col, value = symmetric_normalised(5, SRC, DST, np.float64)
    assert row.tolist() == ROWS and col.tolist() == COLS and value.dtype == np.float64
    np.testing.assert_allclose(value, EXACT, rtol=1e-15)


def test_symmetric_normalised_without_edges() -> None:
    row, col, value = symmetric_normalised(3, np.array([1]), np.array([1]))
    assert len(row) == len(col) == len(value) == 0


def test_each_relation_is_normalised_on_its_own() -> None:
    """Node 0 has degree 2 in ``also_bought`` and 1 in ``also_viewed``: its entries differ by
    relation, and the pair listed in both relations keeps one entry per relation."""
    edges = {"also_bought": np.array([[0, 0], [1, 2]]), "also_viewed": np.array([[0], [1]])}
    row, col, value, relation = normalised_graph(3, {"item": 0}, ["also_bought", "also_viewed"],
                                                 edges)
    assert list(zip(row.tolist(), col.tolist(), relation.tolist())) == [
        (0, 1, 0), (0, 1, 1), (0, 2, 0), (1, 0, 0), (1, 0, 1), (2, 0, 0)]
    np.testing.assert_allclose(value, [2 ** -0.5, 1, 2 ** -0.5, 2 ** -0.5, 1, 2 ** -0.5],
                               rtol=1e-7)


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_lightgcn_propagates_over_the_same_normalisation() -> None:
    """Users 0, 1 and items 0, 1, 2 (nodes 2–4): user 0 bought items 0 and 1, user 1 item 1."""
    pairs = np.array([[0, 0], [0, 1], [1, 1]])
    adj = normalized_adjacency(pairs, 2, 3).to_dense()
    expected = torch.zeros(5, 5)
    for user, item, value in [(0, 2, 2 ** -0.5), (0, 3, 0.5), (1, 3, 2 ** -0.5)]:
        expected[user, item] = expected[item, user] = value
    torch.testing.assert_close(adj, expected)
