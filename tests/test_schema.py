"""The vocabulary of :mod:`graphrec.schema` against the Cypher statements, which spell theirs."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from graphrec.schema import BY_NAME, LABELS, LINK_RELATIONS, RELATIONS, RELATIONSHIP_TYPES

CYPHER = Path(__file__).resolve().parents[1] / "cypher"
#: ``[r:TYPE]``, ``[:A|B]``, ``[:TYPE*1..2]``: the types of a relationship pattern.
PATTERN = re.compile(r"\[\s*\w*\s*:\s*([A-Za-z_][\w|\s]*)")


def relationship_types(text: str) -> set[str]:
    return {name.strip() for match in PATTERN.findall(text) for name in match.split("|")}


def test_the_pattern_reads_every_form() -> None:
    text = "MATCH (u)-[b:BOUGHT]->(i)-[:ALSO_BOUGHT|ALSO_VIEWED]-(j)<-[ :HAS_BRAND ]-(k)"
    assert relationship_types(text) == {"BOUGHT", "ALSO_BOUGHT", "ALSO_VIEWED", "HAS_BRAND"}


@pytest.mark.parametrize("path", sorted(CYPHER.rglob("*.cypher")),
                         ids=lambda p: str(p.relative_to(CYPHER)))
def test_cypher_uses_only_declared_relationship_types(path: Path) -> None:
    used = relationship_types(path.read_text(encoding="utf-8"))
    undeclared = sorted(used - RELATIONSHIP_TYPES)
    assert not undeclared, f"{path.name}: {undeclared}"


def test_every_declared_type_is_used_by_some_statement() -> None:
    used = set().union(*(relationship_types(p.read_text(encoding="utf-8"))
                         for p in CYPHER.rglob("*.cypher")))
    assert used >= RELATIONSHIP_TYPES, sorted(RELATIONSHIP_TYPES - used)


def test_each_relation_joins_known_node_types_and_links_read_as_sentences() -> None:
    for relation in RELATIONS:
        assert {relation.source, relation.target} <= set(LABELS)
        assert BY_NAME[relation.name] is relation
        assert (relation.clause is not None) == relation.is_link
    assert LINK_RELATIONS == ("also_bought", "also_viewed", "bought_together")


def test_each_link_has_its_ingest_and_explain_statements() -> None:
    for name in LINK_RELATIONS:
        assert BY_NAME[name].type in (CYPHER / "ingest" / f"{name}.cypher").read_text()
        assert BY_NAME[name].type in (CYPHER / "explain" / f"{name}.cypher").read_text()
