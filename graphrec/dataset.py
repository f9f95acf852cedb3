"""The knowledge graph as integer-indexed arrays: what models, baselines and metrics consume.

Both the store export and the benchmark (which reads the canonical CSV files directly) build a
:class:`GraphData` through :meth:`GraphData.from_frames`, so every model sees the same indexing.
Index order is the sorted order of ids, which keeps id maps stable across runs and sources.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from graphrec.schema import LEARNT_SPLITS, LINK_RELATIONS, category_steps, placed_in

if TYPE_CHECKING:
    import pandas as pd
    import scipy.sparse as sp


def _pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.stack([np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)], axis=1)


def product_keys(titles: Iterable[object], brands: Iterable[object]) -> np.ndarray:
    """Each listing's product, ``int64``: a key of its title and brand compared case- and
    space-blind, 0 for a listing without a title (a product of its own). Shops list one product
    more than once (a relisting, a seller's own copy): a shopper who bought one listing has
    the product, and being recommended the other "because you bought" the first reads as the
    recommender not knowing what they have. A key, not the text, so that the model artifact
    keeps 8 bytes an item and an item folded in live is matched with the same function."""
    keys = []
    for title, brand in zip(titles, brands):
        text = _blind(title)
        if not text:
            keys.append(0)
            continue
        digest = hashlib.blake2b(f"{text}\x1f{_blind(brand)}".encode(), digest_size=8).digest()
        keys.append(int.from_bytes(digest, "little") >> 1 or 1)
    return np.array(keys, dtype=np.int64)


def _listed_products(items: pd.DataFrame, item_ids: np.ndarray) -> np.ndarray:
    """:func:`product_keys` of the items in the order of ``item_ids``, from ``items`` (a row an
    item: ``item_id, title, brand``); empty when the frame has no titles."""
    import pandas as pd

    if "title" not in items:
        return np.zeros(0, dtype=np.int64)
    keys = pd.Series(product_keys(items["title"], items["brand"]),
                     index=items["item_id"].astype(str))
    return keys[~keys.index.duplicated()].reindex(item_ids, fill_value=0).to_numpy(np.int64)


def _blind(text: object) -> str:
    """``text`` folded for comparison: case and runs of blanks ignored (missing: empty)."""
    return " ".join(text.casefold().split()) if isinstance(text, str) else ""


@dataclass
class GraphData:
    """Users, items, brands and categories with their edges, each edge array shaped ``(n, 2)``.

    ``train``/``test`` hold ``[user, item]`` purchase pairs; only ``train`` may reach a model:
    read from the store, it holds the purchases reported live too
    (:data:`~graphrec.schema.LEARNT_SPLITS`). ``test`` is for measuring, and for the counts
    people read (:meth:`held_out_only`), which quote every purchase the store holds.
    ``links`` maps a link relation (:data:`graphrec.schema.LINK_RELATIONS`) to
    ``[item, other_item]`` pairs inside the catalogue.
    ``item_product`` holds each item's :func:`product_keys` (empty when the items' titles are
    not known): listings with one key are one product, which a shopper who bought one of them
    is never recommended again.
    """

    users: np.ndarray
    items: np.ndarray
    brands: np.ndarray
    categories: np.ndarray
    train: np.ndarray
    test: np.ndarray
    item_brand: np.ndarray
    item_category: np.ndarray
    category_parent: np.ndarray
    links: dict[str, np.ndarray] = field(default_factory=dict)
    item_product: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def num_users(self) -> int:
        return len(self.users)

    @property
    def num_items(self) -> int:
        return len(self.items)

    @classmethod
    def from_frames(
        cls,
        items: pd.DataFrame,
        purchases: pd.DataFrame,
        links: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        category_edges: pd.DataFrame | None = None,
        categories: str = "path",
    ) -> GraphData:
        """Build from frames in the canonical CSV columns (see the README's catalogue format).

        ``items``: ``item_id, brand, categories`` (``|``-joined root→leaf path, or with
        ``categories="set"`` the names of the categories the item is in; an item may take
        several rows, one a category, as the store exports them) and an optional ``title``
        (which tells two listings of one product: :func:`product_keys`);
        ``purchases``: ``user_id, item_id, split`` (``live`` counts as ``train``);
        ``links``: ``item_id, relation, other_item_id`` (links leaving the catalogue are
        dropped); ``users``: ``user_id``;
        ``category_edges``: ``child, parent`` pairs added to those the paths imply (the store
        keeps only each item's leaf category and the hierarchy as separate edges).
        """
        import pandas as pd  # here, not at the top: serving builds GraphData without frames

        item_ids = np.array(sorted(items["item_id"].astype(str).unique()), dtype=object)
        user_pool = purchases["user_id"].astype(str)
        if users is not None:
            user_pool = pd.concat([user_pool, users["user_id"].astype(str)])
        user_ids = np.array(sorted(user_pool.unique()), dtype=object)
        item_ix = pd.Index(item_ids)
        user_ix = pd.Index(user_ids)

        first = items.drop_duplicates("item_id")  # an item of several categories: a row each
        brand_col = first["brand"].fillna("").astype(str).str.strip()
        has_brand = brand_col != ""
        brand_ids = np.array(sorted(brand_col[has_brand].unique()), dtype=object)
        item_brand = _pairs(
            item_ix.get_indexer(first.loc[has_brand, "item_id"].astype(str)),
            pd.Index(brand_ids).get_indexer(brand_col[has_brand]),
        )

        paths = items["categories"].fillna("").astype(str).str.split("|")
        placed: dict[str, set[str]] = {}  # item → its categories, items in first-seen order
        parent_rows: set[tuple[str, str]] = set()
        for item_id, path in zip(items["item_id"].astype(str), paths):
            path = [p for p in path if p]
            if not path:
                continue
            placed.setdefault(item_id, set()).update(placed_in(path, categories))
            parent_rows.update(category_steps(path, categories))
        placements = [(item_id, name) for item_id, names in placed.items()
                      for name in sorted(names)]
        if category_edges is not None and not category_edges.empty:
            parent_rows.update(zip(category_edges["child"].astype(str),
                                   category_edges["parent"].astype(str)))
        category_ids = np.array(
            sorted({c for _, c in placements} | {c for pair in parent_rows for c in pair}),
            dtype=object,
        )
        cat_ix = pd.Index(category_ids)
        item_category = _pairs(
            item_ix.get_indexer([i for i, _ in placements]),
            cat_ix.get_indexer([c for _, c in placements]),
        ).reshape(-1, 2)
        parent_sorted = sorted(parent_rows)
        category_parent = _pairs(
            cat_ix.get_indexer([c for c, _ in parent_sorted]),
            cat_ix.get_indexer([p for _, p in parent_sorted]),
        ).reshape(-1, 2)

        def purchase_pairs(*splits: str) -> np.ndarray:
            rows = purchases[purchases["split"].isin(splits)]
            pairs = _pairs(
                user_ix.get_indexer(rows["user_id"].astype(str)),
                item_ix.get_indexer(rows["item_id"].astype(str)),
            ).reshape(-1, 2)
            pairs = pairs[(pairs >= 0).all(axis=1)]
            return np.unique(pairs, axis=0) if len(pairs) else pairs

        link_arrays: dict[str, np.ndarray] = {}
        if links is not None:
            for relation in LINK_RELATIONS:
                rows = links[links["relation"] == relation]
                pairs = _pairs(
                    item_ix.get_indexer(rows["item_id"].astype(str)),
                    item_ix.get_indexer(rows["other_item_id"].astype(str)),
                ).reshape(-1, 2)
                pairs = pairs[(pairs >= 0).all(axis=1) & (pairs[:, 0] != pairs[:, 1])]
                link_arrays[relation] = np.unique(pairs, axis=0) if len(pairs) else pairs

        return cls(
            users=user_ids,
            items=item_ids,
            brands=brand_ids,
            categories=category_ids,
            train=purchase_pairs(*LEARNT_SPLITS),
            test=purchase_pairs("test"),
            item_brand=item_brand,
            item_category=item_category,
            category_parent=category_parent,
            links=link_arrays,
            item_product=_listed_products(first, item_ids),
        )

    @classmethod
    def from_csv_dir(cls, path: str | Path) -> GraphData:
        """Read the four canonical files (``items``, ``users``, ``purchases``, ``item_links``,
        each ``.csv`` or ``.csv.gz``) from ``path``."""
        import pandas as pd

        path = Path(path)

        def read(name: str) -> pd.DataFrame | None:
            for suffix in (".csv.gz", ".csv"):
                if (path / f"{name}{suffix}").exists():
                    return pd.read_csv(path / f"{name}{suffix}", dtype=str, keep_default_na=False)
            return None

        items, purchases = read("items"), read("purchases")
        if items is None or purchases is None:
            raise FileNotFoundError(f"{path}: needs items.csv[.gz] and purchases.csv[.gz]")
        return cls.from_frames(items, purchases, read("item_links"), read("users"))

    def purchase_history(self, purchases: pd.DataFrame) -> pd.DataFrame:
        """Every purchase of ``purchases`` (``user_id, item_id, split`` and an optional ``seq``)
        that this data knows, in each user's order of buying: columns ``user``, ``item`` (indices
        here), ``seq`` (float, NaN where the row has none) and ``train``.

        Users come in index order, each one's purchases by ``seq`` where the row has one, else
        train before test in the order of the rows. A pair bought twice counts once, at its first
        place. The one reading of purchase time: the cold-start protocol takes the order
        (:func:`graphrec.evaluation.coldstart.history_order`), the explanations' recency the
        train purchases' ``seq`` (:func:`graphrec.evaluation.path_quality.purchase_order`)."""
        import pandas as pd

        seq = purchases["seq"] if "seq" in purchases else pd.Series(np.nan, index=purchases.index)
        frame = pd.DataFrame({
            "user": pd.Index(self.users).get_indexer(purchases["user_id"].astype(str)),
            "item": pd.Index(self.items).get_indexer(purchases["item_id"].astype(str)),
            "seq": pd.to_numeric(seq, errors="coerce").astype("float64").to_numpy(),
            "train": (purchases["split"] == "train").to_numpy(),
            "row": np.arange(len(purchases))})
        frame = frame[(frame.user >= 0) & (frame.item >= 0)
                      & purchases["split"].isin(("train", "test")).to_numpy()]
        frame = frame.assign(later=~frame.train).sort_values(
            ["user", "seq", "later", "row"], na_position="last")
        return frame.drop_duplicates(["user", "item"])[["user", "item", "seq", "train"]]

    def relation_pairs(self) -> dict[str, np.ndarray]:
        """Every relation of :data:`graphrec.schema.RELATIONS` that the data holds → its
        ``(n, 2)`` pairs ``[source, target]`` in node-type-local indices."""
        return {"has_brand": self.item_brand, "in_category": self.item_category,
                "subcategory_of": self.category_parent, **self.links}

    def held_out_only(self) -> np.ndarray:
        """The ``test`` pairs that ``train`` lacks: with ``train``, every purchase the store
        holds, each ``[user, item]`` once. No model learns from them; the counts people read
        (:class:`~graphrec.explain.reasons.GraphFacts`, the most bought items) quote them, so
        that a count agrees with the store's (a user's own test purchase among them)."""
        test = np.asarray(self.test, dtype=np.int64).reshape(-1, 2)
        if not len(test):
            return test
        train = np.asarray(self.train, dtype=np.int64).reshape(-1, 2)
        width = max(self.num_items, int(test[:, 1].max()) + 1,
                    int(train[:, 1].max()) + 1 if len(train) else 0)
        learnt, held = train[:, 0] * width + train[:, 1], test[:, 0] * width + test[:, 1]
        if len(learnt) and bool((learnt[1:] > learnt[:-1]).all()):  # in order, as a model's
            place = np.minimum(np.searchsorted(learnt, held), len(learnt) - 1)
            return test[learnt[place] != held]
        return test[~np.isin(held, learnt)]

    def train_matrix(self) -> sp.csr_matrix:
        """Users × items, 1 where the user bought the item in train."""
        return self._matrix(self.train)

    def test_matrix(self) -> sp.csr_matrix:
        return self._matrix(self.test)

    def _matrix(self, pairs: np.ndarray) -> sp.csr_matrix:
        # imported here: serving and the commands that answer one question never need it
        import scipy.sparse as sp

        data = np.ones(len(pairs), dtype=np.float32)
        return sp.csr_matrix(
            (data, (pairs[:, 0], pairs[:, 1])), shape=(self.num_users, self.num_items)
        )

    def fingerprint(self) -> str:
        """A hash of ids and train edges: a model is only valid for the data it was trained on."""
        digest = hashlib.sha256()
        for array in (self.users, self.items, self.brands, self.categories):
            digest.update("\x1f".join(array.tolist()).encode())
        for array in (self.train, self.item_brand, self.item_category, self.category_parent,
                      *(self.links[k] for k in sorted(self.links))):
            digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
        return digest.hexdigest()[:16]
