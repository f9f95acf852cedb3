"""Make the small real catalogue shipped in ``graphrec/sample/beauty`` from the full Amazon
Beauty catalogue (../shared/datasets/amazon_beauty).

Selection, deterministic:

1. the items of the ``--brands`` brands with the most purchases (ties by name);
2. the users who, among those items, keep at least ``--min-purchases`` purchases with at least one
   in each split, repeated until nothing changes (a fixed point);
3. those users' purchases of those items, with their original ``seq`` and ``split``; the items
   they bought; every ``item_links`` row whose ``item_id`` is one of them (links pointing outside
   the sample stay, as in the full catalogue).

Rows keep their original order and text; files are gzipped with a zero timestamp so the output is
byte-for-byte reproducible. Run from the repository root::

    python benchmarks/make_sample.py [--source DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.datasets import BEAUTY  # noqa: E402

DEFAULT_OUT = ROOT / "graphrec" / "sample" / "beauty"
FILES = ("items", "users", "purchases", "item_links")


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or ()), list(reader)


def write_rows(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as handle,
    ):
        handle.write(text.getvalue().encode("utf-8"))


def select(
    items: list[dict[str, str]], purchases: list[dict[str, str]], n_brands: int, min_purchases: int
) -> tuple[list[str], set[str], set[str]]:
    """``(brands, users, items)`` of the sample."""
    brand_of = {row["item_id"]: row["brand"] for row in items}
    sold = Counter(brand_of[row["item_id"]] for row in purchases if brand_of.get(row["item_id"]))
    brands = [
        brand for brand, _ in sorted(sold.items(), key=lambda pair: (-pair[1], pair[0]))[:n_brands]
    ]
    chosen = {item_id for item_id, brand in brand_of.items() if brand in brands}
    kept = [row for row in purchases if row["item_id"] in chosen]
    while True:
        splits: dict[str, Counter[str]] = defaultdict(Counter)
        for row in kept:
            splits[row["user_id"]][row["split"]] += 1
        users = {
            user
            for user, counts in splits.items()
            if counts.total() >= min_purchases and counts["train"] and counts["test"]
        }
        still = [row for row in kept if row["user_id"] in users]
        if len(still) == len(kept):
            break
        kept = still
    return brands, users, {row["item_id"] for row in kept}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=BEAUTY)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--brands", type=int, default=10, help="how many top-selling brands (default 10)"
    )
    parser.add_argument(
        "--min-purchases", type=int, default=5, help="per user, in the sample (default 5)"
    )
    args = parser.parse_args()

    tables = {stem: read_rows(args.source / f"{stem}.csv.gz") for stem in FILES}
    brands, users, item_ids = select(
        tables["items"][1], tables["purchases"][1], args.brands, args.min_purchases
    )
    keep = {
        "items": lambda row: row["item_id"] in item_ids,
        "users": lambda row: row["user_id"] in users,
        "purchases": lambda row: row["user_id"] in users and row["item_id"] in item_ids,
        "item_links": lambda row: row["item_id"] in item_ids,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    print("brands:", "; ".join(brands))
    for stem in FILES:
        header, rows = tables[stem]
        rows = [row for row in rows if keep[stem](row)]
        write_rows(args.out / f"{stem}.csv.gz", header, rows)
        print(f"{stem}: {len(rows)} rows")


if __name__ == "__main__":
    main()
