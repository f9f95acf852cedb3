"""Run by tests/test_peers_hopwise.py with the peers' Python (it imports hopwise).

peers_hopwise.PGPR gives a path's next actions from arrays (a node's neighbours filtered and
scored at once): on a graph whose nodes have more neighbours than ``max_acts`` (so that PGPR
trims them by their TransE score), random walks of up to three hops from the users get the same
actions in the same order as hopwise's own ``_get_actions``, with either setting of
``fix_scores_sorting_bug``. Items that two relations reach tie (their score does not depend on
the relation), and the cut at ``max_acts`` splits such ties as hopwise's sort does. A node the
path already visited is never offered again."""
import itertools
import random
import sys

import numpy as np
import torch

sys.path.insert(0, sys.argv[1])
import peers_hopwise  # noqa: E402
from hopwise.model.knowledge_aware_recommender.pgpr import PGPR as HopwisePGPR  # noqa: E402

UI, ALSO_BOUGHT, BRAND, ALSO_VIEWED = 1, 2, 3, 4
rng = np.random.default_rng(7)
n_users, n_items, n_brands = 40, 300, 8
n_entities = n_items + n_brands  # entities n_items.. are brands
bought = {u: sorted(rng.choice(np.arange(1, n_items), 20, replace=False).tolist())
          for u in range(1, n_users)}
graph: dict = {"user": {u: {UI: items} for u, items in bought.items()}, "entity": {}}
for u, items in bought.items():
    for item in items:
        graph["entity"].setdefault(item, {}).setdefault(UI, []).append(u)
for item in range(1, n_items):
    linked = rng.choice([i for i in range(1, n_items) if i != item], 40, replace=False)
    graph["entity"].setdefault(item, {})[ALSO_BOUGHT] = linked.tolist()
    # an item also viewed is often also bought: one item reached by two relations, one score
    graph["entity"][item][ALSO_VIEWED] = linked[:20].tolist()
    brand = int(n_items + item % n_brands)
    graph["entity"][item][BRAND] = [brand]
    graph["entity"].setdefault(brand, {}).setdefault(BRAND, []).append(item)


def model(cls: type, fix: bool, max_acts: int) -> HopwisePGPR:
    pgpr = cls.__new__(cls)
    torch.nn.Module.__init__(pgpr)
    pgpr.graph_dict, pgpr.max_acts, pgpr.n_items = graph, max_acts, n_items
    pgpr.ui_relation_id, pgpr.fix_scores_sorting_bug = UI, fix
    pgpr.user_embedding = rng.normal(size=(n_users, 8))
    pgpr.entity_embedding = rng.normal(size=(n_entities, 8))
    pgpr.relation_embedding = rng.normal(size=(5, 8))
    pgpr.node_type2emb = {"user": pgpr.user_embedding, "entity": pgpr.entity_embedding}
    pgpr._neighbours = {}
    return pgpr


def walks(pgpr: HopwisePGPR, count: int) -> list[list[tuple]]:
    """``count`` random paths of up to three hops from the users, through hopwise's actions."""
    draw = random.Random(count)
    paths = []
    for _ in range(count):
        path = [("self_loop", "user", draw.choice(list(bought)))]
        for _ in range(draw.randint(0, 3)):
            relation, node = draw.choice(HopwisePGPR._get_actions(pgpr, path, False)[1:])
            path.append((relation, pgpr._get_next_node_type(path[-1][1], relation), node))
        paths.append(path)
    return paths


trimmed = 0
for fix, max_acts in itertools.product((False, True), (10, 25, 40)):
    theirs = model(HopwisePGPR, fix, max_acts)
    ours = model(peers_hopwise.PGPR, fix, max_acts)
    for name in ("user_embedding", "entity_embedding", "relation_embedding", "node_type2emb"):
        setattr(ours, name, getattr(theirs, name))
    for path in walks(theirs, 1500):
        expected = HopwisePGPR._get_actions(theirs, path, False)
        got = ours._get_actions(path, False)
        assert [(r, int(n)) for r, n in got] == [(r, int(n)) for r, n in expected], (path, got)
        visited = {(kind, int(node)) for _, kind, node in path}
        assert not any((ours._get_next_node_type(path[-1][1], r), int(n)) in visited
                       for r, n in got[1:]), path
        trimmed += len(expected) == max_acts + 1
        assert ours._get_actions(path, True) == [("self_loop", path[-1][2])]
assert trimmed > 1000, trimmed  # the trimming, the part done with arrays, was exercised
print("ok")
