"""Reason paths in the form people and programs read: JSON for drawing, one sentence each.

A sentence names what the path goes through (the item the user bought or, for a shopper scored
from their views, viewed, by its title; the brand;
the category; the middle item of a chain), says which relation joins each pair of items and in
which direction (``A →ALSO_BOUGHT→ B`` is "shoppers who bought A also bought B": Amazon's list
on A's page, which says nothing of B's), and quotes the figure from the graph that makes the path
count: how many of the shoppers who bought the item from the user's history bought the
recommended one too (every purchase the store holds: those the model learnt from, those
reported live since and the test split's). Paths that read the same, such as
two co-buyers of one item or two bought listings with one title, are said once, and so is
each figure (:func:`describe_all`).
"""
from __future__ import annotations

import threading
import weakref
from collections.abc import Container, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from graphrec.adjacency import Adjacency
from graphrec.dataset import GraphData
from graphrec.explain.paths import Hop, ReasonPath
from graphrec.schema import BY_NAME, LABELS, LINK_RELATIONS, RELATIONS, VIEWED

#: How a link relation reads, from its source item to its target item, by relationship type.
LINK_CLAUSES = {r.type: r.clause for r in RELATIONS if r.clause}

#: What a shopper with no purchase yet is shown, and why.
POPULAR = "Popular with shoppers: bought by {buyers} of them{where}."


class GraphFacts:
    """The counts sentences quote, from every purchase of one GraphData: its train purchases
    (with those reported live), which its paths walk, and its test ones, which no model
    learns from but the store holds as each buyer's history (a sentence may start from one),
    so that "3 of the 66 shoppers who bought it" is what a Cypher count of the store says. Also
    each item's category as an answer names it. Indexed once."""

    def __init__(self, data: GraphData, item_users: Adjacency | None = None) -> None:
        #: each item's train (and live) buyers: the path finder's index when given
        self.item_users = (item_users if item_users is not None else Adjacency.of(
            data.train[:, 1], data.train[:, 0], data.num_items, data.num_users))
        #: each item's buyers in the test split (counted, never walked)
        self.held_out = held_out(data)
        pairs = np.asarray(data.item_category, dtype=np.int64).reshape(-1, 2)
        self.category_size = np.bincount(pairs[:, 1], minlength=len(data.categories))
        self._categories = data.categories
        self._category_of = most_specific(pairs, self.category_size, data.categories,
                                          data.num_items)

    def category_of(self, item: int) -> int:
        """The index of the item's most specific category (:func:`most_specific`), -1 for an
        item in none."""
        return int(self._category_of[item])

    def categories(self, items: Sequence[int]) -> list[str | None]:
        """The name of each item's most specific category, ``None`` for an item in none."""
        return [str(self._categories[index]) if index >= 0 else None
                for index in self._category_of[np.asarray(items, dtype=np.int64)].tolist()]

    def buyers(self, item: int) -> np.ndarray:
        """Everyone who bought ``item``, in any split, ascending, each once."""
        walked = self.item_users.row(item)
        held = (self.held_out.row(item) if item < len(self.held_out.indptr) - 1
                else walked[:0])
        return np.union1d(walked, held) if len(held) else walked

    def bought_both(self, a: int, b: int) -> tuple[int, int]:
        """``(shoppers who bought both a and b, shoppers who bought a)``."""
        of_a = self.buyers(a)
        return len(np.intersect1d(of_a, self.buyers(b), assume_unique=True)), len(of_a)


_held: dict[int, Adjacency] = {}
_held_lock = threading.Lock()


def held_out(data: GraphData) -> Adjacency:
    """Each item's buyers in ``data.test``, indexed once while the array lives: the graph of
    a served model grows with every set of purchases reported live, and its test purchases,
    which no model learns from, stay as they were (one array), so they are not sorted again."""
    test = np.asarray(data.test, dtype=np.int64).reshape(-1, 2)
    key = id(data.test)
    with _held_lock:
        found = _held.get(key)
        if found is None:
            found = _held[key] = Adjacency.of(
                test[:, 1], test[:, 0], int(test[:, 1].max(initial=-1)) + 1,
                int(test[:, 0].max(initial=-1)) + 1)
            weakref.finalize(data.test, _held.pop, key, None)
    return found


def most_specific(pairs: np.ndarray, size: np.ndarray, names: Sequence[str] | np.ndarray,
                  num_items: int) -> np.ndarray:
    """Each item's most specific category of the ``(item, category)`` ``pairs`` (categories by
    their index in ``names``, ``size`` their items): the one with the fewest items, of equals
    the first by name; -1 for an item in none.

    An item read as a path is in its leaf alone, so that is its category; one read as a set
    (``--categories set``, Clothing's names) is in every name of its paths, the root among
    them, and the smallest says most of what it is ("Wrist Watches", not "Clothing, Shoes &
    Jewelry")."""
    out = np.full(num_items, -1, dtype=np.int64)
    if len(pairs):
        by_name = np.argsort(np.argsort(np.asarray(names, dtype=str), kind="stable"))
        order = np.lexsort((by_name[pairs[:, 1]], size[pairs[:, 1]], pairs[:, 0]))
        items, first = np.unique(pairs[order, 0], return_index=True)
        out[items] = pairs[order[first], 1]
    return out


_facts: dict[int, GraphFacts] = {}
_facts_lock = threading.Lock()


def graph_facts(data: GraphData, item_users: Adjacency | None = None) -> GraphFacts:
    """The :class:`GraphFacts` of ``data``, built on first use and kept while ``data`` lives
    (one per service, publish run or benchmark; a GraphData is not hashable, hence its id).
    ``item_users``: each item's buyers in ``data``, when the caller has indexed them already
    (a served model's path finder), so that they are not sorted again."""
    key = id(data)
    with _facts_lock:
        facts = _facts.get(key)
        if facts is None:
            facts = _facts[key] = GraphFacts(data, item_users)
            weakref.finalize(data, _facts.pop, key, None)
    return facts


def node_id(data: GraphData, node_type: str, index: int) -> str:
    """The node's key in the store: user or item id, brand or category name."""
    table = {"user": data.users, "item": data.items, "brand": data.brands,
             "category": data.categories}[node_type]
    return str(table[index])


def short(title: str | None, limit: int = 60) -> str:
    if not title:
        return ""
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


def item_name(data: GraphData, item: int, titles: Mapping[str, str | None],
              unless_in: int | None = None) -> str:
    """An item (an index of ``data``) as a sentence names it: its title; else ``item <id>``
    followed by its most specific category (unless that is category ``unless_in``, which the
    sentence names anyway), so that a catalogue without titles still says what was bought."""
    key = node_id(data, "item", item)
    if title := short(titles.get(key)):
        return title
    category = graph_facts(data).category_of(item)
    if category < 0 or category == unless_in:
        return f"item {key}"
    return f"item {key} ({data.categories[category]})"


def shoppers(count: int) -> str:
    return f"{count:,} shopper" if count == 1 else f"{count:,} shoppers"


def _link_clause(hop: Hop, names: Mapping[int, str]) -> str:
    return LINK_CLAUSES[hop.type].format(source=names[hop.source], target=names[hop.target])


def sentence(path: ReasonPath, data: GraphData, titles: Mapping[str, str | None],
             figure: bool = True) -> str:
    """One sentence for ``path``: names, relations with their direction, and counts.
    ``figure``: whether it ends with its co-buyer figure ("and 6 of the 29 shoppers who bought
    it bought this too"); one answer says a figure once (:func:`says_figure`). A co-buyer
    path's sentence is its figure: it always says it."""
    facts = graph_facts(data)
    via, item = path.via_item, path.nodes[-1][1]
    verb = "viewed" if path.hops[0].type == VIEWED else "bought"
    middle_type, middle = path.nodes[2]
    opening = (f"You {verb} "
               f"{item_name(data, via, titles, middle if path.kind == 'category' else None)}")
    both, of_via = facts.bought_both(via, item)
    count = (f", and {both:,} of the {shoppers(of_via)} who bought it bought this too"
             if both and figure else "")
    if path.kind == "brand":
        return f"{opening}; this is also {data.brands[middle]}{count}."
    if path.kind == "category":
        size = int(facts.category_size[middle])
        return (f"{opening}; this is also in {data.categories[middle]} "
                f"({size:,} item{'' if size == 1 else 's'}){count}.")
    if path.kind == "collaborative":
        return f"{opening}; {both:,} of the {shoppers(of_via)} who bought it bought this too."
    # once named, the item bought is "it" and the recommended one "this"
    names = {1: "it", len(path.nodes) - 1: "this"}
    if path.kind == "link_chain":
        names[2] = item_name(data, middle, titles)
        return (f"{opening}; {_link_clause(path.hops[1], names)}, "
                f"and {_link_clause(path.hops[2], names)}.")
    return f"{opening}; {_link_clause(path.hops[1], names)}{count}."


def describe(path: ReasonPath, data: GraphData, titles: Mapping[str, str | None],
             weight: float | None = None, user_id: str | None = None,
             figure: bool = True) -> dict[str, Any]:
    """``{"kind", "weight", "sentence", "nodes", "relationships", "cypher"}`` for one path.

    ``titles`` maps item ids to titles (items without one are labelled by id). Relationship
    ``from``/``to`` are node keys, in the direction the relationship has in the graph.
    ``user_id`` names the path's first node (a user the graph ``data`` may not hold yet).
    ``figure``: whether the sentence says its co-buyer figure (:func:`sentence`); the paths of
    one answer are described together by :func:`describe_shown`, which says each figure once.
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
    return {
        "kind": path.kind,
        "weight": weight,
        "sentence": sentence(path, data, titles, figure),
        "nodes": nodes,
        "relationships": relationships,
        "cypher": cypher_call(path, data, user_id),
    }


#: How an answer for the shop's clients labels another shopper a co-buyer path goes through.
OTHER_SHOPPER = "another shopper"


def co_buyer_purchases(nodes: Sequence[tuple[str, str]]) -> dict[str, set[tuple[str, str]]]:
    """The purchases a path's nodes (``(label, id)``, :data:`~graphrec.schema.LABELS`) say each
    other shopper made: every user after the first, with the items beside it. A path may name
    a co-buyer only while the store holds these (one forgotten since training has none, nor has
    a new customer who took the id since)."""
    claims: dict[str, set[tuple[str, str]]] = {}
    for position, (label, node) in enumerate(nodes):
        if position and label == LABELS["user"]:
            claims.setdefault(node, set()).update(
                (node, item) for near, item in nodes[position - 1:position + 2:2]
                if near == LABELS["item"])
    return claims


def other_shoppers(paths: Sequence[dict[str, Any]]) -> dict[str, set[tuple[str, str]]]:
    """:func:`co_buyer_purchases` of ``paths`` (:func:`describe`'s, of one answer) together:
    each other shopper with every purchase the answer says they made."""
    claims: dict[str, set[tuple[str, str]]] = {}
    for path in paths:
        for user, pairs in co_buyer_purchases(
                [(node["type"], node["id"]) for node in path["nodes"]]).items():
            claims.setdefault(user, set()).update(pairs)
    return claims


def anonymised(paths: Sequence[dict[str, Any]], named: Container[str] = ()
               ) -> list[dict[str, Any]]:
    """``paths`` (:func:`describe`'s, of one answer) without the ids of the other shoppers
    their co-buyer paths go through, but those in ``named``: a shop's customer ids (an email, a
    customer number) and what each bought are not for the user the answer is about, nor for
    the page that draws it. Each such shopper becomes ``"shopper #1"``, ``"#2"``, … in the
    order they first appear (one shopper keeps one number within the answer, so a graph of its
    paths keeps them apart), labelled :data:`OTHER_SHOPPER`; the path's Cypher asks for any
    co-buyer (``other``: null). The sentences never named them."""
    numbers: dict[str, str] = {}
    out = []
    for path in paths:
        nodes = []
        hidden = False
        for position, node in enumerate(path["nodes"]):
            if position and node["type"] == LABELS["user"] and node["id"] not in named:
                pseudonym = numbers.setdefault(node["id"], f"shopper #{len(numbers) + 1}")
                node = {**node, "id": pseudonym, "label": OTHER_SHOPPER}
                hidden = True
            nodes.append(node)
        cypher = path["cypher"]
        if hidden and "other" in cypher["params"]:
            cypher = {**cypher, "params": {**cypher["params"], "other": None}}
        out.append({**path, "nodes": nodes, "cypher": cypher})
    return out


#: A reason path with its weight, when it has one: what :func:`describe` shows.
ShownPath = tuple[float | None, ReasonPath]


def distinct(weighted: Iterable[ShownPath], data: GraphData, titles: Mapping[str, str | None],
             top: int | None = None) -> list[ShownPath]:
    """The first ``top`` of ``weighted`` (in the order they are shown) that say something an
    earlier one did not.

    A path that reads as an earlier one is left out: its evidence is in that sentence's count
    (two co-buyers of one item make "2 of the 9 shoppers who bought it"), or it goes through a
    listing named as one already said (the same title bought twice: a near-duplicate listing of
    one product). So is a co-buyer path whose item bought an earlier path's sentence gave the
    figure of ("this is also Olay, and 6 of the 29 shoppers who bought it bought this too"):
    the figure is all a co-buyer path says. The order is the paths' own (their weights); only
    what is said is. Pass more candidates than ``top`` so that what is left out is made up for.
    """
    out: list[ShownPath] = []
    said: set[tuple[str, ...]] = set()
    figures: set[str] = set()  # the items bought, by name, whose figure is said already
    for weight, path in weighted:
        if top is not None and len(out) >= top:
            break
        reading = _reading(path, data, titles)
        bought = _bought_name(path, data, titles)
        if reading in said or (path.kind == "collaborative" and bought in figures):
            continue
        said.add(reading)
        out.append((weight, path))
        if _quotes_figure(path):  # with a co-buyer path of its item, it has a figure
            figures.add(bought)
    return out


def _bought_name(path: ReasonPath, data: GraphData, titles: Mapping[str, str | None]) -> str:
    """The item of the history ``path`` starts from, as its sentence names it: two listings of
    one product bought read as one purchase, whose figure is said once ("1 of the 14" and "1
    of the 28" of what reads as one item contradicted each other)."""
    return item_name(data, path.via_item, titles)


def _quotes_figure(path: ReasonPath) -> bool:
    """Whether ``path``'s kind of sentence may end with its co-buyer figure (a chain's says two
    links, and no figure)."""
    return path.kind != "link_chain"


def says_figure(shown: Iterable[ShownPath], data: GraphData, titles: Mapping[str, str | None]
                ) -> list[bool]:
    """For each path of one answer (:func:`distinct`'s, in the order shown), whether its
    sentence says its co-buyer figure: the first through its item bought (by the name it is
    given: :func:`_bought_name`) that may say one. Three reasons from one purchase ("this is
    also Olay", "shoppers who viewed it also viewed this", …) said "and 6 of the 29 shoppers
    who bought it bought this too" three times."""
    out, said = [], set()
    for _, path in shown:
        bought = _bought_name(path, data, titles)
        says = _quotes_figure(path) and bought not in said
        if says:
            said.add(bought)
        out.append(says)
    return out


def describe_shown(shown: Sequence[ShownPath], data: GraphData,
                   titles: Mapping[str, str | None], user_id: str | None = None
                   ) -> list[dict[str, Any]]:
    """:func:`describe` of each path of one answer (:func:`distinct`'s), each co-buyer figure
    said once (:func:`says_figure`)."""
    return [describe(path, data, titles, weight, user_id, figure)
            for (weight, path), figure in zip(shown, says_figure(shown, data, titles))]


def describe_all(weighted: Iterable[ShownPath], data: GraphData,
                 titles: Mapping[str, str | None], top: int | None = None,
                 user_id: str | None = None) -> list[dict[str, Any]]:
    """:func:`describe_shown` of the :func:`distinct` paths: a recommendation's reasons, none
    said twice, nor any figure."""
    return describe_shown(distinct(weighted, data, titles, top), data, titles, user_id)


def _reading(path: ReasonPath, data: GraphData, titles: Mapping[str, str | None]
             ) -> tuple[str, ...]:
    """What a path's sentence says, counts aside: its kind, the names it gives (the bought
    item's and, but for a co-buyer or a category, the middle node's) and how its links run.
    Two listings of one product (one title) read the same though their counts differ, and so
    do two categories of one bought item: an item read with ``--categories set`` shares every
    name of its paths with its neighbours ("Wrist Watches", "Watches", "Men"), and after the
    first the others say the same at a coarser grain."""
    middle_type, middle = path.nodes[2]
    named = ("" if middle_type in ("user", "category") or len(path.nodes) == 3 else
             item_name(data, middle, titles) if middle_type == "item" else
             node_id(data, middle_type, middle))
    links = [f"{hop.type}:{hop.source}>{hop.target}" for hop in path.hops[1:]
             if hop.type in LINK_CLAUSES]
    return (path.kind, item_name(data, path.via_item, titles), named, *links)


def describe_popular(item_id: str, details: Mapping[str, Any], category: str | None,
                     buyers: int) -> dict[str, Any]:
    """The reason shown with a popular item to a shopper who has bought nothing yet: how many
    bought it, and where it sits in the shop (its category, its brand), drawn as the item and
    its category (``cypher/explain/popular.cypher``)."""
    where = "".join(part for part in (f", in {category}" if category else "",
                                      f", by {details['brand']}" if details.get("brand") else ""))
    nodes = [{"key": "n0", "type": LABELS["item"], "id": item_id,
              "label": short(details.get("title")) or item_id}]
    relationships = []
    if category:
        nodes.append({"key": "n1", "type": LABELS["category"], "id": category,
                      "label": category})
        relationships.append({"type": BY_NAME["in_category"].type, "from": "n0", "to": "n1"})
    return {"kind": "popular", "weight": None,
            "sentence": POPULAR.format(buyers=buyers, where=where), "nodes": nodes,
            "relationships": relationships,
            "cypher": {"query": "explain/popular", "params": {"item": item_id}}}


def cypher_call(path: ReasonPath, data: GraphData, user_id: str | None = None
                ) -> dict[str, Any]:
    """The ``cypher/explain/`` query and parameters that find this path, and no other, in the
    store: an item link's direction (``forward``: it runs from the path's earlier item to its
    later one) and, in a chain, each link's type, since two items may be joined both ways and
    by links of several types, which read differently."""
    ids = [node_id(data, t, i) for t, i in path.nodes[1:]]
    ids.insert(0, user_id if user_id is not None else node_id(data, *path.nodes[0]))
    params: dict[str, str | bool | None] = {
        "user": ids[0], "start": path.hops[0].type, "via": ids[1], "item": ids[-1]}
    if path.kind == "collaborative":
        params["other"] = ids[2]
    if path.kind in LINK_RELATIONS:
        params["forward"] = path.hops[1].source < path.hops[1].target
    if path.kind == "link_chain":
        params["middle"] = ids[2]
        for name, hop in (("first", path.hops[1]), ("second", path.hops[2])):
            params[name] = hop.type
            params[f"{name}_forward"] = hop.source < hop.target
    if path.kind == "category":
        params["category"] = ids[2]
    return {"query": f"explain/{path.kind}", "params": params}
