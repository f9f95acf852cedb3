"""Reason paths: every candidate is a real path of the store, and each kind reads as a sentence
that names its items, brand or category, its relations with their direction, and the counts."""
from __future__ import annotations

from collections import Counter

import neo4j
import numpy as np
import pandas as pd
import pytest

import cypher
from graphrec.dataset import GraphData
from graphrec.explain.paths import PathFinder, ReasonPath
from graphrec.explain.reasons import (
    LINK_CLAUSES,
    describe,
    describe_all,
    distinct,
    most_specific,
    says_figure,
)
from graphrec.store.connection import GraphStore
from graphrec.store.export import export_graph
from ingest.detect import read_catalogue
from ingest.loader import load_catalogue
from tests.conftest import SAMPLE


def _relationships(path: neo4j.graph.Path) -> list[tuple[str, str, str]]:
    """A path the store returned as ``(type, from, to)`` by node key (id, or a name)."""
    def key(node: neo4j.graph.Node) -> str:
        return str(node.get("id", node.get("name")))

    return [(rel.type, key(rel.start_node), key(rel.end_node)) for rel in path.relationships]


def test_candidate_paths_are_the_paths_their_queries_find_in_the_store(
        store: GraphStore) -> None:
    """Each path's ``cypher/explain/`` call finds that path in the store and no other: the same
    relationships, of the same types, in the same directions. Two items are often joined both
    ways, or by links of two types ("also bought" and "also viewed"), which read differently;
    a query that let either through returned another path than the one shown."""
    catalogue = read_catalogue(SAMPLE)
    load_catalogue(store, catalogue)
    titles = {item.id: item.title for item in catalogue.items}
    data, _ = export_graph(store)
    finder = PathFinder(data)
    rng = np.random.default_rng(7)
    checked: dict[str, int] = {}
    # how many links (of any type, either way) join two items: above one, an undirected query
    # of any type finds more than the path shown
    joining = Counter(frozenset(pair) for pairs in data.links.values() for pair in pairs.tolist())
    ambiguous = 0
    for user, item in data.test[rng.choice(len(data.test), 40, replace=False)]:
        for path in finder.candidates(finder.history(int(user)), int(item), int(user)):
            view = describe(path, data, titles)
            assert view["nodes"][0] == {"key": "n0", "type": "User",
                                        "id": data.users[user], "label": data.users[user]}
            assert view["nodes"][-1]["id"] == data.items[item]
            assert view["sentence"].endswith(".")
            ids = {node["key"]: node["id"] for node in view["nodes"]}
            shown = [(rel["type"], ids[rel["from"]], ids[rel["to"]])
                     for rel in view["relationships"]]
            call = view["cypher"]
            records = store.driver.execute_query(
                cypher.load(call["query"]), call["params"], database_=store.database).records
            assert [_relationships(r["p"]) for r in records] == [shown], (path.kind, call)
            checked[path.kind] = checked.get(path.kind, 0) + 1
            ambiguous += any(
                joining[frozenset((path.nodes[hop.source][1], path.nodes[hop.target][1]))] > 1
                for hop in path.hops[1:] if hop.type in LINK_CLAUSES)
    assert {"brand", "category", "collaborative", "also_bought", "link_chain"} <= set(checked)
    assert ambiguous >= 10, ambiguous


#: item id → (title, brand, category path). i04 is a second listing of i00's product.
SHOP = {
    "i00": ("Olay Regenerist Serum", "Olay", "Beauty|Skin Care|Serums"),
    "i01": ("Olay Day Cream", "Olay", "Beauty|Skin Care|Creams"),
    "i02": ("Rose Oil", "Acme", "Beauty|Skin Care|Creams"),
    "i03": ("Mint Soap", "Bold", "Beauty|Bath|Soaps"),
    "i04": ("Olay Regenerist Serum", "Olay", "Beauty|Skin Care|Serums"),
    "i05": ("", "", "Beauty|Bath|Soaps"),
}
#: Train purchases. u0 is the shopper explained to; u1 and u2 bought i00 and i01 both.
BOUGHT = {"u0": ["i00", "i02", "i04"], "u1": ["i00", "i01"], "u2": ["i00", "i01"],
          "u3": ["i00", "i03"], "u4": ["i05"]}
LINKS = [("i00", "also_bought", "i01"), ("i01", "also_viewed", "i02"),
         ("i02", "bought_together", "i03"), ("i03", "also_viewed", "i01"),
         ("i05", "also_bought", "i03")]


@pytest.fixture(scope="module")
def shop() -> GraphData:
    items = pd.DataFrame([(key, *row) for key, row in SHOP.items()],
                         columns=["item_id", "title", "brand", "categories"])
    purchases = pd.DataFrame([(user, item, "train") for user, items in BOUGHT.items()
                              for item in items], columns=["user_id", "item_id", "split"])
    links = pd.DataFrame(LINKS, columns=["item_id", "relation", "other_item_id"])
    return GraphData.from_frames(items, purchases, links)


TITLES = {key: title or None for key, (title, _, _) in SHOP.items()}


def paths_of(data: GraphData, user: str, item: str, kind: str) -> list[ReasonPath]:
    finder = PathFinder(data)
    user_ix, item_ix = list(data.users).index(user), list(data.items).index(item)
    return [p for p in finder.candidates(finder.history(user_ix), item_ix, user_ix)
            if p.kind == kind]


def sentences(data: GraphData, user: str, item: str, kind: str) -> list[str]:
    return [describe(p, data, TITLES)["sentence"] for p in paths_of(data, user, item, kind)]


def test_brand_names_the_item_the_brand_and_the_shoppers_who_bought_both(shop) -> None:
    # i00's buyers: u0, u1, u2, u3; u1 and u2 bought i01 too. i04's only buyer is u0.
    assert sentences(shop, "u0", "i01", "brand") == [
        ("You bought Olay Regenerist Serum; this is also Olay, and 2 of the 4 shoppers who "
         "bought it bought this too."),
        "You bought Olay Regenerist Serum; this is also Olay."]


def test_counts_quote_every_purchase_the_store_holds() -> None:
    """A test purchase is the store's as much as a train one (it is in its buyer's history, and
    a reason may start from it): the counts quote it, each shopper once."""
    items = pd.DataFrame([(key, *row) for key, row in SHOP.items()],
                         columns=["item_id", "title", "brand", "categories"])
    rows = [(user, item, "train") for user, bought in BOUGHT.items() for item in bought]
    # u5 bought the serum in the test split; u1's test purchase repeats a train one
    rows += [("u5", "i00", "test"), ("u5", "i01", "train"), ("u1", "i00", "test")]
    data = GraphData.from_frames(items, pd.DataFrame(rows, columns=["user_id", "item_id", "split"]),
                                 pd.DataFrame(LINKS, columns=["item_id", "relation",
                                                              "other_item_id"]))
    u5, i00, i01 = list(data.users).index("u5"), 0, 1
    held = data.held_out_only()  # u1's repeat is a train purchase already
    assert [(data.users[u], data.items[i]) for u, i in held] == [("u5", "i00")]
    finder = PathFinder(data)
    # u5's own purchase of the serum, as the store gives their history: they are among its
    # five buyers (u0, u1, u2, u3, u5), and among the three who bought the cream too
    brand = [p for p in finder.candidates(np.array([i00]), i01, u5) if p.kind == "brand"]
    assert [describe(p, data, TITLES)["sentence"] for p in brand] == [
        ("You bought Olay Regenerist Serum; this is also Olay, and 3 of the 5 shoppers who "
         "bought it bought this too.")]
    assert sentences(data, "u0", "i01", "also_bought") == [
        ("You bought Olay Regenerist Serum; shoppers who bought it also bought this, and 3 of "
         "the 5 shoppers who bought it bought this too.")]


def test_category_names_the_category_and_its_size(shop) -> None:
    assert sentences(shop, "u0", "i01", "category") == [
        "You bought Rose Oil; this is also in Creams (2 items)."]


def test_an_item_without_a_title_is_named_by_its_id(shop) -> None:
    # its category is the sentence's own: not said twice
    assert sentences(shop, "u4", "i03", "category") == [
        "You bought item i05; this is also in Soaps (2 items)."]


def test_an_item_without_a_title_says_its_category(shop) -> None:
    # a catalogue without titles (Clothing) still says what was bought
    assert sentences(shop, "u4", "i03", "also_bought") == [
        "You bought item i05 (Soaps); shoppers who bought it also bought this."]


def test_the_most_specific_category_has_the_fewest_items() -> None:
    # item 0 read as a set: a leaf (1 item), a branch (2) and the root (4); item 1 in the root
    # and two of one size (the first by name: "Lip", though listed after "Nail"); item 2 in
    # the root alone; item 3 in none
    names = ["Beauty", "Skin", "Serums", "Nail", "Lip"]
    pairs = np.array([[0, 2], [0, 1], [0, 0], [1, 0], [1, 3], [1, 4], [2, 0], [4, 0], [4, 1]])
    size = np.bincount(pairs[:, 1])
    assert size.tolist() == [4, 2, 1, 1, 1]
    assert most_specific(pairs, size, names, 5).tolist() == [2, 4, 0, -1, 1]


def test_also_bought_reads_in_the_links_direction(shop) -> None:
    # i00 →ALSO_BOUGHT→ i01: the list on the page of the item bought
    assert sentences(shop, "u0", "i01", "also_bought") == [
        ("You bought Olay Regenerist Serum; shoppers who bought it also bought this, and 2 of "
         "the 4 shoppers who bought it bought this too.")]


def test_also_viewed_from_the_recommended_item(shop) -> None:
    # i01 →ALSO_VIEWED→ i02: the list on the recommended item's page names the one bought
    assert sentences(shop, "u0", "i01", "also_viewed") == [
        "You bought Rose Oil; shoppers who viewed this also viewed it."]


def test_bought_together(shop) -> None:
    assert sentences(shop, "u0", "i03", "bought_together") == [
        "You bought Rose Oil; it is often bought together with this."]


def test_collaborative_counts_every_co_buyer_once(shop) -> None:
    # two co-buyers (u1, u2) give two paths that say one thing: said once, with the count
    paths = paths_of(shop, "u0", "i01", "collaborative")
    assert len(paths) == 2
    said = describe_all([(1.0, p) for p in paths], shop, TITLES)
    assert [view["sentence"] for view in said] == [
        "You bought Olay Regenerist Serum; 2 of the 4 shoppers who bought it bought this too."]
    assert said[0]["cypher"]["params"]["other"] == str(shop.users[paths[0].nodes[2][1]])


def test_link_chain_names_both_relations_and_their_direction(shop) -> None:
    # i00 →ALSO_BOUGHT→ i01 ←ALSO_VIEWED← i03, and i02 ←ALSO_VIEWED← i01 ←ALSO_VIEWED← i03
    assert sorted(sentences(shop, "u0", "i03", "link_chain")) == [
        ("You bought Olay Regenerist Serum; shoppers who bought it also bought Olay Day Cream, "
         "and shoppers who viewed this also viewed Olay Day Cream."),
        ("You bought Rose Oil; shoppers who viewed Olay Day Cream also viewed it, and shoppers "
         "who viewed this also viewed Olay Day Cream.")]


def test_two_listings_of_one_product_are_said_once(shop) -> None:
    # u0 bought both listings of the serum: one brand reason, the strongest (first) kept
    weighted = [(0.5, p) for p in paths_of(shop, "u0", "i01", "brand")]
    weighted += [(0.2, p) for p in paths_of(shop, "u0", "i01", "category")]
    said = describe_all(weighted, shop, TITLES)
    assert [(view["kind"], view["weight"], view["nodes"][1]["id"]) for view in said] == [
        ("brand", 0.5, "i00"), ("category", 0.2, "i02")]
    assert len(describe_all(weighted, shop, TITLES, top=1)) == 1
    # the paths kept, for callers that need them (publish writes each path's steps)
    assert distinct(weighted, shop, TITLES) == [weighted[0], weighted[2]]


def test_one_answer_says_a_co_buyer_figure_once(shop) -> None:
    """Three reasons from one purchase each ended "and 2 of the 4 shoppers who bought it bought
    this too", and a co-buyer reason after them said that alone again. The first reason through
    the purchase says its figure; the others say what is theirs; a co-buyer reason with nothing
    left to say is left out, and the next path takes its place. The order stays the paths'."""
    brand = paths_of(shop, "u0", "i01", "brand")[0]  # through i00
    also_bought = paths_of(shop, "u0", "i01", "also_bought")[0]  # through i00
    co_buyers = paths_of(shop, "u0", "i01", "collaborative")  # through i00, u1 and u2
    category = paths_of(shop, "u0", "i01", "category")[0]  # through i02: no figure (0 of 1)
    weighted = [(0.9, brand), (0.8, also_bought), (0.7, co_buyers[0]), (0.6, category)]
    said = describe_all(weighted, shop, TITLES, top=3)
    assert [(view["kind"], view["weight"], view["sentence"]) for view in said] == [
        ("brand", 0.9, "You bought Olay Regenerist Serum; this is also Olay, and 2 of the 4 "
                       "shoppers who bought it bought this too."),
        ("also_bought", 0.8, "You bought Olay Regenerist Serum; shoppers who bought it also "
                             "bought this."),
        ("category", 0.6, "You bought Rose Oil; this is also in Creams (2 items).")]
    # the paths kept, as publish writes them
    assert distinct(weighted, shop, TITLES, 3) == [weighted[0], weighted[1], weighted[3]]
    # a co-buyer reason first is the figure; what follows from that purchase says the rest
    said = describe_all([(0.9, co_buyers[0]), (0.8, brand), (0.7, co_buyers[1])], shop, TITLES)
    assert [view["sentence"] for view in said] == [
        "You bought Olay Regenerist Serum; 2 of the 4 shoppers who bought it bought this too.",
        "You bought Olay Regenerist Serum; this is also Olay."]
    # a chain says no figure: a co-buyer reason after it still tells one
    chain = paths_of(shop, "u0", "i03", "link_chain")
    via_serum = next(p for p in chain if p.via_item == 0)
    co_buyer = paths_of(shop, "u0", "i03", "collaborative")[0]  # u3 bought i00 and i03
    said = describe_all([(0.9, via_serum), (0.8, co_buyer)], shop, TITLES)
    assert [view["kind"] for view in said] == ["link_chain", "collaborative"]
    assert said[1]["sentence"] == ("You bought Olay Regenerist Serum; 1 of the 4 shoppers who "
                                   "bought it bought this too.")


def test_two_listings_of_one_product_bought_give_one_figure(shop) -> None:
    """A shopper who bought two listings with one title read "1 of the 14 shoppers who bought
    it" and "1 of the 28 …" of what reads as one purchase: one answer gives the first alone."""
    brand = paths_of(shop, "u0", "i01", "brand")[0]  # through i00, with its figure
    category = paths_of(shop, "u0", "i01", "category")[0]  # through i02
    one_title = {**TITLES, "i02": TITLES["i00"]}  # i02 relisted as i00
    assert says_figure([(0.9, brand), (0.8, category)], shop, TITLES) == [True, True]
    assert says_figure([(0.9, brand), (0.8, category)], shop, one_title) == [True, False]


def test_every_kind_has_a_sentence_that_names_the_item_bought(shop) -> None:
    finder = PathFinder(shop)
    kinds = set()
    for user in range(shop.num_users):
        for item in range(shop.num_items):
            for path in finder.candidates(finder.history(user), item, user):
                text = describe(path, shop, TITLES)["sentence"]
                assert text.startswith("You bought ") and text.endswith(".")
                assert "{" not in text and "  " not in text
                kinds.add(path.kind)
    assert kinds == {"brand", "category", "also_bought", "also_viewed", "bought_together",
                     "collaborative", "link_chain"}
