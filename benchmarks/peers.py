"""The peers, run: hopwise's knowledge-graph recommenders on graphrec's split and protocol.

hopwise (PyPI ``hopwise``, an extension of RecBole) implements the explainable path-reasoning
models (PGPR, CAFE, TPRec) and the KG-aware ones (KGAT, KGIN, CKE, KGCN, ...) that graphrec is
compared with. Quoting their papers would compare protocols, not models; this script runs them:

1. ``export``: the catalogue as graphrec reads it (:class:`graphrec.dataset.GraphData`, the
   split ``graphrec benchmark`` uses) written as RecBole atomic files (:func:`export_atomic`);
2. ``run``: each model trained for a fixed number of epochs and evaluated by hopwise's full
   ranking (every item, every user with a test purchase, train items masked: the papers'
   protocol, the one graphrec's rows follow) in a virtual environment of its own
   (``benchmarks/.peers-venv``, made on first use with the pinned versions below), so graphrec
   never imports hopwise nor shares its pins (it holds protobuf 3.20 and numpy 2.4);
3. the top 10 of every user, as hopwise ranked them, scored again by graphrec's metric code
   (:func:`rescore`: the figures of the other rows, hopwise's own kept beside them), the rows
   merged into the catalogue's results JSON under ``"peers"`` (the rows of ``graphrec
   benchmark`` untouched), and a table printed.

The model side runs in ``benchmarks/peers_hopwise.py``, inside that environment. PGPR starts
from TransE's embeddings, CAFE from those of ``TransE-r`` (TransE on the graph with each
relation's reverse, as CAFE reads it): run ``TransE:N`` before PGPR and ``TransE-r:N`` before
CAFE in the same ``--work``.
``benchmarks/PEERS.md`` has the figures and what each run cost.

    python benchmarks/peers.py [--data ../shared/datasets/amazon_beauty]
        [--models KGAT:12 KGCN:20 ...] [--threads 1] [--work DIR] [--logs DIR] [--reuse]
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.datasets import BEAUTY, read_graph  # noqa: E402
from graphrec.dataset import GraphData  # noqa: E402
from graphrec.evaluation.benchmark import catalogue_name, dataset_summary, results_path  # noqa: E402
from graphrec.evaluation.metrics import ranking_metrics  # noqa: E402
from graphrec.evaluation.path_quality import PathQuality, purchase_order, read_purchases  # noqa: E402
from graphrec.explain.paths import Hop, ReasonPath  # noqa: E402
from graphrec.schema import BOUGHT, BY_NAME  # noqa: E402
from ingest.frames import CatalogueFrames  # noqa: E402

VENV = ROOT / "benchmarks" / ".peers-venv"
RUNNER = ROOT / "benchmarks" / "peers_hopwise.py"
#: What the peers' environment is made of; torch as graphrec's, hopwise as measured.
REQUIREMENTS = ("torch==2.13.0", "hopwise==0.9.1.post1")
#: The benchmark file names hopwise reads as ``NAME.<part>.inter`` (``benchmark_filename``).
PARTS = ("train", "valid", "test")
#: Models and epochs run by default: what two shared cores allowed in about 80 minutes
#: (benchmarks/PEERS.md).
DEFAULT_MODELS = ("KGAT:12", "KGCN:20", "KGIN:2", "CKE:8")

INTER_HEADER = "user_id:token\titem_id:token"
ITEM_HEADER = "item_id:token"
KG_HEADER = "head_id:token\trelation_id:token\ttail_id:token"
LINK_HEADER = "item_id:token\tentity_id:token"


class PeersBlocked(RuntimeError):
    """The peers cannot run here (no package index to build their environment, say)."""


#: The prefix of a brand's or a category's entity token (:func:`_entity`).
ENTITY_PREFIX = {"brand": "b", "category": "c"}
#: A prefix's node type (:meth:`PeerPaths.node` reads the tokens back).
ENTITY_TYPES = {prefix: node_type for node_type, prefix in ENTITY_PREFIX.items()}


def _entity(node_type: str, index: int) -> str:
    """Brands and categories as entity tokens: an index, not a name (names hold spaces and tabs
    a token field would split on)."""
    return f"{ENTITY_PREFIX[node_type]}{index}"


def item_categories(data: GraphData, listed: Mapping[str, str]) -> np.ndarray:
    """``[item, category]`` pairs: the category names the catalogue lists for each item
    (``listed``: item id → names joined by ``|``, the items frame's ``categories``), as PGPR's
    ``belongs_to`` holds all the names on all the item's category paths; less the categories
    every item has (the catalogue's root): an edge all items share tells a model nothing and
    makes a path-reasoning model's search explode (one node, every item).

    The listed names, not the closure of the leaf over ``data.category_parent``: where a name
    sits under several branches (Clothing's ``Girls`` has 125 parents), the closure would give
    an item half the catalogue's categories (some 550 a Clothing item, 12.7 M triples); on a
    tree the two are the same; on Beauty, 17 of whose 234 names have several parents, the
    closure added half as many again (56,237 pairs against 37,616)."""
    index = {str(name): n for n, name in enumerate(data.categories)}
    pairs = sorted({(item, index[name]) for item, item_id in enumerate(data.items)
                    for name in str(listed.get(str(item_id), "")).split("|") if name in index})
    array = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    counts = np.bincount(array[:, 1], minlength=len(data.categories))
    shared = counts >= data.num_items
    return array[~shared[array[:, 1]]]


def listed_categories(frames: CatalogueFrames) -> dict[str, str]:
    """Each item's category names as the catalogue lists them (``|``-joined)."""
    return dict(zip(frames.items["item_id"].astype(str), frames.items["categories"].astype(str)))


def kg_triples(data: GraphData, listed: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """The knowledge graph as ``(head, relation, tail)`` entity tokens, relations named as in
    :mod:`graphrec.schema`: ``has_brand``, ``in_category`` (:func:`item_categories`: each
    category the catalogue lists for the item, as PGPR's ``belongs_to``, so no
    ``subcategory_of``) and the item links inside the catalogue; the purchases are not in it
    (hopwise adds them from the train file)."""
    items = data.items
    brand, category = BY_NAME["has_brand"].name, BY_NAME["in_category"].name
    triples = [(items[i], brand, _entity("brand", b)) for i, b in data.item_brand]
    triples += [(items[i], category, _entity("category", c))
                for i, c in item_categories(data, listed)]
    for relation in sorted(data.links):
        triples += [(items[a], relation, items[b]) for a, b in data.links[relation]]
    return triples


def _write(path: Path, header: str, rows: Iterable[Iterable[str]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as out:
        out.write(header + "\n")
        for row in rows:
            out.write("\t".join(row) + "\n")
            count += 1
    return count


def export_atomic(data: GraphData, listed: Mapping[str, str], directory: str | Path, name: str
                  ) -> dict[str, int]:
    """Write ``data`` as RecBole atomic files in ``directory/name/``; returns rows per file.

    ``NAME.train.inter`` and ``NAME.test.inter`` are graphrec's split. ``NAME.valid.inter`` is
    one train purchase: hopwise needs a validation file, the papers' protocol trains for a fixed
    number of epochs without one (run with ``eval_step: 0``), and a pair already in train
    changes neither the training rows nor the items masked at test time. ``NAME.item`` lists
    every item so that the full ranking covers the whole catalogue; ``NAME.link`` maps each item
    to the entity of the same token; ``NAME.kg`` is :func:`kg_triples` (``listed``: each item's
    category names, :func:`item_categories`).
    """
    out = Path(directory) / name
    out.mkdir(parents=True, exist_ok=True)
    users, items = data.users, data.items

    def inter(pairs: np.ndarray) -> Iterable[tuple[str, str]]:
        return ((users[u], items[i]) for u, i in pairs)

    counts = {
        "train": _write(out / f"{name}.train.inter", INTER_HEADER, inter(data.train)),
        "valid": _write(out / f"{name}.valid.inter", INTER_HEADER, inter(data.train[:1])),
        "test": _write(out / f"{name}.test.inter", INTER_HEADER, inter(data.test)),
        "item": _write(out / f"{name}.item", ITEM_HEADER, ((item,) for item in items)),
        "link": _write(out / f"{name}.link", LINK_HEADER, ((item, item) for item in items)),
        "kg": _write(out / f"{name}.kg", KG_HEADER, kg_triples(data, listed)),
    }
    return counts


def rescore(data: GraphData, lists: dict[str, list[str]], k: int = 10) -> dict[str, Any]:
    """graphrec's metrics (:func:`~graphrec.evaluation.metrics.ranking_metrics`, the code of the
    other rows) of a peer's top-``k`` lists, ``{user id: [item id, ...]}``, over every user with
    a test purchase; a user the peer did not rank counts as a list with no hit. Also counts what
    would break the protocol: such missing users, and listed items bought in train; and the
    users whose list is shorter than ``k`` (a path model that reached fewer items: CAFE)."""
    relevant = data.test_matrix()
    users = np.flatnonzero(np.diff(relevant.indptr))
    user_index = {user: index for index, user in enumerate(data.users)}
    item_index = {item: index for index, item in enumerate(data.items)}
    ranked = np.full((len(users), k), -1, dtype=np.int64)
    train = data.train_matrix().tolil()
    missing = train_items = short = 0
    by_index = {user_index[user]: items for user, items in lists.items() if user in user_index}
    for row, user in enumerate(users):
        items = by_index.get(int(user))
        if items is None:
            missing += 1
            continue
        indices = [item_index[item] for item in items[:k] if item in item_index]
        ranked[row, :len(indices)] = indices
        short += len(indices) < k
        train_items += sum(1 for item in indices if train[int(user), item])
    sets = [set(relevant.indices[relevant.indptr[u]:relevant.indptr[u + 1]].tolist())
            for u in users]
    return {**ranking_metrics(ranked, sets, k), "test_users": len(users),
            "users_missing": missing, "train_items_listed": train_items, "short_lists": short}


class PeerPaths:
    """A path-reasoning peer's explanations (hopwise's PGPR and CAFE: ``*.paths.json`` of
    ``peers_hopwise.py``) read as graphrec's :class:`~graphrec.explain.paths.ReasonPath`, so
    that LIR, SEP and ETD are measured by the code that measures graphrec's own
    (:class:`~graphrec.evaluation.path_quality.PathQuality`).

    PGPR walks user → bought item → (a co-buyer, a brand, a category or a linked item) → item:
    graphrec's ``collaborative``, ``brand`` and ``category`` kinds, and its ``link_chain`` for two
    links of one relation (CAFE the same but for the co-buyer); a path whose nodes the catalogue
    does not hold is left out.
    """

    def __init__(self, data: GraphData) -> None:
        self.users = {user: index for index, user in enumerate(data.users)}
        self.items = {item: index for index, item in enumerate(data.items)}
        self.links = {relation: {(int(a), int(b)) for a, b in pairs}
                      for relation, pairs in data.links.items()}

    def node(self, kind: str, token: str) -> tuple[str, int] | None:
        """A hopwise node as graphrec's ``(node type, index)``; brands and categories are the
        export's ``b<index>`` and ``c<index>`` (:func:`_entity`)."""
        if kind == "user":
            return ("user", self.users[token]) if token in self.users else None
        if token in self.items:
            return "item", self.items[token]
        if token[:1] in ENTITY_TYPES and token[1:].isdigit():
            return ENTITY_TYPES[token[0]], int(token[1:])
        return None

    def reason_path(self, hops: list[list[str]]) -> ReasonPath | None:
        """One path of ``[relation, node type, token]`` hops, or ``None``."""
        nodes = [self.node(kind, token) for _, kind, token in hops]
        if len(nodes) != 4 or any(node is None for node in nodes):
            return None
        walk = tuple(node for node in nodes if node is not None)
        relation = hops[2][0]
        if walk[2][0] == "user":
            return ReasonPath("collaborative", walk, (Hop(BOUGHT, 0, 1), Hop(BOUGHT, 2, 1),
                                                      Hop(BOUGHT, 2, 3)))
        if walk[2][0] in ("brand", "category"):
            kind = walk[2][0]
            store = BY_NAME["has_brand" if kind == "brand" else "in_category"].type
            return ReasonPath(kind, walk, (Hop(BOUGHT, 0, 1), Hop(store, 1, 2), Hop(store, 3, 2)))
        if relation not in self.links:
            return None
        return ReasonPath("link_chain", walk, (Hop(BOUGHT, 0, 1), self._link(relation, walk, 1),
                                               self._link(relation, walk, 2)))

    def _link(self, relation: str, walk: tuple[tuple[str, int], ...], at: int) -> Hop:
        """The link between positions ``at`` and ``at + 1``, in the direction the graph has it."""
        forward = (walk[at][1], walk[at + 1][1]) in self.links[relation]
        source, target = (at, at + 1) if forward else (at + 1, at)
        return Hop(BY_NAME[relation].type, source, target)

    def served(self, lists: dict[str, list[str]], paths: dict[str, list[list[list[str]]]]
               ) -> list[tuple[int, list[ReasonPath]]]:
        """``(user, the path of each listed item that has one)`` for every listed user: the
        shape :meth:`PathQuality.report` takes."""
        out = []
        for user, items in lists.items():
            by_item = {}
            for hops in paths.get(user, []):
                path = self.reason_path(hops)
                if path is not None:
                    by_item.setdefault(path.nodes[-1][1], path)
            explained = [by_item[self.items[item]] for item in items
                         if item in self.items and self.items[item] in by_item]
            if user in self.users and explained:
                out.append((self.users[user], explained))
        return out


def path_quality(data: GraphData, lists: dict[str, list[str]],
                 paths: dict[str, list[list[list[str]]]], order: Any) -> dict[str, Any]:
    """LIR, SEP and ETD of a peer's explained lists, as graphrec's are measured."""
    served = PeerPaths(data).served(lists, paths)
    report = PathQuality(data, order).report(served)
    listed = sum(len(items) for items in lists.values())
    return {**report, "explained_share": report["path_quality_paths"] / max(1, listed)}


def ensure_venv(venv: Path = VENV, log: Any = print) -> Path:
    """The peers' Python, making their environment first if it is not there.

    Raises:
        PeersBlocked: the environment cannot be built (pip reached no index that has them).
    """
    python = venv / "bin" / "python"
    if python.exists():
        return python
    log(f"creating {venv} with {' '.join(REQUIREMENTS)}")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run([str(python), "-m", "pip", "install", *REQUIREMENTS],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise PeersBlocked(f"pip could not install {' '.join(REQUIREMENTS)} into {venv} "
                           f"(no package index reachable?): {done.stderr.strip()[-500:]}")
    return python


def run_peer(python: Path, model: str, epochs: int, export_dir: Path, name: str,
             work: Path, log_path: Path, threads: int, seed: int) -> dict[str, Any]:
    """Train and evaluate one hopwise model in its environment; its row, from the runner's JSON.

    The runner's output goes to ``log_path``; a failed run raises with the log's last lines.
    """
    result = work / f"{model}.json"
    result.unlink(missing_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "WANDB_MODE": "disabled", "PYTHONNOUSERSITE": "1"}
    env.pop("PYTHONPATH", None)
    command = [str(python), str(RUNNER), "--model", model, "--epochs", str(epochs),
               "--data-path", str(export_dir), "--dataset", name, "--work", str(work),
               "--threads", str(threads), "--seed", str(seed), "--out", str(result)]
    with log_path.open("w") as log_file:
        done = subprocess.run(command, stdout=log_file, stderr=subprocess.STDOUT, env=env,
                              cwd=work)
    if done.returncode != 0 or not result.exists():
        tail = log_path.read_text(errors="replace").splitlines()[-15:]
        raise RuntimeError(f"{model} failed (exit {done.returncode}, log {log_path}):\n"
                           + "\n".join(tail))
    row = json.loads(result.read_text())
    row["top10_path"] = str(result.with_suffix(".top10.json"))
    return row


def finished(work: Path, model: str, epochs: int) -> dict[str, Any] | None:
    """The row a run of ``model`` for ``epochs`` epochs left in ``work`` (one that finished
    after this script was stopped, say), or ``None``."""
    result = work / f"{model}.json"
    if not result.exists() or not result.with_suffix(".top10.json").exists():
        return None
    row = json.loads(result.read_text())
    if row.get("epochs") != epochs:
        return None
    row["top10_path"] = str(result.with_suffix(".top10.json"))
    return row


def merge_peers(out_path: Path, dataset: dict[str, Any], rows: dict[str, dict[str, Any]]
                ) -> dict[str, Any]:
    """Put ``rows`` under ``"peers"`` in ``out_path``, keeping every other key and earlier peers.

    Raises:
        ValueError: ``out_path`` holds the results of another catalogue (other fingerprint).
    """
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(out_path.with_name(out_path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # runs of other models may merge at the same moment
        payload = json.loads(out_path.read_text()) if out_path.exists() else {"dataset": dataset}
        theirs = payload.get("dataset", {}).get("fingerprint")
        if theirs != dataset["fingerprint"]:
            raise ValueError(f"{out_path} holds another catalogue's results (fingerprint "
                             f"{theirs}, this one {dataset['fingerprint']}): name another file "
                             "with --out")
        payload["peers"] = {**payload.get("peers", {}), **rows}
        out_path.write_text(json.dumps(payload, indent=2) + "\n")
    return payload


def with_graphrec_metrics(row: dict[str, Any], check: dict[str, Any]) -> dict[str, Any]:
    """The peer's row with graphrec's metrics of its lists as the figures (the other rows' code),
    hopwise's own kept under ``"hopwise_metrics"`` beside them."""
    names = ("ndcg@10", "recall@10", "hr@10", "precision@10")
    hopwise = {name: row.pop(name) for name in names}
    return {**{name: check[name] for name in names}, **row, "hopwise_metrics": hopwise,
            "hopwise_test_users": row.pop("test_users"), "test_users": check["test_users"],
            "users_missing": check["users_missing"],
            "train_items_listed": check["train_items_listed"], "short_lists": check["short_lists"]}


def format_peers(rows: dict[str, dict[str, Any]], k: int = 10) -> str:
    """One row per peer: the four metrics (percent), fit time and epochs."""
    header = (f"{'peer':<10}{'NDCG':>8}{'Recall':>8}{'HR':>8}{'Prec':>8}{'fit s':>10}"
              f"{'epochs':>8}{'users':>8}")
    lines = [header, "-" * len(header)]
    for name, row in rows.items():
        lines.append(f"{name:<10}{row[f'ndcg@{k}']:>8.2f}{row[f'recall@{k}']:>8.2f}"
                     f"{row[f'hr@{k}']:>8.2f}{row[f'precision@{k}']:>8.2f}"
                     f"{row['fit_seconds']:>10.1f}{row['epochs']:>8}{row['test_users']:>8}")
    return "\n".join(lines)


def parse_models(specs: Iterable[str]) -> list[tuple[str, int]]:
    """``KGAT:10`` → ``("KGAT", 10)``: a hopwise model name and its fixed number of epochs."""
    parsed = []
    for spec in specs:
        model, _, epochs = spec.partition(":")
        if not model or not epochs.isdigit() or int(epochs) < 1:
            raise argparse.ArgumentTypeError(f"model {spec!r}: expected NAME:EPOCHS, e.g. KGAT:10")
        parsed.append((model, int(epochs)))
    return parsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(BEAUTY))
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS),
                        help="hopwise models as NAME:EPOCHS")
    parser.add_argument("--out", help="results JSON (default benchmarks/results/<catalogue>.json)")
    parser.add_argument("--work", default=str(ROOT / "benchmarks" / ".peers-work"),
                        help="atomic files, checkpoints and per-model results")
    parser.add_argument("--logs", default=None, help="one log per model (default: --work)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--export-only", action="store_true")
    parser.add_argument("--reuse", action="store_true",
                        help="take a model's finished result from --work instead of running it")
    args = parser.parse_args(argv)
    models = parse_models(args.models)

    data, frames = read_graph(args.data)
    name = catalogue_name(args.data)
    work = Path(args.work).resolve()
    export_dir = work / "atomic"
    counts = export_atomic(data, listed_categories(frames), export_dir, name)
    print(f"exported {name} to {export_dir / name}: {counts}")
    if args.export_only:
        return 0
    try:
        python = ensure_venv()
    except PeersBlocked as blocked:
        print(f"blocked: {blocked}", file=sys.stderr)
        return 2
    dataset = dataset_summary(data, args.data)
    out = Path(args.out) if args.out else ROOT / results_path(name)
    logs = Path(args.logs) if args.logs else work
    logs.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict[str, Any]] = {}
    for model, epochs in models:
        log_path = logs / f"peers-{name}-{model}.log"
        print(f"{model}: {epochs} epochs, {args.threads} thread(s), log {log_path}", flush=True)
        started = time.perf_counter()
        row = finished(work, model, epochs) if args.reuse else None
        if row is None:
            row = run_peer(python, model, epochs, export_dir, name, work, log_path,
                           args.threads, args.seed)
            row["wall_seconds"] = round(time.perf_counter() - started, 1)
        top10 = Path(row.pop("top10_path"))
        lists = json.loads(top10.read_text())
        row = with_graphrec_metrics(row, rescore(data, lists))
        if (paths := top10.with_name(f"{model}.paths.json")).exists():
            order = purchase_order(data, read_purchases(args.data))
            row["explanations"] = path_quality(data, lists, json.loads(paths.read_text()), order)
            print(f"{model}: explanations {row['explanations']}", flush=True)
        rows[model] = row
        merge_peers(out, dataset, {model: row})
        print(f"{model}: ndcg@10 {row['ndcg@10']:.2f}  fit {row['fit_seconds']:.0f}s", flush=True)
    print(format_peers(rows))
    print(f"merged into {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
