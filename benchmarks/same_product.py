"""How often a list names a product its shopper has, or names one product twice: every
shopper's top 10 from one model, with graphrec's product rule and without it.

A shop lists one product more than once (the same title and brand: a relisting, a seller's
own copy). Without the rule, such a listing is recommended "because you bought" its twin,
and two listings of one product share a page
(:meth:`graphrec.serving.recommend.Recommender.same_product`). Both lists are made from the
same model, with its products and with none, for every shopper of the catalogue's purchases
(each one's purchases, every split, as the store holds them). A model saved before products
were kept is given those of the catalogue's titles (``--data``), as a model trained now keeps
them.

    python benchmarks/same_product.py ARTIFACT_DIR --data ../shared/datasets/amazon_beauty
                                      [--out benchmarks/results/same-product-beauty.json]
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphrec.dataset import product_keys  # noqa: E402  (after the path)
from graphrec.serving.recommend import Recommender  # noqa: E402
from graphrec.serving.service import ServedModel  # noqa: E402


def _read(data: Path, name: str) -> pd.DataFrame:
    found = next(path for path in (data / f"{name}.csv.gz", data / f"{name}.csv")
                 if path.exists())
    return pd.read_csv(found, dtype=str, keep_default_na=False)


def _with_products(model: ServedModel, items: pd.DataFrame) -> ServedModel:
    """``model`` itself when it keeps its items' products, else with those of ``items``."""
    loaded = model.recommender.artifact
    if len(loaded.data.item_product):
        return model
    keys = pd.Series(product_keys(items["title"], items["brand"]), index=items["item_id"])
    product = keys[~keys.index.duplicated()].reindex(loaded.ids["items"], fill_value=0)
    return ServedModel.of(Recommender(dataclasses.replace(loaded, data=dataclasses.replace(
        loaded.data, item_product=product.to_numpy(np.int64)))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--data", type=Path, required=True, help="the catalogue's CSV folder")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--out", type=Path,
                        default=Path("benchmarks/results/same-product-beauty.json"))
    args = parser.parse_args()

    model = _with_products(ServedModel.load(args.artifact), _read(args.data, "items"))
    rule = model.recommender
    loaded = rule.artifact
    blind = Recommender(dataclasses.replace(loaded, data=dataclasses.replace(
        loaded.data, item_product=np.zeros(0, dtype=np.int64))))
    product = np.asarray(loaded.data.item_product)
    _, sizes = np.unique(product[product != 0], return_counts=True)
    bought = _read(args.data, "purchases").groupby("user_id")["item_id"].agg(list)
    counted = {"with the rule": np.zeros(3, dtype=np.int64),
               "without": np.zeros(3, dtype=np.int64)}
    started = time.perf_counter()
    for n, items in enumerate(bought.tolist(), start=1):
        history = rule.history(items)
        accept = functools.partial(model.paths.has_candidates, history,
                                   walks=model.paths.walks(history))
        owned = set(product[history].tolist()) - {0}
        for name, recommender in (("with the rule", rule), ("without", blind)):
            listed = [rule.item_index(r.item_id)
                      for r in recommender.recommend(history, args.k, accept=accept)]
            keys = [key for key in product[listed].tolist() if key]
            had = sum(key in owned for key in keys)
            counted[name] += (had > 0, len(keys) > len(set(keys)), had)
        if n % 5000 == 0:
            rate = n / (time.perf_counter() - started)
            print(f"  {n:,} of {len(bought):,} shoppers, {rate:,.0f}/s, "
                  f"ETA {(len(bought) - n) / rate:,.0f} s", flush=True)
    result = {
        "artifact": str(args.artifact), "data": str(args.data), "k": args.k,
        "shoppers": len(bought), "items": len(product),
        "products listed more than once": int((sizes > 1).sum()),
        "their listings": int(sizes[sizes > 1].sum()),
        "seconds": round(time.perf_counter() - started, 1),
        **{name: {"lists with a listing of a product bought": int(c[0]),
                  "lists with two listings of one product": int(c[1]),
                  "listings of a product bought": int(c[2])}
           for name, c in counted.items()}}
    print(f"{result['shoppers']:,} shoppers' top {args.k}; {result['their listings']} of "
          f"{result['items']:,} items list {result['products listed more than once']} products")
    print(f"{'':16}{'lists: a product bought':>26}{'lists: one product twice':>26}")
    for name in counted:
        row = result[name]
        print(f"{name:16}{row['lists with a listing of a product bought']:>26,}"
              f"{row['lists with two listings of one product']:>26,}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
