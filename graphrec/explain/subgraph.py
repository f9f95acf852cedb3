"""Reason paths as a networkx graph, for notebooks, and as GraphML, for Gephi and friends.

The input is what the service answers (:meth:`RecommendationService.explain`, and the JSON API):
paths of nodes and relationships (see :func:`graphrec.explain.reasons.describe`). Paths share
nodes (the user, a brand, an item bought), so their union is a graph: a node is keyed by its
type and id (``"Brand:Acme"``) and carries ``type``, ``id`` and ``label``; each relationship of
each path is an edge of its own (a :class:`networkx.MultiDiGraph`, in the direction the
relationship has in the store) carrying ``type``, the ``item`` the path explains, the path's
``kind``, its ``path_rank`` among that item's paths (1 is the strongest) and its ``weight``. Two
paths over the same relationship are two parallel edges, so every path can be read back from the
graph.
"""
from __future__ import annotations

import io
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx

from graphrec.explain.reasons import OTHER_SHOPPER
from graphrec.private import open_private

if TYPE_CHECKING:
    from graphrec.serving.service import RecommendationService

GRAPHML_TYPE = "application/graphml+xml"


def node_key(node: Mapping[str, Any]) -> str:
    """``"Type:id"``: unique in the store, where ids are unique within a node type."""
    return f"{node['type']}:{node['id']}"


def add_paths(graph: nx.MultiDiGraph, item_id: str, paths: Iterable[Mapping[str, Any]]) -> None:
    """Add one item's reason paths (in the order they are shown) to ``graph``."""
    for rank, path in enumerate(paths, start=1):
        keys = {}
        for node in path["nodes"]:
            keys[node["key"]] = node_key(node)
            graph.add_node(keys[node["key"]], type=node["type"], id=node["id"],
                           label=node["label"])
        attrs = {"item": item_id, "kind": path["kind"], "path_rank": rank}
        if path.get("weight") is not None:  # GraphML has no null
            attrs["weight"] = float(path["weight"])
        for rel in path["relationships"]:
            graph.add_edge(keys[rel["from"]], keys[rel["to"]], type=rel["type"], **attrs)


def explanation_graph(explanation: Mapping[str, Any]) -> nx.MultiDiGraph:
    """One recommendation's reason paths (an ``explain`` answer) as a graph."""
    graph = nx.MultiDiGraph(user=explanation["user_id"], item=explanation["item_id"])
    add_paths(graph, explanation["item_id"], explanation["paths"])
    return graph


def user_graph(service: RecommendationService, user_id: str, k: int = 10,
               top: int = 3) -> nx.MultiDiGraph:
    """The user's whole explanation subgraph: the ``top`` reason paths of each of their
    ``k`` recommendations, in one graph (UnknownUser for a user the model does not know)."""
    graph = nx.MultiDiGraph(user=user_id)
    shoppers = 0
    for rec in service.recommend(user_id, k=k):
        explanation = service.explain(user_id, rec["item_id"], top=top)
        paths, shoppers = _numbered_apart(explanation["paths"], shoppers)
        add_paths(graph, rec["item_id"], paths)
    return graph


def _numbered_apart(paths: Iterable[Mapping[str, Any]], before: int
                    ) -> tuple[list[dict[str, Any]], int]:
    """``paths`` of one answer with its unnamed shoppers ("shopper #1", numbered within that
    answer: :func:`~graphrec.explain.reasons.anonymised`) numbered after the ``before`` of the
    answers before, and how many there are now: two answers' "shopper #1" are not known to be
    one person, and one node for both would draw purchases that no one made."""
    numbers: dict[str, str] = {}
    out = []
    for path in paths:
        nodes = [{**node, "id": numbers.setdefault(
                     node["id"], f"shopper #{before + len(numbers) + 1}")}
                 if node["label"] == OTHER_SHOPPER else node for node in path["nodes"]]
        out.append({**path, "nodes": nodes})
    return out, before + len(numbers)


def to_graphml(graph: nx.MultiDiGraph) -> bytes:
    """The graph as a GraphML document (UTF-8)."""
    buffer = io.BytesIO()
    nx.write_graphml(graph, buffer)
    return buffer.getvalue()


def write_graphml(graph: nx.MultiDiGraph, path: Path) -> int:
    """Write the graph as GraphML to ``path``, 0600 (it names a shopper and what they bought);
    the bytes written."""
    document = to_graphml(graph)
    with os.fdopen(open_private(path, os.O_WRONLY | os.O_TRUNC), "wb") as out:
        out.write(document)
    return len(document)
