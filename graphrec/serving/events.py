"""Feedback from the shop, written into the graph as it happens: purchases, views, "not interested".

Each kind is one relationship from the user to the item, written by ``cypher/events/<kind>.cypher``
with the time it happened (``at``, milliseconds since the Unix epoch, UTC):

===========  ==========================================  ========================================
kind         relationship                                repeated
===========  ==========================================  ========================================
purchase     ``BOUGHT {split: 'live', at}``              nothing new: a pair is bought or not
                                                         (a retried request must not count twice),
                                                         and a pair bought before keeps its split
view         ``VIEWED {at, count}``                      the same relationship, ``at`` the latest
                                                         view and ``count`` one more
dismiss      ``DISMISSED {at}``                          nothing new: the pair stays dismissed
===========  ==========================================  ========================================

The service reads a user's purchases, dismissals and views on every request
(``service/user_history``), so the next answer leaves out what was just bought or dismissed, and
a shopper who has bought nothing yet is answered from what they viewed. A user id the store does not
know yet is created by its first event (a shop's new customer); an item must be in the catalogue.
The next ``graphrec train`` learns from the purchases written here as from the catalogue's train
split (:data:`graphrec.schema.LEARNT_SPLITS`): what the shop sold while a model served reaches
the next one.

The shop also says which items it offers now (:func:`set_available`, ``Item.available``): an item
out of stock or discontinued is never recommended to anyone, but stays in the graph, in the
histories of those who bought it and in the reason paths through it (a purchase of it is still
a reason). The service reads the items not offered with the item details, which a worker
reads again when its look at the catalogue, every ``catalogue_check_interval`` seconds, finds
them changed (:mod:`graphrec.serving.details`); a command reads them when it answers.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from graphrec.store.connection import GraphStore, on_key_race

#: How long an event is written again while its new user is being made by another at once
#: (:func:`~graphrec.store.connection.on_key_race`): the second time finds the user.
KEY_RACE_SECONDS = 5.0

#: The kinds of event, each with the statement that writes it.
KINDS: dict[str, str] = {"purchase": "events/purchase", "view": "events/view",
                         "dismiss": "events/dismiss"}


class NotInCatalogue(LookupError):
    """The event (or the availability) names an item that is not in the catalogue."""


@dataclass(frozen=True)
class Recorded:
    """What an event left in the graph."""

    user_id: str
    item_id: str
    kind: str
    #: When the relationship was written (a repeated purchase or dismissal: the first time);
    #: None for a purchase the catalogue held already (ingested purchases have no time).
    at: int | None
    created: bool  # a new relationship (False: the event repeated one already there)
    new_user: bool  # the event created the user

    def as_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "item_id": self.item_id, "kind": self.kind,
                "at": self.at, "created": self.created, "new_user": self.new_user}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def record(store: GraphStore, user_id: str, item_id: str, kind: str,
           at: int | None = None) -> Recorded:
    """Write one event (``kind`` one of :data:`KINDS`) in one transaction.

    Raises :class:`NotInCatalogue` when the item is not in the catalogue (nothing is written
    then, not even a new user), ``ValueError`` for a kind not in :data:`KINDS`.
    """
    statement = KINDS.get(kind)
    if statement is None:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    at = now_ms() if at is None else at
    # two first events of one new customer at once both MERGE the user
    rows, counters = on_key_race(lambda: store.write_returning(
        statement, user=user_id, item=item_id, at=at), KEY_RACE_SECONDS)
    if not rows:
        raise NotInCatalogue(item_id)
    return Recorded(user_id, item_id, kind, at=rows[0]["at"],
                    created=counters.relationships_created > 0,
                    new_user=counters.nodes_created > 0)


@dataclass(frozen=True)
class Availability:
    """Whether the shop offers an item, as just set."""

    item_id: str
    available: bool
    changed: bool  # False: it was so already

    def as_dict(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "available": self.available, "changed": self.changed}


def forget_since(store: GraphStore, since: int) -> int:
    """Remove the events written at or after ``since`` (milliseconds since the Unix epoch):
    those of a test or a benchmark run; how many. Each buyer's ``bought_at`` goes back to the
    latest live purchase they have left (``events/forget_buyers_since``)."""
    removed = store.write_returning("events/forget_since", since=since)[0][0]["removed"]
    store.write("events/forget_buyers_since", since=since)
    return int(removed)


def set_available(store: GraphStore, item_id: str, available: bool) -> Availability:
    """Say whether the shop offers ``item_id`` now (``cypher/catalogue/set_available``), in one
    transaction. Raises :class:`NotInCatalogue` when the item is not in the catalogue."""
    rows, _ = store.write_returning("catalogue/set_available", item=item_id,
                                    available=bool(available))
    if not rows:
        raise NotInCatalogue(item_id)
    return Availability(item_id, bool(available), rows[0]["before"] != bool(available))


def read_unavailable(store: GraphStore) -> frozenset[str]:
    """The ids of the catalogue's items the shop does not offer now (one query)."""
    return frozenset(row["item_id"] for row in store.read_once("service/unavailable_items"))
