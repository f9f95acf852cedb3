"""Every candidate reason path is a real path of the store, from the user to the item."""
from __future__ import annotations

import numpy as np

import cypher
from graphrec.explain.paths import PathFinder
from graphrec.explain.reasons import describe
from graphrec.store.connection import GraphStore
from graphrec.store.export import export_graph
from ingest.detect import read_catalogue
from ingest.loader import load_catalogue
from tests.conftest import SAMPLE


def test_candidate_paths_exist_in_the_store(store: GraphStore) -> None:
    catalogue = read_catalogue(SAMPLE)
    load_catalogue(store, catalogue)
    titles = {item.id: item.title for item in catalogue.items}
    data, _ = export_graph(store)
    finder = PathFinder(data)
    rng = np.random.default_rng(7)
    checked: dict[str, int] = {}
    for user, item in data.test[rng.choice(len(data.test), 40, replace=False)]:
        for path in finder.candidates(finder.history(int(user)), int(item), int(user)):
            view = describe(path, data, titles)
            assert view["nodes"][0] == {"key": "n0", "type": "User",
                                        "id": data.users[user], "label": data.users[user]}
            assert view["nodes"][-1]["id"] == data.items[item]
            assert view["sentence"].endswith(".")
            call = view["cypher"]
            found = store.read_text(cypher.load(call["query"]), **call["params"])
            assert found, f"{path.kind} path not in the store: {call['params']}"
            checked[path.kind] = checked.get(path.kind, 0) + 1
    assert {"brand", "category", "collaborative", "also_bought", "link_chain"} <= set(checked)
