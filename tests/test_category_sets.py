"""A catalogue whose ``categories`` list the names an item is in (Amazon Clothing as PGPR
published it: every name of every path of the item, run together) read with
``--categories set``: each name is a category of the item, none is another's parent; read as
one path it would make each name the parent of the next, and the reader says so."""
from __future__ import annotations

import csv
import gzip
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import cypher
from graphrec.cli import main
from graphrec.explain.paths import PathFinder
from graphrec.explain.reasons import cypher_call, describe, describe_all, graph_facts
from graphrec.store.connection import GraphStore
from graphrec.store.export import export_graph
from ingest.detect import read_catalogue
from ingest.errors import CatalogueError
from ingest.frames import catalogue_frames
from ingest.loader import load_catalogue, plan

#: Two Girls items, a Men's one; names shared by branches (Shoes) and a root every item has.
ITEMS = [
    ("I1", "Clothing|Women|Dresses|Girls"),
    ("I2", "Clothing|Girls|Shoes"),
    ("I3", "Clothing|Men|Shoes|Shoes"),  # a name listed twice is one category
    ("I4", "Clothing||Men|Watches"),  # a blank name is left out, the others kept
]
PURCHASES = [("U1", "I1", "train", 1), ("U1", "I3", "test", 2), ("U2", "I2", "train", 1),
             ("U2", "I4", "train", 2)]


def write_catalogue(folder: Path, items: list[tuple[str, str]],
                    purchases: list[tuple[str, str, str, int]]) -> Path:
    folder.mkdir()
    tables = {
        "items": (["item_id", "title", "brand", "categories"],
                  [(item, "", "", names) for item, names in items]),
        "users": (["user_id"], [(user,) for user in sorted({p[0] for p in purchases})]),
        "purchases": (["user_id", "item_id", "split", "seq"], purchases),
    }
    for name, (header, rows) in tables.items():
        with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(header)
            writer.writerows(rows)
    return folder


@pytest.fixture
def catalogue_dir(tmp_path: Path) -> Path:
    return write_catalogue(tmp_path / "shop", ITEMS, PURCHASES)


def test_a_set_keeps_every_name_once_and_leaves_out_only_a_bad_one(catalogue_dir) -> None:
    catalogue = read_catalogue(catalogue_dir, categories="set")
    categories = {item.id: item.categories for item in catalogue.items}
    assert catalogue.category_form == "set"
    assert categories == {"I1": ("Clothing", "Women", "Dresses", "Girls"),
                          "I2": ("Clothing", "Girls", "Shoes"),
                          "I3": ("Clothing", "Men", "Shoes"),
                          "I4": ("Clothing", "Men", "Watches")}
    [reject] = catalogue.rejects
    assert (reject.line, reject.field, reject.action) == (5, "categories", "field cut")
    assert reject.reason == "category set name left out (blank name)"
    # read as a path, the blank name ends I4's path and the repeated one is read once
    as_paths = {item.id: item.categories for item in read_catalogue(catalogue_dir).items}
    assert as_paths["I4"] == ("Clothing",) and as_paths["I3"] == ("Clothing", "Men", "Shoes")


def test_a_set_puts_the_item_in_each_of_its_categories_and_implies_no_hierarchy(
        catalogue_dir) -> None:
    steps = {step.name: list(step.rows) for step in plan(
        read_catalogue(catalogue_dir, categories="set"))[0]}
    assert all(row["parents"] == [] for row in steps["SUBCATEGORY_OF"])
    assert sorted((r["item"], c) for r in steps["IN_CATEGORY"] for c in r["categories"]) == sorted(
        (item, name) for item, names in ITEMS for name in dict.fromkeys(names.split("|")) if name)

    paths = {step.name: list(step.rows) for step in plan(read_catalogue(catalogue_dir))[0]}
    assert sorted((r["item"], c) for r in paths["IN_CATEGORY"] for c in r["categories"]) == [
        ("I1", "Girls"), ("I2", "Shoes"), ("I3", "Shoes"), ("I4", "Clothing")]
    parents = {row["child"]: row["parents"] for row in paths["SUBCATEGORY_OF"]}
    assert parents["Men"] == ["Clothing"] and parents["Girls"] == ["Clothing", "Dresses"]
    assert parents["Clothing"] == []


def test_the_store_gives_the_model_the_graph_the_files_give(store: GraphStore,
                                                            catalogue_dir) -> None:
    """Ingested as sets, the store holds an edge an item category and no hierarchy, and the
    model's graph read back from it is the one the benchmark makes from the files (the same
    fingerprint: a model trained on either serves the other)."""
    catalogue = read_catalogue(catalogue_dir, categories="set")
    load_catalogue(store, catalogue)
    exported, _ = export_graph(store)
    direct = catalogue_frames(catalogue).graph()
    assert exported.fingerprint() == direct.fingerprint()
    assert len(direct.item_category) == 13 and len(direct.category_parent) == 0
    i1 = list(direct.items).index("I1")
    assert {str(direct.categories[c]) for i, c in direct.item_category.tolist() if i == i1} == {
        "Clothing", "Women", "Dresses", "Girls"}

    # the query a reason gives finds that very path in the store, through its category only
    finder = PathFinder(exported)
    user = list(exported.users).index("U1")
    [path] = [p for p in finder.candidates(finder.history(user), list(exported.items).index("I2"),
                                           user) if p.kind == "category"]
    call = cypher_call(path, exported)
    assert call["params"]["category"] == "Girls"
    [record] = store.read_text(cypher.load(call["query"]), **call["params"])
    assert record["p"][4] == {"name": "Girls"}


def test_read_again_as_sets_the_store_keeps_no_hierarchy_of_the_paths(
        store: GraphStore, tmp_path: Path) -> None:
    """The note on a catalogue read as paths says to read it as sets: that ingest leaves the
    store the graph the sets give, not the paths' SUBCATEGORY_OF edges too (train reads them),
    and a whole catalogue read as paths again leaves each category it names only the parents
    they give; an update's paths add to the hierarchy."""
    items = [(f"I{k}", f"Clothing|N{k}|Girls") for k in range(14)]  # Girls under 14 names
    shop = write_catalogue(tmp_path / "shop", items, [("U1", "I0", "train", 1),
                                                       ("U1", "I1", "test", 2)])
    as_paths = read_catalogue(shop)
    assert any("read it with --categories set" in note for note in as_paths.notes)

    def hierarchy() -> list[tuple[str, str]]:
        return [(row["c"], row["p"]) for row in store.read_text(
            "MATCH (c:Category)-[:SUBCATEGORY_OF]->(p:Category) RETURN c.name AS c, "
            "p.name AS p ORDER BY c, p")]

    load_catalogue(store, as_paths)
    assert len(hierarchy()) == 28
    as_sets = read_catalogue(shop, categories="set")
    load_catalogue(store, as_sets)
    assert hierarchy() == []
    exported, _ = export_graph(store)
    assert exported.fingerprint() == catalogue_frames(as_sets).graph().fingerprint()

    moved = write_catalogue(tmp_path / "moved", [("I0", "Clothing|N0|Girls"),
                                                 ("I1", "Shoes|Girls")],
                            [("U1", "I0", "train", 1), ("U1", "I1", "test", 2)])
    load_catalogue(store, as_paths)
    load_catalogue(store, read_catalogue(moved))
    # Girls and N0 have the parents the paths give them; N1..N13, which it does not name (the
    # categories of items it does not state), keep theirs
    assert hierarchy() == sorted([("Girls", "N0"), ("Girls", "Shoes")] + [
        (f"N{k}", "Clothing") for k in range(14)])
    added = read_catalogue(tmp_path / "moved", update=True)
    added.items = [replace(added.items[0], categories=("Top", "Clothing"))]
    load_catalogue(store, added)
    assert ("Clothing", "Top") in hierarchy() and ("Girls", "Shoes") in hierarchy()


def test_an_item_of_several_categories_has_a_path_through_each_it_shares(catalogue_dir) -> None:
    data = catalogue_frames(read_catalogue(catalogue_dir, categories="set")).graph()
    user, index = list(data.users).index("U1"), {str(i): n for n, i in enumerate(data.items)}

    def through(finder: PathFinder, item: str) -> list[str]:
        history = finder.history(user)
        assert history.tolist() == [index["I1"]]
        return [str(data.categories[path.nodes[2][1]])
                for path in finder.candidates(history, index[item], user)
                if path.kind == "category"]

    finder = PathFinder(data, max_collaborative_per_item=0, max_chains_per_item=0)
    assert through(finder, "I2") == ["Girls"]
    # the root, which every item has, starts no path: it would explain every item alike
    assert through(finder, "I3") == through(finder, "I4") == []
    items = np.array([index["I2"], index["I3"], index["I4"]])
    assert finder.has_candidates(finder.history(user), items).tolist() == [True, False, False]

    # once one item is out of the root, each name shared is a path, the root's too
    data.item_category = data.item_category[data.item_category[:, 0] != index["I4"]]
    finder = PathFinder(data, max_collaborative_per_item=0, max_chains_per_item=0)
    assert through(finder, "I2") == ["Clothing", "Girls"]
    assert through(finder, "I3") == ["Clothing"]


def test_read_as_paths_names_under_many_parents_are_pointed_out(tmp_path: Path) -> None:
    """Run together, the paths of a set make a name the child of whatever precedes it: the
    reader counts the parents and suggests ``--categories set``; read as sets, nothing is
    said."""
    items = [(f"I{n}", f"Clothing|Style {n}|Girls") for n in range(12)]
    folder = write_catalogue(tmp_path / "shop", items,
                             [("U1", item, "train", n + 1) for n, (item, _) in enumerate(items)])
    [note] = read_catalogue(folder).notes
    assert "'Girls' under 12" in note and "--categories set" in note
    assert not read_catalogue(folder, categories="set").notes
    assert not read_catalogue(write_catalogue(tmp_path / "tree", ITEMS[:2], PURCHASES[:1])).notes


def test_raw_amazon_data_is_not_read_as_sets(tmp_path: Path, env: dict,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Raw Amazon metadata lists one path root→leaf: asking for sets is refused in one line
    naming the folder, not silently taken."""
    monkeypatch.setenv("GRAPHREC_HOME", env["GRAPHREC_HOME"])
    folder = tmp_path / "raw"
    folder.mkdir()
    with gzip.open(folder / "meta_Shop.json.gz", "wt") as meta:
        meta.write(json.dumps({"asin": "A1", "category": ["Shop", "Cards"]}) + "\n")
    with gzip.open(folder / "Shop_5.json.gz", "wt") as reviews:
        reviews.write(json.dumps({"reviewerID": "U1", "asin": "A1",
                                  "unixReviewTime": 1}) + "\n")
    with pytest.raises(CatalogueError, match="apply to CSV catalogues"):
        read_catalogue(folder, categories="set")
    assert main(["ingest", str(folder), "--categories", "set", "--quiet"]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("graphrec: error: ") and str(folder) in line


def test_an_item_read_as_a_set_is_named_by_its_narrowest_category(catalogue_dir) -> None:
    """Of the names an item is in, the one with the fewest items (of equals, the first by
    name) names it where it has no title: the root, which every item has, never does."""
    data = catalogue_frames(read_catalogue(catalogue_dir, categories="set")).graph()
    facts, index = graph_facts(data), {str(i): n for n, i in enumerate(data.items)}
    assert dict(zip(index, facts.categories(list(index.values())))) == {
        "I1": "Dresses", "I2": "Girls", "I3": "Men", "I4": "Watches"}
    user = list(data.users).index("U1")
    finder = PathFinder(data, max_collaborative_per_item=0, max_chains_per_item=0)
    path = next(path for path in finder.candidates(finder.history(user), index["I2"], user)
                if path.kind == "category")
    assert describe(path, data, {})["sentence"] == \
        "You bought item I1 (Dresses); this is also in Girls (2 items)."


def test_the_categories_one_bought_item_shares_are_said_once(tmp_path: Path) -> None:
    """Read as sets, two watches share "Men", "Watches" and "Wrist Watches": three paths from
    one purchase that say one thing at three grains. The reasons shown say it once, through
    the first of them, and leave the places to other evidence."""
    items = [("W1", "Clothing|Men|Watches|Wrist Watches"),
             ("W2", "Clothing|Men|Watches|Wrist Watches"), ("D1", "Clothing|Women|Dresses")]
    folder = write_catalogue(tmp_path / "watches", items, [
        ("U1", "W1", "train", 1), ("U1", "D1", "train", 2), ("U2", "W2", "train", 1)])
    data = catalogue_frames(read_catalogue(folder, categories="set")).graph()
    user, index = list(data.users).index("U1"), {str(i): n for n, i in enumerate(data.items)}
    finder = PathFinder(data, max_collaborative_per_item=0, max_chains_per_item=0)
    paths = finder.candidates(finder.history(user), index["W2"], user)
    assert sorted(str(data.categories[p.nodes[2][1]]) for p in paths) == [
        "Men", "Watches", "Wrist Watches"]
    said = describe_all([(1.0, path) for path in paths], data, {})
    assert len(said) == 1 and said[0]["nodes"][2]["id"] == str(data.categories[
        paths[0].nodes[2][1]])
