"""Loading a :class:`~ingest.records.Catalogue` into the graph store.

Every step is one ``UNWIND $rows ... MERGE`` statement from ``cypher/ingest/`` sent in batches,
so a load is idempotent: running it again, or after it was killed half way, creates only what
is missing. Nodes are loaded before the relationships that MATCH them. A load that wrote items'
details (titles, prices, brands, availability) marks the catalogue changed once it ends, even
half way (``cypher/catalogue/changed``): a running service reads the details again then.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Generic, TypeVar, overload

import cypher
from graphrec.schema import BOUGHT, BY_NAME, LINK_TYPES
from graphrec.serving.events import now_ms
from graphrec.store.connection import GraphStore, on_key_race
from ingest.records import Catalogue

DEFAULT_BATCH = 5000
#: How long a batch is written again while new customers' first events, reported meanwhile,
#: make users of it (:func:`~graphrec.store.connection.on_key_race`).
BATCH_KEY_RACE_SECONDS = 60.0

Row = dict[str, Any]
Rows = Sequence[Row]
#: ``progress(step, rows_done_in_this_call)``; called after every batch.
Progress = Callable[[str, int], None]

T = TypeVar("T")


class RowsOf(Sequence[Row], Generic[T]):
    """The statement parameters of each of ``records``, made when they are read (a slice is a
    list of them), not held: a parameter map weighs some 200 bytes against a record's 60, and
    a shop's ten million purchases and links held as maps too would more than double what a
    load holds (``benchmarks/results/NOTES.md``). A batch is made as it is sent."""

    def __init__(self, records: Sequence[T], row: Callable[[T], Row]):
        self.records, self.row = records, row

    def __len__(self) -> int:
        return len(self.records)

    @overload
    def __getitem__(self, index: int) -> Row: ...

    @overload
    def __getitem__(self, index: slice) -> list[Row]: ...

    def __getitem__(self, index: int | slice) -> Row | list[Row]:
        if isinstance(index, slice):
            return [self.row(record) for record in self.records[index]]
        return self.row(self.records[index])


@dataclass(frozen=True)
class Step:
    """One statement of the load and the rows it is fed."""

    name: str
    statement: str  # the Cypher text (read from cypher/ingest/ by plan)
    rows: Rows
    creates: str  # "nodes" or "relationships": which counter tells what the step created
    details: bool = False  # whether it writes what an answer shows of an item (title, brand...)
    #: whether it writes edges a model learns from whose change no count of the graph sees (an
    #: item's brand or categories, the hierarchy): changed, the load marks the graph reshaped
    reshapes: bool = False


@dataclass
class LoadReport:
    """What a load did, in numbers."""

    rows: dict[str, int] = field(default_factory=dict)
    created: dict[str, int] = field(default_factory=dict)
    external_links_skipped: int = 0
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def total_created(self) -> int:
        return sum(self.created.values())


def plan(catalogue: Catalogue, *, keep_external: bool = False) -> tuple[list[Step], int]:
    """The load steps in dependency order, and how many external links they leave out.

    A whole catalogue states each of its items whole, so the store is left saying what it
    says: an item with no brand or no category lets go of those it had (as a blank title or
    price clears it), and each category it names has the parents its paths give and no other
    (none, read as sets), whatever an earlier ingest made. An update says only what is new: an
    item row without a brand or categories leaves the item's, and its paths add to the
    hierarchy.
    """
    items = catalogue.items
    whole = not catalogue.update
    known = {item.id for item in items} | catalogue.stored_items
    brands = sorted({item.brand for item in items if item.brand})
    categories = sorted({name for item in items for name in item.categories})
    parents = sorted(catalogue.category_parents())
    links = [link for link in catalogue.links if keep_external or link.other_item_id in known]
    external = sorted({link.other_item_id for link in links if link.other_item_id not in known})
    branded = items if whole else [item for item in items if item.brand]
    if whole:
        of: dict[str, list[str]] = {name: [] for name in categories}
        for child, parent in parents:
            of[child].append(parent)
        hierarchy = Step(BY_NAME["subcategory_of"].type, "ingest/category_parents",
                         [{"child": c, "parents": p} for c, p in of.items()], "relationships",
                         reshapes=True)
    else:
        hierarchy = Step(BY_NAME["subcategory_of"].type, "ingest/subcategories",
                         [{"child": c, "parent": p} for c, p in parents], "relationships",
                         reshapes=True)
    steps = [
        Step("users", "ingest/users", RowsOf(catalogue.users, lambda u: {"id": u}), "nodes"),
        Step("items", "ingest/items_added" if catalogue.update else "ingest/items",
             RowsOf(items, lambda i: {"id": i.id, "title": i.title, "price": i.price,
                                      "sales_rank": i.sales_rank, "available": i.available}),
             "nodes", details=True),
        Step("external items", "ingest/external_items", [{"id": i} for i in external], "nodes"),
        Step("brands", "ingest/brands", [{"name": b} for b in brands], "nodes"),
        Step("categories", "ingest/categories", [{"name": c} for c in categories], "nodes"),
        hierarchy,
        Step(BY_NAME["has_brand"].type, "ingest/item_brands",
             RowsOf(branded, lambda i: {"item": i.id, "brand": i.brand}), "relationships",
             details=True, reshapes=True),
        Step(BY_NAME["in_category"].type, "ingest/item_categories",
             RowsOf(catalogue.placements(every=whole), lambda pair: {"item": pair[0],
                                                          "categories": pair[1]}),
             "relationships", reshapes=True),
        Step(BOUGHT, "ingest/purchases_added", RowsOf(catalogue.purchases, lambda p: {
            "user": p.user_id, "item": p.item_id, "seq": p.seq, "split": p.split,
            "at": now_ms()}), "relationships") if catalogue.update else
        Step(BOUGHT, "ingest/purchases", RowsOf(catalogue.purchases, lambda p: {
            "user": p.user_id, "item": p.item_id, "seq": p.seq, "split": p.split}),
            "relationships"),
    ]
    for relation in LINK_TYPES:
        rows = RowsOf([link for link in links if link.relation == relation],
                      lambda link: {"item": link.item_id, "other": link.other_item_id})
        steps.append(Step(relation, f"ingest/{relation.lower()}", rows, "relationships"))
    steps = [replace(s, statement=cypher.load(s.statement)) for s in steps if s.rows]
    return steps, len(catalogue.links) - len(links)


def batches(rows: Rows, size: int) -> Iterator[Rows]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def load(store: GraphStore, steps: Iterable[Step], *, batch_size: int = DEFAULT_BATCH,
         progress: Progress | None = None) -> LoadReport:
    """Create the schema, then run each step batch by batch; mark the catalogue changed when
    an item's details were written (also when a later batch fails), and the graph reshaped as
    soon as a batch of a step that :attr:`~Step.reshapes` made or removed an edge: a load
    killed later, run again, finds those edges made and changes nothing, and the model trained
    before would never be told stale."""
    started = time.perf_counter()
    report = LoadReport()
    store.run_script("schema/constraints")
    details_written = reshaped = False
    try:
        for step in steps:
            created = 0
            for batch in batches(step.rows, batch_size):
                counters = on_key_race(partial(store.write_text, step.statement, rows=batch),
                                       BATCH_KEY_RACE_SECONDS)
                details_written |= step.details
                if step.reshapes and not reshaped and (counters.relationships_created
                                                       or counters.relationships_deleted):
                    store.write("catalogue/reshaped")
                    reshaped = True
                created += getattr(counters, f"{step.creates}_created")
                if progress:
                    progress(step.name, len(batch))
            report.rows[step.name] = len(step.rows)
            report.created[step.name] = created
    finally:
        if details_written:
            store.write("catalogue/changed")
    report.seconds = time.perf_counter() - started
    return report


def load_catalogue(store: GraphStore, catalogue: Catalogue, *, keep_external: bool = False,
                   batch_size: int = DEFAULT_BATCH, progress: Progress | None = None,
                   planned: Callable[[int], None] | None = None) -> LoadReport:
    """Load everything a reader produced; see :func:`plan` for what goes in. ``planned``
    receives the number of rows to send before the first is sent (a progress bar's total)."""
    steps, skipped = plan(catalogue, keep_external=keep_external)
    if planned:
        planned(sum(len(step.rows) for step in steps))
    report = load(store, steps, batch_size=batch_size, progress=progress)
    report.external_links_skipped = skipped
    return report
