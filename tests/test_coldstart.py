"""The cold-start protocol: who is held out, what they reveal, and what the benchmark writes."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from graphrec.cli import main
from graphrec.dataset import GraphData
from graphrec.evaluation.baselines.ease import EASE
from graphrec.evaluation.baselines.ease_links import EASELinks
from graphrec.evaluation.baselines.itemknn import ItemKNN
from graphrec.evaluation.baselines.popularity import Popularity
from graphrec.evaluation.baselines.rp3beta import RP3Beta
from graphrec.evaluation.coldstart import (
    REVEAL,
    ColdStartSplit,
    FoldIn,
    ItemsFoldedIn,
    catalogue_without,
    evaluate_model,
    history_order,
    measure,
    paired,
    run_cold_start,
    split,
)
from graphrec.evaluation.evaluate import top_k
from graphrec.explain.paths import PathFinder
from graphrec.model import artifact
from graphrec.model.train import KGRecRecommender, TrainConfig
from graphrec.serving.newitems import grow, item_rows
from graphrec.serving.ranking import NEW_ITEM_EVERY
from graphrec.serving.recommend import Recommender
from ingest.detect import read_catalogue
from ingest.frames import catalogue_frames
from tests.conftest import SAMPLE

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def sample() -> tuple[GraphData, pd.DataFrame]:
    frames = catalogue_frames(read_catalogue(SAMPLE))
    data = GraphData.from_frames(frames.items, frames.purchases, frames.links, frames.users)
    return data, frames.purchases


@pytest.fixture(scope="module")
def cold(sample: tuple[GraphData, pd.DataFrame]) -> ColdStartSplit:
    data, purchases = sample
    return split(data, history_order(data, purchases), seed=0)


def per_user(pairs: np.ndarray, users: np.ndarray) -> np.ndarray:
    return np.bincount(pairs[:, 0], minlength=users.max() + 1)[users]


def test_history_order_is_by_seq_else_train_first_in_row_order() -> None:
    data = GraphData.from_frames(
        pd.DataFrame({"item_id": ["a", "b", "c"], "brand": "", "categories": ""}),
        pd.DataFrame({"user_id": ["u"] * 3, "item_id": ["c", "a", "b"],
                      "split": ["train", "test", "train"]}))
    by_seq = pd.DataFrame({"user_id": ["u"] * 4, "item_id": ["c", "a", "b", "c"],
                           "split": ["train", "test", "train", "train"], "seq": [2, 1, 3, 4]})
    no_seq = by_seq.drop(columns="seq")
    assert data.items[history_order(data, by_seq)[:, 1]].tolist() == ["a", "c", "b"]
    assert data.items[history_order(data, no_seq)[:, 1]].tolist() == ["c", "b", "a"]


def test_cold_users_are_a_tenth_and_never_in_train(sample: tuple[GraphData, pd.DataFrame],
                                                   cold: ColdStartSplit) -> None:
    data, _ = sample
    assert len(cold.cold_users) == round(0.1 * data.num_users)
    assert not np.isin(cold.train.train[:, 0], cold.cold_users).any()
    assert not np.isin(cold.train.test[:, 0], cold.cold_users).any()
    # every warm user keeps every train purchase of a warm item
    warm = data.train[~np.isin(data.train[:, 0], cold.cold_users)
                      & ~np.isin(data.train[:, 1], cold.cold_items)]
    assert np.array_equal(cold.train.train, warm)


def test_cold_users_reveal_their_first_purchases_by_seq(sample: tuple[GraphData, pd.DataFrame],
                                                        cold: ColdStartSplit) -> None:
    data, purchases = sample
    total = per_user(cold.histories, cold.cold_users)
    assert (total > max(REVEAL)).all()
    seq = {(u, i): s for u, i, s in zip(purchases["user_id"], purchases["item_id"],
                                        purchases["seq"])}
    for n in REVEAL:
        case = cold.users_case(n)
        assert (per_user(case.train, cold.cold_users) == n).all()
        assert (per_user(case.test, cold.cold_users) == total - n).all()
        for user in cold.cold_users[:20]:
            shown = case.train[case.train[:, 0] == user, 1]
            rest = case.test[case.test[:, 0] == user, 1]
            name = data.users[user]
            assert max(seq[name, data.items[i]] for i in shown) < min(
                seq[name, data.items[i]] for i in rest)


def test_cold_items_lose_their_train_purchases_but_keep_their_edges(
        sample: tuple[GraphData, pd.DataFrame], cold: ColdStartSplit) -> None:
    data, _ = sample
    assert len(cold.cold_items) == round(0.1 * data.num_items)
    bought = np.isin(data.train[:, 1], cold.cold_items)
    assert bought.sum() > 100 and not np.isin(cold.train.train[:, 1], cold.cold_items).any()
    for name in ("item_brand", "item_category", "category_parent"):
        assert np.array_equal(getattr(cold.train, name), getattr(data, name))
    assert all(np.array_equal(cold.train.links[rel], data.links[rel]) for rel in data.links)
    assert np.isin(cold.cold_items, data.item_brand[:, 0]).sum() > 50
    case = cold.items_case()
    assert len(case.test) > 0 and np.isin(case.test[:, 1], cold.cold_items).all()
    assert not np.isin(case.test[:, 0], cold.cold_users).any()
    # ranked among every item they did not buy in train (cold ones they bought included)
    assert np.isin(case.train[:, 1], cold.cold_items).any()


def test_the_retrained_reference_has_each_cold_user_at_its_level(
        sample: tuple[GraphData, pd.DataFrame], cold: ColdStartSplit) -> None:
    data, _ = sample
    train = cold.retrain_data().train
    assert (per_user(train, cold.cold_users) == cold.level).all()
    assert np.bincount(cold.level).tolist() == [0, 51, 51, 51]
    warm = ~np.isin(train[:, 0], cold.cold_users)
    assert np.array_equal(train[warm], data.train[~np.isin(data.train[:, 0], cold.cold_users)])
    for n in REVEAL:
        same = cold.users_case(n, same_level=True)
        assert set(same.test[:, 0]) == set(cold.cold_users[cold.level == n])


@pytest.mark.parametrize("model", [Popularity(), ItemKNN(k=50), EASE(lam=100),
                                   EASELinks(lam=100, weight=0.5),
                                   RP3Beta(alpha=0.5, beta=0.0, k=20)],
                         ids=["popularity", "itemknn", "ease", "ease_links", "rp3beta"])
def test_fold_in_of_a_train_history_gives_the_trained_scores(
        sample: tuple[GraphData, pd.DataFrame], model: object) -> None:
    data, _ = sample
    model.fit(data)
    users = np.arange(0, data.num_users, 97)
    folded = np.asarray(model.score_history(data.train_matrix()[users]))
    assert np.allclose(folded, np.asarray(model.score_users(users)))


def test_graphrec_folds_in_the_history_it_is_given(sample: tuple[GraphData, pd.DataFrame]
                                                   ) -> None:
    data, _ = sample
    model = KGRecRecommender(TrainConfig(embedding_dim=16), epochs=1).fit(data)
    users = np.arange(0, data.num_users, 97)
    assert torch.allclose(model.score_history(data.train_matrix()[users]),
                          model.score_users(users), atol=1e-5)
    one = data.train_matrix()[users[:1]]
    one.data[:] = 0  # a user who bought nothing scores nothing
    one.eliminate_zeros()
    assert torch.count_nonzero(model.score_history(one)) == 0


def test_the_catalogue_before_the_cold_items_has_only_the_others_and_their_nodes(
        cold: ColdStartSplit) -> None:
    data = cold.train  # the whole catalogue, the train purchases a cold model may learn from
    before = catalogue_without(data, cold.cold_items)
    warm = np.setdiff1d(np.arange(data.num_items), cold.cold_items)
    assert before.items.tolist() == data.items[warm].tolist()
    assert before.users.tolist() == data.users.tolist()

    def named(pairs: np.ndarray, left: np.ndarray, right: np.ndarray) -> set[tuple[str, str]]:
        return {(str(left[a]), str(right[b])) for a, b in np.asarray(pairs).reshape(-1, 2)}

    kept = set(data.items[warm].tolist())
    for name, nodes in (("item_brand", "brands"), ("item_category", "categories")):
        whole = named(getattr(data, name), data.items, getattr(data, nodes))
        assert named(getattr(before, name), before.items, getattr(before, nodes)) == {
            pair for pair in whole if pair[0] in kept}
    brands_left = {b for i, b in named(data.item_brand, data.items, data.brands) if i in kept}
    assert set(before.brands.tolist()) == brands_left
    # every category on a kept item's path is there, with its parent edges
    parents = named(data.category_parent, data.categories, data.categories)
    assert named(before.category_parent, before.categories, before.categories) == {
        (child, parent) for child, parent in parents if child in set(before.categories)}
    assert {p for c, p in parents if c in set(before.categories)} <= set(before.categories)
    for relation, pairs in data.links.items():
        assert named(before.links[relation], before.items, before.items) == {
            (a, b) for a, b in named(pairs, data.items, data.items) if a in kept and b in kept}
    assert named(before.train, before.users, before.items) == named(data.train, data.users,
                                                                    data.items)


def test_a_brand_or_category_only_cold_items_have_is_not_in_the_catalogue_before_them(
        ) -> None:
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "brand": ["X", "X", "Y"],
                          "categories": ["Beauty|Nails", "Beauty|Nails|Polish",
                                         "Beauty|Hair|Dye"]})
    data = GraphData.from_frames(items, pd.DataFrame({"user_id": ["u", "u"],
                                                      "item_id": ["a", "c"],
                                                      "split": ["train", "train"]}))
    before = catalogue_without(data, np.array([2]))
    assert before.items.tolist() == ["a", "b"] and before.brands.tolist() == ["X"]
    assert sorted(before.categories.tolist()) == ["Beauty", "Nails", "Polish"]
    parents = {(str(before.categories[c]), str(before.categories[p]))
               for c, p in before.category_parent}
    assert parents == {("Nails", "Beauty"), ("Polish", "Nails")}
    assert before.train.tolist() == [[0, 0]]


@pytest.fixture(scope="module")
def folded(cold: ColdStartSplit) -> ItemsFoldedIn:
    model = KGRecRecommender(TrainConfig(embedding_dim=16), epochs=10)
    return ItemsFoldedIn(model, cold.cold_items).fit(cold.train)


def test_the_benchmark_scores_folded_items_as_the_service_does(
        sample: tuple[GraphData, pd.DataFrame], cold: ColdStartSplit, folded: ItemsFoldedIn,
        tmp_path: Path) -> None:
    data, _ = sample
    assert folded.recommender.model is not None
    before = catalogue_without(cold.train, cold.cold_items)
    saved = artifact.load(artifact.save(tmp_path / "model", folded.recommender.model, before))
    served = grow(saved, item_rows(data, cold.cold_items))
    assert folded.fit_info["cold_items_folded"] == served.state.folded == len(cold.cold_items)
    # the grown graph's index: the saved purchases' arrays kept, the links indexed again
    assert served.path_index is not None and saved.path_index is not None
    for name, array in PathFinder(served.data).index().items():
        np.testing.assert_array_equal(served.path_index[name], array)
    assert served.path_index["user_items_indices"] is saved.path_index["user_items_indices"]
    served_index = {str(item): n for n, item in enumerate(served.data.items)}
    case = cold.items_case()
    history = case.train_matrix()
    users = np.unique(case.test[:, 0])[:20]
    ours = folded.model_scores(history[users])
    recommender = Recommender(served)
    order = [served_index[str(item)] for item in data.items]
    for k in (10, 20):  # one place of a folded item, and two
        lists = top_k(FoldIn(folded, history), users, history, k=k)
        for row, user in enumerate(users):
            row_items = history.indices[history.indptr[user]:history.indptr[user + 1]]
            bought = np.array(sorted(served_index[str(data.items[i])] for i in row_items))
            theirs = served.state.scores(bought)
            assert np.allclose(ours[row], theirs[order], rtol=1e-4, atol=1e-6)
            listed = [r.item_id for r in recommender.recommend(bought, k)]
            assert [str(data.items[i]) for i in lists[row]] == listed
            new = [n for n, i in enumerate(listed, 1)
                   if served_index[i] >= recommender.trained_items]
            assert NEW_ITEM_EVERY in new  # every list has new items in its own places
    # a purchase of a cold item counts in the history, as its folded row
    buyer = cold.items_case().test[0]
    one = sp.csr_matrix(([1.0], ([0], [buyer[1]])), shape=(1, data.num_items))
    target = served.state.target[served_index[str(data.items[buyer[1]])]]
    assert np.allclose(folded.model_scores(one)[0, cold.cold_items[:5]],
                       [target @ served.state.target[served_index[str(data.items[i])]]
                        for i in cold.cold_items[:5]], rtol=1e-4, atol=1e-6)


def test_folding_cold_items_in_finds_them_where_training_them_without_buyers_does_not(
        cold: ColdStartSplit, folded: ItemsFoldedIn) -> None:
    trained = KGRecRecommender(TrainConfig(embedding_dim=16), epochs=10).fit(cold.train)
    without, served = evaluate_model(trained, cold)["items"], evaluate_model(folded, cold)
    # the sample, 16 dimensions, 10 epochs, one thread: the places of the folded items find five
    # times as many as training the items with no buyer
    assert without["hr@10"] == pytest.approx(4.51, abs=0.01)
    assert served["items"]["hr@10"] == pytest.approx(24.51, abs=0.01)


def test_paired_differences_are_per_user_and_vanish_against_the_same_model(
        cold: ColdStartSplit, folded: ItemsFoldedIn) -> None:
    same = paired(folded, folded, cold)
    assert all(same[f"users@{n}"] == {"users": 51, "difference": 0.0, "difference_se": 0.0}
               for n in REVEAL)
    trained = KGRecRecommender(TrainConfig(embedding_dim=16), epochs=10).fit(cold.train)
    pairs = paired(folded, trained, cold)
    for n in REVEAL:
        case = cold.users_case(n, same_level=True)
        expected = (measure(folded, case, case.train_matrix())["ndcg@10"]
                    - measure(trained, case, case.train_matrix())["ndcg@10"])
        assert pairs[f"users@{n}"]["users"] == 51
        assert pairs[f"users@{n}"]["difference"] == pytest.approx(expected)
        assert pairs[f"users@{n}"]["difference_se"] > 0


def test_the_protocol_on_the_sample_reports_goals_and_reasons(
        sample: tuple[GraphData, pd.DataFrame]) -> None:
    data, purchases = sample
    fast = TrainConfig(embedding_dim=16, max_epochs=4, eval_every=2, patience=1)
    section = run_cold_start(
        data, history_order(data, purchases), ["popularity", "graphrec"], log=lambda line: None,
        factories={"graphrec": lambda seed: KGRecRecommender(fast)})
    assert section["protocol"]["cold_users"] == 153
    graphrec = section["models"]["graphrec"]
    cases = [f"users@{n}" for n in REVEAL] + ["items"]
    for case in cases:
        assert 0 <= graphrec[case]["ndcg@10"] <= 100
        assert set(graphrec["retrained"][case]) == {"ndcg@10", "recall@10", "hr@10",
                                                    "precision@10"}
        shares = graphrec["explained"][case]
        assert 0 < shares["with_path"] <= shares["recommendations"]
    goal = graphrec["goals"]["users@1"]
    assert goal["ratio"] == pytest.approx(graphrec["same_users"]["users@1"]["ndcg@10"]
                                          / graphrec["retrained"]["users@1"]["ndcg@10"])
    assert goal["met"] == (goal["ratio"] >= 0.95)
    # popularity cannot rank an item nobody bought in train
    assert section["models"]["popularity"]["items"]["hr@10"] == 0
    assert graphrec["params"]["cold_items_folded"] == section["protocol"]["cold_items"] == 121


def test_one_kind_alone_measures_only_its_cases(sample: tuple[GraphData, pd.DataFrame]
                                                ) -> None:
    data, purchases = sample
    order = history_order(data, purchases)
    users_alone = split(data, order, item_fraction=0.0, seed=0)
    items_alone = split(data, order, user_fraction=0.0, seed=0)
    assert users_alone.cases == ["users@1", "users@2", "users@3"]
    assert items_alone.cases == ["items"]
    # the same users and items as drawn together, the other kind left warm
    together = split(data, order, seed=0)
    assert np.array_equal(users_alone.cold_users, together.cold_users)
    assert len(users_alone.train.train) > len(together.train.train)
    assert not len(items_alone.cold_users) and len(items_alone.cold_items) == 121
    section = run_cold_start(data, order, ["popularity"], item_fraction=0.0,
                             log=lambda line: None)
    assert set(section["models"]["popularity"]) == {"users@1", "users@2", "users@3",
                                                    "fit_seconds", "params"}
    section = run_cold_start(data, order, ["popularity"], user_fraction=0.0,
                             log=lambda line: None)
    assert section["models"]["popularity"]["items"]["hr@10"] == 0
    assert "users@1" not in section["models"]["popularity"]


def test_cli_writes_cold_start_beside_the_rows_already_there(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["benchmark", "--data", str(SAMPLE), "--models", "popularity",
                 "--threads", "1"]) == 0
    assert main(["benchmark", "--data", str(SAMPLE), "--cold-start", "--models", "popularity",
                 "itemknn", "--threads", "1"]) == 0
    written = json.loads((tmp_path / "benchmarks" / "results" / "beauty.json").read_text())
    assert set(written["models"]) == {"popularity"}
    cold = written["cold_start"]
    assert cold["protocol"]["cold_users"] == 153 and cold["protocol"]["seed"] == 0
    assert set(cold["models"]) == {"popularity", "itemknn"}
    assert set(cold["models"]["itemknn"]) >= {"users@1", "users@2", "users@3", "items"}
    assert "cold start: 153 cold users, 121 cold items" in capsys.readouterr().out


def test_cli_refuses_a_model_that_cannot_fold_users_in(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["benchmark", "--data", str(SAMPLE), "--cold-start", "--models", "bpr_mf"]) == 1
    assert "bpr_mf scores only the users it was fitted with" in capsys.readouterr().err
    assert not (tmp_path / "benchmarks").exists()
