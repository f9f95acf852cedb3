"""Reading the knowledge graph out of the store into :class:`~graphrec.dataset.GraphData`.

Each query of ``cypher/export/`` is streamed (the driver fetches records in batches) into a
frame; :meth:`GraphData.from_frames` then indexes them exactly as it does the CSV files, so a
catalogue gives the same arrays, and the same fingerprint, whichever way it arrives.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from graphrec.dataset import GraphData
from graphrec.schema import LIVE_SPLIT
from graphrec.store.connection import GraphStore

#: ``progress(step, rows)`` after every block of rows read.
Progress = Callable[[str, int], None]
BLOCK = 10_000

QUERIES = ("users", "items", "subcategories", "purchases", "item_links")


def read_frame(store: GraphStore, name: str, progress: Progress | None = None) -> pd.DataFrame:
    """All rows of ``cypher/export/<name>.cypher`` as a frame of strings.

    Rows are gathered column by column, each distinct string kept once: the ids of a purchase
    or a link repeat across millions of rows, and a dict per row with strings of its own cost
    some 400 bytes a purchase, where two shared references cost 16 (the peak of ``graphrec
    train`` on a large shop is this read)."""
    names: list[str] = []
    columns: list[list[Any]] = []
    kept: dict[str, str] = {}
    count = 0
    for record in store.stream(f"export/{name}"):
        if not names:
            names = record.keys()
            columns = [[] for _ in names]
        for column, value in zip(columns, record):
            column.append(kept.setdefault(value, value) if isinstance(value, str) else value)
        count += 1
        if progress and count % BLOCK == 0:
            progress(name, BLOCK)
    if progress:
        progress(name, count % BLOCK)
    return pd.DataFrame(dict(zip(names, columns)))


class NothingToTrain(ValueError):
    """The store holds no item or no purchase: there is no graph to learn from yet."""


def export_graph(store: GraphStore, progress: Progress | None = None
                 ) -> tuple[GraphData, dict[str, float]]:
    """The store's graph as GraphData, and how the export went: ``rows``, ``seconds``,
    ``rows_per_s``, and ``live``, the purchases reported live among those it learns from
    (:data:`~graphrec.schema.LEARNT_SPLITS`)."""
    started = time.perf_counter()
    frames = {name: read_frame(store, name, progress) for name in QUERIES}
    seconds = time.perf_counter() - started
    rows = sum(len(frame) for frame in frames.values())
    items = frames["items"]
    if items.empty or frames["purchases"].empty:
        raise NothingToTrain(f"{store.description} holds {len(items):,} items and "
                             f"{len(frames['purchases']):,} purchases: a model learns from "
                             f"both; ingest a catalogue with purchases first")
    items = items.assign(categories=items["category"].fillna(""),
                         brand=items["brand"].fillna(""))
    data = GraphData.from_frames(items, frames["purchases"], _links(frames["item_links"]),
                                 frames["users"], category_edges=frames["subcategories"])
    live = int((frames["purchases"]["split"] == LIVE_SPLIT).sum())
    return data, {"rows": rows, "seconds": seconds, "rows_per_s": rows / max(seconds, 1e-9),
                  "live": live}


def _links(frame: pd.DataFrame) -> pd.DataFrame | None:
    return None if frame.empty else frame
