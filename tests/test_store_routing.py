"""Reads go out in read access mode, writes in write mode: what lets a Neo4j cluster route them.

On a ``neo4j://`` URI the driver sends a transaction in read mode to a follower (or read
replica) and one in write mode to the leader; the local store is a single server that runs both
alike, so what is checked here is what the driver says on the wire (its Bolt messages, which it
logs at DEBUG): every read method of :class:`~graphrec.store.connection.GraphStore` marks its
transaction ``'mode': 'r'``, and a write does not.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from graphrec.store.connection import GraphStore


def _modes(caplog: pytest.LogCaptureFixture, action: Callable[[], object]) -> list[str]:
    """The access mode of each transaction ``action`` begins (``'r'`` or ``'w'``, the default
    the driver leaves out of the message)."""
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="neo4j"):
        action()
    messages = [r.getMessage() for r in caplog.records]
    # a transaction opens with BEGIN, or with a RUN that carries the database (auto-commit);
    # a RUN inside a transaction carries none
    opened = [m for m in messages if "C: BEGIN" in m
              or ("C: RUN" in m and "'db':" in m[m.rindex("{"):])]
    assert opened, messages
    return ["r" if "'mode': 'r'" in m else "w" for m in opened]


@pytest.fixture
def filled(store: GraphStore) -> GraphStore:
    store.write("ingest/users", rows=[{"id": "u1"}, {"id": "u2"}])
    return store


@pytest.mark.parametrize("read", [
    lambda s: s.read("stats/labels"),
    lambda s: s.read_text("MATCH (u:User) RETURN count(u) AS users"),
    lambda s: s.read_once("service/graph_counts"),
    lambda s: list(s.stream("export/users")),
], ids=["read", "read_text", "read_once", "stream"])
def test_reads_ask_for_read_access(filled: GraphStore, caplog: pytest.LogCaptureFixture,
                                   read: Callable[[GraphStore], object]) -> None:
    assert _modes(caplog, lambda: read(filled)) == ["r"]


def test_writes_go_to_the_leader(filled: GraphStore, caplog: pytest.LogCaptureFixture) -> None:
    assert _modes(caplog, lambda: filled.write("ingest/users", rows=[{"id": "u3"}])) == ["w"]
    assert filled.read("stats/labels") == [{"label": "User", "count": 3}]
