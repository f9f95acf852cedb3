"""Top k among the items a rule accepts: what graphrec serves (only explainable items)."""
from __future__ import annotations

from typing import TypeVar

import numpy as np

from graphrec.serving import ranking
from graphrec.serving.ranking import top, top_accepted

T = TypeVar("T")
SCORES = np.array([0.9, 0.8, -np.inf, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1], dtype=np.float32)


def test_without_a_rule_it_is_the_plain_top_k() -> None:
    assert top_accepted(SCORES, 3).tolist() == [0, 1, 3]


def test_rejected_items_are_passed_over_in_score_order() -> None:
    asked: list[list[int]] = []

    def odd(items: np.ndarray) -> np.ndarray:
        asked.append(items.tolist())
        return items % 2 == 1

    assert top_accepted(SCORES, 2, odd).tolist() == [1, 3]
    assert asked == [[0, 1, 3, 4]]  # one window of 2k when it holds enough


def test_the_window_grows_until_k_are_found() -> None:
    asked: list[int] = []

    def late(items: np.ndarray) -> np.ndarray:
        asked.append(len(items))
        return items >= 8

    assert top_accepted(SCORES, 2, late).tolist() == [8, 9]
    assert asked == [4, 5]  # 2k, then the rest of the finite scores: no item asked twice


def test_each_item_is_asked_about_once_however_deep_the_search() -> None:
    asked: list[int] = []

    def last(items: np.ndarray) -> np.ndarray:
        asked.extend(items.tolist())
        return items == 99

    scores = np.arange(100, 0, -1, dtype=np.float32)  # item 99 scores lowest
    assert top_accepted(scores, 3, last).tolist() == [99]
    assert sorted(asked) == list(range(100))
    assert top_accepted(scores, 0, last).tolist() == []
    assert top_accepted(np.full(4, -np.inf), 3, last).tolist() == []


def test_fewer_than_k_when_fewer_pass_and_never_a_masked_item() -> None:
    assert top_accepted(SCORES, 5, lambda items: items <= 3).tolist() == [0, 1, 3]
    assert top_accepted(SCORES, 20).tolist() == [0, 1, 3, 4, 5, 6, 7, 8, 9]


def test_ties_rank_the_lower_index_first() -> None:
    assert top(np.array([1.0, 3.0, 3.0, 2.0, 3.0]), 4).tolist() == [1, 2, 4, 3]
    assert top(np.array([1.0, 2.0]), 5).tolist() == [1, 0]


def test_ties_across_the_cut_keep_the_lower_indices() -> None:
    """Many items tied at the k-th score (whole counts, as popularity's): the ones kept are
    the lowest indices, whatever argpartition happened to put on its side of the cut."""
    counts = np.zeros(5_000)
    counts[::7] = 3.0
    counts[4_000] = 9.0
    want = [4_000, *range(0, 7 * 9, 7)]
    assert top(counts, 10).tolist() == want
    assert top_accepted(counts, 10).tolist() == want


# --- places of the items folded in since training ------------------------------------------------

def placed(trained: list[T], folded: list[T], strong: int) -> list[T]:
    """The one list of ``trained`` and ``folded``, the first ``strong`` folded items strongly
    linked."""
    return ranking.interleave(trained, folded, ranking.new_item_places(len(folded), strong))


def test_the_link_keys_say_which_new_items_are_strongly_linked() -> None:
    strong = ranking.STRONG_LINKS
    assert ranking.new_item_slots(np.array([strong + 1, strong, strong - 0.5])).tolist() == \
        ranking.new_item_places(3, 2).tolist() == [3, 10, 20]
    assert ranking.new_item_slots(np.zeros(0)).tolist() == []


def test_every_tenth_place_goes_to_a_folded_item_while_there_are_some() -> None:
    trained = [f"t{n}" for n in range(1, 26)]
    assert placed(trained, ["f1", "f2"], 0)[8:11] == ["t9", "f1", "t10"]
    assert placed(trained, ["f1", "f2"], 0)[19] == "f2"
    # the second place: trained
    assert placed(trained, ["f1"], 0)[19:21] == ["t19", "t20"]
    # too few trained items
    assert placed(trained[:3], ["f1", "f2"], 0) == ["t1", "t2", "t3", "f1", "f2"]
    assert placed([], ["f1"], 0) == ["f1"]
    assert placed(trained[:2], [], 0) == trained[:2]


def test_strongly_linked_new_items_also_take_the_third_place_of_each_ten() -> None:
    trained = [f"t{n}" for n in range(1, 40)]
    listed = placed(trained, ["s1", "s2", "s3", "w1", "w2"], 3)
    strong, every = ranking.STRONG_PLACE, ranking.NEW_ITEM_EVERY
    assert [listed.index(f) + 1 for f in ("s1", "s2", "s3", "w1", "w2")] == [
        strong, every, every + strong, 20, 30]
    assert listed[:4] == ["t1", "t2", "s1", "t3"]
    # one strongly linked item: the third place, the next new item the tenth
    one = placed(trained, ["s1", "w1"], 1)
    assert [i + 1 for i, x in enumerate(one) if x[0] != "t"] == [strong, every]
    # strong counts only the new items there are
    assert ranking.new_item_places(4, 9).tolist() == [3, 10, 13, 20]


def test_the_places_do_not_depend_on_the_lists_length() -> None:
    """An item's place follows from its rank among its kind and the new items' slots (those
    ahead of it are enough): what ``explain`` computes without the list."""
    for trained_count in (0, 2, 5, 9, 18, 40):
        for folded_count in (0, 1, 3, 8):
            for strong in range(folded_count + 1):
                trained = [("t", r) for r in range(1, trained_count + 1)]
                folded = [("f", q) for q in range(1, folded_count + 1)]
                listed = placed(trained, folded, strong)
                places = {item: n for n, item in enumerate(listed, start=1)}
                slots = ranking.new_item_places(folded_count, strong)
                for rank in range(1, trained_count + 1):
                    assert ranking.trained_places(np.array(rank), slots) == places[("t", rank)]
                    ahead = slots[:sum(1 for f in folded if places[f] < places[("t", rank)])]
                    assert ranking.trained_places(np.array(rank), ahead) == places[("t", rank)]
                for rank in range(1, folded_count + 1):
                    mine = ranking.new_item_places(rank, min(strong, rank))
                    assert ranking.folded_places(np.array(rank), mine, trained_count) == \
                        places[("f", rank)]


def test_folded_items_are_ordered_by_links_then_score_then_position() -> None:
    scores = np.array([0.1, 0.9, -np.inf, 0.5, 0.5, 0.7], dtype=np.float32)
    links = np.array([2.0, 0.0, 5.0, 1.0, 1.0, 1.0])
    # 2 is excluded (-inf) whatever its links; 3 and 4 tie: the lower position first
    assert ranking.new_item_order(scores, links).tolist() == [0, 5, 3, 4, 1]


def test_first_accepted_asks_growing_windows_in_order() -> None:
    asked: list[int] = []

    def even(items: np.ndarray) -> np.ndarray:
        asked.append(len(items))
        return items % 2 == 0

    order = np.array([5, 3, 8, 1, 7, 9, 4, 6, 2, 11, 13, 10])
    assert ranking.first_accepted(order, 3, even).tolist() == [8, 4, 6]
    assert asked == [6, 6]  # 2k, then what is left of 4 × 2k
    assert ranking.first_accepted(order, 2).tolist() == [5, 3]
    assert ranking.first_accepted(order, 9, even).tolist() == [8, 4, 6, 2, 10]  # all there are


def test_the_folded_items_fetched_cover_every_slot_ahead() -> None:
    """``recommend`` and ``served_place`` fetch ``_folded_within(r)`` folded items: never fewer
    than the slots among the first ``r`` places or ahead of the ``r``-th trained item, however
    many of them are strongly linked."""
    from graphrec.serving.recommend import _folded_within

    for count in range(40):
        for strong in range(count + 1):
            slots = ranking.new_item_places(count, strong)
            for r in range(1, 100):
                place = int(ranking.trained_places(np.array(r), slots))
                assert int((slots < place).sum()) <= _folded_within(r)
                assert int((slots <= r).sum()) <= _folded_within(r)
