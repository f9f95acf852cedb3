"""``graphrec benchmark --cold-start`` with the hyper-parameters the catalogue's full benchmark
chose on validation, read from its results file, instead of choosing them again.

item-kNN's ``k``, EASE's ``lam`` and graphrec's epochs come from the rows of the results file
(``benchmarks/results/<catalogue>.json``); the cold models and the retrained reference then
fit once each, which is what lets a Beauty run finish on a shared 2-core machine.
``graphrec benchmark --cold-start`` tunes everything itself.

``--scenario`` draws cold users and items together (``joint``, the ``"cold_start"`` section) or
one kind alone, the other warm (``users``: ``"cold_start_users"``; ``items``:
``"cold_start_items"``; see :mod:`graphrec.evaluation.coldstart`).

    python benchmarks/cold_start.py --data ../shared/datasets/amazon_beauty --embedding-dim 64 \
        --threads 1
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.datasets import read_graph  # noqa: E402
from graphrec.cli import add_categories_argument  # noqa: E402
from graphrec.evaluation import benchmark, coldstart  # noqa: E402
from graphrec.evaluation.baselines.ease import EASE  # noqa: E402
from graphrec.evaluation.baselines.itemknn import ItemKNN  # noqa: E402
from graphrec.model.train import KGRecRecommender, TrainConfig  # noqa: E402

#: Scenario → (results section, share of users held out, share of items held out).
SCENARIOS = {"joint": ("cold_start", 0.1, 0.1), "users": ("cold_start_users", 0.1, 0.0),
             "items": ("cold_start_items", 0.0, 0.1)}


#: The softmax graphrec's row was trained with, which the cold models take too (a row
#: trained with the sampled one says so in its params; older rows, without these keys, were
#: trained with the full softmax, the default).
SOFTMAX = ("sampled_softmax", "sampled_negatives", "sampled_correction")


def softmax_of(rows: dict[str, Any]) -> dict[str, Any]:
    """The ``TrainConfig`` fields of the softmax graphrec's row in ``rows`` was trained with
    (an older row, without them, says the full softmax: not left to the catalogue's size)."""
    params = rows["graphrec"].get("params", {})
    return {key: params[key] for key in SOFTMAX if key in params} or {"sampled_softmax": False}


def trained_with(rows: dict[str, Any]) -> dict[str, Any]:
    """The ``TrainConfig`` fields graphrec's row in ``rows`` was trained with that the cold
    models take too: its softmax (:func:`softmax_of`) and its history exponent where the row
    records one (Clothing's rows keep 0.5 where the default became 0.75)."""
    params = rows["graphrec"].get("params", {})
    return {**softmax_of(rows),
            **{key: params[key] for key in ("history_exponent",) if key in params}}


#: The models whose hyper-parameters come from their results row, and how each is read.
TUNED = {"itemknn": lambda row: {"k": row["params"]["k"]},
         "ease": lambda row: {"lam": row["params"]["lam"]},
         "graphrec": lambda row: {"epochs": row["epochs"]}}


def tuned(rows: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What each model of :data:`TUNED` with a row in ``rows`` was tuned to, read once for the
    models (:func:`factories`) and for the protocol's record (:func:`hyperparameters`); a
    catalogue's file may hold graphrec's rows only."""
    return {name: read(rows[name]) for name, read in TUNED.items() if name in rows}


def factories(rows: dict[str, Any], embedding_dim: int) -> dict[str, Any]:
    """Models with the hyper-parameters of the results rows ``rows`` (:func:`tuned`)."""
    given = tuned(rows)
    made: dict[str, Any] = {}
    if "itemknn" in given:
        k = given["itemknn"]["k"]
        made["itemknn"] = lambda seed: ItemKNN(k=k, seed=seed)
    if "ease" in given:
        lam = given["ease"]["lam"]
        made["ease"] = lambda seed: EASE(lam=lam, seed=seed)
    if "graphrec" in given:
        epochs, fields = given["graphrec"]["epochs"], trained_with(rows)
        made["graphrec"] = lambda seed: KGRecRecommender(
            TrainConfig(seed=seed, embedding_dim=embedding_dim, **fields), print, epochs=epochs)
    return made


def hyperparameters(rows: dict[str, Any], source: str, embedding_dim: int,
                    fields: dict[str, Any]) -> str:
    """What the cold models were given, and from which file's rows, for the protocol."""
    labels = {"itemknn": "item-kNN k={k}", "ease": "EASE lam={lam}",
              "graphrec": "graphrec {epochs} epochs"}
    given = [labels[name].format(**values) for name, values in tuned(rows).items()]
    return (f"from {source}: {', '.join(given)}; graphrec {embedding_dim} dimensions, history "
            f"exponent {fields['history_exponent']}"
            + (f", sampled softmax ({fields['sampled_negatives']} uniform negatives, "
               f"correction {fields['sampled_correction']})"
               if fields.get("sampled_softmax") else ""))


def kept(before: dict[str, Any] | None, section: dict[str, Any]) -> dict[str, Any]:
    """``section`` with the rows of ``before`` (the section already in the results file) of
    models it did not run, when both were drawn the same way: a run of some models adds to
    the table instead of replacing it."""
    if not before or {**before["protocol"], "hyperparameters": None} != {
            **section["protocol"], "hyperparameters": None}:
        return section
    return {**section, "models": {**before["models"], **section["models"]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", help="results file (default: the catalogue's)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="joint")
    parser.add_argument("--models", nargs="+", default=list(coldstart.MODELS))
    parser.add_argument("--embedding-dim", type=int, default=TrainConfig.embedding_dim,
                        help="graphrec's size (default %(default)s)")
    add_categories_argument(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out) if args.out else benchmark.results_path(
        benchmark.catalogue_name(args.data))
    data, frames = read_graph(args.data, args.categories)
    dataset = benchmark.dataset_summary(data, args.data)
    benchmark.check_catalogue(out, dataset)
    results = json.loads(out.read_text())
    rows = results["models"]
    chosen = factories(rows, args.embedding_dim)
    missing = [m for m in args.models if m in TUNED and m not in chosen]
    if missing:
        raise SystemExit(f"{out}: no {', '.join(missing)} row to take the hyper-parameters from "
                         f"(run graphrec benchmark --models {' '.join(missing)} --out {out} first)")
    fields = {"history_exponent": TrainConfig.history_exponent,
              **(trained_with(rows) if "graphrec" in rows else {})}

    def save(section: dict[str, Any]) -> None:
        section["protocol"]["hyperparameters"] = hyperparameters(
            rows, out.name, args.embedding_dim, fields)
        benchmark.write_section(out, dataset, name, kept(results.get(name), section))

    name, users, items = SCENARIOS[args.scenario]
    coldstart.run_cold_start(data, coldstart.history_order(data, frames.purchases),
                             args.models, seed=args.seed, user_fraction=users,
                             item_fraction=items, factories=chosen, save=save)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
