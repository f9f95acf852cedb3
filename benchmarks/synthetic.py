"""A catalogue N times the size of a real one, with the real one's shape: the input of
``benchmarks/scale.py``.

A shop that grows keeps its shape: each new item has as many buyers, links, a brand as big and a
category as deep as the items it already sells. So the synthetic catalogue is built from a real
template (Amazon Beauty by default) in *shards*: shard ``s`` holds a copy of every template item
(id ``S<s>-<id>``), its brand (``<brand> #<s>``) and its category path below the shared root
(``Beauty|Hair Care #<s>|…``), and a copy of every template user with their purchases, ``seq``
and ``split``. Then a share ``cross`` of the purchases and of the item links is rewired to the
same template item in another shard, chosen at random, so that shards are one graph and not N
islands. What follows from the construction, and what the tests check:

* per-user purchase counts, brand sizes, category sizes and per-item link counts are exactly
  the template's (a user keeps their count: a rewired purchase that lands on an item they
  already bought is rewired again);
* per-item purchase counts follow the template's within the noise of the rewiring (the
  expected count of every item is unchanged);
* a fractional last shard takes a seeded random subset of the template's items and users
  (only links and purchases between items it holds are kept), so ``N`` may be any positive
  number, e.g. 0.2 for a test.

Links to products outside the template's catalogue are left out: ``graphrec ingest`` drops them
by default. Titles are the template's, prefixed with the shard; ids are ASCII and unique.

Run from the repository root::

    python benchmarks/synthetic.py --factor 5 --out /tmp/beauty-x5
"""
from __future__ import annotations

import argparse
import gzip
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.datasets import BEAUTY as DEFAULT_TEMPLATE  # noqa: E402

FILES = ("items", "users", "purchases", "item_links")


@dataclass(frozen=True)
class Template:
    """The real catalogue a synthetic one copies: items, users, purchases and the links that
    stay inside it."""

    items: pd.DataFrame
    users: pd.DataFrame
    purchases: pd.DataFrame
    links: pd.DataFrame

    @classmethod
    def read(cls, directory: Path) -> Template:
        frames = {name: pd.read_csv(directory / f"{name}.csv.gz", dtype=str,
                                    keep_default_na=False) for name in FILES}
        items = frames["items"]
        links = frames["item_links"]
        links = links[links["other_item_id"].isin(items["item_id"])]
        return cls(items.reset_index(drop=True), frames["users"].reset_index(drop=True),
                   frames["purchases"].reset_index(drop=True), links.reset_index(drop=True))


def _shard_sizes(total: int, factor: float) -> list[int]:
    """How many of ``total`` template rows each shard copies: every one for the whole shards,
    a share for the last."""
    whole = int(factor)
    sizes = [total] * whole
    rest = round((factor - whole) * total)
    if rest:
        sizes.append(rest)
    if not sizes:
        raise ValueError(f"factor {factor} copies no row of {total}")
    return sizes


def _chosen(rng: np.random.Generator, total: int, sizes: list[int]) -> list[np.ndarray]:
    """Template row indices each shard holds (sorted: a whole shard holds them all)."""
    return [np.arange(total) if size == total else np.sort(rng.choice(total, size, replace=False))
            for size in sizes]


def _rewire(rng: np.random.Generator, shard: np.ndarray, held: np.ndarray, cross: float
            ) -> np.ndarray:
    """``shard`` with a share ``cross`` moved to another shard that holds the same template row
    (``held[s, row]``); rows no other shard holds stay where they are."""
    shards = held.shape[0]
    if shards < 2 or cross <= 0:
        return shard
    out = shard.copy()
    move = rng.random(len(shard)) < cross
    target = (shard[move] + rng.integers(1, shards, int(move.sum()))) % shards
    out[move] = target
    return out


def synthesise(template: Template, factor: float, out: Path, seed: int = 0,
               cross: float = 0.1) -> dict[str, int]:
    """Write the canonical CSV files of a catalogue ``factor`` times ``template`` into ``out``;
    return their row counts."""
    rng = np.random.default_rng(seed)
    items, users = template.items, template.users
    item_shards = _chosen(rng, len(items), _shard_sizes(len(items), factor))
    user_shards = _chosen(rng, len(users), _shard_sizes(len(users), factor))
    shards = len(item_shards)
    held = np.zeros((shards, len(items)), dtype=bool)
    for s, rows in enumerate(item_shards):
        held[s, rows] = True

    item_pos = pd.Series(np.arange(len(items)), index=items["item_id"])
    user_pos = pd.Series(np.arange(len(users)), index=users["user_id"])

    def item_id(shard: np.ndarray, row: np.ndarray) -> np.ndarray:
        return np.char.add(np.char.add("S", shard.astype(str)),
                           np.char.add("-", items["item_id"].to_numpy()[row].astype(str)))

    # Items: a copy per shard, brand and category names marked with the shard (the root kept).
    item_frames = []
    for s, rows in enumerate(item_shards):
        part = items.iloc[rows].copy()
        part["item_id"] = item_id(np.full(len(rows), s), rows)
        part["title"] = np.where(part["title"] != "", f"[{s}] " + part["title"], "")
        part["brand"] = np.where(part["brand"] != "", part["brand"] + f" #{s}", "")
        paths = part["categories"].str.split("|")
        part["categories"] = [
            "|".join([path[0], *(f"{name} #{s}" for name in path[1:])]) if path != [""] else ""
            for path in paths]
        item_frames.append(part)
    synthetic_items = pd.concat(item_frames, ignore_index=True)

    # Users and their purchases: a copy per shard, a share rewired to another shard.
    purchases = template.purchases
    p_user = user_pos.loc[purchases["user_id"]].to_numpy()
    p_item = item_pos.loc[purchases["item_id"]].to_numpy()
    user_frames, purchase_frames = [], []
    for s, rows in enumerate(user_shards):
        user_frames.append(pd.DataFrame({"user_id": [f"S{s}-{u}" for u in
                                                     users["user_id"].to_numpy()[rows]]}))
        keep = np.isin(p_user, rows)
        chosen_items = p_item[keep]
        home = np.full(keep.sum(), s)
        home = np.where(held[home, chosen_items], home, -1)  # the last shard lacks some items
        where = _place(rng, home, chosen_items, p_user[keep], held, cross)
        valid = where >= 0
        sub = purchases[keep][valid]
        purchase_frames.append(pd.DataFrame({
            "user_id": "S" + str(s) + "-" + sub["user_id"].to_numpy().astype(object),
            "item_id": item_id(where[valid], chosen_items[valid]),
            "seq": sub["seq"].to_numpy(), "split": sub["split"].to_numpy()}))
    synthetic_users = pd.concat(user_frames, ignore_index=True)
    synthetic_purchases = pd.concat(purchase_frames, ignore_index=True)

    # Links: each shard's copy of the template's, the target rewired like the purchases.
    links = template.links
    l_src = item_pos.loc[links["item_id"]].to_numpy()
    l_dst = item_pos.loc[links["other_item_id"]].to_numpy()
    link_frames = []
    for s in range(len(item_shards)):
        keep = held[s, l_src]
        src, dst = l_src[keep], l_dst[keep]
        target = _rewire(rng, np.full(len(dst), s), held, cross)
        ok = held[target, dst]
        link_frames.append(pd.DataFrame({
            "item_id": item_id(np.full(int(ok.sum()), s), src[ok]),
            "relation": links["relation"].to_numpy()[keep][ok],
            "other_item_id": item_id(target[ok], dst[ok])}))
    synthetic_links = pd.concat(link_frames, ignore_index=True)

    out.mkdir(parents=True, exist_ok=True)
    frames = {"items": synthetic_items, "users": synthetic_users,
              "purchases": synthetic_purchases, "item_links": synthetic_links}
    for name, frame in frames.items():
        with gzip.open(out / f"{name}.csv.gz", "wt", encoding="utf-8", newline="",
                       compresslevel=1) as handle:
            frame.to_csv(handle, index=False)
    return {name: len(frame) for name, frame in frames.items()}


def _place(rng: np.random.Generator, home: np.ndarray, item: np.ndarray, user: np.ndarray,
           held: np.ndarray, cross: float) -> np.ndarray:
    """The shard of each purchase: its user's home shard, or for a share ``cross`` another
    shard holding the item, never twice the same (user, item copy). ``-1``: nowhere to go (the
    last, partial shard lacks the item)."""
    shards = held.shape[0]
    where = home.copy()
    if shards > 1 and cross > 0:
        moved = _rewire(rng, np.maximum(home, 0), held, cross)
        where = np.where(home >= 0, moved, -1)
    # Rows whose shard does not hold the item, or that repeat a (user, shard, item): try again
    # with other shards, up to a few rounds, then drop them.
    for _ in range(8):
        bad = where >= 0
        bad &= ~held[np.maximum(where, 0), item]
        key = (user.astype(np.int64) * shards + np.maximum(where, 0)) * held.shape[1] + item
        _, first = np.unique(key, return_index=True)
        repeat = np.ones(len(key), dtype=bool)
        repeat[first] = False
        bad |= repeat & (where >= 0)
        if not bad.any():
            break
        where[bad] = rng.integers(0, shards, int(bad.sum()))
    else:
        where[bad] = -1
    return where


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE,
                        help="canonical CSV catalogue to copy (default: Amazon Beauty)")
    parser.add_argument("--factor", type=float, required=True, help="size as a multiple")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cross", type=float, default=0.1,
                        help="share of purchases and links rewired across shards")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    counts = synthesise(Template.read(args.template), args.factor, args.out, args.seed,
                        args.cross)
    seconds = time.perf_counter() - started
    rows = sum(counts.values())
    print(f"wrote {args.out}: " + ", ".join(f"{n:,} {name}" for name, n in counts.items())
          + f" ({rows:,} rows in {seconds:.1f} s, {rows / seconds:,.0f} rows/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
