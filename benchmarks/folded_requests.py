"""What items folded in since training add to a request: a page's top 10 and an explanation's
place, with 0 and more items folded in, in one process.

A served model ranks the folded items apart and gives them every tenth place
(:mod:`graphrec.serving.ranking`): a request then also scores the folded rows and sums the
links of the user's purchases to them. For each count of ``--folded``, that many trained items
picked at random (seeded) are folded in again as second listings with the same edges
(:func:`graphrec.serving.newitems.grow`), and for ``--users`` train users (their train
purchases as the history) the CPU time of :meth:`~graphrec.serving.recommend.Recommender.
recommend` (k = 10, every item accepted) and of it followed by
:meth:`~graphrec.serving.recommend.Recommender.served_place` of its tenth item is taken, the
best of ``--repeats`` passes. One maths thread, as in a worker; the catalogue scanned whole (no
index) unless ``--index`` says from how many items one is built, as the service does.

    python benchmarks/folded_requests.py ARTIFACT_DIR [--folded 0 100 1000] [--users 300]
                                         [--out benchmarks/results/folded-requests.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphrec.config import one_maths_thread  # noqa: E402  (after the path)
from graphrec.model import artifact  # noqa: E402
from graphrec.serving.newitems import grow, item_rows  # noqa: E402
from graphrec.serving.recommend import Recommender  # noqa: E402
from graphrec.serving.topk import index_for  # noqa: E402


def cpu_ms(passes: int, run: Callable[[Recommender, list[np.ndarray]], None],
           recommender: Recommender, histories: list[np.ndarray]) -> float:
    """The best of ``passes`` runs of ``run`` over ``histories``, in CPU milliseconds a
    history."""
    best = float("inf")
    for _ in range(passes):
        started = time.process_time()
        run(recommender, histories)
        best = min(best, time.process_time() - started)
    return round(best / len(histories) * 1e3, 3)


def accept(items: np.ndarray) -> np.ndarray:
    """Every item: the cost measured is the ranking's, not the reason check's."""
    return np.ones(len(items), dtype=bool)


def pages(recommender: Recommender, histories: list[np.ndarray]) -> None:
    for history in histories:
        recommender.recommend(history, 10, accept)


def placed(recommender: Recommender, histories: list[np.ndarray]) -> None:
    """A page, then its tenth item's place, as ``explain`` asks for it."""
    for history in histories:
        tenth = recommender.recommend(history, 10, accept)[-1]
        recommender.served_place(history, recommender.item_index(tenth.item_id), accept,
                                 np.zeros(0, dtype=np.int64))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--folded", type=int, nargs="+", default=[0, 100, 1000])
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--index", type=int, default=0,
                        help="build the trained items' index from this many items (0: scan)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    one_maths_thread(force=True)
    loaded = artifact.load(args.artifact)
    data, rng = loaded.data, np.random.default_rng(args.seed)
    train = np.asarray(data.train)
    users = rng.choice(np.unique(train[:, 0]), min(args.users, data.num_users), replace=False)
    histories = [np.unique(train[train[:, 0] == u, 1]) for u in users]
    index = index_for(loaded.state.target, args.index)

    rows = []
    for count in args.folded:
        picked = rng.choice(data.num_items, count, replace=False).tolist()
        served = grow(loaded, item_rows(data, picked, [f"again-{n}" for n in range(count)]))
        recommender = Recommender(served, index)
        rows.append({"folded": served.state.folded,
                     "recommend_ms": cpu_ms(args.repeats, pages, recommender, histories),
                     "recommend_and_place_ms": cpu_ms(args.repeats, placed, recommender,
                                                      histories)})
        row = rows[-1]
        print(f"{row['folded']:>7} folded: recommend {row['recommend_ms']:.3f} ms, "
              f"with the tenth's place {row['recommend_and_place_ms']:.3f} ms of CPU a request")
    if args.out:
        args.out.write_text(json.dumps({
            "model": loaded.version, "items": int(loaded.state.num_items),
            "users": len(histories), "index": index is not None, "seed": args.seed,
            "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
