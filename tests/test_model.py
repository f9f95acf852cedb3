"""KGRec, its training and its artifact: contract tests on tiny graphs whose answer is known."""
from __future__ import annotations

import dataclasses
import json
import math
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from graphrec.dataset import GraphData
from graphrec.evaluation.evaluate import evaluate
from graphrec.explain.paths import PathFinder
from graphrec.model import artifact
from graphrec.model.foldin import relation_weights
from graphrec.model.kgrec import KGRec
from graphrec.model.train import KGRecRecommender, TrainConfig, train
from tests.conftest import SAMPLE
from tests.softmax_reference import full_softmax_loss

DATA = Path(__file__).parent / "data"

FAST = TrainConfig(embedding_dim=16, lr=0.05, batch_size=64, max_epochs=10, eval_every=5,
                   patience=2, validation_fraction=0.25)
NO_GRAPH = dict(brands=False, categories=False, item_links=False)


def paired_catalogue(num_pairs: int = 12, num_users: int = 90, seed: int = 0) -> GraphData:
    """Items ``2p`` and ``2p + 1`` form pair ``p``: same brand, linked by ``also_bought``.

    Train users buy both items of two pairs, so "the partner of what you bought" is the
    pattern to learn; each probe user bought one item of a pair in train and its partner in
    test. Pair ``p`` sits in category ``p % 3``, under one root category.
    """
    rng = np.random.default_rng(seed)
    items = np.array([f"i{i:03d}" for i in range(2 * num_pairs)], dtype=object)
    train, test = [], []
    for user in range(num_users):
        for pair in rng.choice(num_pairs, size=2, replace=False):
            train += [(user, 2 * pair), (user, 2 * pair + 1)]
    probes = np.arange(num_users, num_users + 2 * num_pairs)
    for user, item in zip(probes, range(2 * num_pairs)):
        train.append((user, item))
        test.append((user, item ^ 1))
    pairs = np.arange(num_pairs)
    return GraphData(
        users=np.array([f"u{u:03d}" for u in range(num_users + len(probes))], dtype=object),
        items=items,
        brands=np.array([f"b{p:02d}" for p in pairs], dtype=object),
        categories=np.array(["root", "c0", "c1", "c2"], dtype=object),
        train=np.array(sorted(set(train)), dtype=np.int64),
        test=np.array(test, dtype=np.int64),
        item_brand=np.stack([np.arange(2 * num_pairs), np.repeat(pairs, 2)], axis=1),
        item_category=np.stack([np.arange(2 * num_pairs), 1 + np.repeat(pairs, 2) % 3], axis=1),
        category_parent=np.array([[1, 0], [2, 0], [3, 0]], dtype=np.int64),
        links={"also_bought": np.stack([2 * pairs, 2 * pairs + 1], axis=1)},
    )


@pytest.fixture(scope="module")
def data() -> GraphData:
    return paired_catalogue()


@pytest.fixture(scope="module")
def trained(data: GraphData) -> tuple[KGRec, object]:
    return train(data, FAST)


def test_shapes_and_relations(data: GraphData) -> None:
    torch.manual_seed(0)
    model = KGRec.from_data(data, embedding_dim=8)
    assert model.relations == ("has_brand", "in_category", "subcategory_of", "also_bought")
    assert model.score_users(np.arange(5)).shape == (5, data.num_items)
    scores, items = model.recommend([0, 1, 2], k=4)
    assert scores.shape == items.shape == (3, 4)
    assert (scores[:, :-1] >= scores[:, 1:]).all()
    assert repr(model).startswith("KGRec(") and "dim=8" in repr(model)


def test_ablations_drop_relations(data: GraphData) -> None:
    no_kg = KGRec.from_data(data, brands=False, categories=False)
    no_links = KGRec.from_data(data, item_links=False)
    assert no_kg.relations == ("also_bought",) and no_kg.num_nodes == data.num_items
    assert "also_bought" not in no_links.relations
    assert no_kg.score_users([0]).shape == (1, data.num_items)


def test_without_relations_the_items_are_their_own_rows_apart_from_the_weights(
        data: GraphData) -> None:
    """With no relation every layer is layer 0, so the items' representations are their
    embedding rows, in a tensor of their own: the cache of scoring must not follow the weights
    when they are changed in place (a state loaded into them)."""
    model = KGRec.from_data(data, embedding_dim=4, **NO_GRAPH).eval()
    rows = model._representations()
    assert torch.equal(rows, model.embedding[: data.num_items])
    assert rows.untyped_storage().data_ptr() != model.embedding.untyped_storage().data_ptr()


def partner_accuracy(model: KGRec, data: GraphData) -> float:
    _, top = model.recommend(data.test[:, 0], k=1)
    return float((top[:, 0].numpy() == data.test[:, 1]).mean())


def test_the_graph_alone_pairs_partners(data: GraphData) -> None:
    torch.manual_seed(0)
    assert partner_accuracy(KGRec.from_data(data, embedding_dim=16), data) >= 0.9
    assert partner_accuracy(KGRec.from_data(data, embedding_dim=16, **NO_GRAPH), data) < 0.3


def test_learns_partners_from_purchases(data: GraphData) -> None:
    config = dataclasses.replace(FAST, max_epochs=30, **NO_GRAPH)
    model, log = train(data, config)
    assert partner_accuracy(model, data) >= 0.8
    assert log.best_epoch > 0 and log.epochs[0].loss > log.epochs[-1].loss


def test_training_keeps_what_the_graph_knows(data: GraphData,
                                            trained: tuple[KGRec, object]) -> None:
    model, _ = trained
    assert partner_accuracy(model, data) >= 0.9


def test_never_recommends_train_items(data: GraphData, trained: tuple[KGRec, object]) -> None:
    model, _ = trained
    users = np.arange(data.num_users)
    _, top = model.recommend(users, k=data.num_items - 5)
    bought = data.train_matrix()
    for user, items in zip(users, top.numpy()):
        assert not set(items) & set(bought[user].indices)
    _, with_train = model.recommend(users, k=3, exclude_train=False)
    assert any(set(items) & set(bought[u].indices) for u, items in zip(users, with_train.numpy()))


def test_same_seed_same_model(data: GraphData) -> None:
    config = dataclasses.replace(FAST, max_epochs=4, eval_every=2)
    first, h1 = train(data, config)
    second, h2 = train(data, config)
    assert [r.loss for r in h1.epochs] == [r.loss for r in h2.epochs]
    assert torch.equal(first.score_users(np.arange(10)), second.score_users(np.arange(10)))
    third, _ = train(data, dataclasses.replace(config, seed=1))
    assert not torch.equal(first.score_users(np.arange(10)), third.score_users(np.arange(10)))


def test_artifact_round_trip(tmp_path, data: GraphData, trained: tuple[KGRec, object]) -> None:
    model, log = trained
    counts = {"users": 1, "items": 2, "purchases": 3, "links": 4}
    path = artifact.save(tmp_path / "model", model, data, dataclasses.asdict(FAST),
                         log.to_dict(), counts)
    loaded = artifact.load(path)
    users = np.arange(data.num_users)
    expected = model.score_users(users).numpy()
    for user in users[::7]:  # serving's arrays, memory-mapped, give the model's scores
        np.testing.assert_allclose(loaded.state.scores(model.history(int(user)).numpy()),
                                   expected[user], rtol=1e-5, atol=1e-6)
    assert isinstance(loaded.state.layers, np.memmap)
    assert torch.equal(loaded.load_model().score_users(users), model.score_users(users))
    assert loaded.ids["items"] == data.items.tolist()
    assert loaded.data.fingerprint() == data.fingerprint()  # the graph travels with the model
    assert {k: loaded.trained_on[k] for k in counts} == counts and loaded.trained_on["trained_at"]
    assert loaded.config["train"]["embedding_dim"] == FAST.embedding_dim
    assert loaded.fingerprint == data.fingerprint()
    # the learnt relation weights, which a fold-in weighs the new items' edges with, travel
    # too, and are those the graph's values were multiplied by (within float32)
    assert loaded.state.weights is not None
    assert loaded.state.weights == pytest.approx(model.relation_weights().tolist(), rel=1e-7)
    assert np.allclose(relation_weights(loaded.state, data), loaded.state.weights, rtol=1e-5)
    # the path index travels too, read rather than mapped (a walk's first touch of a mapped
    # page is a fault in each worker), and is the one the graph gives
    index = PathFinder(data).index()
    assert loaded.path_index is not None and set(loaded.path_index) == set(index)
    assert not any(isinstance(array, np.memmap) for array in loaded.path_index.values())
    for name, array in index.items():
        assert np.array_equal(loaded.path_index[name], array), name
    artifact.save(path, model, data)  # replacing an artifact leaves no temporary directories
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_an_artifact_counts_the_test_purchases_it_never_learnt_from(
        tmp_path, data: GraphData, trained: tuple[KGRec, object]) -> None:
    """The figures people read (a sentence's "2 of the 5 shoppers who bought it", the most
    bought items and their order) quote every purchase the store holds, the test split's too,
    so that a Cypher count agrees; the model learns from, and its paths walk, the train
    purchases alone, so its measures stay honest."""
    from graphrec.explain.reasons import graph_facts
    from graphrec.serving.recommend import Recommender
    from graphrec.serving.service import ServedModel

    loaded = artifact.load(artifact.save(tmp_path / "model", trained[0], data))
    assert np.array_equal(loaded.data.test, data.test)
    assert np.array_equal(loaded.data.train, data.train)
    served = ServedModel.of(Recommender(loaded))
    held = {(int(u), int(i)) for u, i in data.test}
    every = {(int(u), int(i)) for u, i in data.train} | held

    def buyers(item: int, pairs: set[tuple[int, int]]) -> set[int]:
        return {u for u, i in pairs if i == item}

    # probe user 90 bought item 0 in train and item 1 in test: one of item 1's buyers and of
    # items 0 and 1's co-buyers in what is said, none of its paths
    assert (90, 0) in every - held and (90, 1) in held
    facts = graph_facts(loaded.data)
    assert facts.bought_both(0, 1) == (len(buyers(0, every) & buyers(1, every)),
                                       len(buyers(0, every)))
    assert 90 in facts.buyers(1) and 90 not in served.paths.buyers(1)
    assert served.recommender.buyers.tolist() == [len(buyers(i, every))
                                                  for i in range(data.num_items)]
    assert served.recommender.buyers.sum() == len(every) > len(data.train)


def test_an_artifact_is_private_to_its_owner_whatever_the_umask(
        tmp_path: Path, data: GraphData, trained: tuple[KGRec, object]) -> None:
    """A model holds every purchase and user id it was trained on: its folder, the folder of
    models made for it and every file are the owner's only (0700 / 0600)."""
    old = os.umask(0o022)
    try:
        path = artifact.save(tmp_path / "models" / "current", trained[0], data)
    finally:
        os.umask(old)
    modes = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode)
             for p in [path.parent, path, *path.rglob("*")]}
    assert not [name for name, mode in modes.items() if mode & 0o077], modes
    assert modes["models"] == modes["models/current/arrays"] == 0o700
    assert modes["models/current/weights.pt"] == modes["models/current/arrays/target.npy"] == 0o600
    assert artifact.load(path).ids["items"] == data.items.tolist()  # and it still loads


def test_a_short_write_of_the_arrays_is_said_in_its_own_words(
        tmp_path, data: GraphData, trained: tuple[KGRec, object],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """numpy reports a disk that fills while it writes an array as an OSError of its own
    words, without errno or strerror: the one line read "...: None"."""
    def short(*_args: object, **_kwargs: object) -> None:
        raise OSError("1034496 requested and 15328 written")

    monkeypatch.setattr(np, "save", short)
    with pytest.raises(artifact.SaveError) as failed:
        artifact.save(tmp_path / "models" / "current", trained[0], data)
    assert str(failed.value) == (f"the model could not be written to {tmp_path}/models/current: "
                                 "1034496 requested and 15328 written")
    assert not (tmp_path / "models" / "current").exists()


def test_weights_saved_with_rows_and_columns_apart_still_load(
        trained: tuple[KGRec, object], data: GraphData) -> None:
    model, _ = trained
    state = dict(model.state_dict())
    index = state.pop("graph_index")
    state["graph_row"], state["graph_col"] = index[0].clone(), index[1].clone()
    old = KGRec.from_state_dict(model.hparams(), state)
    users = np.arange(data.num_users)
    assert torch.equal(old.graph_index, model.graph_index)
    assert torch.equal(old.score_users(users), model.score_users(users))


def test_the_propagation_wraps_the_graph_buffer_without_copying_it(
        trained: tuple[KGRec, object]) -> None:
    model, _ = trained
    pattern = model._typed_graph().pattern
    assert pattern.col_indices().data_ptr() == model.graph_col.data_ptr()
    assert pattern.values().data_ptr() == model.graph_value.data_ptr()
    assert model.graph_row.data_ptr() == model.graph_index.data_ptr()


def test_an_artifact_without_a_path_index_still_serves(tmp_path, data: GraphData,
                                                       trained: tuple[KGRec, object]) -> None:
    """A model saved before the artifact kept the path index loads without one, and serving
    indexes its graph as it did then."""
    from graphrec.explain.reasons import graph_facts
    from graphrec.serving.recommend import Recommender
    from graphrec.serving.service import ServedModel

    path = artifact.save(tmp_path / "model", trained[0], data)
    manifest = json.loads((path / "manifest.json").read_text())
    for name in PathFinder.INDEX:
        (path / "arrays" / f"{artifact.PATH_INDEX}{name}.npy").unlink()
        del manifest["sha256"][f"arrays/{artifact.PATH_INDEX}{name}.npy"]
    (path / "manifest.json").write_text(json.dumps(manifest))
    loaded = artifact.load(path)
    assert loaded.path_index is None
    served = ServedModel.of(Recommender(loaded))
    # the sentences' buyer counts read the finder's index, not one sorted again
    assert graph_facts(loaded.data).item_users is served.paths.item_users
    assert served.paths.index().keys() == PathFinder(data).index().keys()
    assert np.array_equal(served.paths.linked.indices, PathFinder(data).linked.indices)


def test_a_served_model_keeps_the_edge_masking_of_the_one_before_over_the_same_arrays(
        tmp_path, data: GraphData, trained: tuple[KGRec, object]) -> None:
    """Purchases reported live change the paths, not the propagation: the model served with
    them keeps the masking (arrays the size of the graph) instead of making it again; a model
    over other arrays (a fold-in, a retrained model) gets its own."""
    from graphrec.serving.newpurchases import with_purchases
    from graphrec.serving.recommend import Recommender
    from graphrec.serving.service import ServedModel

    loaded = artifact.load(artifact.save(tmp_path / "model", trained[0], data))
    served = ServedModel.of(Recommender(loaded))
    bought = with_purchases(loaded, {("new customer", str(data.items[0]))})
    assert bought.data.num_users == data.num_users + 1
    again = ServedModel.of(Recommender(bought), masking=served.ranker.masking)
    assert again.ranker.masking is served.ranker.masking
    assert again.paths is not served.paths  # the paths do go through the new purchase
    other = dataclasses.replace(loaded, state=dataclasses.replace(loaded.state))
    assert ServedModel.of(Recommender(other), masking=served.ranker.masking).ranker.masking \
        is not served.ranker.masking


def test_artifact_errors(tmp_path, data: GraphData, trained: tuple[KGRec, object]) -> None:
    model, _ = trained
    with pytest.raises(FileNotFoundError, match="no model artifact"):
        artifact.load(tmp_path / "missing")
    path = artifact.save(tmp_path / "model", model, data)

    weights = path / "weights.pt"
    blob = bytearray(weights.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    weights.write_bytes(bytes(blob))
    with pytest.raises(artifact.ArtifactError, match="weights.pt does not match its checksum"):
        artifact.load(path)

    path = artifact.save(tmp_path / "model", model, data)
    layers = path / "arrays" / "layers.npy"
    blob = bytearray(layers.read_bytes())
    blob[-5] ^= 0xFF
    layers.write_bytes(bytes(blob))
    with pytest.raises(artifact.ArtifactError, match="layers.npy does not match its checksum"):
        artifact.load(path)
    artifact.load(path, hash_arrays=False)  # a command trusts the arrays' headers and sizes
    layers.write_bytes(bytes(blob[: len(blob) // 2]))
    with pytest.raises(artifact.ArtifactError, match="layers.npy is unreadable"):
        artifact.load(path, hash_arrays=False)

    path = artifact.save(tmp_path / "model", model, data)
    manifest = json.loads((path / "manifest.json").read_text())
    (path / "manifest.json").write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(artifact.ArtifactError, match="format 99"):
        artifact.load(path)

    path = artifact.save(tmp_path / "model", model, data)
    config = json.loads((path / "config.json").read_text())
    config["model"]["embedding_dim"] += 1
    (path / "config.json").write_text(json.dumps(config))
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["sha256"]["config.json"] = artifact._sha256(path / "config.json")
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(artifact.ArtifactError, match="do not fit"):
        artifact.load(path).load_model()


def test_scores_on_the_sample_are_those_recorded_before_the_kernel_was_shared() -> None:
    """Scores of a seeded model on the sample, recorded (``tests/data/sample_scores.npz``) with
    the code before the model, serving and masking shared one kernel and the unused experiment
    flags went: the same training gives the same scores, so the recorded figures stand."""
    recorded = np.load(DATA / "sample_scores.npz")
    sample = GraphData.from_csv_dir(SAMPLE)
    assert sample.fingerprint() == str(recorded["fingerprint"])
    config = TrainConfig(embedding_dim=32, batch_size=256, max_epochs=6, eval_every=3,
                         validation_fraction=0.1, seed=0, max_steps_per_epoch=24,
                         history_exponent=0.5)  # as recorded
    model, _ = train(sample, config)
    scores = model.score_users(recorded["users"]).numpy()
    np.testing.assert_allclose(scores, recorded["scores"], rtol=1e-4, atol=1e-5)
    served = model.propagated()
    for row, user in enumerate(recorded["users"]):
        np.testing.assert_allclose(served.scores(model.history(int(user)).numpy()),
                                   recorded["scores"][row], rtol=1e-4, atol=1e-5)


def test_propagation_on_pyg_gives_the_recorded_layers_scores_and_gradients() -> None:
    """Layers, scores and gradients of a seeded model on the sample, recorded
    (``tests/data/sample_propagation.npz``) with the hand-written sparse propagation that PyG's
    ``LGConv`` per relation and ``gcn_norm`` replaced: the same numbers, relation weights
    (not all 1) and their gradients included."""
    recorded = np.load(DATA / "sample_propagation.npz")
    sample = GraphData.from_csv_dir(SAMPLE)
    assert sample.fingerprint() == str(recorded["fingerprint"])
    torch.manual_seed(0)
    model = KGRec.from_data(sample, embedding_dim=4)
    with torch.no_grad():
        model.relation_logit.copy_(torch.linspace(-1.0, 1.0, len(model.relations)))
    users = torch.from_numpy(recorded["users"])
    targets = torch.stack([torch.arange(len(users)), (users * 37) % sample.num_items])
    layers = torch.stack(model.layers(model.embedding))
    scores = model(users)
    full_softmax_loss(scores, targets).backward()
    tolerance = dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layers.detach().numpy(), recorded["layers"], **tolerance)
    np.testing.assert_allclose(scores.detach().numpy(), recorded["scores"], **tolerance)
    np.testing.assert_allclose(model.embedding.grad.numpy(), recorded["grad_embedding"],
                               **tolerance)
    np.testing.assert_allclose(model.relation_logit.grad.numpy(), recorded["grad_relation"],
                               **tolerance)
    assert (model.relation_logit.grad.abs() > 0).all()


def test_the_propagation_is_the_mean_of_the_summed_relations_with_its_gradients(
        data: GraphData) -> None:
    r"""A layer is one product whose entries carry their relation's weight: the propagation's
    mean equals :math:`\frac{1}{L+1}\sum_l H^{(l)}` with :math:`H^{(l+1)} = \sum_r w_r
    \hat A_r H^{(l)}` summed relation by relation, and its hand-written backward passes
    torch's numerical check (the relation weights' gradient, taken as one sampled product a
    layer, included), with and without rows folded in, for the first rows only; a workspace
    used again gives the same numbers."""
    from graphrec.model.kgrec import Workspace, _MeanPropagation

    model = KGRec.from_data(data, embedding_dim=3).double()
    graph = model._graph(torch.device("cpu"))
    torch.manual_seed(0)
    x = torch.randn(model.num_nodes, 3, dtype=torch.float64, requires_grad=True)
    weights = torch.rand(len(model.relations), dtype=torch.float64) + 0.5
    weights.requires_grad_()
    folded = torch.zeros(model.num_nodes, dtype=torch.bool)
    folded[[0, 3, 7]] = True
    rows = model.num_items

    def reference(h: torch.Tensor, w: torch.Tensor, fold: torch.Tensor | None) -> torch.Tensor:
        layers = [h]
        for _ in range(model.num_layers):
            step = torch.zeros_like(h)
            for r in range(len(model.relations)):
                mask = model.graph_type == r
                dense = torch.zeros(model.num_nodes, model.num_nodes, dtype=torch.float64)
                dense.index_put_((model.graph_row[mask], model.graph_col[mask]),
                                 model.graph_value[mask], accumulate=True)
                step = step + w[r] * dense @ layers[-1]
            layers.append(step)
        if fold is not None:
            layers[0] = torch.where(fold[:, None], layers[1], layers[0])
        return torch.stack(layers).mean(0)[:rows]

    workspace = Workspace()
    for fold in (None, folded):
        for _ in range(2):
            got = _MeanPropagation.apply(x, weights, graph, model.num_layers, rows, fold,
                                         workspace)
            torch.testing.assert_close(got, reference(x, weights, fold))
        assert torch.autograd.gradcheck(
            lambda h, w, fold=fold: _MeanPropagation.apply(h, w, graph, model.num_layers, rows,
                                                           fold, Workspace()),
            (x, weights))


def test_beats_popularity_on_the_sample() -> None:
    from graphrec.evaluation.baselines.popularity import Popularity

    sample = GraphData.from_csv_dir(SAMPLE)
    config = dataclasses.replace(FAST, embedding_dim=32, batch_size=256, max_epochs=8,
                                 eval_every=4, validation_fraction=0.1)
    ours = evaluate(KGRecRecommender(config).fit(sample), sample)["ndcg@10"]
    popular = evaluate(Popularity().fit(sample), sample)["ndcg@10"]
    assert ours >= 1.5 * popular, (ours, popular)


def test_in_batch_loss_is_the_full_softmax_when_every_item_is_a_candidate(
        data: GraphData) -> None:
    torch.manual_seed(0)
    model = KGRec.from_data(data, embedding_dim=8)
    users = torch.arange(6)
    history = model.history_matrix(users)
    items = torch.arange(data.num_items)
    targets = torch.stack([items % len(users), items])
    full = full_softmax_loss(model(users, history), targets)
    uniform = torch.zeros(data.num_items)
    assert torch.allclose(model.in_batch_loss(history, targets, uniform), full, atol=1e-6)
    part = targets[:, ::3]  # fewer candidates than items: a smaller normaliser
    assert model.in_batch_loss(history, part, uniform) < full_softmax_loss(model(users, history),
                                                                           part)
    popular = torch.log(1 + items.float())  # the correction lifts the rare items' logits
    assert not torch.allclose(model.in_batch_loss(history, targets, popular), full)


def test_the_sampled_softmax_in_one_buffer_gives_autograds_loss_and_gradients() -> None:
    """Against the softmax written with ``logsumexp``, on a batch whose rows hold several
    targets, one row none and a candidate twice a target; the buffer, reused by a smaller
    batch and then a larger one, changes nothing."""
    from graphrec.model.kgrec import Workspace, _BufferedSoftmax

    def reference(z, rows_of, log_q, rows, position):
        logits = z @ rows_of.T - log_q
        return (torch.logsumexp(logits, 1)[rows] - logits[rows, position]).mean()

    generator = torch.Generator().manual_seed(0)
    workspace = Workspace()
    for users, candidates in ((5, 9), (3, 4), (7, 11)):
        z = torch.randn(users, 6, dtype=torch.float64, generator=generator, requires_grad=True)
        rows_of = torch.randn(candidates, 6, dtype=torch.float64, generator=generator,
                              requires_grad=True)
        log_q = torch.rand(candidates, dtype=torch.float64, generator=generator)
        rows = torch.tensor([0, 0, 1, 2, 2, 2] + [users - 1] * 2)
        position = torch.tensor([0, 3, 1, 1, 2, 3, 0, 0])
        expected = reference(z, rows_of, log_q, rows, position)
        want = torch.autograd.grad(expected, (z, rows_of))
        got = _BufferedSoftmax.apply(z, rows_of, log_q, rows, position, workspace)
        torch.testing.assert_close(got, expected)
        for mine, theirs in zip(torch.autograd.grad(got, (z, rows_of)), want):
            torch.testing.assert_close(mine, theirs)
    assert workspace._buffers["logits"].numel() == 7 * 11  # grown once too small, else reused
    loss = _BufferedSoftmax.apply(z, rows_of, log_q, rows, position, workspace)
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="runs once"):  # the buffer is the gradient now
        loss.backward()


def test_the_full_softmax_in_one_buffer_is_the_loss_with_its_gradient(data: GraphData
                                                                      ) -> None:
    torch.manual_seed(0)
    model = KGRec.from_data(data, embedding_dim=8)
    users = torch.arange(9)
    history = model.history_matrix(users)
    targets = torch.stack([torch.arange(30) % 7, torch.arange(30) * 3 % data.num_items])
    rows = model.item_representations().detach()
    mine, theirs = rows.clone().requires_grad_(), rows.clone().requires_grad_()
    got = model.full_loss(history, targets, mine)
    expected = full_softmax_loss(model.score(history, theirs), targets)
    torch.testing.assert_close(got, expected)
    got.backward()
    expected.backward()
    torch.testing.assert_close(mine.grad, theirs.grad)


def test_the_sampling_weight_follows_the_mixture(data: GraphData) -> None:
    """Without uniform negatives the correction is the log of the popularity up to a constant
    (the loss does not change); uniform negatives lift the rare items' chance, so the
    correction spreads less; strength 0 removes it."""
    from graphrec.model.train import log_sampling_weight

    torch.manual_seed(0)
    model = KGRec.from_data(data, embedding_dim=8)
    users = torch.arange(6)
    history = model.history_matrix(users)
    items = torch.arange(data.num_items)
    targets = torch.stack([items % len(users), items])[:, ::2]
    popularity = (1 + items.float()) / (1 + items.float()).sum()
    in_batch = log_sampling_weight(popularity, 50, TrainConfig(
        sampled_softmax=True, sampled_negatives=0, sampled_correction=1))
    assert torch.allclose(in_batch - torch.log(popularity), torch.full_like(popularity,
                                                                           math.log(50)))
    assert torch.allclose(model.in_batch_loss(history, targets, in_batch),
                          model.in_batch_loss(history, targets, torch.log(popularity)))
    mixed = log_sampling_weight(popularity, 50, TrainConfig(sampled_negatives=500,
                                                            sampled_correction=1))
    assert (mixed.max() - mixed.min()) < (in_batch.max() - in_batch.min())
    assert torch.equal(log_sampling_weight(popularity, 50, TrainConfig(sampled_correction=0)),
                       torch.zeros_like(popularity))


def test_sampled_softmax_keeps_the_quality_on_the_sample() -> None:
    sample = GraphData.from_csv_dir(SAMPLE)
    config = dataclasses.replace(FAST, embedding_dim=32, batch_size=256, max_epochs=8,
                                 eval_every=4, validation_fraction=0.1)
    full = evaluate(KGRecRecommender(config).fit(sample), sample)["ndcg@10"]
    sampled_config = dataclasses.replace(config, sampled_softmax=True)
    sampled = evaluate(KGRecRecommender(sampled_config).fit(sample), sample)["ndcg@10"]
    assert sampled >= 0.95 * full, (sampled, full)


def test_batches_sharing_a_step_keep_the_quality_on_the_sample() -> None:
    """24 batches an epoch in 4 steps of 6 (one propagation each) against a step per batch:
    the epochs that validation chooses make up for the fewer steps (given room for them: 8
    epochs were enough at a history exponent of 0.5, whose softmax trains faster at first)."""
    sample = GraphData.from_csv_dir(SAMPLE)
    config = dataclasses.replace(FAST, embedding_dim=32, batch_size=64, max_epochs=12,
                                 eval_every=4, validation_fraction=0.1)
    each = KGRecRecommender(dataclasses.replace(config, max_steps_per_epoch=24)).fit(sample)
    shared = KGRecRecommender(dataclasses.replace(config, max_steps_per_epoch=4)).fit(sample)
    assert each.fit_info["epochs"] <= shared.fit_info["epochs"]
    assert evaluate(shared, sample)["ndcg@10"] >= 0.95 * evaluate(each, sample)["ndcg@10"]


def test_the_softmax_is_chosen_by_the_size_of_the_catalogue(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Left to decide, training takes the full softmax below ``sampled_softmax_items`` items and
    the sampled one from there up (the full one costs users × items an epoch); a softmax chosen
    explicitly stays, and the fit says which one it took."""
    assert TrainConfig().for_catalogue(12_101).sampled_softmax is False  # Beauty
    assert TrainConfig().for_catalogue(23_033).sampled_softmax is True  # Clothing
    assert TrainConfig(sampled_softmax=False).for_catalogue(10**6).sampled_softmax is False
    assert TrainConfig(sampled_softmax=True).for_catalogue(10).sampled_softmax is True
    sample = GraphData.from_csv_dir(SAMPLE)
    sampled_losses: list[int] = []
    real = KGRec.in_batch_loss

    def counted(self: KGRec, *args: Any, **kwargs: Any) -> torch.Tensor:
        sampled_losses.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(KGRec, "in_batch_loss", counted)
    short = dataclasses.replace(FAST, embedding_dim=8)
    full = KGRecRecommender(short, epochs=1).fit(sample)
    assert not sampled_losses and full.fit_info["sampled_softmax"] is False
    at_size = dataclasses.replace(short, sampled_softmax_items=sample.num_items)
    sampled = KGRecRecommender(at_size, epochs=1).fit(sample)
    assert sampled_losses and sampled.fit_info["sampled_softmax"] is True


def test_propagation_prints_no_beta_warning() -> None:
    """Each gunicorn worker and command builds the graph once: torch's one-per-process warnings
    about CSR support and unchecked sparse invariants must not reach its output (a fresh
    process, since each warns only once)."""
    import subprocess
    import sys

    code = ("from tests.test_model import paired_catalogue\n"
            "from graphrec.model.kgrec import KGRec\n"
            "KGRec.from_data(paired_catalogue(), embedding_dim=8).score_users([0])\n")
    run = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True,
                         text=True, check=True)
    assert "beta" not in run.stderr and "invariant" not in run.stderr


def test_fold_in_dropout_scores_the_marked_items_from_their_neighbours(
        trained: tuple[KGRec, object]) -> None:
    model, _ = trained
    marked = torch.zeros(model.num_items, dtype=torch.bool)
    marked[[0, 5]] = True
    with torch.no_grad():
        layers = model.layers(model.embedding)
        plain, folded = model.item_representations(), model.item_representations(marked)
    # a marked item's layer 0 is what its neighbours send it (foldin.fold_in's row), the
    # later layers as they were; every other item is untouched
    expected = (2 * layers[1][[0, 5]] + layers[2][[0, 5]]) / 3
    assert torch.allclose(folded[[0, 5]], expected, atol=1e-6)
    assert not torch.allclose(folded[[0, 5]], plain[[0, 5]])
    assert torch.equal(folded[~marked], plain[~marked])


@pytest.mark.parametrize("option, default_value, other", [
    ("foldin_dropout", 0.0, 0.3), ("relation_weight_init", 1.0, 2.0),
    ("history_exponent", 0.75, 0.5)])
def test_a_training_option_at_its_default_trains_todays_model_and_only_then(
        data: GraphData, option: str, default_value: float, other: float) -> None:
    """The option at its default trains today's model exactly; another value trains another
    one (a relation-weight start above 1 keeps the weights above today's: Adam moves a logit by
    about ``lr`` a step)."""
    config = dataclasses.replace(FAST, max_epochs=4, eval_every=2)
    default, _ = train(data, config)
    same, _ = train(data, dataclasses.replace(config, **{option: default_value}))
    changed, log = train(data, dataclasses.replace(config, **{option: other}))
    users = np.arange(10)
    assert torch.equal(default.score_users(users), same.score_users(users))
    assert torch.equal(default.relation_weights(), same.relation_weights())
    assert not torch.allclose(default.score_users(users), changed.score_users(users))
    assert log.best_epoch > 0 and np.isfinite([r.loss for r in log.epochs]).all()
    if option == "relation_weight_init":
        assert (changed.relation_weights() > default.relation_weights()).all()


def test_the_fit_says_which_history_exponent_trained_the_model(data: GraphData) -> None:
    """Results files compare rows trained at different exponents: each row says its own."""
    config = dataclasses.replace(FAST, max_epochs=2, eval_every=2, history_exponent=0.6)
    fitted = KGRecRecommender(config).fit(data)
    assert fitted.fit_info["history_exponent"] == 0.6
    assert fitted.model is not None and fitted.model.history_exponent == 0.6


@pytest.mark.parametrize("start", [1.0, 2.0, 0.25])
def test_relation_weights_start_at_relation_weight_init(tmp_path, start: float) -> None:
    """Every relation's weight starts at ``relation_weight_init`` on the sample, the embedding
    drawn as before; the artifact keeps the start, in the model's and the training's config."""
    sample = GraphData.from_csv_dir(SAMPLE)
    config = TrainConfig(embedding_dim=8, relation_weight_init=start)
    torch.manual_seed(0)
    model = config.build(sample)
    torch.manual_seed(0)
    default = TrainConfig(embedding_dim=8).build(sample)
    assert len(model.relations) == 6
    assert model.relation_weights().tolist() == pytest.approx([start] * 6, rel=1e-6)
    assert torch.equal(model.embedding, default.embedding)
    if start == 1.0:  # today's start, bit for bit: a zero logit
        assert torch.equal(model.relation_logit, torch.zeros(6))
    path = artifact.save(tmp_path / "model", model, sample, dataclasses.asdict(config))
    loaded = artifact.load(path)
    assert loaded.config["model"]["relation_weight_init"] == start
    assert loaded.config["train"]["relation_weight_init"] == start
    assert loaded.load_model().relation_weight_init == start


def test_relation_weight_init_must_be_positive() -> None:
    sample = GraphData.from_csv_dir(SAMPLE)
    for start in (0.0, -1.0):
        with pytest.raises(ValueError, match="relation_weight_init must be above 0"):
            TrainConfig(relation_weight_init=start)
        with pytest.raises(ValueError, match="relation_weight_init must be positive"):
            KGRec.from_data(sample, relation_weight_init=start)
