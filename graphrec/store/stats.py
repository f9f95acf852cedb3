"""What the graph holds, counted in the store."""
from __future__ import annotations

from typing import Any

from graphrec.store.connection import GraphStore


def graph_stats(store: GraphStore) -> dict[str, Any]:
    """``{"nodes": {label: n}, "relationships": {type: n}, "bought_by_split": {split: n}}``."""
    nodes = {row["label"]: row["count"] for row in store.read("stats/labels")}
    rels = {row["type"]: row["count"] for row in store.read("stats/relationship_types")}
    splits = {str(row["split"]): row["count"] for row in store.read("stats/bought_splits")}
    return {
        "nodes": dict(sorted(nodes.items())),
        "relationships": dict(sorted(rels.items())),
        "bought_by_split": dict(sorted(splits.items())),
    }


def format_stats(stats: dict[str, Any]) -> str:
    """The counts as an aligned two-column table."""
    lines = []
    for section in ("nodes", "relationships", "bought_by_split"):
        lines.append(f"{section.replace('_', ' ')}:")
        entries = stats[section] or {"(none)": 0}
        width = max(len(name) for name in entries)
        lines += [f"  {name:<{width}}  {count:>10,}" for name, count in entries.items()]
    return "\n".join(lines)
