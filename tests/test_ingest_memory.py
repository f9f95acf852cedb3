"""What a load holds a row: the ids of the catalogue once, and a statement's parameters only for
the batch being sent. At fifty times Beauty (10 M purchases, 20 M links) a copy of every id a
row, or a parameter map a row held for the whole load, is gigabytes."""

from __future__ import annotations

import gzip
import random
import tracemalloc
from pathlib import Path

from ingest.csv_catalogue import read_csv_catalogue
from ingest.loader import RowsOf, batches, plan

ITEMS, USERS, PURCHASES, LINKS = 300, 2_000, 20_000, 20_000


def _write(path: Path, header: str, rows: list[str]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write(header + "\n" + "\n".join(rows) + "\n")


def _catalogue(folder: Path) -> Path:
    draw = random.Random(0)
    items = [f"ITEM{i:06d}" for i in range(ITEMS)]
    users = [f"USER{u:06d}" for u in range(USERS)]
    _write(folder / "items.csv.gz", "item_id,title,brand,price,sales_rank,categories",
           [f"{i},Title {i},Brand{n % 7},1.00,{n + 1},Beauty|Skin Care"
            for n, i in enumerate(items)])
    _write(folder / "users.csv.gz", "user_id", users)
    pairs = draw.sample(range(USERS * ITEMS), PURCHASES)
    _write(folder / "purchases.csv.gz", "user_id,item_id,seq,split",
           [f"{users[p // ITEMS]},{items[p % ITEMS]},,train" for p in pairs])
    links = draw.sample(range(ITEMS * ITEMS), LINKS)
    _write(folder / "item_links.csv.gz", "item_id,relation,other_item_id",
           [f"{items[k // ITEMS]},also_bought,{items[k % ITEMS]}" for k in links])
    return folder


def test_every_row_holds_the_catalogues_one_copy_of_each_id(tmp_path: Path) -> None:
    catalogue = read_csv_catalogue(_catalogue(tmp_path))
    assert (len(catalogue.purchases), len(catalogue.links)) == (PURCHASES, LINKS)
    items = {item.id: item.id for item in catalogue.items}
    users = {user: user for user in catalogue.users}
    assert all(p.item_id is items[p.item_id] and p.user_id is users[p.user_id]
               for p in catalogue.purchases)
    assert all(link.item_id is items[link.item_id]
               and link.other_item_id is items[link.other_item_id] for link in catalogue.links)


def test_a_load_plan_holds_no_parameter_map_a_row(tmp_path: Path) -> None:
    catalogue = read_csv_catalogue(_catalogue(tmp_path))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        steps, _ = plan(catalogue)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    rows = {step.name: step.rows for step in steps}
    assert (len(rows["BOUGHT"]), len(rows["ALSO_BOUGHT"])) == (PURCHASES, LINKS)
    # lists of the links of each type and of the items with a brand: a pointer a record, where
    # a map a row (some 200 bytes) would be 8 MB here
    assert held < 16 * (PURCHASES + LINKS), held
    first = next(batches(rows["BOUGHT"], 5000))
    purchase = catalogue.purchases[0]
    assert len(first) == 5000
    assert first[0] == {"user": purchase.user_id, "item": purchase.item_id, "seq": None,
                        "split": "train"}


def test_rows_of_records_are_made_when_read() -> None:
    made: list[int] = []

    def row(n: int) -> dict[str, int]:
        made.append(n)
        return {"n": n}

    rows = RowsOf(list(range(10)), row)
    assert (len(rows), made) == (10, [])
    assert rows[3:6] == [{"n": 3}, {"n": 4}, {"n": 5}]
    assert rows[-1] == {"n": 9}
    assert made == [3, 4, 5, 9]
