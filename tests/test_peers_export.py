"""benchmarks/peers.py without hopwise: the atomic files it writes, the rescoring of a peer's
lists by graphrec's metric code, and the merge into the results JSON."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.datasets import read_graph
from benchmarks.peers import (
    INTER_HEADER,
    ITEM_HEADER,
    KG_HEADER,
    LINK_HEADER,
    PeerPaths,
    export_atomic,
    item_categories,
    listed_categories,
    merge_peers,
    parse_models,
    path_quality,
    rescore,
)
from graphrec.dataset import GraphData
from graphrec.evaluation.benchmark import dataset_summary, run_benchmark
from graphrec.evaluation.path_quality import PathQuality, purchase_order, read_purchases

SAMPLE = Path(__file__).resolve().parents[1] / "graphrec" / "sample" / "beauty"


@pytest.fixture(scope="module")
def data() -> GraphData:
    return GraphData.from_csv_dir(SAMPLE)


@pytest.fixture(scope="module")
def listed(data: GraphData) -> dict[str, str]:
    read, frames = read_graph(SAMPLE)
    assert read.fingerprint() == data.fingerprint()  # the catalogue graphrec benchmark reads
    return listed_categories(frames)


@pytest.fixture(scope="module")
def exported(data: GraphData, listed: dict[str, str],
             tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    directory = tmp_path_factory.mktemp("atomic")
    counts = export_atomic(data, listed, directory, "beauty")
    return directory / "beauty", counts


def _rows(path: Path, header: str) -> list[list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == header
    rows = [line.split("\t") for line in lines[1:]]
    assert all(len(row) == len(header.split("\t")) for row in rows)
    return rows


def test_split_files_hold_graphrecs_split(data: GraphData, exported: tuple[Path, dict]) -> None:
    folder, counts = exported
    train = _rows(folder / "beauty.train.inter", INTER_HEADER)
    test = _rows(folder / "beauty.test.inter", INTER_HEADER)
    valid = _rows(folder / "beauty.valid.inter", INTER_HEADER)
    assert counts["train"] == len(train) == len(data.train) == 9707
    assert counts["test"] == len(test) == len(data.test) == 3906
    expected = {(data.users[u], data.items[i]) for u, i in data.test}
    assert {tuple(row) for row in test} == expected
    # the dummy validation row is a train pair: it changes neither training nor the masking
    assert len(valid) == counts["valid"] == 1
    assert tuple(valid[0]) in {tuple(row) for row in train}
    assert len({row[0] for row in test}) == len(np.unique(data.test[:, 0])) == 1527


def test_every_item_listed_and_linked(data: GraphData, exported: tuple[Path, dict]) -> None:
    folder, counts = exported
    items = [row[0] for row in _rows(folder / "beauty.item", ITEM_HEADER)]
    assert sorted(items) == sorted(data.items.tolist()) and len(items) == 1213
    assert counts["item"] == counts["link"] == 1213
    links = _rows(folder / "beauty.link", LINK_HEADER)
    assert {item for item, _ in links} == set(items)
    assert all(item == entity for item, entity in links)


def test_kg_relations_and_counts(data: GraphData, listed: dict[str, str],
                                 exported: tuple[Path, dict]) -> None:
    folder, counts = exported
    triples = _rows(folder / "beauty.kg", KG_HEADER)
    assert counts["kg"] == len(triples)
    by_relation: dict[str, int] = {}
    for _, relation, _ in triples:
        by_relation[relation] = by_relation.get(relation, 0) + 1
    assert by_relation == {
        "has_brand": len(data.item_brand),
        "in_category": len(item_categories(data, listed)),
        "also_bought": 17462, "also_viewed": 11628, "bought_together": 855,
    }
    items = set(data.items.tolist())
    for head, relation, tail in triples:
        assert head in items
        assert (tail in items) == (relation not in ("has_brand", "in_category"))


def test_category_every_item_shares_is_dropped(data: GraphData, listed: dict[str, str]) -> None:
    pairs = item_categories(data, listed)
    root = int(np.flatnonzero(data.categories == "Beauty")[0])
    assert root not in set(pairs[:, 1].tolist())
    # every item keeps its leaf category, and the categories above it but the root
    leaves = {(int(i), int(c)) for i, c in data.item_category if int(c) != root}
    assert leaves <= {tuple(pair) for pair in pairs.tolist()}
    assert len(pairs) == 3686  # 4,899 with the root's 1,213
    # each item's names as the catalogue lists them, a subset of what lies above its leaf
    parents: dict[int, set[int]] = {}
    for child, up in data.category_parent:
        parents.setdefault(int(child), set()).add(int(up))
    names = {str(name): n for n, name in enumerate(data.categories)}
    by_item: dict[int, set[int]] = {}
    for i, c in pairs.tolist():
        by_item.setdefault(i, set()).add(c)
    for item, leaf in data.item_category:
        above, stack = {int(leaf)}, [int(leaf)]
        while stack:
            for up in parents.get(stack.pop(), ()):
                if up not in above:
                    above.add(up)
                    stack.append(up)
        mine = by_item.get(int(item), set())
        assert mine == {names[n] for n in listed[str(data.items[item])].split("|")} - {root}
        assert mine <= above
    # 5,225 with the closure of each leaf: 8 of the sample's 124 names have several parents


def test_an_item_gets_the_categories_it_lists_not_another_branchs() -> None:
    """Clothing lists each item's category names as a set, so a name such as ``Girls`` sits
    under many parents; the item belongs to the names it lists, not to every branch above."""
    import pandas as pd

    items = pd.DataFrame({"item_id": ["a", "b", "c"], "brand": ["", "", ""],
                          "title": ["", "", ""],
                          "categories": ["Clothing|Women|Girls", "Clothing|Kids|Girls|Dresses",
                                         "Clothing|Kids"]})
    purchases = pd.DataFrame({"user_id": ["u", "u"], "item_id": ["a", "b"],
                              "split": ["train", "test"]})
    data = GraphData.from_frames(items, purchases)
    names = dict(zip(items["item_id"], items["categories"]))
    pairs = {(str(data.items[i]), str(data.categories[c]))
             for i, c in item_categories(data, names)}
    assert pairs == {("a", "Women"), ("a", "Girls"), ("b", "Kids"), ("b", "Girls"),
                     ("b", "Dresses"), ("c", "Kids")}  # the shared root dropped


def test_rescore_perfect_lists_and_missing_users(data: GraphData) -> None:
    relevant: dict[str, list[str]] = {}
    for user, item in data.test:
        relevant.setdefault(data.users[user], []).append(data.items[item])
    perfect = rescore(data, relevant)
    assert perfect["test_users"] == 1527 and perfect["users_missing"] == 0
    assert perfect["ndcg@10"] == pytest.approx(100.0)
    assert perfect["hr@10"] == pytest.approx(100.0)
    dropped = dict(list(relevant.items())[:-10])
    partial = rescore(data, dropped)
    assert partial["users_missing"] == 10
    assert partial["hr@10"] == pytest.approx(100.0 * 1517 / 1527)
    user, item = data.train[0]
    seen = rescore(data, {data.users[user]: [data.items[item]]})
    assert seen["train_items_listed"] == 1


def test_merge_keeps_other_rows_and_refuses_another_catalogue(tmp_path: Path) -> None:
    out = tmp_path / "beauty.json"
    out.write_text(json.dumps({"models": {"ease": {"ndcg@10": 7.7}},
                               "dataset": {"fingerprint": "abc"}}))
    merge_peers(out, {"fingerprint": "abc"}, {"KGAT": {"ndcg@10": 3.0}})
    merge_peers(out, {"fingerprint": "abc"}, {"CKE": {"ndcg@10": 2.0}})
    payload = json.loads(out.read_text())
    assert payload["models"] == {"ease": {"ndcg@10": 7.7}}
    assert set(payload["peers"]) == {"KGAT", "CKE"}
    with pytest.raises(ValueError, match="another catalogue"):
        merge_peers(out, {"fingerprint": "xyz"}, {"KGAT": {}})


def test_parse_models() -> None:
    assert parse_models(["KGAT:10", "CKE:3"]) == [("KGAT", 10), ("CKE", 3)]
    for bad in ("KGAT", "KGAT:0", ":4", "KGAT:x"):
        with pytest.raises(Exception, match="NAME:EPOCHS"):
            parse_models([bad])


def test_a_benchmark_run_keeps_the_peers_rows(data: GraphData, tmp_path: Path) -> None:
    out = tmp_path / "beauty.json"
    # peers.py first, on a file it creates (with no seed): the sample's peers had been erased so
    merge_peers(out, dataset_summary(data, SAMPLE), {"KGAT": {"ndcg@10": 3.0}})
    run_benchmark(data, ["popularity"], out, source=SAMPLE, seed=0, log=lambda line: None)
    payload = json.loads(out.read_text())
    assert set(payload["models"]) == {"popularity"}
    assert payload["peers"] == {"KGAT": {"ndcg@10": 3.0}}
    # another seed's run replaces the models, not the peers
    run_benchmark(data, ["itemknn"], out, source=SAMPLE, seed=1, log=lambda line: None)
    payload = json.loads(out.read_text())
    assert set(payload["models"]) == {"itemknn"} and payload["seed"] == 1
    assert payload["peers"] == {"KGAT": {"ndcg@10": 3.0}}


def _peer_walks(data: GraphData) -> dict[str, list[list[str]]]:
    """A brand path, a link chain and a co-buyer path of one user of the sample, as PGPR's
    ``*.paths.json`` holds them (hopwise's tokens: graphrec's ids, ``b<brand>``)."""
    users, items = data.users, data.items
    u, bought = int(data.train[0, 0]), set(data.train[data.train[:, 0] == data.train[0, 0], 1])
    i = int(data.train[0, 1])
    brand = int(data.item_brand[data.item_brand[:, 0] == i, 1][0])
    same = data.item_brand[(data.item_brand[:, 1] == brand), 0]
    rec_brand = int(next(x for x in same if x not in bought))
    links = {(int(x), int(y)) for x, y in data.links["also_bought"]}
    one_way = {(x, y) for x, y in links if (y, x) not in links}
    a, b, c = next((a, b, c) for a, b in one_way for b2, c in one_way if b2 == b and c != a)
    v = int(next(x for x, y in data.train if y == i and x != u))
    rec_user = int(next(y for x, y in data.train if x == v and y not in bought))
    start = ["self_loop", "user", users[u]]
    return {
        "brand": [start, ["[UI-Relation]", "entity", items[i]],
                  ["has_brand", "entity", f"b{brand}"], ["has_brand", "entity", items[rec_brand]]],
        "chain": [start, ["[UI-Relation]", "entity", items[c]],
                  ["also_bought", "entity", items[b]], ["also_bought", "entity", items[a]]],
        "co-buyer": [start, ["[UI-Relation]", "entity", items[i]],
                     ["[UI-Relation]", "user", users[v]],
                     ["[UI-Relation]", "entity", items[rec_user]]],
    }


def test_peer_paths_read_as_graphrecs_kinds(data: GraphData) -> None:
    peer, walks = PeerPaths(data), _peer_walks(data)
    brand = peer.reason_path(walks["brand"])
    assert brand is not None and brand.kind == "brand" and brand.nodes[2][0] == "brand"
    assert [(h.type, h.source, h.target) for h in brand.hops] == [
        ("BOUGHT", 0, 1), ("HAS_BRAND", 1, 2), ("HAS_BRAND", 3, 2)]
    chain = peer.reason_path(walks["chain"])
    # walked c → b → a over the links b → c and a → b: both crossed against their direction
    assert chain is not None and chain.kind == "link_chain"
    assert [(h.type, h.source, h.target) for h in chain.hops[1:]] == [
        ("ALSO_BOUGHT", 2, 1), ("ALSO_BOUGHT", 3, 2)]
    co_buyer = peer.reason_path(walks["co-buyer"])
    assert co_buyer is not None and co_buyer.kind == "collaborative"
    assert co_buyer.nodes[2][0] == "user" and co_buyer.via_item == brand.via_item
    unknown = [hop[:2] + ["not-in-the-catalogue"] if n == 2 else hop
               for n, hop in enumerate(walks["brand"])]
    assert peer.reason_path(unknown) is None


def test_peer_path_quality_is_graphrecs_measure(data: GraphData) -> None:
    walks = _peer_walks(data)
    user = walks["brand"][0][2]
    listed = [walks[name][-1][2] for name in ("brand", "chain", "co-buyer")]
    lists = {user: [*listed, "an item without a path"]}
    paths = {user: list(walks.values()) + [walks["brand"]]}  # one path twice: the first counts
    order = purchase_order(data, read_purchases(SAMPLE))
    report = path_quality(data, lists, paths, order)
    served = PeerPaths(data).served(lists, paths)
    assert [path.kind for path in served[0][1]] == ["brand", "link_chain", "collaborative"]
    quality = PathQuality(data, order)
    assert report["path_quality_paths"] == 3 and report["explained_share"] == 3 / 4
    assert report["etd"] == pytest.approx(3 / 3)
    assert report["sep"] == pytest.approx(np.mean([quality.sep_of(p) for p in served[0][1]]))
    assert report["lir"] == pytest.approx(np.mean(quality.lir(served[0][0], served[0][1])))
