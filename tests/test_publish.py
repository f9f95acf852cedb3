"""graphrec publish on the sample, in the real store, and the Neo4j Browser queries that read
what it wrote: counts, replacement, agreement with graphrec explain, paths that are paths."""
from __future__ import annotations

import ast
import io
import json
import re
import socket
from collections import Counter
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

import cypher
from graphrec.cli import main
from graphrec.config import Settings
from graphrec.model.pipeline import train_from_store
from graphrec.model.train import TrainConfig
from graphrec.serving.service import RecommendationService
from graphrec.store.connection import GraphStore
from ingest.detect import read_catalogue
from ingest.loader import load_catalogue
from tests.conftest import SAMPLE

K, PATHS = 10, 3
BROWSER = Path(cypher.__file__).parent / "browser"
#: The user the Browser queries name in their :param examples; published by every test here.
EXAMPLE_USER = "A3T0EJIUQDEWNI"

COUNTS = {
    "RECOMMENDED": "MATCH (u:User)-[r:RECOMMENDED]->(:Item) WHERE u.id IN $users "
                   "RETURN count(r) AS n",
    "Explanation": "MATCH (u:User)-[:HAS_EXPLANATION]->(e:Explanation) WHERE u.id IN $users "
                   "RETURN count(e) AS n",
    "EXPLAINS": "MATCH (u:User)-[:HAS_EXPLANATION]->(:Explanation)-[x:EXPLAINS]->(:Item) "
                "WHERE u.id IN $users RETURN count(x) AS n",
    "STEP": "MATCH (u:User)-[:HAS_EXPLANATION]->(:Explanation)-[s:STEP]->() "
            "WHERE u.id IN $users RETURN count(s) AS n",
}


def sample_trained(store: GraphStore, settings: Settings) -> Settings:
    """The sample in the store, emptied first, and a model trained on it under
    ``settings.home``."""
    store.clear()
    load_catalogue(store, read_catalogue(SAMPLE))
    train_from_store(store, settings, TrainConfig(max_epochs=4))
    return settings


def load_service(settings: Settings, store: GraphStore) -> RecommendationService:
    """A served model whose answers name the other shoppers of co-buyer paths, as what
    ``publish`` writes into the store does (the web service's do not)."""
    return RecommendationService.load(settings, store,
                                      catalogue_check_interval=settings.catalogue_check_interval,
                                      reason_cache_size=settings.reason_cache_size,
                                      shoppers_named=True)


def some_buyers(store: GraphStore) -> list[str]:
    """A dozen buyers of the sample, the Browser queries' example user among them."""
    rows = store.read_text("MATCH (u:User)-[:BOUGHT]->(:Item) RETURN DISTINCT u.id AS "
                           "id ORDER BY id LIMIT 11")
    return [EXAMPLE_USER] + [row["id"] for row in rows if row["id"] != EXAMPLE_USER][:11]


@pytest.fixture(scope="module")
def trained(session_store: GraphStore, settings: Settings) -> Settings:
    return sample_trained(session_store, settings)


@pytest.fixture(scope="module")
def service(trained: Settings, session_store: GraphStore) -> RecommendationService:
    return load_service(trained, session_store)


@pytest.fixture(scope="module")
def users(trained: Settings, session_store: GraphStore) -> list[str]:
    return some_buyers(session_store)


@pytest.fixture(scope="module")
def expected(service: RecommendationService, users: list[str]
             ) -> dict[tuple[str, str], dict[str, Any]]:
    """``graphrec explain``'s answer (the service call it prints) for each user's top k."""
    return {(user, rec["item_id"]): service.explain(user, rec["item_id"], top=PATHS)
            for user in users for rec in service.recommend(user, K)}


def publish(*argv: str) -> tuple[int, str, str]:
    """``graphrec publish --quiet ARGV``: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["publish", "--quiet", *argv])
    return code, out.getvalue(), err.getvalue()


def unpublish(store: GraphStore) -> None:
    store.write_text("MATCH (e:Explanation) DETACH DELETE e")
    store.write_text("MATCH (:User)-[r:RECOMMENDED]->(:Item) DELETE r")


def counts(store: GraphStore, users: list[str]) -> dict[str, int]:
    return {name: store.read_text(query, users=users)[0]["n"] for name, query in COUNTS.items()}


def summary(out: str) -> dict[str, int]:
    """The numbers of publish's closing lines."""
    found = re.search(r"published ([\d,]+) users: ([\d,]+) RECOMMENDED, ([\d,]+) of them "
                      r"explained by ([\d,]+) paths \(([\d,]+) STEP", out)
    assert found, out
    names = ("users", "RECOMMENDED", "explained", "Explanation", "STEP")
    return {name: int(value.replace(",", "")) for name, value in zip(names, found.groups())}


def publish_users(settings: Settings, store: GraphStore, users: list[str]) -> str:
    """Nothing published but the top k of ``users`` with their paths; publish's output."""
    unpublish(store)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRAPHREC_HOME", str(settings.home))
        patch.setenv("GRAPHREC_STORE_DIR", str(settings.store_dir))
        code, out, err = publish("--users", *users, "-k", str(K), "--paths", str(PATHS),
                                 "--batch-size", "5")
    assert code == 0, err
    return out


@pytest.fixture(scope="module")
def published(trained: Settings, session_store: GraphStore, users: list[str]) -> str:
    """The module's published state, which no test here changes (those that publish something
    else are in ``test_publish_replace.py``, on data of their own)."""
    return publish_users(trained, session_store, users)


@pytest.fixture
def home(published: str, trained: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads the module's model."""
    monkeypatch.setenv("GRAPHREC_HOME", str(trained.home))


def stored_paths(store: GraphStore, user: str, item: str) -> list[dict[str, Any]]:
    """The published Explanation rows of one recommendation, with their STEP nodes in order."""
    rows = store.read_text(
        "MATCH (:User {id: $user})-[:HAS_EXPLANATION]->(e:Explanation)-[:EXPLAINS]->"
        "(:Item {id: $item}) MATCH (e)-[s:STEP]->(n) "
        "RETURN e.rank AS rank, e.kind AS kind, e.weight AS weight, e.sentence AS sentence, "
        "e.model AS model, s.position AS position, labels(n)[0] AS type, "
        "coalesce(n.id, n.name) AS id ORDER BY rank, position", user=user, item=item)
    paths: dict[int, dict[str, Any]] = {}
    for row in rows:
        path = paths.setdefault(row["rank"], {k: row[k] for k in
                                              ("kind", "weight", "sentence", "model")})
        path.setdefault("nodes", []).append((row["type"], row["id"]))
    return [paths[rank] for rank in sorted(paths)]


def test_publish_writes_the_top_k_and_their_top_paths(
        published: str, session_store: GraphStore, service: RecommendationService,
        users: list[str], expected: dict[tuple[str, str], dict[str, Any]]) -> None:
    paths = [p for answer in expected.values() for p in answer["paths"]]
    assert len(expected) == len(users) * K  # every sample user has more than k candidates
    assert counts(session_store, users) == {
        "RECOMMENDED": len(users) * K, "Explanation": len(paths), "EXPLAINS": len(paths),
        "STEP": sum(len(p["nodes"]) for p in paths)}
    assert summary(published) == {
        "users": len(users), "RECOMMENDED": len(users) * K, "Explanation": len(paths),
        "explained": sum(1 for answer in expected.values() if answer["paths"]),
        "STEP": sum(len(p["nodes"]) for p in paths)}
    rows = session_store.read_text(
        "MATCH (u:User)-[r:RECOMMENDED]->(i:Item) WHERE u.id IN $users RETURN u.id AS user, "
        "i.id AS item, r.rank AS rank, r.score AS score, r.model AS model", users=users)
    assert {row["model"] for row in rows} == {service.model_version}
    for row in rows:
        answer = expected[row["user"], row["item"]]
        assert row["score"] == pytest.approx(answer["score"], rel=1e-6)
    for user in users:
        assert sorted(row["rank"] for row in rows if row["user"] == user) == list(range(1, K + 1))
    assert re.search(r"wrote [\d,]+ rows in [\d.]+s \([\d,]+ rows/s", published)


def test_stored_paths_equal_what_explain_returns(
        published: str, session_store: GraphStore, service: RecommendationService,
        expected: dict[tuple[str, str], dict[str, Any]]) -> None:
    for (user, item), answer in expected.items():
        stored = stored_paths(session_store, user, item)
        assert [p["kind"] for p in stored] == [p["kind"] for p in answer["paths"]]
        assert [p["sentence"] for p in stored] == [p["sentence"] for p in answer["paths"]]
        assert [p["weight"] for p in stored] == pytest.approx(
            [p["weight"] for p in answer["paths"]], rel=1e-9)
        assert [p["nodes"] for p in stored] == [[(n["type"], n["id"]) for n in p["nodes"]]
                                                for p in answer["paths"]]
        assert all(p["model"] == service.model_version for p in stored)


def test_stored_paths_equal_the_explain_command(
        home: None, session_store: GraphStore, users: list[str],
        capsys: pytest.CaptureFixture[str]) -> None:
    top = session_store.read_text(
        "MATCH (u:User {id: $user})-[r:RECOMMENDED]->(i:Item) RETURN i.id AS item "
        "ORDER BY r.rank LIMIT 2", user=EXAMPLE_USER)
    for row in top:
        capsys.readouterr()
        assert main(["explain", EXAMPLE_USER, row["item"], "--top", str(PATHS), "--json"]) == 0
        answer = json.loads(capsys.readouterr().out)
        stored = stored_paths(session_store, EXAMPLE_USER, row["item"])
        assert [(p["kind"], p["weight"]) for p in stored] == [
            (p["kind"], pytest.approx(p["weight"], rel=1e-9)) for p in answer["paths"]]


def raw_rows(store: GraphStore, name: str, **params: Any) -> list[Any]:
    """Records with their graph objects (paths keep each relationship's direction)."""
    return store.driver.execute_query(cypher.load(name), params, database_=store.database).records


def key(node: Any) -> str:
    return node.get("id") or node.get("name")


def test_browser_recommendations_draw_the_real_relationships_of_each_path(
        published: str, users: list[str],
        expected: dict[tuple[str, str], dict[str, Any]], session_store: GraphStore) -> None:
    """Consecutive STEP nodes are joined by the relationship the path names, in its direction:
    the Browser query finds exactly one for each hop."""
    hops_checked = 0
    for user in users:
        records = raw_rows(session_store, "browser/recommendations", user=user)
        answers = {item: answer for (u, item), answer in expected.items() if u == user}
        assert len(records) == sum(max(1, len(a["paths"])) for a in answers.values())
        by_reason = {(r["item"], r["reason"]): r for r in records}
        for item, answer in answers.items():
            for n, path in enumerate(answer["paths"], start=1):
                record = by_reason[item, n]
                assert (record["kind"], record["sentence"]) == (path["kind"], path["sentence"])
                ids = {node["key"]: node["id"] for node in path["nodes"]}
                named = [(r["type"], ids[r["from"]], ids[r["to"]])
                         for r in sorted(path["relationships"],
                                         key=lambda r: max(r["from"], r["to"]))]
                drawn = [(rel.type, key(rel.start_node), key(rel.end_node))
                         for hop in record["path"] for rel in hop.relationships]
                assert drawn == named
                hops_checked += len(drawn)
        ranks = [r["rank"] for r in records]
        assert ranks == sorted(ranks)
    assert hops_checked > 0


def reason_rows(expected: dict[tuple[str, str], dict[str, Any]], group: dict[str, str]
                ) -> Counter[tuple[str, str]]:
    """(group of the recommended item, kind of its strongest reason) -> recommendations."""
    return Counter((group[item], answer["paths"][0]["kind"])
                   for (_, item), answer in expected.items()
                   if answer["paths"] and item in group)


@pytest.mark.parametrize("name,param,relation", [
    ("reasons_by_brand", "brand", "HAS_BRAND"),
    ("reasons_by_category", "category", "IN_CATEGORY")])
def test_browser_reason_kinds_per_brand_and_category(
        published: str, session_store: GraphStore, name: str, param: str, relation: str,
        expected: dict[tuple[str, str], dict[str, Any]]) -> None:
    group = {row["item"]: row["group"] for row in session_store.read_text(
        f"MATCH (i:Item)-[:{relation}]->(g) RETURN i.id AS item, g.name AS group")}
    want = reason_rows(expected, group)
    rows = session_store.read(f"browser/{name}", **{param: None})
    assert Counter({(row[param], row["kind"]): row["recommendations"] for row in rows}) == want
    totals = Counter()
    for (value, _), n in want.items():
        totals[value] += n
    for row in rows:
        assert row[f"{param}_recommendations"] == totals[row[param]]
        assert row["percent"] == pytest.approx(100 * row["recommendations"] / totals[row[param]],
                                               abs=0.05)
    order = [(-row[f"{param}_recommendations"], row[param], -row["recommendations"])
             for row in rows]
    assert order == sorted(order)
    top = rows[0][param]
    only = session_store.read(f"browser/{name}", **{param: top})
    assert only == [row for row in rows if row[param] == top]


@pytest.mark.parametrize("kind", ["brand", "category"])
def test_browser_users_a_reason_kind_serves_best(
        published: str, session_store: GraphStore, kind: str, users: list[str],
        expected: dict[tuple[str, str], dict[str, Any]]) -> None:
    led = Counter(user for (user, _), answer in expected.items()
                  if answer["paths"] and answer["paths"][0]["kind"] == kind)
    rows = session_store.read("browser/users_by_reason", kind=kind)
    assert {row["user"]: row["recommendations_led"] for row in rows} == dict(led)
    assert all(row["recommendations"] == K for row in rows)
    assert [row["recommendations_led"] for row in rows] == sorted(led.values(), reverse=True)


def documented_params(text: str) -> dict[str, Any]:
    """The first ``:param name => value`` the header comment gives for each parameter."""
    params: dict[str, Any] = {}
    for line in text.splitlines():
        if not line.startswith("//"):
            break
        for name, value in re.findall(r":param (\w+) => ('[^']*'|null|\d+)", line):
            params.setdefault(name, None if value == "null" else ast.literal_eval(value))
    return params


@pytest.mark.parametrize("path", sorted(BROWSER.glob("*.cypher")), ids=lambda p: p.stem)
def test_every_browser_query_runs_with_the_params_its_comment_sets(
        published: str, session_store: GraphStore, path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    params = documented_params(text)
    assert params, f"{path.name} documents no :param"
    assert set(re.findall(r"\$(\w+)", cypher.load(f"browser/{path.stem}"))) == set(params)
    assert session_store.read(f"browser/{path.stem}", **params), path.name


def test_publishing_twice_gives_the_same_graph(
        home: None, session_store: GraphStore, users: list[str]) -> None:
    first = counts(session_store, users)
    ids = session_store.read_text("MATCH (e:Explanation) RETURN e.id AS id ORDER BY id")
    code, out, err = publish("--users", *users, "--batch-size", "7")
    assert code == 0, err
    assert counts(session_store, users) == first
    assert session_store.read_text("MATCH (e:Explanation) RETURN e.id AS id ORDER BY id") == ids
    assert (f"replaced {first['RECOMMENDED']:,} RECOMMENDED and {first['Explanation']:,} paths"
            in out)


def test_an_unknown_user_stops_publish_before_it_writes(
        home: None, session_store: GraphStore, users: list[str]) -> None:
    before = counts(session_store, users)
    code, _, err = publish("--users", users[0], "no-such-user")
    assert code == 1
    assert err.strip().splitlines()[-1] == (
        "graphrec: error: unknown user 'no-such-user': the store has no such user")
    assert counts(session_store, users) == before


@pytest.fixture
def dead_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("NEO4J_URI", f"bolt://127.0.0.1:{port}")
    monkeypatch.setenv("GRAPHREC_HOME", str(tmp_path))
    yield


def test_publish_with_the_store_down_is_one_line_and_exit_3(
        dead_store: None) -> None:
    code, _, err = publish()
    assert code == 3
    assert err.count("\n") == 1 and err.startswith("graphrec: error: cannot reach")


def test_the_browser_style_colours_what_publish_writes() -> None:
    grass = (BROWSER / "graphrec.grass").read_text(encoding="utf-8")
    styled = dict(re.findall(r"^(\S+) \{([^}]*)\}", grass, flags=re.MULTILINE))
    for selector in ("node.User", "node.Item", "node.Brand", "node.Category",
                     "node.Explanation", "relationship.RECOMMENDED"):
        assert re.search(r"\bcolor: #[0-9A-F]{6};", styled.get(selector, "")), selector
