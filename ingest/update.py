"""An update of the catalogue in the store: rows that name what the store already holds.

A shop adds to its catalogue every day (the items listed this morning, the last hour's orders,
new also-bought links) and exports only what is new. Read with ``update=True``
(:func:`ingest.csv_catalogue.read_csv_catalogue`), such a folder's purchases and links may name
users and items that only the store holds; :func:`resolve` looks those ids up there, one query
per kind for the ids the folder does not hold itself, and then the rows load or are rejected as
a whole catalogue's would be.
"""
from __future__ import annotations

from dataclasses import dataclass

from graphrec.store.connection import GraphStore
from ingest.records import Catalogue, ItemLink, Purchase, Reject


@dataclass(frozen=True)
class Resolution:
    """What the look-up found: ids of the store named by the update, and rows loaded or not."""

    users_found: int
    items_found: int
    rows_resolved: int
    rows_rejected: int


def resolve(store: GraphStore, catalogue: Catalogue) -> Resolution:
    """Move each of ``catalogue.unresolved`` into its purchases or links when the store holds
    every user and item it names outside the folder, else into its rejects; and record the
    stored items that links point to (``catalogue.stored_items``), which are then links within
    the catalogue rather than to outside products."""
    users, items = set(catalogue.users), {item.id for item in catalogue.items}
    named_users = {u.record.user_id for u in catalogue.unresolved
                   if isinstance(u.record, Purchase)} - users
    named_items = ({u.record.item_id for u in catalogue.unresolved}
                   | {link.other_item_id for link in catalogue.links}
                   | {u.record.other_item_id for u in catalogue.unresolved
                      if isinstance(u.record, ItemLink)}) - items
    found_users = store.held("users", named_users)
    found_items = store.held("items", named_items)
    users |= found_users
    items |= found_items
    # a link from an item of the folder to one of the store names it too, and loads
    resolved = sum(link.other_item_id in found_items for link in catalogue.links)
    rejected = 0
    for row in catalogue.unresolved:
        record = row.record
        if isinstance(record, Purchase) and record.user_id not in users:
            reject = Reject(row.file, row.line, "user_id",
                            "user neither in users file nor in the store", record.user_id)
        elif record.item_id not in items:
            reject = Reject(row.file, row.line, "item_id",
                            "item neither in catalogue nor in the store", record.item_id)
        else:
            if isinstance(record, Purchase):
                catalogue.purchases.append(record)
            else:
                catalogue.links.append(record)
            resolved += 1
            continue
        catalogue.rejects.append(reject)
        rejected += 1
    catalogue.unresolved.clear()
    catalogue.stored_items |= found_items
    return Resolution(len(found_users), len(found_items), resolved, rejected)
