"""The catalogue as plain records: what every reader produces and the loader consumes.

Readers turn a source format into these records and report every row they could not use as a
:class:`Reject`; nothing downstream needs to know which file format the catalogue came from.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from graphrec.schema import category_steps, placed_in

#: Values of ``BOUGHT.split``.
SPLITS: tuple[str, ...] = ("train", "test")


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
    #: Whether the shop offers it now; None: the catalogue does not say (an ingest then leaves
    #: what the store holds, e.g. an availability set through the API since).
    available: bool | None = None


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


@dataclass(frozen=True, slots=True)
class Unresolved:
    """A row of an update (:attr:`Catalogue.update`) that names a user or an item its own files
    do not hold: the store may. It loads when the store holds each id it names, and is
    rejected at ``file``/``line`` when it does not, as a whole catalogue's row naming an
    unknown id is (:func:`ingest.update.resolve`)."""

    record: Purchase | ItemLink
    file: str
    line: int


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
    #: One of :data:`graphrec.schema.CATEGORY_FORMS`: how every item's ``categories`` read.
    category_form: str = "path"
    #: What the reader chose that the user should know (a file it left out, and why).
    notes: list[str] = field(default_factory=list)
    #: An update of the catalogue in the store rather than a whole one: any of its files may be
    #: missing or empty, and its rows may name users and items the store holds (``unresolved``
    #: until :func:`ingest.update.resolve` looks them up there).
    update: bool = False
    unresolved: list[Unresolved] = field(default_factory=list)
    #: Items outside the files that the store holds (found by the update's look-up): a link to
    #: one is a link within the catalogue, not to an outside product.
    stored_items: set[str] = field(default_factory=set)

    def placements(self, *, every: bool = False) -> list[tuple[str, list[str]]]:
        """``(item id, categories)`` of every item placed in a category: the ends of its
        IN_CATEGORY edges (:func:`graphrec.schema.placed_in`), all of them, so that a load lets
        go of those it had before and has no more. ``every``: the items placed in none too
        (with none), as a whole catalogue states them: its load lets go of all they had."""
        return [(item.id, placed) for item in self.items
                if (placed := list(placed_in(item.categories, self.category_form))) or every]

    def category_parents(self) -> set[tuple[str, str]]:
        """``(child, parent)`` of every SUBCATEGORY_OF edge the items' categories give
        (:func:`graphrec.schema.category_steps`)."""
        return {pair for item in self.items
                for pair in category_steps(item.categories, self.category_form)}
