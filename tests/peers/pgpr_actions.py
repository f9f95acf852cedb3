"""Run by tests/test_peers_hopwise.py with the peers' Python (it imports hopwise).

peers_hopwise.PGPR gives a path's next actions from arrays (a node's neighbours filtered and
scored at once): on a small graph whose nodes have more neighbours than ``max_acts`` (so that
PGPR trims them by their TransE score), every path of up to three hops from every user gets the
same actions in the same order as hopwise's own ``_get_actions``, with either setting of
``fix_scores_sorting_bug``; and a node the path already visited is never offered again."""
import sys

import numpy as np
import torch

sys.path.insert(0, sys.argv[1])
import peers_hopwise  # noqa: E402
from hopwise.model.knowledge_aware_recommender.pgpr import PGPR as HopwisePGPR  # noqa: E402

UI, ALSO_BOUGHT, BRAND = 1, 2, 3
rng = np.random.default_rng(7)
n_users, n_items, n_entities = 6, 20, 26  # entities 20..25 are brands
bought = {u: sorted(rng.choice(np.arange(1, n_items), 9, replace=False).tolist())
          for u in range(1, n_users)}
graph = {"user": {u: {UI: items} for u, items in bought.items()}, "entity": {}}
for u, items in bought.items():
    for item in items:
        graph["entity"].setdefault(item, {}).setdefault(UI, []).append(u)
for item in range(1, n_items):
    linked = rng.choice([i for i in range(1, n_items) if i != item], 7, replace=False)
    graph["entity"].setdefault(item, {})[ALSO_BOUGHT] = linked.tolist()
    brand = int(n_items + item % 6)
    graph["entity"][item][BRAND] = [brand]
    graph["entity"].setdefault(brand, {}).setdefault(BRAND, []).append(item)


def model(cls: type, fix: bool) -> HopwisePGPR:
    pgpr = cls.__new__(cls)
    torch.nn.Module.__init__(pgpr)
    pgpr.graph_dict, pgpr.max_acts, pgpr.n_items = graph, 5, n_items
    pgpr.ui_relation_id, pgpr.fix_scores_sorting_bug = UI, fix
    pgpr.user_embedding = rng.normal(size=(n_users, 8))
    pgpr.entity_embedding = rng.normal(size=(n_entities, 8))
    pgpr.relation_embedding = rng.normal(size=(4, 8))
    pgpr.node_type2emb = {"user": pgpr.user_embedding, "entity": pgpr.entity_embedding}
    pgpr._neighbours = {}
    return pgpr


def walks(pgpr: HopwisePGPR, hops: int) -> list[list[tuple]]:
    """Every path of up to ``hops`` hops from every user, through hopwise's actions."""
    paths = [[("self_loop", "user", u)] for u in bought]
    frontier = paths
    for _ in range(hops):
        frontier = [path + [(r, pgpr._get_next_node_type(path[-1][1], r), n)]
                    for path in frontier
                    for r, n in HopwisePGPR._get_actions(pgpr, path, False)[1:]]
        paths = paths + frontier
    return paths


trimmed = 0
for fix in (False, True):
    theirs = model(HopwisePGPR, fix)
    ours = model(peers_hopwise.PGPR, fix)
    for name in ("user_embedding", "entity_embedding", "relation_embedding", "node_type2emb"):
        setattr(ours, name, getattr(theirs, name))
    for path in walks(theirs, 3):
        expected = HopwisePGPR._get_actions(theirs, path, False)
        got = ours._get_actions(path, False)
        assert [(r, int(n)) for r, n in got] == [(r, int(n)) for r, n in expected], (path, got)
        visited = {(kind, int(node)) for _, kind, node in path}
        assert not any((ours._get_next_node_type(path[-1][1], r), int(n)) in visited
                       for r, n in got[1:]), path
        trimmed += len(expected) == theirs.max_acts + 1
        assert ours._get_actions(path, True) == [("self_loop", path[-1][2])]
assert trimmed > 100, trimmed  # the trimming, the vectorised part, was exercised
print("ok")
