"""Candidate reason paths on a hand-made graph whose paths are known."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graphrec.adjacency import Adjacency
from graphrec.dataset import GraphData
from graphrec.explain.paths import PathFinder
from graphrec.schema import BY_NAME
from tests.conftest import SAMPLE


def tiny() -> GraphData:
    items = pd.DataFrame({
        "item_id": ["A", "B", "C", "D"],
        "brand": ["acme", "acme", "zeta", ""],
        "categories": ["Beauty|Soap", "Beauty|Soap", "Beauty|Cream", "Beauty|Soap"],
    })
    purchases = pd.DataFrame({
        "user_id": ["u1", "u2", "u2", "u3", "u3", "u1"],
        "item_id": ["A", "A", "C", "A", "C", "C"],
        "split": ["train", "train", "train", "train", "train", "test"],
    })
    links = pd.DataFrame({"item_id": ["A", "D"], "relation": ["also_bought", "also_viewed"],
                          "other_item_id": ["B", "A"]})
    return GraphData.from_frames(items, purchases, links)


def kinds(paths) -> list[str]:
    return sorted(p.kind for p in paths)


def test_brand_category_and_link_paths() -> None:
    data = tiny()
    finder = PathFinder(data)
    u1, (a, b, _, d) = 0, range(4)
    paths = finder.candidates(finder.history(u1), b, u1)
    assert kinds(paths) == ["also_bought", "brand", "category"]
    link = next(p for p in paths if p.kind == "also_bought")
    assert link.nodes == (("user", u1), ("item", a), ("item", b))
    assert [(h.type, h.source, h.target) for h in link.hops] == [
        ("BOUGHT", 0, 1), ("ALSO_BOUGHT", 1, 2)]
    viewed = finder.candidates(finder.history(u1), d, u1)
    assert kinds(viewed) == ["also_viewed", "category"]
    hop = next(p for p in viewed if p.kind == "also_viewed").hops[1]
    assert (hop.type, hop.source, hop.target) == ("ALSO_VIEWED", 2, 1)  # D → A


@pytest.mark.parametrize("links", [{}, "empty"])
def test_a_shop_without_item_links_still_has_brand_and_category_paths(links) -> None:
    """A catalogue without ``item_links`` (no relation at all, or relations with no pair) is
    common; indexing its links once failed on the empty set of pairs."""
    data = tiny()
    data.links = {} if links == {} else {rel: np.zeros((0, 2), dtype=np.int64)
                                         for rel in data.links}
    finder = PathFinder(data)
    u1, b, d = 0, 1, 3
    assert kinds(finder.candidates(finder.history(u1), b, u1)) == ["brand", "category"]
    assert kinds(finder.candidates(finder.history(u1), d, u1)) == ["category"]


def test_a_link_both_ways_is_one_path() -> None:
    data = tiny()
    data.links["also_bought"] = np.array([[0, 1], [1, 0]])  # A → B and B → A
    paths = PathFinder(data).candidates(np.array([0]), 1, 0)
    paths = [p for p in paths if p.kind == "also_bought"]
    assert len(paths) == 1 and paths[0].hops[1].source == 1


def test_collaborative_paths_use_other_buyers_only() -> None:
    data = tiny()
    finder = PathFinder(data, max_collaborative_per_item=5)
    paths = finder.candidates(finder.history(0), 2, 0)  # u1 → C: u2 and u3 bought A and C
    assert kinds(paths) == ["collaborative", "collaborative"]
    assert sorted(p.nodes[2][1] for p in paths) == [1, 2]
    assert all(p.nodes[0] == ("user", 0) and p.nodes[-1] == ("item", 2) for p in paths)
    one = PathFinder(data, max_collaborative_per_item=1)
    assert len(one.candidates(one.history(0), 2, 0)) == 1


def test_test_purchases_are_not_evidence() -> None:
    finder = PathFinder(tiny())
    assert 2 not in finder.history(0).tolist()  # u1 bought C only in test
    np.testing.assert_array_equal(finder.buyers(2), [1, 2])


def test_has_candidates_agrees_with_the_candidate_list() -> None:
    sample_data = GraphData.from_csv_dir(SAMPLE)
    finder = PathFinder(sample_data)
    rng = np.random.default_rng(1)
    checked = found = 0
    for user in rng.choice(sample_data.num_users, 40, replace=False):
        bought = set(finder.history(int(user)).tolist())
        items = np.array([i for i in rng.choice(sample_data.num_items, 60, replace=False)
                          if i not in bought])
        history = finder.history(int(user))
        expected = [bool(finder.candidates(history, int(i), int(user))) for i in items]
        assert finder.has_candidates(history, items).tolist() == expected
        assert finder.has_train_candidates(int(user), items).tolist() == expected
        checked += len(items)
        found += sum(expected)
    assert 0 < found < checked  # both answers occur


def test_link_chains_go_through_an_item_linked_to_both() -> None:
    data = tiny()
    data.links["bought_together"] = np.array([[1, 3]])  # B → D
    finder = PathFinder(data)
    # u1 bought A; A → B (also bought), B → D, D → A (viewed)
    paths = finder.candidates(finder.history(0), 3, 0)
    assert kinds(paths) == ["also_viewed", "category", "link_chain"]
    chain = next(p for p in paths if p.kind == "link_chain")
    assert chain.nodes == (("user", 0), ("item", 0), ("item", 1), ("item", 3))
    assert [(h.type, h.source, h.target) for h in chain.hops] == [
        ("BOUGHT", 0, 1), ("ALSO_BOUGHT", 1, 2), ("BOUGHT_TOGETHER", 2, 3)]
    assert finder.has_candidates(finder.history(0), np.array([3])).tolist() == [True]
    assert not [p for p in PathFinder(data, max_chains_per_item=0).candidates(np.array([0]), 3)
                if p.kind == "link_chain"]


def test_a_pages_items_share_the_walks_from_the_history(monkeypatch) -> None:
    """The paths of several items listed together are each item's own paths (an item of the
    history itself gets none through itself), and the history's buyers, linked items, brands
    and categories are gathered once for all of them, each item-side matrix's rows once for all
    the items: the number of gathers does not grow with the items."""
    sample_data = GraphData.from_csv_dir(SAMPLE)
    finder = PathFinder(sample_data)
    rng = np.random.default_rng(2)
    gathered: list[np.ndarray] = []
    real_gather = Adjacency.gather

    def counted(adjacency, rows):
        gathered.append(np.asarray(rows))
        return real_gather(adjacency, rows)

    for user in rng.choice(sample_data.num_users, 30, replace=False):
        history = finder.history(int(user))
        items = [int(i) for i in rng.choice(sample_data.num_items, 10, replace=False)]
        items[-1] = int(history[0])  # one of the history's own items
        one_by_one = [finder.candidates(history, item, int(user)) for item in items]
        gathered.clear()
        monkeypatch.setattr(Adjacency, "gather", counted)
        together = finder.candidates_items(history, items, int(user))
        monkeypatch.setattr(Adjacency, "gather", real_gather)
        assert together == one_by_one
        assert not [p for p in together[-1] if p.via_item == items[-1]]
        of_history = [rows for rows in gathered if np.array_equal(rows, history)]
        of_items = [rows for rows in gathered if np.array_equal(rows, items)]
        assert len(of_history) <= 4 and len(of_history) + len(of_items) == len(gathered)
        # buyers, linked items, and each link relation both ways
        assert len(of_items) <= 2 + 2 * len(finder.links)


def test_an_items_paths_cost_its_own_buyers_and_links_not_the_historys(monkeypatch) -> None:
    """An item's brand, category, collaborative and chain paths are found by looking its own
    brands, categories, buyers and linked items up among the history's (sorted once a request),
    so the values searched are the item's, however many the history's items have."""
    import graphrec.explain.paths as paths_module

    sample_data = GraphData.from_csv_dir(SAMPLE)
    finder = PathFinder(sample_data)
    user = max(range(sample_data.num_users), key=lambda u: len(finder.history(u)))
    history = finder.history(user)
    items = [i for i in range(sample_data.num_items) if i not in set(history.tolist())][:10]
    searched: list[int] = []
    sorted_once: list[int] = []
    real_matching, real_by_value = paths_module._matching, paths_module._by_value

    def matching(values, owner, wanted):
        if values is not finder.link_code[0]:  # the links' own table: a grid, not the walks
            searched.append(len(wanted))
        return real_matching(values, owner, wanted)

    def by_value(values, owner):
        sorted_once.append(len(values))
        return real_by_value(values, owner)

    monkeypatch.setattr(paths_module, "_matching", matching)
    monkeypatch.setattr(paths_module, "_by_value", by_value)
    finder.candidates_items(history, items, user)
    own = sum(len(finder.buyers(i)) + len(finder._neighbours(i)) for i in items
              if len(finder.buyers(i)))  # an item no one bought has no collaborative path
    linked_only = sum(len(finder._neighbours(i)) for i in items if not len(finder.buyers(i)))
    attributes = sum(len(finder.brands.row(i)) + len(finder.categories.row(i)) for i in items)
    assert sum(searched) == own + linked_only + attributes
    assert len(sorted_once) == 4 and sum(sorted_once) > sum(searched) / len(items)


def test_a_chains_hop_names_the_first_relation_in_its_stored_direction() -> None:
    """Each linked pair's hop is the first relation (in the finder's order) that links the two,
    forward (``a → b``) before backward, as asking every relation in turn would name it."""
    sample_data = GraphData.from_csv_dir(SAMPLE)
    data = tiny()
    data.links["also_viewed"] = np.array([[0, 1], [3, 0]])  # A → B in two relations
    data.links["bought_together"] = np.array([[1, 0]])  # and B → A
    for graph in (sample_data, data):
        finder = PathFinder(graph)
        linked_rows = np.repeat(np.arange(graph.num_items), finder.linked.degrees)
        assert len(linked_rows)
        stored = {relation: set(map(tuple, np.asarray(pairs).tolist()))
                  for relation, pairs in graph.links.items()}
        for a, b in zip(linked_rows.tolist(), finder.linked.indices.tolist()):
            expected = next((relation, forward) for relation, pairs in stored.items()
                            for forward, pair in ((True, (a, b)), (False, (b, a)))
                            if pair in pairs)
            hop = finder._hop(int(finder._link_hops(np.array([a]), np.array([b]))[0]), 1, 2)
            assert (hop.type, (hop.source, hop.target)) == (
                BY_NAME[expected[0]].type, (1, 2) if expected[1] else (2, 1))
    with pytest.raises(ValueError):
        PathFinder(tiny())._link_hops(np.array([1]), np.array([2]))


def test_an_adjacency_holds_each_pair_once_row_by_row() -> None:
    """A pair listed twice is one neighbour; rows ascending, a row's neighbours ascending, rows
    gathered together in their order (as scipy's CSR with duplicates summed, without it)."""
    rows = np.array([2, 0, 2, 2, 0, 3, 2])
    cols = np.array([5, 1, 0, 5, 4, 1, 3])
    adjacency = Adjacency.of(rows, cols, 5, 6)
    assert adjacency.indptr.tolist() == [0, 2, 2, 5, 6, 6]
    assert adjacency.indices.tolist() == [1, 4, 0, 3, 5, 1]
    assert adjacency.degrees.tolist() == [2, 0, 3, 1, 0]
    assert adjacency.row(2).tolist() == [0, 3, 5] and not len(adjacency.row(4))
    neighbours, owner = adjacency.gather(np.array([3, 1, 0, 2]))
    assert neighbours.tolist() == [1, 1, 4, 0, 3, 5] and owner.tolist() == [0, 2, 2, 3, 3, 3]
    empty = Adjacency.of(np.zeros(0), np.zeros(0), 3, 3)
    assert empty.indptr.tolist() == [0, 0, 0, 0] and empty.gather(np.array([1]))[0].size == 0


def test_a_finder_made_from_its_index_finds_the_same_paths() -> None:
    """A model's artifact keeps the finder's index: a finder given it back walks the same
    graph, path for path, without indexing it again."""
    sample_data = GraphData.from_csv_dir(SAMPLE)
    built = PathFinder(sample_data)
    index = built.index()
    assert set(index) == set(PathFinder.INDEX)
    again = PathFinder(sample_data, index={name: array.copy() for name, array in index.items()})
    rng = np.random.default_rng(4)
    for user in rng.choice(sample_data.num_users, 20, replace=False):
        history = built.history(int(user))
        assert np.array_equal(again.history(int(user)), history)
        items = [int(i) for i in rng.choice(sample_data.num_items, 10, replace=False)]
        assert (again.candidates_items(history, items, int(user))
                == built.candidates_items(history, items, int(user)))


def test_a_grown_index_is_the_index_of_the_grown_graph() -> None:
    """A fold-in's index is merged from the trained one (:meth:`PathFinder.grown_index`): on
    300 seeded random catalogues (links repeated, stored both ways, an item linked to itself,
    new items linked to old and new ones, a relation with no new link) it is, array for
    array, the index of the grown graph built whole."""
    def catalogue(items: int, links: dict[str, np.ndarray]) -> GraphData:
        none = np.zeros((0, 2), dtype=np.int64)
        return GraphData(users=np.array(["u"], dtype=object),
                         items=np.array([f"i{n}" for n in range(items)], dtype=object),
                         brands=np.array([], dtype=object),
                         categories=np.array([], dtype=object), train=np.array([[0, 0]]),
                         test=none, item_brand=none, item_category=none, category_parent=none,
                         links=links)

    rng = np.random.default_rng(5)
    for _ in range(300):
        old, new = int(rng.integers(1, 12)), int(rng.integers(1, 6))
        trained = {rel: rng.integers(0, old, (int(rng.integers(0, 15)), 2))
                   for rel in ("also_bought", "also_viewed", "bought_together")}
        more = {rel: np.concatenate([rng.integers(old, old + new, (count, 1)),
                                     rng.integers(0, old + new, (count, 1))], axis=1)
                for rel, count in zip(trained, rng.integers(0, 6, 3).tolist())}
        more = {rel: np.where(rng.random((len(pairs), 1)) < 0.5, pairs, pairs[:, ::-1])
                for rel, pairs in more.items()}
        grown = catalogue(old + new, {rel: np.concatenate([trained[rel], more[rel]])
                                      for rel in trained})
        got = PathFinder.grown_index(PathFinder(catalogue(old, trained)).index(), grown, old)
        for name, array in PathFinder(grown).index().items():
            np.testing.assert_array_equal(got[name], array, err_msg=name)
