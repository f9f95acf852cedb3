"""Path weights by edge masking: exact against a full propagation of the masked graph."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from graphrec.dataset import GraphData
from graphrec.explain.attribution import EdgeMasking, Mask
from graphrec.explain.paths import PathFinder
from graphrec.model.kgrec import KGRec
from graphrec.model.train import train
from tests.test_model import FAST, paired_catalogue


@pytest.fixture(scope="module")
def data() -> GraphData:
    return paired_catalogue()


@pytest.fixture(scope="module")
def model(data: GraphData) -> KGRec:
    import dataclasses
    return train(data, dataclasses.replace(FAST, max_epochs=4))[0]


@pytest.fixture(scope="module")
def masking(model: KGRec) -> EdgeMasking:
    return EdgeMasking(model.propagated())


def history_of(model: KGRec, user: int) -> np.ndarray:
    return model.history(user).numpy()


def reference_scores(model: KGRec, user: int, mask: Mask) -> np.ndarray:
    """Propagate again on a copy whose masked edges are zeroed: the definition of masking."""
    masked = KGRec.from_state_dict(model.hparams(), model.state_dict()).eval()
    n = model.num_nodes
    key = masked.graph_row * n + masked.graph_col
    for a, b, r in mask.edges:
        for x, y in ((a, b), (b, a)):
            masked.graph_value[(key == x * n + y) & (masked.graph_type == r)] = 0.0
    masked._graph_cache = None
    with torch.no_grad():
        target = masked.item_representations()
        history = model.history(user)
        kept = [int(j) for j in history if int(j) not in mask.history]
        z = target[kept].sum(0) * max(1, len(history)) ** -model.history_exponent
        scores = target @ z
    return scores.numpy()


def probe_pairs(data: GraphData, finder: PathFinder) -> list[tuple[int, int]]:
    """Probe users (one history item) with their test item, and some multi-item users."""
    pairs = [(int(u), int(i)) for u, i in data.test[:6]]
    for user in range(5):
        history = finder.history(user)
        pairs.append((user, int(history[0]) ^ 1))
    return pairs


def test_unmasked_scores_are_the_model_scores(model: KGRec, masking: EdgeMasking) -> None:
    expected = model.score_users([3, 95]).numpy()
    for row, user in enumerate([3, 95]):
        history = history_of(model, user)
        np.testing.assert_allclose(masking.scores(history), expected[row], rtol=1e-4,
                                   atol=1e-5)
        np.testing.assert_allclose(masking.state.scores(history), expected[row], rtol=1e-4,
                                   atol=1e-5)
        assert masking.score(history, 7) == pytest.approx(float(expected[row, 7]), rel=1e-4)


def test_masked_scores_equal_a_full_propagation_of_the_masked_graph(
        model: KGRec, masking: EdgeMasking, data: GraphData) -> None:
    finder = PathFinder(data)
    checked = moved = 0
    for user, item in probe_pairs(data, finder):
        history = finder.history(user)
        paths = finder.candidates(history, item, user)
        masks = [masking.path_mask(p) for p in paths]
        if len(masks) > 1:
            masks.append(masks[0] | masks[-1])
        for mask in masks:
            expected = reference_scores(model, user, mask)
            np.testing.assert_allclose(masking.scores(history, mask), expected, rtol=1e-4,
                                       atol=1e-5)
            assert masking.score(history, item, mask) == pytest.approx(float(expected[item]),
                                                                    rel=1e-4, abs=1e-5)
            checked += 1
            if mask.edges:  # the graph part alone moves the scores (not only the history)
                edges_only = masking.scores(history, Mask(edges=mask.edges))
                np.testing.assert_allclose(edges_only, reference_scores(
                    model, user, Mask(edges=mask.edges)), rtol=1e-4, atol=1e-5)
                moved += not np.allclose(edges_only, masking.scores(history), atol=1e-4)
    kinds = {p.kind for u, i in probe_pairs(data, finder)
             for p in finder.candidates(finder.history(u), i, u)}
    assert {"brand", "category", "also_bought", "collaborative"} <= kinds
    assert checked >= 20 and moved >= 10


def test_path_masks_name_the_model_edges(model: KGRec, masking: EdgeMasking,
                                         data: GraphData) -> None:
    finder = PathFinder(data)
    user, item = int(data.test[0, 0]), int(data.test[0, 1])
    via = int(finder.history(user)[0])
    by_kind = {p.kind: masking.path_mask(p)
               for p in finder.candidates(finder.history(user), item, user)}
    brand = model.offset["brand"] + int(data.item_brand[item, 1])
    has_brand = model.relations.index("has_brand")
    assert by_kind["brand"] == Mask(frozenset({via}), frozenset(
        {(via, brand, has_brand), (item, brand, has_brand)}))
    assert by_kind["also_bought"].edges == {
        (min(via, item), max(via, item), model.relations.index("also_bought"))}
    assert by_kind["collaborative"] == Mask(frozenset({via}))


def test_a_collaborative_path_weighs_its_history_items_term(
        masking: EdgeMasking, data: GraphData) -> None:
    finder = PathFinder(data)
    user = 0
    history = finder.history(user)
    item = int(history[0]) ^ 1
    paths = [p for p in finder.candidates(history, item, user) if p.kind == "collaborative"]
    assert paths
    target = masking.state.target
    scale = len(history) ** -masking.state.exponent
    for path, weight in zip(paths, masking.path_weights(history, item, paths)):
        term = scale * float(target[path.via_item] @ target[item])
        assert weight == pytest.approx(term, rel=1e-4, abs=1e-5)


def test_ablated_relations_mask_nothing(data: GraphData) -> None:
    model = KGRec.from_data(data, brands=False, categories=False, embedding_dim=8)
    masking, finder = EdgeMasking(model.eval().propagated()), PathFinder(data)
    user, item = int(data.test[0, 0]), int(data.test[0, 1])
    brand = [p for p in finder.candidates(finder.history(user), item, user)
             if p.kind == "brand"]
    assert masking.path_mask(brand[0]).edges == frozenset()


def test_path_ranker_orders_paths_by_the_score_they_carry(model: KGRec, data: GraphData) -> None:
    from graphrec.explain.ranker import PathRanker
    ranker = PathRanker(model.propagated(), PathFinder(data))
    history = ranker.paths.history(0)
    user, item = 0, int(history[0]) ^ 1
    ranked = ranker.ranked(history, item, user)
    weights = [w for w, _ in ranked]
    assert len(ranked) >= 3 and weights == sorted(weights, reverse=True)
    base = ranker.masking.score(history, item)
    for weight, path in ranked:
        masked = reference_scores(model, user, ranker.masking.path_mask(path))[item]
        assert weight == pytest.approx(base - float(masked), rel=1e-4, abs=1e-5)


def assert_batched_weights_are_per_path(masking: EdgeMasking, finder: PathFinder,
                                        pairs: list[tuple[int, int]]) -> set[str]:
    """Every candidate of each pair masked in one computation gives the per-path masked
    scores; returns the path kinds seen."""
    kinds = set()
    for user, item in pairs:
        history = finder.history(user)
        paths = finder.candidates(history, item, user)
        base = masking.score(history, item)
        one_at_a_time = [base - masking.score(history, item, masking.path_mask(p))
                         for p in paths]
        np.testing.assert_allclose(masking.path_weights(history, item, paths), one_at_a_time,
                                   rtol=1e-4, atol=1e-5)
        table = finder.table(history, [item], user)
        assert table.paths(np.arange(len(table))) == paths
        np.testing.assert_allclose(masking.table_weights(history, table), one_at_a_time,
                                   rtol=1e-4, atol=1e-5)
        kinds |= {p.kind for p in paths}
    return kinds


def test_all_paths_of_a_pair_at_once_equal_one_at_a_time(masking: EdgeMasking,
                                                          data: GraphData) -> None:
    finder = PathFinder(data)
    pairs = probe_pairs(data, finder) + [(int(u), int(i)) for u, i in data.test[6:40]]
    kinds = assert_batched_weights_are_per_path(masking, finder, pairs)
    assert {"brand", "category", "also_bought", "collaborative"} <= kinds
    assert masking.path_weights(finder.history(0), 1, []) == []


@pytest.mark.parametrize("layers", [1, 2])
def test_batched_weights_equal_one_at_a_time_at_each_depth(data: GraphData,
                                                          layers: int) -> None:
    """The batched masking's forms for one and two layers (the deltas' coefficients) against
    one path at a time through the propagation's deltas (an untrained model)."""
    torch.manual_seed(layers)
    model = KGRec.from_data(data, embedding_dim=8, num_layers=layers).eval()
    finder = PathFinder(data)
    pairs = probe_pairs(data, finder) + [(int(u), int(i)) for u, i in data.test[6:30]]
    kinds = assert_batched_weights_are_per_path(EdgeMasking(model.propagated()), finder, pairs)
    assert {"brand", "category", "also_bought", "collaborative"} <= kinds


def test_link_chains_at_once_equal_one_at_a_time(data: GraphData) -> None:
    """Two link edges through a middle item, several relations between the same items: the
    batched form on a graph with chains (an untrained model: weights need no training)."""
    import dataclasses

    pairs = np.arange(12)
    chained = dataclasses.replace(data, links={
        "also_bought": np.stack([2 * pairs, 2 * pairs + 1], axis=1),
        "also_viewed": np.stack([2 * pairs[:-1] + 1, 2 * pairs[1:]], axis=1),
        "bought_together": np.stack([2 * pairs[:-1], 2 * pairs[1:] + 1], axis=1)})
    torch.manual_seed(0)
    model = KGRec.from_data(chained, embedding_dim=8).eval()
    finder = PathFinder(chained)
    pairs_checked = [(u, i) for u in range(0, 114, 7) for i in range(24)
                     if i not in set(finder.history(u).tolist())]
    kinds = assert_batched_weights_are_per_path(EdgeMasking(model.propagated()), finder,
                                                pairs_checked)
    assert {"link_chain", "also_viewed", "bought_together", "brand"} <= kinds


def test_one_users_scores_equal_the_batch_form(model: KGRec, data: GraphData) -> None:
    """The numpy kernel that requests take gives the model's batch scores."""
    users = [0, 3, 95, int(data.test[0, 0])]
    batch = model.score_users(users).numpy()
    state = model.propagated()
    for row, user in enumerate(users):
        np.testing.assert_allclose(state.scores(history_of(model, user)), batch[row],
                                   rtol=1e-5, atol=1e-5)
        assert model.history(user).tolist() == PathFinder(data).history(user).tolist()


def test_a_pages_masks_look_each_history_row_up_once_an_end(
        masking: EdgeMasking, data: GraphData, monkeypatch: pytest.MonkeyPatch) -> None:
    """Weighing a page's paths looks up each (history row, masked edge end) entry of the graph
    once, not once a path: the lookups grow with the history times the distinct ends, not with
    the history times the paths."""
    import graphrec.explain.attribution as attribution

    finder = PathFinder(data)
    user = max(range(data.num_users), key=lambda u: len(finder.history(u)))
    history = finder.history(user)
    items = [i for i in range(data.num_items) if i not in set(history.tolist())
             and finder.candidates(history, i, user)][:10]
    paths = finder.candidates_items(history, items, user)
    masks = [masking.path_mask(p) for item_paths in paths for p in item_paths]
    ends = {node for mask in masks for a, b, _ in mask.edges for node in (a, b)}
    width = 2 * max(len(mask.edges) for mask in masks)
    looked: list[int] = []
    real = attribution._lookup

    def counted(keys: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
        looked.append(wanted.size)
        return real(keys, values, wanted)

    expected = masking.items_path_weights(history, items, paths)
    monkeypatch.setattr(attribution, "_lookup", counted)
    assert masking.items_path_weights(history, items, paths) == expected
    per_path = len(masks) * len(history) * width  # each path's own lookups of the history
    assert len(history) > 1 and len(ends) < len(masks)
    # (the padding of masks with fewer edges adds node 0 to the ends)
    assert sum(looked) <= len(history) * (len(ends) + 1) + 2 * len(masks) * width < per_path
