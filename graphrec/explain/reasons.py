"""Reason paths in the form people and programs read: JSON for drawing, one sentence each."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphrec.dataset import GraphData
from graphrec.explain.paths import ReasonPath

LABELS = {"user": "User", "item": "Item", "brand": "Brand", "category": "Category"}

SENTENCES = {
    "brand": "Because you bought {via}, also from {middle}.",
    "category": "Because you bought {via}, also in {middle}.",
    "also_bought": "Shoppers who bought {via}, which you bought, also bought this.",
    "also_viewed": "Shoppers who viewed {via}, which you bought, also viewed this.",
    "bought_together": "Often bought together with {via}, which you bought.",
    "collaborative": "A shopper who also bought {via} bought this too.",
    "link_chain": "Shoppers link {via}, which you bought, to {middle}, and {middle} to this.",
}

#: What a shopper with no purchase yet is shown, and why.
POPULAR = "Popular with shoppers: bought by {buyers} of them{where}."


def node_id(data: GraphData, node_type: str, index: int) -> str:
    """The node's key in the store: user or item id, brand or category name."""
    table = {"user": data.users, "item": data.items, "brand": data.brands,
             "category": data.categories}[node_type]
    return str(table[index])


def short(title: str | None, limit: int = 60) -> str:
    if not title:
        return ""
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


def describe(path: ReasonPath, data: GraphData, titles: Mapping[str, str | None],
             weight: float | None = None, user_id: str | None = None) -> dict[str, Any]:
    """``{"kind", "weight", "sentence", "nodes", "relationships", "cypher"}`` for one path.

    ``titles`` maps item ids to titles (items without one are labelled by id). Relationship
    ``from``/``to`` are node keys, in the direction the relationship has in the graph.
    ``user_id`` names the path's first node (a user the graph ``data`` may not hold yet).
    """
    nodes = []
    for position, (node_type, index) in enumerate(path.nodes):
        key = (user_id if position == 0 and user_id is not None
               else node_id(data, node_type, index))
        label = (short(titles.get(key)) or key) if node_type == "item" else key
        nodes.append({"key": f"n{position}", "type": LABELS[node_type], "id": key,
                      "label": label})
    relationships = [{"type": hop.type, "from": f"n{hop.source}", "to": f"n{hop.target}"}
                     for hop in path.hops]
    via = nodes[1]["label"]
    middle = nodes[2]["label"] if len(nodes) > 3 else ""
    return {
        "kind": path.kind,
        "weight": weight,
        "sentence": SENTENCES[path.kind].format(via=via, middle=middle),
        "nodes": nodes,
        "relationships": relationships,
        "cypher": cypher_call(path, data, user_id),
    }


def describe_popular(item_id: str, details: Mapping[str, Any], category: str | None,
                     buyers: int) -> dict[str, Any]:
    """The reason shown with a popular item to a shopper who has bought nothing yet: how many
    bought it, and where it sits in the shop (its category, its brand), drawn as the item and
    its category (``cypher/explain/popular.cypher``)."""
    where = "".join(part for part in (f", in {category}" if category else "",
                                      f", by {details['brand']}" if details.get("brand") else ""))
    nodes = [{"key": "n0", "type": "Item", "id": item_id,
              "label": short(details.get("title")) or item_id}]
    relationships = []
    if category:
        nodes.append({"key": "n1", "type": "Category", "id": category, "label": category})
        relationships.append({"type": "IN_CATEGORY", "from": "n0", "to": "n1"})
    return {"kind": "popular", "weight": None,
            "sentence": POPULAR.format(buyers=buyers, where=where), "nodes": nodes,
            "relationships": relationships,
            "cypher": {"query": "explain/popular", "params": {"item": item_id}}}


def cypher_call(path: ReasonPath, data: GraphData, user_id: str | None = None
                ) -> dict[str, Any]:
    """The ``cypher/explain/`` query and parameters that find this path in the store."""
    ids = [node_id(data, t, i) for t, i in path.nodes[1:]]
    ids.insert(0, user_id if user_id is not None else node_id(data, *path.nodes[0]))
    params = {"user": ids[0], "via": ids[1], "item": ids[-1]}
    if path.kind == "collaborative":
        params["other"] = ids[2]
    if path.kind == "link_chain":
        params["middle"] = ids[2]
    return {"query": f"explain/{path.kind}", "params": params}
