"""Reason paths as a networkx graph and as GraphML, on hand-made explanations whose graph is
known."""
from __future__ import annotations

import io

import networkx as nx

from graphrec.explain.reasons import OTHER_SHOPPER
from graphrec.explain.subgraph import add_paths, explanation_graph, to_graphml, user_graph


def node(key: str, type_: str, id_: str, label: str | None = None) -> dict:
    return {"key": key, "type": type_, "id": id_, "label": label or id_}


def rel(type_: str, source: str, target: str) -> dict:
    return {"type": type_, "from": source, "to": target}


BRAND = {"kind": "brand", "weight": 0.75, "sentence": "…", "nodes": [
    node("n0", "User", "u1"), node("n1", "Item", "i1", "Soap"), node("n2", "Brand", "Acme"),
    node("n3", "Item", "i9", "Shampoo")], "relationships": [
    rel("BOUGHT", "n0", "n1"), rel("HAS_BRAND", "n1", "n2"), rel("HAS_BRAND", "n3", "n2")]}
CATEGORY = {"kind": "category", "weight": None, "sentence": "…", "nodes": [
    node("n0", "User", "u1"), node("n1", "Item", "i1", "Soap"), node("n2", "Category", "Bath"),
    node("n3", "Item", "i9", "Shampoo")], "relationships": [
    rel("BOUGHT", "n0", "n1"), rel("IN_CATEGORY", "n1", "n2"), rel("IN_CATEGORY", "n3", "n2")]}
EXPLANATION = {"user_id": "u1", "item_id": "i9", "paths": [BRAND, CATEGORY]}


def test_nodes_are_keyed_by_type_and_id_and_shared_between_paths() -> None:
    graph = explanation_graph(EXPLANATION)
    assert dict(graph.nodes(data=True)) == {
        "User:u1": {"type": "User", "id": "u1", "label": "u1"},
        "Item:i1": {"type": "Item", "id": "i1", "label": "Soap"},
        "Brand:Acme": {"type": "Brand", "id": "Acme", "label": "Acme"},
        "Category:Bath": {"type": "Category", "id": "Bath", "label": "Bath"},
        "Item:i9": {"type": "Item", "id": "i9", "label": "Shampoo"}}
    assert graph.graph == {"user": "u1", "item": "i9"}


def test_each_relationship_of_each_path_is_an_edge_in_the_stores_direction() -> None:
    graph = explanation_graph(EXPLANATION)
    assert sorted((u, v, d["type"], d["path_rank"], d["kind"], d.get("weight"))
                  for u, v, d in graph.edges(data=True)) == [
        ("Item:i1", "Brand:Acme", "HAS_BRAND", 1, "brand", 0.75),
        ("Item:i1", "Category:Bath", "IN_CATEGORY", 2, "category", None),
        ("Item:i9", "Brand:Acme", "HAS_BRAND", 1, "brand", 0.75),
        ("Item:i9", "Category:Bath", "IN_CATEGORY", 2, "category", None),
        ("User:u1", "Item:i1", "BOUGHT", 1, "brand", 0.75),
        ("User:u1", "Item:i1", "BOUGHT", 2, "category", None)]
    assert graph.number_of_edges("User:u1", "Item:i1") == 2  # one per path


def test_paths_of_several_items_stay_apart_by_item() -> None:
    graph = nx.MultiDiGraph()
    add_paths(graph, "i9", [BRAND])
    add_paths(graph, "i7", [BRAND])
    assert sorted(d["item"] for _, _, d in graph.edges(data=True)) == ["i7"] * 3 + ["i9"] * 3
    assert graph.number_of_nodes() == 4


def test_graphml_round_trips_through_networkx() -> None:
    graph = explanation_graph(EXPLANATION)
    back = nx.read_graphml(io.BytesIO(to_graphml(graph)), force_multigraph=True)
    assert isinstance(back, nx.MultiDiGraph)
    assert dict(back.nodes(data=True)) == dict(graph.nodes(data=True))
    assert (back.graph["user"], back.graph["item"]) == ("u1", "i9")
    assert sorted((u, v, sorted(d.items())) for u, v, d in back.edges(data=True)) == sorted(
        (u, v, sorted(d.items())) for u, v, d in graph.edges(data=True))


def test_an_explanation_without_paths_is_an_empty_graph() -> None:
    graph = explanation_graph({"user_id": "u1", "item_id": "i9", "paths": []})
    assert graph.number_of_nodes() == 0
    assert nx.read_graphml(io.BytesIO(to_graphml(graph))).number_of_nodes() == 0


def co_buyer_path(via: str, other: str, item: str) -> dict:
    return {"kind": "collaborative", "weight": 0.5, "sentence": "…", "nodes": [
        node("n0", "User", "u1"), node("n1", "Item", via),
        node("n2", "User", other, OTHER_SHOPPER), node("n3", "Item", item)], "relationships": [
        rel("BOUGHT", "n0", "n1"), rel("BOUGHT", "n2", "n1"), rel("BOUGHT", "n2", "n3")]}


class TwoAnswers:
    """A service whose two recommendations are each explained through a "shopper #1" of its
    own (each answer numbers its unnamed shoppers from 1)."""

    def recommend(self, user_id: str, k: int) -> list[dict]:
        return [{"item_id": "i8"}, {"item_id": "i9"}]

    def explain(self, user_id: str, item_id: str, top: int) -> dict:
        via = {"i8": "i1", "i9": "i2"}[item_id]
        return {"user_id": user_id, "item_id": item_id,
                "paths": [co_buyer_path(via, "shopper #1", item_id)]}


def test_unnamed_shoppers_of_different_answers_stay_apart() -> None:
    """Each answer's "shopper #1" is someone of its own: one node for both would say that one
    person bought i1, i2, i8 and i9, which nobody did."""
    graph = user_graph(TwoAnswers(), "u1")  # type: ignore[arg-type]  # the two calls it makes
    shoppers = sorted(n for n, d in graph.nodes(data=True) if d["label"] == OTHER_SHOPPER)
    assert shoppers == ["User:shopper #1", "User:shopper #2"]
    assert sorted(graph.successors("User:shopper #1")) == ["Item:i1", "Item:i8"]
    assert sorted(graph.successors("User:shopper #2")) == ["Item:i2", "Item:i9"]
