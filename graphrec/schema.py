"""The graph's vocabulary, in one place: node types, relations and what an id may be.

Every module that names a node type or a relation reads it from here: the model's relation
names (``has_brand``), the store's relationship types (``HAS_BRAND``) and which node types they
join sit side by side in :data:`RELATIONS`, one row a relation. Adding a relation of the item
graph means a row here and its Cypher statements (``cypher/ingest/``, ``cypher/export/``,
``cypher/explain/`` for a link): Cypher cannot take a relationship type as a parameter, so the
statements spell theirs, and ``tests/test_schema.py`` checks that every type they use is one
this module declares.

Ingest refuses an id that the API could never serve, and the API refuses one that no
catalogue could hold, by the same rule (:func:`id_problem`).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

#: Node type (as the code names it) → the store's label.
LABELS: dict[str, str] = {"user": "User", "item": "Item", "brand": "Brand",
                          "category": "Category"}
#: The node types of the model's propagation graph, in the order of their index ranges (users
#: are not nodes of it: a user is the items they bought).
GRAPH_NODE_TYPES: tuple[str, ...] = ("item", "brand", "category")


@dataclass(frozen=True)
class Relation:
    """One relation of the item-side graph.

    ``name`` is the model's and :class:`~graphrec.dataset.GraphData`'s name (and, for a link,
    the ``relation`` value of the CSV catalogue and the kind of its reason path), ``type`` the
    store's relationship type, which runs from a ``source`` node to a ``target`` node. A link
    between items also has a ``clause``: how a reason reads it, from its source item to its
    target item.
    """

    name: str
    type: str
    source: str
    target: str
    clause: str | None = None

    @property
    def is_link(self) -> bool:
        return self.source == self.target == "item"


#: The item-side graph: what the model propagates over and a reason path walks through.
RELATIONS: tuple[Relation, ...] = (
    Relation("has_brand", "HAS_BRAND", "item", "brand"),
    Relation("in_category", "IN_CATEGORY", "item", "category"),
    Relation("subcategory_of", "SUBCATEGORY_OF", "category", "category"),
    Relation("also_bought", "ALSO_BOUGHT", "item", "item",
             "shoppers who bought {source} also bought {target}"),
    Relation("also_viewed", "ALSO_VIEWED", "item", "item",
             "shoppers who viewed {source} also viewed {target}"),
    Relation("bought_together", "BOUGHT_TOGETHER", "item", "item",
             "{source} is often bought together with {target}"),
)
#: Relations by model name and by store type.
BY_NAME: dict[str, Relation] = {r.name: r for r in RELATIONS}
BY_TYPE: dict[str, Relation] = {r.type: r for r in RELATIONS}
#: The item-to-item links (Amazon's "also bought", ...), model names.
LINK_RELATIONS: tuple[str, ...] = tuple(r.name for r in RELATIONS if r.is_link)
#: The same links, store types.
LINK_TYPES: tuple[str, ...] = tuple(r.type for r in RELATIONS if r.is_link)

#: How an item's listed category names read: ``"path"``, one path root→leaf (the item is in the
#: leaf, each name is the parent of the next); ``"set"``, names the item is in, with no order
#: and no hierarchy (Amazon Clothing as PGPR published it: every name of every path of the
#: item, put together).
CATEGORY_FORMS: tuple[str, ...] = ("path", "set")


def placed_in(names: Sequence[str], form: str) -> Sequence[str]:
    """The categories an item whose category ``names`` read as ``form`` is IN_CATEGORY of: a
    path's leaf, or each name of a set."""
    return names if form == "set" else names[-1:]


def category_steps(names: Sequence[str], form: str) -> list[tuple[str, str]]:
    """The ``(child, parent)`` SUBCATEGORY_OF pairs that ``names`` read as ``form`` give: each
    step of a path; none from a set, which says nothing of a hierarchy."""
    return [] if form == "set" else list(zip(names[1:], names[:-1]))


#: A purchase: ``(:User)-[:BOUGHT {seq, split, at}]->(:Item)``, the user side of every path.
BOUGHT = "BOUGHT"
#: The split of a purchase the shop reports as it happens (``cypher/events/purchase.cypher``;
#: the Cypher files that read such purchases name it as written there).
LIVE_SPLIT = "live"
#: The splits of ``BOUGHT`` that a model learns from: the catalogue's train split and the
#: purchases reported live, so that the next training learns from the purchases served since
#: the last one. The test split never.
LEARNT_SPLITS: tuple[str, ...] = ("train", LIVE_SPLIT)
#: The shop's other feedback: ``(:User)-[:VIEWED]->(:Item)``, ``(:User)-[:DISMISSED]->(:Item)``.
VIEWED = "VIEWED"
DISMISSED = "DISMISSED"
#: What ``graphrec publish`` writes (see :mod:`graphrec.serving.publish`).
PUBLISHED_TYPES: tuple[str, ...] = ("RECOMMENDED", "HAS_EXPLANATION", "EXPLAINS", "STEP")
#: Every relationship type the store may hold.
RELATIONSHIP_TYPES: frozenset[str] = frozenset(
    {r.type for r in RELATIONS} | {BOUGHT, VIEWED, DISMISSED} | set(PUBLISHED_TYPES))

#: The longest id of a user or an item.
MAX_ID_LENGTH = 100
#: Control characters (Unicode category Cc): never part of an id.
CONTROL_CHARACTERS = r"\x00-\x1f\x7f-\x9f"
#: An id as a regular expression (for the OpenAPI document): no control character and no
#: ``/``; what it cannot say (not ``.`` nor ``..``) :func:`id_problem` adds.
ID_PATTERN = rf"^[^{CONTROL_CHARACTERS}/]+$"
#: :func:`id_problem`'s rule in words, for an answer that refuses an id.
ID_RULE = (f"1 to {MAX_ID_LENGTH} characters, none of them a control character or /, and "
           "not . or ..")
_CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]")
#: A lone surrogate: how Python carries bytes that were not UTF-8 (a command line's
#: ``surrogateescape``); the store's driver cannot send one.
_SURROGATE = re.compile("[\ud800-\udfff]")
#: Any character an id cannot hold: one search for the ids that are fine (every row of an
#: ingest, every request's path), the three above only to say which for one that is not.
_UNUSABLE = re.compile(f"[{CONTROL_CHARACTERS}\ud800-\udfff/]")


def id_problem(text: str) -> str | None:
    """Why ``text`` cannot be an id (a short phrase), or None when it can.

    Besides length and control characters, an id must fit one segment of a URL path: no ``/``,
    and not ``.`` or ``..``, which clients resolve away before the request is sent.
    """
    if not text:
        return "empty"
    if len(text) > MAX_ID_LENGTH:
        return f"longer than {MAX_ID_LENGTH} characters"
    if _UNUSABLE.search(text):
        if _CONTROL.search(text):
            return "control character"
        return "not UTF-8 text" if _SURROGATE.search(text) else "contains /"
    if text in (".", ".."):
        return ". or .."
    return None
