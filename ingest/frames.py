"""A :class:`~ingest.records.Catalogue` as data frames in the canonical CSV columns.

This is how a catalogue read by any reader (canonical CSV, raw Amazon JSON) reaches
``GraphData.from_frames`` without going through the graph store: the benchmark reads what
``graphrec ingest`` reads, checked the same way, with the same split.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from graphrec.dataset import GraphData
from ingest.records import Catalogue


@dataclass(frozen=True)
class CatalogueFrames:
    """``items`` (``item_id, title, brand, categories``), ``users`` (``user_id``),
    ``purchases`` (``user_id, item_id, split, seq``; ``seq`` ``None`` where unknown) and
    ``links`` (``item_id, relation, other_item_id``, relation in lower case as in
    ``item_links.csv``)."""

    items: pd.DataFrame
    users: pd.DataFrame
    purchases: pd.DataFrame
    links: pd.DataFrame
    #: How ``items.categories`` read (:data:`~graphrec.schema.CATEGORY_FORMS`).
    category_form: str = "path"

    def graph(self) -> GraphData:
        """The models' graph of these frames."""
        return GraphData.from_frames(self.items, self.purchases, self.links, self.users,
                                     categories=self.category_form)


def catalogue_frames(catalogue: Catalogue) -> CatalogueFrames:
    """The catalogue's records as frames; an item's categories are joined by ``|`` (a path
    root→leaf, or a set: ``category_form`` says which)."""
    items = pd.DataFrame(
        [(i.id, i.title or "", i.brand or "", "|".join(i.categories)) for i in catalogue.items],
        columns=["item_id", "title", "brand", "categories"])
    purchases = pd.DataFrame(
        [(p.user_id, p.item_id, p.split, p.seq) for p in catalogue.purchases],
        columns=["user_id", "item_id", "split", "seq"])
    links = pd.DataFrame(
        [(link.item_id, link.relation.lower(), link.other_item_id) for link in catalogue.links],
        columns=["item_id", "relation", "other_item_id"])
    return CatalogueFrames(items=items, users=pd.DataFrame({"user_id": catalogue.users}),
                           purchases=purchases, links=links,
                           category_form=catalogue.category_form)
