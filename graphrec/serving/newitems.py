"""Items the store holds that the model was not trained on, folded into the served model.

An item ingested after training, with its brand, its category or its links, gets its embedding
from those neighbours (:func:`graphrec.model.foldin.fold_in`), so it can be recommended and its
brand, category and link paths explain it without retraining. It has no co-buyer path until the
model is retrained on purchases of it: the collaborative paths go through the purchases the
model learnt from.

:func:`read_new_items` is the one query (``cypher/service/new_items.cypher``); :func:`grow` turns
its rows into the served model of the grown catalogue. What can be folded in is what has a
neighbour the model knows: an item with no edge at all, or with edges only to brands,
categories or items that are new themselves, has nothing to take an embedding from; it is left
out (never recommended, and a purchase of it does not count in a user's history) until the next
training.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from graphrec.dataset import GraphData, product_keys
from graphrec.explain.paths import PathFinder
from graphrec.model.artifact import Artifact
from graphrec.model.foldin import Allocate, fold_in, in_memory
from graphrec.model.kernel import Propagated
from graphrec.serving.ranking import LINK_WEIGHTS
from graphrec.store.connection import GraphStore

if TYPE_CHECKING:
    import scipy.sparse as sp

#: A row of ``cypher/service/new_items.cypher``.
Row = Mapping[str, Any]


def read_new_items(store: GraphStore, known: Sequence[str]) -> list[dict[str, Any]]:
    """The catalogue items that are not among ``known`` (the model's item ids), each with its
    brand, categories and links (``[relation, other item id]`` either way), in one query."""
    return store.read_once("service/new_items", known=dict.fromkeys(known, True))


def grow(trained: Artifact, rows: Sequence[Row], allocate: Allocate = in_memory) -> Artifact:
    """``trained`` with the items of ``rows`` that have a neighbour it knows folded in (after
    its own items, in the order of their ids), their edges added to its graph; ``trained``
    itself when there are none. Its path index, when ``trained`` has one, grown from that one
    (:meth:`~graphrec.explain.paths.PathFinder.grown_index`: a fold-in adds items and their
    links, never a purchase). ``allocate`` makes the grown model's arrays
    (:func:`~graphrec.model.foldin.fold_in`)."""
    state, grown = fold_rows(trained.state, trained.data, rows, allocate)
    if grown is trained.data:
        return trained
    new = [str(item) for item in grown.items[trained.data.num_items:]]
    index = None if trained.path_index is None else PathFinder.grown_index(
        trained.path_index, grown, trained.data.num_items)
    return dataclasses.replace(trained, state=state, data=grown, path_index=index,
                               ids={**trained.ids, "items": [*trained.ids["items"], *new]})


def fold_rows(state: Propagated, data: GraphData, rows: Sequence[Row],
              allocate: Allocate = in_memory) -> tuple[Propagated, GraphData]:
    """``state`` (trained on ``data``) and ``data`` grown by the items of ``rows`` that have a
    neighbour ``data`` knows (after its own items, in the order of their ids), folded in by
    :func:`~graphrec.model.foldin.fold_in`; both unchanged (the same objects) when there are
    none. What :func:`grow` serves, and what the cold-start benchmark measures."""
    items = {str(item): n for n, item in enumerate(data.items)}
    brands = {str(brand): n for n, brand in enumerate(data.brands)}
    categories = {str(category): n for n, category in enumerate(data.categories)}
    new = sorted(str(row["item_id"]) for row in rows
                 if _knows_a_neighbour(row, items, brands, categories))
    if not new:
        return state, data
    index = {**items, **{item: len(items) + n for n, item in enumerate(new)}}
    brand_pairs: list[tuple[int, int]] = []
    category_pairs: list[tuple[int, int]] = []
    link_pairs: dict[str, list[tuple[int, int]]] = {rel: [] for rel in data.links}
    for row in rows:
        item = index.get(str(row["item_id"]))
        if item is None or item < len(items):
            continue
        if row["brand"] in brands:
            brand_pairs.append((item, brands[row["brand"]]))
        category_pairs.extend((item, categories[name]) for name in row["categories"]
                              if name in categories)
        for pairs, forward in ((row["links_to"], True), (row["links_from"], False)):
            for relation, other in pairs:
                if relation in link_pairs and other in index:
                    link_pairs[relation].append((item, index[other]) if forward
                                                else (index[other], item))
    grown = dataclasses.replace(
        data, items=np.concatenate([data.items, np.array(new, dtype=object)]),
        item_product=_products(data, rows, new),
        item_brand=_extend(data.item_brand, brand_pairs),
        item_category=_extend(data.item_category, category_pairs),
        links={rel: _extend(pairs, link_pairs[rel], unique=True)
               for rel, pairs in data.links.items()})
    return fold_in(state, data, grown, allocate), grown


def folded_links(data: GraphData, first: int,
                 index: Mapping[str, np.ndarray] | None = None) -> sp.csr_matrix:
    """``[items, items - first]``: how strongly each item of ``data`` is linked with each item
    from ``first`` on (those folded in): the :data:`~graphrec.serving.ranking.LINK_WEIGHTS` of
    the relations that link the two, either way (a relation counts once for a pair, whichever
    way it points). Summed over a user's purchases, the key folded items are ranked by for
    their places (:func:`~graphrec.serving.ranking.new_item_order`).

    Read from the link keys of ``data``'s path index (``index``; made here when not given:
    :attr:`~graphrec.explain.paths.PathFinder.link_code`), which hold every linked pair both
    ways round, each relation once, sorted: the pairs from a folded item are its last entries,
    so the matrix costs the folded items' links, not a pass over the catalogue's."""
    import scipy.sparse as sp  # here: only a catalogue with folded items needs it

    n = data.num_items
    keys, codes = (PathFinder(data).link_code if index is None
                   else (np.asarray(index["link_keys"]), np.asarray(index["link_codes"])))
    at = int(keys.searchsorted(first * n))
    folded, other = np.divmod(keys[at:], n)
    weight = np.array([LINK_WEIGHTS.get(relation, 1.0) for relation in data.links] or [0.0])
    # a pair's relations are summed as the matrix is made (repeated entries add up)
    return sp.csr_matrix((weight[codes[at:] // 2], (other, folded - first)),
                         shape=(n, n - first))


def item_rows(data: GraphData, items: Sequence[int], ids: Sequence[str] | None = None
              ) -> list[dict[str, Any]]:
    """Rows of ``cypher/service/new_items.cypher`` for the ``items`` of ``data`` (indices): each
    item's brand, categories and links either way, as the store would return them were the
    items new (without titles: ``data`` has none); ``ids`` renames them (a second listing with
    the same edges)."""
    names = [str(data.items[item]) for item in items] if ids is None else list(ids)
    brand: dict[int, int] = {i: b for i, b in np.asarray(
        data.item_brand, dtype=np.int64).reshape(-1, 2).tolist()}
    categories: dict[int, list[str]] = {}
    for i, c in np.asarray(data.item_category, dtype=np.int64).reshape(-1, 2).tolist():
        categories.setdefault(i, []).append(str(data.categories[c]))
    wanted = np.asarray(items, dtype=np.int64)
    links_to: dict[int, list[list[str]]] = {int(item): [] for item in wanted}
    links_from: dict[int, list[list[str]]] = {int(item): [] for item in wanted}
    for rel, pairs in data.links.items():
        for side, found in ((0, links_to), (1, links_from)):
            for item, other in pairs[np.isin(pairs[:, side], wanted)][:, [side, 1 - side]]:
                found[int(item)].append([rel, str(data.items[other])])
    rows = []
    for item, name in zip(wanted.tolist(), names):
        rows.append({
            "item_id": name, "title": None,
            "brand": str(data.brands[brand[item]]) if item in brand else None,
            "categories": categories.get(item, []),
            "links_to": links_to[item], "links_from": links_from[item]})
    return rows


def _knows_a_neighbour(row: Row, items: Mapping[str, int], brands: Mapping[str, int],
                       categories: Mapping[str, int]) -> bool:
    """Whether the item has an edge to a brand, category or item of the trained model."""
    return (row["brand"] in brands or any(name in categories for name in row["categories"])
            or any(other in items for _, other in [*row["links_to"], *row["links_from"]]))


def _products(data: GraphData, rows: Sequence[Row], new: list[str]) -> np.ndarray:
    """``data.item_product`` grown by the :func:`~graphrec.dataset.product_keys` of the ``new``
    items (from their rows' titles and brands): a new listing of a product the model knows is
    that product, as it would be in the next model's."""
    by_id = {str(row["item_id"]): row for row in rows}
    added = product_keys([by_id[item].get("title") for item in new],
                         [by_id[item]["brand"] for item in new])
    known = np.asarray(data.item_product, dtype=np.int64)
    if not len(known) and not added.any():
        return known
    if not len(known):
        known = np.zeros(data.num_items, dtype=np.int64)
    return np.concatenate([known, added])


def _extend(pairs: np.ndarray, more: list[tuple[int, int]], unique: bool = False) -> np.ndarray:
    """``pairs`` ``[n, 2]`` with ``more`` appended (repeats dropped when ``unique``: a link
    between two new items comes in the rows of both)."""
    if not more:
        return np.asarray(pairs)
    added = np.array(more, dtype=np.int64)
    if unique:
        added = np.unique(added, axis=0)
    return np.concatenate([np.asarray(pairs, dtype=np.int64).reshape(-1, 2), added])
