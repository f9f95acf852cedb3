"""Necessity and sufficiency of the served reasons, from the masking that weighs them."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from graphrec.dataset import GraphData
from graphrec.evaluation.fidelity import PairRanks, masking_figures, pair_ranks
from graphrec.explain.paths import PathFinder
from graphrec.explain.ranker import PathRanker
from graphrec.model.kgrec import KGRec
from graphrec.model.train import train
from tests.test_model import FAST, paired_catalogue


def ranks(base: int, top: int, random: int | None, top3: int, only_top3: int,
          history_items: int = 2, best: int | None = None) -> PairRanks:
    return PairRanks(base, top, random, top3, only_top3, history_items,
                     max(top, random or 0) if best is None else best)


def test_masking_figures_by_hand() -> None:
    measured = [ranks(1, 11, 2, 40, 3), ranks(2, 5, 4, 12, 12, best=14),
                ranks(3, 30, None, 30, 10), ranks(4, 12, 6, 50, 1, history_items=1)]
    figures = masking_figures(measured, k=10)
    assert figures["necessity"] == 0.75  # 11, 30 and 12 are past the top 10; 5 is not
    # but another of the second pair's paths, masked, sends it to 14: all four could leave
    assert figures["necessity_best_single_path"] == 1.0
    assert figures["sufficiency"] == 0.75  # 3, 10 and 1 stay in it; 12 does not
    assert figures["necessity_pairs"] == 4
    # fidelity over the three pairs with another candidate: drops 10, 3, 8 against 1, 2, 2
    assert figures["fidelity_pairs"] == 3
    assert figures["rank_drop_top_mean"] == pytest.approx(7.0)
    assert figures["rank_drop_random_mean"] == pytest.approx(5 / 3)
    assert figures["fidelity_ratio"] == pytest.approx(7.0 / (5 / 3))
    assert figures["fidelity_pairs_several_history_items"] == 2
    assert figures["fidelity_ratio_several_history_items"] == pytest.approx(6.5 / 1.5)
    assert figures["top3_masked_out_of_top10"] == 1.0
    assert figures["top_path_rank_drop_mean_all_pairs"] == pytest.approx((10 + 3 + 27 + 8) / 4)


@pytest.fixture(scope="module")
def data() -> GraphData:
    return paired_catalogue()


@pytest.fixture(scope="module")
def ranker(data: GraphData) -> PathRanker:
    model: KGRec = train(data, dataclasses.replace(FAST, max_epochs=4))[0]
    return PathRanker(model.propagated(), PathFinder(data))


def several_item_pairs(data: GraphData, ranker: PathRanker) -> list[tuple[int, int]]:
    """Train users (two pairs bought) with an item they did not buy that has paths."""
    pairs = []
    for user in range(8):
        history = ranker.paths.history(user)
        item = next(i for i in range(data.num_items) if i not in history
                    and ranker.paths.candidates(history, i, user))
        pairs.append((user, item))
    return pairs


def test_sufficiency_rank_is_that_of_a_shopper_who_bought_only_what_the_reasons_start_from(
        data: GraphData, ranker: PathRanker) -> None:
    rng = np.random.default_rng(0)
    changed = 0
    for user, item in several_item_pairs(data, ranker):
        history = ranker.paths.history(user)
        candidates = ranker.ranked(history, item, user)
        served = candidates[:1]
        measured = pair_ranks(ranker, history, item, candidates, served, rng)
        kept = np.array([served[0][1].via_item])
        scores = ranker.masking.scores(kept)  # a user whose history is that purchase alone
        scores[history] = -np.inf
        assert measured.only_top3 == int((scores > scores[item]).sum()) + 1
        changed += measured.only_top3 != measured.base
    assert changed  # keeping one purchase of four moves some items


def test_masking_the_top_path_is_the_weight_it_carries(data: GraphData,
                                                       ranker: PathRanker) -> None:
    rng = np.random.default_rng(0)
    for user, item in several_item_pairs(data, ranker):
        history = ranker.paths.history(user)
        candidates = ranker.ranked(history, item, user)
        measured = pair_ranks(ranker, history, item, candidates, candidates[:3], rng)
        masking = ranker.masking
        full = masking.scores(history)
        top = masking.scores(history, masking.path_mask(candidates[0][1]))
        assert full[item] - top[item] == pytest.approx(candidates[0][0], abs=1e-4)
        top[history] = -np.inf
        assert measured.top == int((top > top[item]).sum()) + 1


def test_the_best_single_path_is_the_candidate_whose_masking_sinks_the_item_most(
        data: GraphData, ranker: PathRanker) -> None:
    rng = np.random.default_rng(0)
    for user, item in several_item_pairs(data, ranker):
        history = ranker.paths.history(user)
        candidates = ranker.ranked(history, item, user)
        measured = pair_ranks(ranker, history, item, candidates, candidates[:1], rng)
        each = [ranker.masking.score_rank(history, item, ranker.masking.path_mask(path))
                for _, path in candidates]
        assert measured.best == max(each) >= measured.top
