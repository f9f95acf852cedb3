"""Every Cypher statement graphrec runs, one ``.cypher`` file each, read by :func:`load`.

Keeping them as files means a data scientist can paste the very statement the code runs into
Neo4j Browser; ``browser/`` holds queries meant for Browser only.
"""
from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def load(name: str) -> str:
    """The statement in ``cypher/<name>.cypher`` (``name`` may hold a folder: ``ingest/items``)."""
    text = files(__name__).joinpath(f"{name}.cypher").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("//")]
    return "\n".join(lines).strip().rstrip(";")


def statements(name: str) -> list[str]:
    """The ``;``-separated statements of a file that holds several (the schema)."""
    return [part.strip() for part in load(name).split(";") if part.strip()]
