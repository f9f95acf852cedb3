"""graphrec.connect(): the saved model and the store from Python, on the sample in the store."""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import pytest

import graphrec
from graphrec.cli import main
from graphrec.config import Settings
from graphrec.explorer import Explorer, NoModel
from graphrec.serving import events
from graphrec.serving.service import UnknownUser
from graphrec.store.connection import GraphStore, StoreForbidden
from tests.apps import sample_users, train_sample, without_model


@pytest.fixture(scope="module")
def trained(session_store: GraphStore, settings: Settings) -> Settings:
    train_sample(settings, session_store)
    return settings


@pytest.fixture
def shop(trained: Settings) -> Iterator[Explorer]:
    with graphrec.connect(settings=trained) as explorer:
        yield explorer


@pytest.fixture(scope="module")
def user(trained: Settings) -> str:
    return sample_users(1)[0]


def test_the_lists_are_the_commands(shop: Explorer, trained: Settings, user: str,
                                    monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRAPHREC_HOME", str(trained.home))
    capsys.readouterr()
    assert main(["recommend", user, "-k", "10", "--json"]) == 0
    command = json.loads(capsys.readouterr().out)["recommendations"]
    mine = shop.recommend(user, k=10)
    assert len(mine) == 10
    assert [(r["item_id"], r["rank"], r["score"]) for r in mine] == \
        [(r["item_id"], r["rank"], r["score"]) for r in command]
    third = shop.explain(user, mine[2]["item_id"])
    assert third["rank"] == 3 and 1 <= len(third["paths"]) <= 3
    assert third["paths"][0]["nodes"][0] == {"key": "n0", "type": "User", "id": user,
                                             "label": user}


def test_reasons_as_graphs(shop: Explorer, user: str) -> None:
    recs = shop.recommend(user, k=4)
    graph = shop.graph(user, k=4, top=2)
    assert isinstance(graph, nx.MultiDiGraph)
    assert {d["item"] for _, _, d in graph.edges(data=True)} == {r["item_id"] for r in recs}
    assert graph.nodes[f"User:{user}"]["type"] == "User"
    one = shop.explanation_graph(user, recs[0]["item_id"], top=2)
    mine = {(u, v, d["type"], d["path_rank"]) for u, v, d in graph.edges(data=True)
            if d["item"] == recs[0]["item_id"]}
    assert mine == {(u, v, d["type"], d["path_rank"]) for u, v, d in one.edges(data=True)}
    assert f"Item:{recs[0]['item_id']}" in one


def test_no_reason_or_no_item_asked_for_is_an_error(shop: Explorer, user: str) -> None:
    """``top=0`` showed a served item as one without a reason path (``not_served``:
    ``no_path``), and ``k=0`` an empty list, silently."""
    item = shop.recommend(user, k=1)[0]["item_id"]
    for top in (0, -1):
        with pytest.raises(ValueError, match="top must be at least 1"):
            shop.explain(user, item, top=top)
    with pytest.raises(ValueError, match="k must be at least 1"):
        shop.recommend(user, k=0)


def test_an_unknown_user_is_an_error_of_its_own(shop: Explorer) -> None:
    with pytest.raises(UnknownUser):
        shop.recommend("no-such-user")


def test_it_reads_as_the_reader_and_cannot_write(shop: Explorer) -> None:
    with pytest.raises(StoreForbidden):
        shop.store.write_text("CREATE (:Item {id: 'written-by-a-notebook'})")
    assert not shop.store.read_text(
        "MATCH (i:Item {id: 'written-by-a-notebook'}) RETURN i.id AS id")


def test_a_home_given_by_its_folder(trained: Settings, user: str,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    if not trained.uses_local_store:
        pytest.skip("the folder names the local store's home")
    monkeypatch.delenv("GRAPHREC_HOME", raising=False)
    with graphrec.connect(trained.home) as explorer, \
            graphrec.connect(settings=trained) as same:
        assert explorer.recommend(user, k=3) == same.recommend(user, k=3)


def test_each_answer_reads_the_store_now_and_a_stale_model_says_so(
        trained: Settings, session_store: GraphStore, user: str,
        caplog: pytest.LogCaptureFixture) -> None:
    with graphrec.connect(settings=trained) as explorer:
        assert explorer.stale is None
        first = explorer.recommend(user, k=5)[0]["item_id"]
        events.record(session_store, user, first, "dismiss")
        assert first not in [r["item_id"] for r in explorer.recommend(user, k=5)]
    events.record(session_store, "a-notebook-shopper", first, "purchase")
    with caplog.at_level(logging.WARNING, logger="graphrec.explorer"), \
            graphrec.connect(settings=trained) as explorer:
        assert explorer.stale is not None and "the model is stale" in explorer.stale
        assert "users 1527 → 1528" in explorer.stale
        assert explorer.recommend("a-notebook-shopper", k=3)
    assert [r.getMessage() for r in caplog.records] == [explorer.stale]


def test_a_home_without_a_model_says_how_to_make_one(trained: Settings,
                                                     tmp_path: Path) -> None:
    with pytest.raises(NoModel, match="no trained model: run graphrec train first"):
        graphrec.connect(settings=without_model(trained, tmp_path))


def test_the_readmes_example_runs_as_written(trained: Settings, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Exploring in Python", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("GRAPHREC_HOME", str(trained.home))
    scope: dict[str, object] = {}
    exec(compile(example, "README.md", "exec"), scope)
    assert len(scope["top"]) == 10  # type: ignore[arg-type]
    assert scope["why"]["rank"] == 1  # type: ignore[index]
    assert isinstance(scope["graph"], nx.MultiDiGraph) and scope["graph"].number_of_edges()
    printed = capsys.readouterr().out  # stale: an earlier test made a shopper
    assert printed == "None\n" or printed.startswith("note: the model is stale (trained ")
