"""One contract, run on every baseline, on a tiny catalogue whose right answer is known."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from graphrec.dataset import GraphData
from graphrec.evaluation.baselines.base import Baseline
from graphrec.evaluation.baselines.bpr_mf import BPRMF
from graphrec.evaluation.baselines.ease import EASE, ease_weights
from graphrec.evaluation.baselines.ease_links import EASELinks, link_matrix
from graphrec.evaluation.baselines.itemknn import ItemKNN
from graphrec.evaluation.baselines.lightgcn import LightGCN
from graphrec.evaluation.baselines.multvae import Batch, MultVAE, MultVAEModule
from graphrec.evaluation.baselines.popularity import Popularity
from graphrec.evaluation.baselines.rp3beta import RowRanks, RP3Beta, walk_weights
from graphrec.evaluation.benchmark import BASELINES, MODELS, run_benchmark, write_section
from graphrec.evaluation.evaluate import evaluate

SAMPLE = Path(__file__).resolve().parents[1] / "graphrec" / "sample" / "beauty"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def two_shops(seed: int = 0) -> GraphData:
    """40 users, 12 items in two disjoint shops (items 0–5 and 6–11); users 0–19 buy only in
    the first, 20–39 only in the second: 4 items in train, 1 more in test. Items 0–5 are bought
    more often than 6–11, so popularity alone ranks the first shop higher for everyone."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for user in range(40):
        shop = np.arange(6) + (0 if user < 20 else 6)
        weights = np.array([6, 5, 4, 3, 2, 1], dtype=float)
        picked = rng.choice(shop, size=5, replace=False, p=weights / weights.sum())
        train += [(user, int(i)) for i in picked[:4]]
        test.append((user, int(picked[4])))
    train += [(user, i) for user in range(5) for i in range(6) if (user, i) not in train]
    links = np.array([(i, j) for i in range(6) for j in range(i + 1, 6)]
                     + [(i, j) for i in range(6, 12) for j in range(i + 1, 12)])
    none = np.zeros((0, 2), dtype=np.int64)
    return GraphData(
        users=np.array([f"u{i:02d}" for i in range(40)], dtype=object),
        items=np.array([f"i{i:02d}" for i in range(12)], dtype=object),
        brands=np.array([], dtype=object), categories=np.array([], dtype=object),
        train=np.unique(np.array(train), axis=0), test=np.array(test),
        item_brand=none, item_category=none, category_parent=none,
        links={"also_bought": links[::2], "also_viewed": links[1::2]})


def scores_of(model: Baseline, users: np.ndarray) -> np.ndarray:
    return np.asarray(model.score_users(users), dtype=np.float64)


class RecommenderContract:
    """Tests every baseline must pass; subclasses say how to build the model."""

    personalised = True

    @classmethod
    def make(cls, seed: int = 0) -> Any:
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def data(cls) -> GraphData:
        return two_shops()

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, data: GraphData) -> Any:
        return cls.make().fit(data)

    def test_scores_every_item_for_each_user(self, fitted: Any, data: GraphData) -> None:
        scores = scores_of(fitted, np.array([0, 21, 39]))
        assert scores.shape == (3, data.num_items)
        assert np.isfinite(scores).all()

    def test_same_seed_same_scores(self, fitted: Any, data: GraphData) -> None:
        again = self.make().fit(data)
        users = np.arange(data.num_users)
        np.testing.assert_allclose(scores_of(again, users), scores_of(fitted, users), atol=1e-6)

    def test_test_split_never_reaches_fit(self, fitted: Any, data: GraphData) -> None:
        blind = self.make().fit(dataclasses.replace(data, test=data.test[:0]))
        users = np.arange(data.num_users)
        np.testing.assert_allclose(scores_of(blind, users), scores_of(fitted, users), atol=1e-6)

    def test_recommends_from_the_users_own_shop(self, fitted: Any, data: GraphData) -> None:
        if not self.personalised:
            pytest.skip("not personalised")
        got = evaluate(fitted, data, k=2)
        assert got["hr@2"] > 70.0


class TestPopularity(RecommenderContract):
    personalised = False

    @classmethod
    def make(cls, seed: int = 0) -> Popularity:
        return Popularity()

    def test_ranks_by_train_purchases(self, fitted: Popularity, data: GraphData) -> None:
        counts = np.bincount(data.train[:, 1], minlength=data.num_items)
        np.testing.assert_array_equal(scores_of(fitted, np.array([3]))[0], counts)


class TestItemKNN(RecommenderContract):
    @classmethod
    def make(cls, seed: int = 0) -> ItemKNN:
        return ItemKNN(grid=(2, 5, 11), seed=seed)


class TestEASE(RecommenderContract):
    @classmethod
    def make(cls, seed: int = 0) -> EASE:
        return EASE(grid=(1, 10, 100), seed=seed)


class TestEASELinks(RecommenderContract):
    @classmethod
    def make(cls, seed: int = 0) -> EASELinks:
        return EASELinks(lam_grid=(1, 10, 100), weight_grid=(0.0, 0.5), seed=seed)

    def test_no_weight_is_plain_ease(self, data: GraphData) -> None:
        users = np.arange(data.num_users)
        plain = EASE(lam=10.0).fit(data)
        linked = EASELinks(lam=10.0, weight=0.0).fit(data)
        np.testing.assert_allclose(scores_of(linked, users), scores_of(plain, users), atol=1e-6)


class TestBPRMF(RecommenderContract):
    @classmethod
    def make(cls, seed: int = 0) -> BPRMF:
        return BPRMF(dim=8, lr=0.05, lambda_reg=1e-3, batch_size=64, max_epochs=40,
                     eval_every=5, patience=3, seed=seed)


class TestLightGCN(RecommenderContract):
    @classmethod
    def make(cls, seed: int = 0) -> LightGCN:
        return LightGCN(dim=8, lr=0.05, batch_size=64, max_epochs=40, eval_every=5,
                        patience=3, seed=seed)


class TestRP3Beta(RecommenderContract):
    @classmethod
    def make(cls, seed: int = 0) -> RP3Beta:
        return RP3Beta(alpha_grid=(0.5, 1.0), beta_grid=(0.0, 0.5), k_grid=(2, 5), seed=seed)

    def test_tunes_on_validation_within_the_grids(self, fitted: RP3Beta) -> None:
        assert fitted.fit_info["alpha"] in (0.5, 1.0)
        assert fitted.fit_info["beta"] in (0.0, 0.5)
        assert fitted.fit_info["k"] in (2, 5)
        assert fitted.fit_info["validation_ndcg@10"]


class TestMultVAE(RecommenderContract):
    @classmethod
    def make(cls, seed: int = 0) -> MultVAE:
        return MultVAE(hidden=16, latent=4, lr=1e-2, batch_size=10, max_epochs=40,
                       eval_every=5, patience=3, seed=seed)

    def test_epochs_chosen_on_validation(self, fitted: MultVAE) -> None:
        curve = fitted.fit_info["validation_ndcg@10"]
        assert fitted.fit_info["epochs"] == max(curve, key=lambda epoch: (curve[epoch], -epoch))


#: Three users, four items: the tiny catalogue of the walk tests.
WALK = np.array([[1, 1, 0, 0], [1, 0, 1, 1], [0, 1, 1, 0]], dtype=np.float64)


def walk_by_hand(x: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """RP3β's weights summed over every walk item i → user u → item j, one walk at a time."""
    users, items = x.shape
    buyers, bought, popularity = x.sum(axis=0), x.sum(axis=1), x.sum(axis=0)
    weights = np.zeros((items, items))
    for i in range(items):
        for j in range(items):
            if i == j:
                continue
            for u in range(users):
                if x[u, i] and x[u, j]:
                    weights[i, j] += (1 / buyers[i]) ** alpha * (1 / bought[u]) ** alpha
            weights[i, j] /= popularity[j] ** beta
    return weights


@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (0.5, 0.5), (1.5, 1.0)])
def test_rp3beta_weights_are_the_walk_probabilities(alpha: float, beta: float) -> None:
    got = walk_weights(sp.csr_matrix(WALK), alpha, beta).toarray()
    np.testing.assert_allclose(got, walk_by_hand(WALK, alpha, beta), rtol=1e-12)


def test_rp3beta_plain_walk_from_item_0() -> None:
    # Item 0's buyers are users 0 and 1 (1/2 each); user 0 goes on to item 1 (1/2), user 1 to
    # items 2 and 3 (1/3 each): 1/4, 1/6, 1/6. With beta = 1 each is divided by its item's 2,
    # 2 and 1 buyers.
    np.testing.assert_allclose(walk_weights(sp.csr_matrix(WALK), 1.0, 0.0).toarray()[0],
                               [0, 1 / 4, 1 / 6, 1 / 6])
    np.testing.assert_allclose(walk_weights(sp.csr_matrix(WALK), 1.0, 1.0).toarray()[0],
                               [0, 1 / 8, 1 / 12, 1 / 6])


def test_rp3beta_keeps_the_k_largest_of_each_row_scaled_to_one() -> None:
    weights = sp.csr_matrix(np.array([[0, 4, 1, 3], [2, 0, 0, 0], [5, 6, 0, 7], [0, 0, 0, 0]],
                                     dtype=np.float64))
    top = RowRanks(weights).top(2).toarray()
    np.testing.assert_allclose(top, [[0, 4 / 7, 0, 3 / 7], [1, 0, 0, 0], [0, 6 / 13, 0, 7 / 13],
                                     [0, 0, 0, 0]], rtol=1e-6)


def test_multvae_encoder_reads_the_l2_normalised_history() -> None:
    # Without dropout, the first layer's sum over the user's items must equal the dense
    # product of the L2-normalised 0/1 row with the layer's weights.
    torch.manual_seed(0)
    module = MultVAEModule(num_items=4, hidden=3, latent=2).eval()
    batch = Batch(sp.csr_matrix(WALK))
    dense = torch.from_numpy(WALK / np.linalg.norm(WALK, axis=1, keepdims=True)).float()
    hidden = torch.tanh(dense @ module.encoder_in + module.encoder_bias)
    expected, _ = module.encoder_out(hidden).split(2, dim=1)
    mu, _ = module.encode(batch)
    torch.testing.assert_close(mu, expected)


def test_ease_is_ridge_regression_of_each_item_on_the_others() -> None:
    # EASE's closed form B_ij = -P_ij / P_jj must equal, column by column, the ridge regression
    # of item j's column on the other items' columns: (X_-jᵀ X_-j + λI)⁻¹ X_-jᵀ x_j.
    x = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 1, 1, 1], [1, 1, 1, 0], [0, 0, 1, 1]],
                 dtype=np.float64)
    lam = 0.5
    weights = ease_weights(sp.csr_matrix(x), lam, np.float64)
    for j in range(4):
        rest = [i for i in range(4) if i != j]
        xr = x[:, rest]
        ridge = np.linalg.solve(xr.T @ xr + lam * np.eye(3), xr.T @ x[:, j])
        np.testing.assert_allclose(weights[rest, j], ridge, rtol=1e-9)
        assert weights[j, j] == 0.0


def test_link_matrix_is_symmetric_and_normalised() -> None:
    data = two_shops()
    links = link_matrix(data)
    np.testing.assert_allclose(links, links.T)
    # Every item links to the 5 others of its shop, once: entries 1/sqrt(5 * 5).
    assert np.allclose(links[0, 1:6], 0.2) and not links[0, 6:].any()


@pytest.mark.skipif(not SAMPLE.exists(), reason="sample catalogue not present")
def test_ease_beats_popularity_on_the_sample() -> None:
    data = GraphData.from_csv_dir(SAMPLE)
    popularity = evaluate(Popularity().fit(data), data)["ndcg@10"]
    ease = evaluate(EASE(lam=200.0).fit(data), data)["ndcg@10"]
    assert popularity < ease


def test_every_registered_baseline_honours_the_contract() -> None:
    for name in BASELINES:
        model = MODELS[name](0)
        assert callable(model.fit) and callable(model.score_users), name
        assert isinstance(model.fit_info, dict), name


@pytest.mark.parametrize("name,trained", [("bpr_mf", BPRMF), ("lightgcn", LightGCN),
                                          ("multvae", MultVAE)])
def test_epoch_trained_baselines_report_each_epoch(name: str, trained: type[Any]) -> None:
    # Mult-VAE ran for an hour on Beauty without a line: a long fit must show its epochs.
    lines: list[str] = []
    model = trained(max_epochs=6, eval_every=2, patience=1, seed=0, progress=lines.append)
    model.fit(two_shops())
    epochs = model.fit_info["epochs"]
    assert len(lines) > epochs
    assert sum("val ndcg@10" in line for line in lines) >= 1
    assert any("ETA" in line for line in lines)
    assert "object at 0x" not in lines[0] and "items" in lines[0]  # what is trained, in words
    assert MODELS[name](0).progress is print  # the benchmark prints them


def write_two_shops(data_dir: Path) -> Path:
    """:func:`two_shops` as a canonical CSV catalogue in ``data_dir`` (items and purchases)."""
    data_dir.mkdir()
    data = two_shops()
    pd.DataFrame({"item_id": data.items, "brand": "", "categories": ""}).to_csv(
        data_dir / "items.csv", index=False)
    rows = [(data.users[u], data.items[i], split)
            for split, pairs in (("train", data.train), ("test", data.test)) for u, i in pairs]
    pd.DataFrame(rows, columns=["user_id", "item_id", "split"]).to_csv(
        data_dir / "purchases.csv", index=False)
    return data_dir


def test_benchmark_writes_one_entry_per_model_and_merges(tmp_path: Path) -> None:
    data_dir = write_two_shops(tmp_path / "shops")
    out = tmp_path / "results.json"
    run_benchmark(data_dir, ["popularity"], out, log=lambda line: None)
    run_benchmark(data_dir, ["itemknn"], out, log=lambda line: None)
    written = json.loads(out.read_text())
    assert set(written["models"]) == {"popularity", "itemknn"}
    row = written["models"]["itemknn"]
    for key in ("ndcg@10", "recall@10", "hr@10", "precision@10", "fit_seconds", "epochs",
                "seconds_per_epoch"):
        assert key in row
    assert written["dataset"]["users"] == 40 and written["seed"] == 0


def test_benchmark_run_keeps_the_cold_start_section(tmp_path: Path) -> None:
    # A run after `--cold-start` had rebuilt the file from its models and peers only, erasing
    # the cold-start table that write_section had put beside them.
    data_dir = write_two_shops(tmp_path / "shops")
    out = tmp_path / "results.json"
    first = run_benchmark(data_dir, ["popularity"], out, log=lambda line: None)
    section = {"cold_users": {"1": {"popularity": {"ndcg@10": 1.5}}}}
    write_section(out, first["dataset"], "cold_start", section)
    run_benchmark(data_dir, ["itemknn"], out, log=lambda line: None)
    written = json.loads(out.read_text())
    assert written["cold_start"] == section
    assert set(written["models"]) == {"popularity", "itemknn"}
    assert list(written)[:5] == ["models", "device", "dataset", "seed", "k"]


def test_lightgcn_propagation_matches_stock_pyg() -> None:
    # The swapped-in SymmetricLGConv must give PyG LightGCN's own embeddings and gradients.
    from torch_geometric.nn.models import LightGCN as PyGLightGCN

    from graphrec.evaluation.baselines.lightgcn import LightGCNModule

    data = two_shops()
    torch.manual_seed(0)
    ours = LightGCNModule(data.train, data.num_users, data.num_items, dim=8, num_layers=3)
    torch.manual_seed(0)
    stock = PyGLightGCN(data.num_users + data.num_items, 8, 3)
    users, items = torch.from_numpy(data.train[:, 0]), torch.from_numpy(data.train[:, 1])
    items = items + data.num_users
    edge_index = torch.stack([torch.cat([users, items]), torch.cat([items, users])])
    user_emb, item_emb = ours.embeddings()
    expected = stock.get_embedding(edge_index)
    torch.testing.assert_close(torch.cat([user_emb, item_emb]), expected)
    (user_emb.sum() + item_emb.pow(2).sum()).backward()
    (expected[:data.num_users].sum() + expected[data.num_users:].pow(2).sum()).backward()
    torch.testing.assert_close(ours.model.embedding.weight.grad, stock.embedding.weight.grad)
