"""The catalogue as plain records: what every reader produces and the loader consumes.

Readers turn a source format into these records and report every row they could not use as a
:class:`Reject`; nothing downstream needs to know which file format the catalogue came from.
"""
from __future__ import annotations

from dataclasses import dataclass, field

#: Values of ``BOUGHT.split``.
SPLITS: tuple[str, ...] = ("train", "test")

#: How a catalogue's ``categories`` read: ``"path"``, one path root→leaf (the item is in the
#: leaf, each name is the parent of the next); ``"set"``, names the item is in, with no order
#: and no hierarchy (Amazon Clothing as PGPR published it: every name of every path of the
#: item, put together).
CATEGORY_FORMS: tuple[str, ...] = ("path", "set")


@dataclass(frozen=True, slots=True)
class Item:
    """A product. ``categories`` is one path from the root to the leaf category, or the
    categories the item is in (the catalogue's ``category_form`` says which)."""

    id: str
    title: str | None = None
    brand: str | None = None
    price: float | None = None
    sales_rank: int | None = None
    categories: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Purchase:
    """A user bought an item; ``seq`` is its 1-based place in the user's history."""

    user_id: str
    item_id: str
    seq: int | None
    split: str


@dataclass(frozen=True, slots=True)
class ItemLink:
    """A directed item-to-item link of one of :data:`graphrec.schema.LINK_TYPES`."""

    item_id: str
    relation: str
    other_item_id: str


@dataclass(frozen=True, slots=True)
class Reject:
    """One problem found in the input.

    ``action`` says what happened to the row: ``"row skipped"`` (nothing of it was loaded),
    ``"field dropped"`` (the row was loaded without the bad field) or ``"field cut"`` (the row
    was loaded with the field cut short: a category path up to its first bad name).
    """

    file: str
    line: int
    field: str
    reason: str
    value: str = ""
    action: str = "row skipped"


@dataclass
class Catalogue:
    """Everything one reader produced from one source."""

    source: str
    format: str
    users: list[str] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    purchases: list[Purchase] = field(default_factory=list)
    links: list[ItemLink] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    rows_read: int = 0
    #: One of :data:`CATEGORY_FORMS`: how every item's ``categories`` read.
    category_form: str = "path"
    #: What the reader chose that the user should know (a file it left out, and why).
    notes: list[str] = field(default_factory=list)

    def placements(self) -> list[tuple[str, str]]:
        """``(item id, category)`` of every IN_CATEGORY edge: a path puts the item in its leaf,
        a set in each of its names."""
        return [(item.id, name) for item in self.items for name in (
            item.categories if self.category_form == "set" else item.categories[-1:])]

    def category_parents(self) -> set[tuple[str, str]]:
        """``(child, parent)`` of every step of the items' category paths; none when the
        categories are sets, which say nothing of a hierarchy."""
        if self.category_form == "set":
            return set()
        return {pair for item in self.items
                for pair in zip(item.categories[1:], item.categories[:-1])}
