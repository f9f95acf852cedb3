"""One hopwise model, trained for a fixed number of epochs and evaluated by full ranking.

Runs inside the peers' environment (``benchmarks/.peers-venv``, made by ``benchmarks/peers.py``,
which calls this file): it imports hopwise and nothing of graphrec. Writes one JSON row: the
four metrics at 10 in percent, fit and evaluation seconds, epochs, versions and the protocol;
and beside it (``*.top10.json``) every evaluated user's top 10 as hopwise ranked them, and for
PGPR and CAFE (``*.paths.json``) the path that explains each item of those lists.

PGPR starts from the embeddings of ``TransE``, CAFE from those of ``TransE-r``
(:data:`REVERSED_TRANSE`: TransE on the graph CAFE reads, each relation with its reverse).

KGAT builds its graph with DGL, which has no release for this torch on PyPI; here its
per-relation, row-normalised adjacency is built with scipy from the same triples instead
(:class:`KGAT`), which is what DGL's calls compute; nothing else of the model changes. KGIN
imports ``torch_scatter`` (no PyPI wheel either) for one function, given here with torch's own
``index_reduce_`` (:func:`scatter_mean`).

    peers_hopwise.py --model KGAT --epochs 10 --data-path DIR --dataset beauty --out row.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import types
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from hopwise.config import Config
from hopwise.data import create_dataset, data_preparation
from hopwise.model.knowledge_aware_recommender.cafe import CAFE as HopwiseCAFE
from hopwise.model.knowledge_aware_recommender.kgat import KGAT as HopwiseKGAT
from hopwise.model.knowledge_aware_recommender.pgpr import PGPR as HopwisePGPR
from hopwise.utils import get_model, get_trainer, init_logger, init_seed

METRICS = ("recall", "ndcg", "hit", "precision")
UI = "[UI-Relation]"
PATH_MODELS = ("PGPR", "CAFE", "TPRec")
#: The pretrained embeddings PGPR and CAFE read (``preload_weight``), written by TransE.
EMBEDDINGS = {"useremb": ("user_embedding_id", "user_embedding", "uid_field"),
              "entityemb": ("entity_embedding_id", "entity_embedding", "entity_field"),
              "relationemb": ("relation_embedding_id", "relation_embedding", "relation_field")}
#: TransE on the graph with each relation's reverse added (``kg_reverse_r``, which CAFE's
#: settings turn on): the embeddings CAFE starts from, ``--models TransE-r:N CAFE:N``.
REVERSED_TRANSE = "TransE-r"
#: The folder, inside the dataset's, of TransE-r's embeddings: the files' names are fixed
#: (``NAME.useremb`` ...) and PGPR reads TransE's, so CAFE reads these from a folder of their own
#: (hopwise's ``preload_weight_path``).
REVERSED_FOLDER = "reversed"


def scatter_mean(src: torch.Tensor, index: torch.Tensor, dim: int = 0,
                 dim_size: int | None = None) -> torch.Tensor:
    """``torch_scatter.scatter_mean`` along dimension 0 (KGIN's one use) with torch's own
    ``index_reduce_``: rows of ``src`` averaged per ``index``, rows no index names left 0."""
    if dim != 0:
        raise NotImplementedError("scatter_mean: only dim=0, as KGIN calls it")
    size = int(index.max()) + 1 if dim_size is None else dim_size
    out = src.new_zeros((size, *src.shape[1:]))
    return out.index_reduce_(0, index, src, "mean", include_self=False)


def provide_torch_scatter() -> None:
    """KGIN imports ``torch_scatter``, which has no wheel for this torch on PyPI (PyG builds
    them elsewhere); :func:`scatter_mean` stands in for the one function it uses."""
    if "torch_scatter" not in sys.modules:
        module = types.ModuleType("torch_scatter")
        module.scatter_mean = scatter_mean  # type: ignore[attr-defined]
        sys.modules["torch_scatter"] = module


class _CooInsteadOfDgl:
    """The dataset as KGAT sees it, with ``ckg_graph(form="dgl")`` answered by a scipy COO
    matrix whose values are the relation ids (the only thing KGAT reads from the DGL graph)."""

    def __init__(self, dataset: Any) -> None:
        self._dataset = dataset

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dataset, name)

    def ckg_graph(self, form: str = "coo", value_field: str | None = None) -> Any:
        return self._dataset.ckg_graph(form="coo" if form == "dgl" else form,
                                       value_field=value_field)


class KGAT(HopwiseKGAT):
    """hopwise's KGAT with its attention matrix initialised by scipy instead of DGL."""

    def __init__(self, config: Config, dataset: Any) -> None:
        super().__init__(config, _CooInsteadOfDgl(dataset))

    def init_graph(self) -> torch.Tensor:
        """Sum over relations of each relation's adjacency, rows normalised to 1 (D⁻¹A)."""
        ckg: sp.coo_matrix = self.ckg
        size = self.n_users + self.n_entities
        total = sp.csr_matrix((size, size))
        for relation in range(1, self.n_relations):
            mask = ckg.data == relation
            adjacency = sp.csr_matrix(
                (np.ones(int(mask.sum())), (ckg.row[mask], ckg.col[mask])), shape=(size, size))
            rowsum = np.asarray(adjacency.sum(axis=1)).ravel()
            inverse = np.divide(1.0, rowsum, out=np.zeros_like(rowsum), where=rowsum > 0)
            total = total + sp.diags(inverse) @ adjacency
        coo = total.tocoo()
        indices = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
        values = torch.from_numpy(coo.data.astype(np.float32))
        return torch.sparse_coo_tensor(indices, values, self.matrix_size).coalesce().to(
            self.device)


class PGPR(HopwisePGPR):
    """hopwise's PGPR with each user's scores on that user's row and each path on its item.

    hopwise's ``PGPR.collect_scores`` has two faults, both fixed here by collecting the scores
    again from the same paths (the best path of an item is still the most probable one, a list
    is still ranked by the TransE score, and filled from TransE's ranking when paths give fewer
    than ``k`` items; the model and the beam search are untouched):

    - it fills row ``i`` for the ``i``-th user *that has a valid path*
      (``enumerate(best_pred_paths)``): one user of the batch without a path shifts every later
      user's scores onto the wrong row and leaves that user with no scores at all;
    - when paths give fewer than ``k`` items, it appends the fillers to the list, reverses the
      list and the paths, and zips the two: the fillers take the paths of the path items, and the
      best path items, left past the shorter list's end, get no score (on the bundled sample,
      558 of 1,527 users: a user with 5 path items was ranked on 5 fillers alone).

    Two more changes leave the model as it is: the next actions of a node with many neighbours
    come from arrays (:meth:`_get_actions`), and the action dropout's generator is seeded by
    ``--seed`` (hopwise draws it from the system's entropy, so training was not repeatable).
    """

    #: Users of the evaluated batches with no valid path (the rows hopwise would have shifted).
    users_without_path = 0

    def __init__(self, config: Config, dataset: Any) -> None:
        super().__init__(config, dataset)
        # hopwise makes its action dropout's generator from the system's entropy (as CAFE's)
        self.rng = np.random.default_rng(config["seed"])
        self._neighbours: dict[tuple[str, int], list[tuple[Any, str, np.ndarray]]] = {}

    def _relations_of(self, node_type: str, node: int) -> list[tuple[Any, str, np.ndarray]]:
        """``(relation, next node type, next node ids)`` of a node, in ``graph_dict``'s order,
        the ids as an array (made once a node)."""
        key = (node_type, node)
        if (found := self._neighbours.get(key)) is None:
            relations = self.graph_dict[node_type].get(node, {})
            found = [(relation, self._get_next_node_type(node_type, relation),
                      np.asarray(ids, dtype=np.int64)) for relation, ids in relations.items()]
            self._neighbours[key] = found
        return found

    @staticmethod
    def _dots(table: np.ndarray, rows: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """``table[rows] @ vector``, a row listed twice given one value twice; past a tenth of
        the table, all its rows' products then picked (one pass over the table instead of a copy
        of the rows)."""
        if len(rows) * 10 > len(table):
            return (table @ vector)[rows]
        unique, where = np.unique(rows, return_inverse=True)
        return (table[unique] @ vector)[where]

    def _get_actions(self, path: list[tuple[Any, str, Any]], done: bool) -> list[Any]:
        """hopwise's ``_get_actions`` (the same actions, in the same order), with the neighbours
        filtered and scored an array at a time instead of a Python step and a dot product each.

        That per-neighbour loop is where PGPR's time went on a full catalogue: its beam search
        and its training walk every node of a path, and a category or a popular item has
        thousands of neighbours (Beauty's evaluation took 3,472 s, 155 ms a user)."""
        _, node_type, node = path[-1]
        if done:
            return [("self_loop", node)]
        if isinstance(node, torch.Tensor):
            node = node.item()
        relations_of = self._relations_of(node_type, node)
        if sum(len(ids) for _, _, ids in relations_of) <= self.max_acts:
            return super()._get_actions(path, done)  # no trimming: hopwise's loop is short
        actions: list[Any] = [("self_loop", path[-1][2])]
        visited: dict[str, list[int]] = {}
        for _, kind, visited_id in path:
            visited.setdefault(kind, []).append(int(visited_id))
        relations, ids = [], []
        for relation, kind, neighbours in relations_of:
            if kind in visited:
                neighbours = neighbours[~np.isin(neighbours, visited[kind])]
            relations.append(np.full(len(neighbours), relation, dtype=object))
            ids.append(neighbours)
        total = sum(len(part) for part in ids)
        if total == 0:
            return actions
        if total <= self.max_acts:
            candidates = sorted((relation, int(n)) for rel, part in zip(relations, ids)
                                for relation, n in zip(rel, part))
            return actions + candidates
        flat_relations = np.concatenate(relations)
        flat_ids = np.concatenate(ids)
        to_user = np.concatenate([np.full(len(part), kind == "user")
                                  for (_, kind, _), part in zip(relations_of, ids)])
        to_item = ~to_user & (flat_ids < self.n_items)
        through = ~to_user & ~to_item  # brands, categories: scored through their relation
        # every item is scored in one product, so that an item two relations reach gets one
        # score twice, a tie as in hopwise, which the sort breaks by position as hopwise's does
        user = self.user_embedding[path[0][-1]]
        item_vector = user + self.relation_embedding[self.ui_relation_id]
        score = np.empty(total)
        score[to_user] = self._dots(self.user_embedding, flat_ids[to_user], user)
        score[to_item] = self._dots(self.entity_embedding, flat_ids[to_item], item_vector)
        for relation, kind, _ in relations_of:
            other = through & (flat_relations == relation)
            if kind != "user" and other.any():
                score[other] = self._dots(self.entity_embedding, flat_ids[other],
                                          item_vector + self.relation_embedding[relation])
        chosen = np.argpartition(score, -self.max_acts)[-self.max_acts:]
        least = score[chosen].min()
        if self.fix_scores_sorting_bug or (score == least).sum() > (score[chosen] == least).sum():
            # the order counts, or ties cross the cut: only hopwise's own sort picks as it does
            chosen = np.argsort(score)[-self.max_acts:]
        candidates = [(flat_relations[i], int(flat_ids[i])) for i in chosen]
        return actions + (candidates[::-1] if self.fix_scores_sorting_bug else sorted(candidates))

    def collect_scores(self, users: torch.Tensor, paths: Any, probs: Any) -> tuple[Any, Any]:
        k = max(self.topk)
        rows = {int(user): row for row, user in enumerate(users.tolist())}
        # TransE's scores of the batch's users only (hopwise scores every user for every batch:
        # on Beauty 22,363 x 12,101 dot products a batch, the most of the evaluation's time)
        batch = np.dot(self.user_embedding[list(rows)]
                       + self.relation_embedding[self.ui_relation_id],
                       self.entity_embedding[: self.n_items].T)
        transe = {user: batch[row] for user, row in rows.items()}
        best: dict[int, dict[int, tuple[float, Any]]] = {user: {} for user in rows}
        for path, prob in zip(paths, probs):
            if "self_loop" in [node[0] for node in path[1:]] or path[-1][1] != "entity":
                continue
            user, item = int(path[0][2]), int(path[-1][2])
            if user not in best or item >= self.n_items or item in self.positives[user]:
                continue
            probability = float(np.prod(prob))
            if item not in best[user] or probability > best[user][item][0]:
                best[user][item] = (probability, path)
        results = torch.full((len(rows), self.n_items), -torch.inf)
        collected = []
        for user, row in rows.items():
            ranked = sorted(best[user], key=lambda item: (transe[user][item],
                                                          best[user][item][0]), reverse=True)[:k]
            for item in ranked:
                results[row, item] = float(transe[user][item])
                collected.append([user, item, transe[user][item], best[user][item][1]])
            if not ranked:
                PGPR.users_without_path += 1
            if len(ranked) < k:  # TransE's best items the user did not buy, not [PAD], not listed
                order = np.argsort(-transe[user])
                unseen = ~np.isin(order, [0, *ranked, *np.asarray(self.positives[user])])
                fill = order[unseen][: k - len(ranked)]
                results[row, fill] = torch.from_numpy(transe[user][fill].astype(np.float32))
        return results, collected


class CAFE(HopwiseCAFE):
    """hopwise's CAFE with its random generator seeded by ``--seed``: hopwise makes it with
    ``np.random.default_rng()``, from the system's entropy, so the paths it samples to train on
    and the order it runs its programs in (and so the figures) changed from run to run whatever
    the seed; nothing else of the model changes."""

    def __init__(self, config: Config, dataset: Any) -> None:
        super().__init__(config, dataset)
        self.rng = np.random.default_rng(config["seed"])


def path_constraint(dataset: Any) -> list[list[list[str | None]]]:
    """PGPR's metapaths here: user → bought item → (a co-buyer, or any relation of the
    exported graph, read from the dataset) → item; hopwise's format, ``[relation, node type]``
    per hop."""
    relations = [str(token) for token in dataset.field2id_token[dataset.relation_field]
                 if token not in (UI, "[PAD]") and not token.endswith("_r")]
    start: list[list[str | None]] = [[None, "user"], [UI, "entity"]]
    return ([start + [[UI, "entity"], [UI, "entity"]]]
            + [start + [[relation, "entity"], [relation, "entity"]] for relation in relations])


def cafe_path_constraint(dataset: Any) -> list[list[list[str | None]]]:
    """CAFE's metapaths: PGPR's (:func:`path_constraint`) less the co-buyer one, which hopwise's
    CAFE cannot walk: its graph has no edge from an item to its buyers
    (``ckg_dict_graph(ui_bidirectional=False)``) and its user-item module maps a user to an item
    only, so that metapath gives no path and only spends the training's sampling trials."""
    return [path for path in path_constraint(dataset) if path[2][0] != UI]


def export_embeddings(model: Any, dataset: Any, folder: Path, name: str) -> None:
    """TransE's user, entity and relation embeddings as the atomic files PGPR and CAFE preload
    (``NAME.useremb`` ...), rows keyed by hopwise's own tokens (so their order cannot go wrong)."""
    weights = {"useremb": model.user_embedding.weight, "entityemb": model.entity_embedding.weight,
               "relationemb": model.relation_embedding.weight}
    for suffix, (id_field, value_field, field_attr) in EMBEDDINGS.items():
        matrix = weights[suffix].detach().cpu().numpy()
        field = getattr(dataset, field_attr)
        tokens = dataset.id2token(field, np.arange(1, len(matrix)))
        with (folder / f"{name}.{suffix}").open("w", encoding="utf-8") as out:
            out.write(f"{id_field}:token\t{value_field}:float_seq\n")
            for token, vector in zip(tokens, matrix[1:]):
                out.write(f"{token}\t{' '.join(f'{v:.6g}' for v in vector)}\n")


def embeddings_folder(args: argparse.Namespace, model: str) -> Path:
    """Where ``model``'s TransE embeddings are written (TransE, TransE-r) or read (PGPR, CAFE)."""
    folder = Path(args.data_path) / args.dataset
    return folder / REVERSED_FOLDER if model in (REVERSED_TRANSE, "CAFE") else folder


def config_dict(args: argparse.Namespace) -> dict[str, Any]:
    """hopwise's settings for the papers' protocol on the exported split (see peers.py).

    Validation runs once, after the last epoch (``eval_step`` = ``epochs``), not never
    (``eval_step: 0``): hopwise's ``KGTrainer.fit`` (CKE, KGCN, KGIN, ...) ends on an unbound
    ``best_valid`` when no validation ever ran. The validation file is one train pair, so that
    evaluation selects nothing and the model tested is the one after the last epoch.

    TransE-r reads the graph as CAFE does (``kg_reverse_r``), and CAFE reads its embeddings from
    their folder (:func:`embeddings_folder`)."""
    settings: dict[str, Any] = {
        "data_path": args.data_path, "benchmark_filename": ["train", "valid", "test"],
        "load_col": {"inter": ["user_id", "item_id"], "item": ["item_id"],
                     "kg": ["head_id", "relation_id", "tail_id"],
                     "link": ["item_id", "entity_id"]},
        "eval_args": {"group_by": "user", "order": "RO", "mode": "full"},
        "metrics": ["Recall", "NDCG", "Hit", "Precision"], "topk": [10],
        "valid_metric": "NDCG@10", "metric_decimal_place": 6,
        "epochs": args.epochs, "eval_step": args.epochs, "stopping_step": args.epochs,
        "seed": args.seed, "reproducibility": True, "use_gpu": False, "worker": 0,
        "show_progress": False, "log_wandb": False, "checkpoint_dir": str(args.work / "saved"),
        "eval_batch_size": args.eval_batch_size, "state": "INFO",
    }
    if args.model == REVERSED_TRANSE:
        settings["kg_reverse_r"] = True
    if args.model == "CAFE":
        settings["preload_weight_path"] = str(embeddings_folder(args, "CAFE"))
    return settings


def capture_top10(trainer: Any, lists: dict[str, list[str]], dataset: Any,
                  paths: list[Any] | None = None) -> None:
    """Record each evaluated user's top 10 (after hopwise's masking) into ``lists``, as tokens,
    so that graphrec's own metric code can score the same lists (peers.py does); and into
    ``paths``, for a path-reasoning model, the path of each listed item that has one (hopwise's
    ``(relation, node type, node id)`` hops, the item last).

    An item scored ``-inf`` is not listed: it is masked, or a path model reached no path to it
    (CAFE scores only the items its paths reach, and fills nothing), and ``topk`` would pick such
    items among ties at random, train items included; such a user's list is shorter."""
    evaluate_batch = trainer._full_sort_batch_eval

    def recording(*args: Any, **kwargs: Any) -> Any:
        out = evaluate_batch(*args, **kwargs)
        interaction, scores = out[0], out[1]
        explained: list[Any] = []
        if isinstance(scores, tuple):  # path models: (scores, [user, item, score, path] ...)
            scores, explained = scores
        uids = interaction[dataset.uid_field].cpu().numpy()
        values, top = torch.topk(scores, min(10, scores.shape[1]), dim=1)
        kept = torch.isfinite(values).cpu().numpy()
        top = top.cpu().numpy()
        for uid, row, finite in zip(uids, top, kept):
            user = str(dataset.id2token(dataset.uid_field, int(uid)))
            lists[user] = [str(item) for item in dataset.id2token(dataset.iid_field, row[finite])]
        if paths is not None:
            listed = {(int(uid), int(item)) for uid, row, finite in zip(uids, top, kept)
                      for item in row[finite]}
            paths.extend(path for user, item, _, path in explained
                         if (int(user), int(item)) in listed)
        return out

    trainer._full_sort_batch_eval = recording


def path_tokens(paths: list[list[tuple[Any, str, int]]], dataset: Any
                ) -> dict[str, list[list[list[str]]]]:
    """A path model's paths by user token, each a list of ``[relation, node type, token]`` hops (the
    first ``["self_loop", "user", user]``): the tokens are those of graphrec's export, so that
    peers.py can read each node as graphrec's (a user, an item, ``b<brand>``, ``c<category>``)."""
    relations = dataset.field2id_token[dataset.relation_field]
    fields = {"user": dataset.uid_field, "entity": dataset.entity_field}
    out: dict[str, list[list[list[str]]]] = {}
    for path in paths:
        hops = [[relation if isinstance(relation, str) else str(relations[int(relation)]),
                 kind, str(dataset.id2token(fields[kind], int(node)))]
                for relation, kind, node in path]
        out.setdefault(hops[0][2], []).append(hops)
    return out


def _rec_result(result: dict[str, Any]) -> dict[str, float]:
    """The ranking metrics from hopwise's result (KG models nest them under a task)."""
    for value in result.values():
        if isinstance(value, dict):
            return value
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--data-path", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-batch-size", type=int, default=256)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    provide_torch_scatter()

    ours = {"KGAT": KGAT, "PGPR": PGPR, "CAFE": CAFE, REVERSED_TRANSE: get_model("TransE")}
    model_class = ours.get(args.model) or get_model(args.model)
    config = Config(model=model_class, dataset=args.dataset, config_dict=config_dict(args))
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    started = time.perf_counter()
    dataset = create_dataset(config)
    if args.model in PATH_MODELS:
        metapaths = cafe_path_constraint if args.model == "CAFE" else path_constraint
        config["path_constraint"] = metapaths(dataset)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    prepare_seconds = time.perf_counter() - started
    init_seed(config["seed"], config["reproducibility"])
    model = model_class(config, train_data.dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    started = time.perf_counter()
    trainer.fit(train_data, valid_data, saved=True, show_progress=False)
    fit_seconds = time.perf_counter() - started
    lists: dict[str, list[str]] = {}
    paths: list[Any] = []
    capture_top10(trainer, lists, dataset, paths)
    started = time.perf_counter()
    result = _rec_result(trainer.evaluate(test_data, load_best_model=True))
    eval_seconds = time.perf_counter() - started

    test = test_data.dataset
    row = {f"{'hr' if name == 'hit' else name}@10": 100 * float(result[f"{name}@10"])
           for name in METRICS}
    row.update({
        "fit_seconds": round(fit_seconds, 1), "eval_seconds": round(eval_seconds, 1),
        "prepare_seconds": round(prepare_seconds, 1), "epochs": args.epochs,
        "seconds_per_epoch": round(fit_seconds / args.epochs, 1),
        "test_users": int(test.inter_feat[test.uid_field].unique().numel()),
        "items_ranked": int(dataset.item_num - 1), "torch_threads": torch.get_num_threads(),
        "library": f"hopwise {version('hopwise')}, torch {torch.__version__}",
        "params": {key: config[key] for key in ("embedding_size", "learning_rate",
                                                "train_batch_size") if key in config},
        "protocol": (f"graphrec's split; {args.epochs} epochs, no early stopping (the one-row "
                     "dummy validation, a train pair, is evaluated once after the last epoch and "
                     "chooses nothing); full ranking of every item, train items masked; every "
                     "user with a test purchase"),
    })
    if args.model == "KGAT":
        row["protocol"] += "; KGAT's graph built with scipy instead of DGL"
    if args.model in PATH_MODELS:
        args.out.with_suffix(".paths.json").write_text(
            json.dumps(path_tokens(paths, test_data.dataset)))
    if args.model == "PGPR":
        row["users_without_path"] = PGPR.users_without_path
        row["protocol"] += ("; collect_scores' row shift fixed (rows rebuilt by user; "
                            f"{PGPR.users_without_path} users had no valid path); its next "
                            "actions trimmed from arrays (hopwise's actions, in its order); its "
                            "random generator seeded (hopwise's draws from the system)")
    if args.model in ("TransE", REVERSED_TRANSE):  # PGPR and CAFE start from these
        folder = embeddings_folder(args, args.model)
        folder.mkdir(exist_ok=True)
        export_embeddings(model, dataset, folder, args.dataset)
    if args.model == REVERSED_TRANSE:
        row["protocol"] += "; the graph with each relation's reverse (kg_reverse_r), as CAFE's"
    if args.model == "CAFE":
        row["protocol"] += "; its random generator seeded (hopwise's draws from the system)"
    if args.model == "KGIN":
        row["protocol"] += "; torch_scatter.scatter_mean replaced by torch's index_reduce_"
    args.out.write_text(json.dumps(row, indent=2) + "\n")
    args.out.with_suffix(".top10.json").write_text(json.dumps(lists))
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
