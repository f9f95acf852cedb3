"""What ``graphrec stats`` must say for a canonical CSV catalogue, counted with pandas alone."""
from __future__ import annotations

from pathlib import Path

import pandas as pd


def _read(directory: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(directory / f"{name}.csv.gz", dtype=str, keep_default_na=False)


def expected_stats(directory: Path) -> dict:
    items = _read(directory, "items")
    purchases = _read(directory, "purchases")
    links = _read(directory, "item_links")
    paths = [[c for c in p.split("|") if c] for p in items["categories"]]
    known = set(items["item_id"])
    inside = links[links["other_item_id"].isin(known) & links["item_id"].isin(known)]
    inside = inside.drop_duplicates()
    relationships = {
        "BOUGHT": len(purchases),
        "HAS_BRAND": int((items["brand"] != "").sum()),
        "IN_CATEGORY": sum(1 for p in paths if p),
        "SUBCATEGORY_OF": len({pair for p in paths for pair in zip(p[1:], p[:-1])}),
    }
    for relation, count in inside["relation"].value_counts().items():
        relationships[relation.upper()] = int(count)
    return {
        "nodes": {
            "Brand": items.loc[items["brand"] != "", "brand"].nunique(),
            # the markers a load of items with brands or categories leaves: details changed
            # (catalogue/changed), graph reshaped (catalogue/reshaped)
            "Catalogue": 2,
            "Category": len({c for p in paths for c in p}),
            "Item": len(items),
            "User": _read(directory, "users")["user_id"].nunique(),
        },
        "relationships": dict(sorted(relationships.items())),
        "bought_by_split": dict(sorted(purchases["split"].value_counts().to_dict().items())),
    }
