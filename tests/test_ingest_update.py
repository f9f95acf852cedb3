"""``graphrec ingest --update``: a folder that adds to the catalogue in the real store, naming
users and items only the store holds."""
from __future__ import annotations

from pathlib import Path

import pytest

from graphrec.cli import main
from graphrec.serving.events import now_ms
from graphrec.serving.newpurchases import LivePurchases
from graphrec.store.connection import GraphStore
from graphrec.store.stats import graph_stats


def _write(folder: Path, **files: str) -> Path:
    folder.mkdir()
    for stem, text in files.items():
        (folder / f"{stem}.csv").write_text(text)
    return folder


def _base(tmp_path: Path) -> Path:
    return _write(
        tmp_path / "base",
        items="item_id,title,brand,categories\nI1,Soap,Acme,Beauty|Bath\nI2,Cream,Acme,Beauty|Skin\n",
        users="user_id\nU1\nU2\n",
        purchases="user_id,item_id,split\nU1,I1,train\n",
        item_links="item_id,relation,other_item_id\nI1,also_bought,I2\nI1,also_viewed,OUT1\n")


def test_an_update_loads_what_the_store_resolves_and_rejects_the_rest_by_line(
        store: GraphStore, env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRAPHREC_HOME", env["GRAPHREC_HOME"])
    assert main(["ingest", str(_base(tmp_path)), "--quiet", "--keep-external"]) == 0
    update = _write(
        tmp_path / "update",
        items="item_id,title,brand,categories\nN1,New soap,Acme,Beauty|Bath\n",
        users="user_id\nU3\n",
        purchases=("user_id,item_id,split\n"
                   "U2,I2,train\n"       # line 2: both in the store
                   "U3,N1,train\n"       # 3: both in the update
                   "U1,N1,train\n"       # 4: a stored user, a new item
                   "GHOST,I1,train\n"    # 5: a user nowhere
                   "U1,OUT1,train\n"     # 6: a product known only as a link's target
                   "U1,NOPE,train\n"),   # 7: an item nowhere
        item_links=("item_id,relation,other_item_id\n"
                    "N1,also_bought,I1\n"        # 2: to a stored item: within the catalogue
                    "I2,bought_together,N1\n"    # 3: from a stored item
                    "I1,also_viewed,I2\n"        # 4: between two stored items
                    "NOPE,also_bought,I1\n"      # 5: from an item nowhere
                    "N1,also_viewed,ELSEWHERE\n"))  # 6: to an outside product
    rejects = tmp_path / "rejects.csv"
    capsys.readouterr()
    assert main(["ingest", str(update), "--update", "--quiet", "--rejects", str(rejects)]) == 0
    out = capsys.readouterr().out
    assert ("update: 2 items and 2 users it names outside its files found in the local store"
            in out or "update: 2 items and 2 users it names outside its files found in Neo4j"
            in out)
    # purchases 2 and 4, links 2, 3 and 4 (the first of them said "0 load" of links from a
    # new item to stored ones, which loaded); purchases 5 to 7 and link 5 are rejected
    assert "5 load and 4 are rejected" in out
    assert "skipped 1 links to products outside the catalogue" in out

    lines = rejects.read_text().splitlines()[1:]
    where = sorted((Path(file).name, line, field)
                   for file, line, field, *_ in (row.split(",") for row in lines))
    assert where == [
        ("item_links.csv", "5", "item_id"), ("purchases.csv", "5", "user_id"),
        ("purchases.csv", "6", "item_id"), ("purchases.csv", "7", "item_id")]
    assert any("user neither in users file nor in the store" in line for line in lines)

    def pairs(kind: str) -> set[tuple[str, str]]:
        return {(row["a"], row["b"]) for row in store.read_text(
            f"MATCH (a)-[:{kind}]->(b) RETURN coalesce(a.id, a.name) AS a, "
            "coalesce(b.id, b.name) AS b")}

    assert pairs("BOUGHT") == {("U1", "I1"), ("U2", "I2"), ("U3", "N1"), ("U1", "N1")}
    assert pairs("ALSO_BOUGHT") == {("I1", "I2"), ("N1", "I1")}
    assert pairs("BOUGHT_TOGETHER") == {("I2", "N1")}
    assert pairs("ALSO_VIEWED") == {("I1", "OUT1"), ("I1", "I2")}
    assert ("N1", "Acme") in pairs("HAS_BRAND")
    counted = graph_stats(store)

    assert main(["ingest", str(update), "--update", "--quiet", "--rejects", str(rejects)]) == 0
    assert "created 0" in capsys.readouterr().out
    assert graph_stats(store) == counted


def test_an_update_of_new_items_alone_loads_them(
        store: GraphStore, env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The case a shop has every day: this morning's listings, linked to what it sells, in a
    folder of its own with neither users nor purchases."""
    monkeypatch.setenv("GRAPHREC_HOME", env["GRAPHREC_HOME"])
    assert main(["ingest", str(_base(tmp_path)), "--quiet"]) == 0
    update = _write(tmp_path / "listings", items="item_id,brand\nN1,Acme\nN2,Other\n",
                    item_links="item_id,relation,other_item_id\nN1,also_viewed,I2\n")
    capsys.readouterr()
    assert main(["ingest", str(update), "--update", "--quiet"]) == 0
    out = capsys.readouterr().out
    # 2 items, 2 brands (Acme's MERGEd, Other's new), 2 HAS_BRAND and the link
    assert "loaded 7 rows" in out and "created 6" in out
    assert store.read_text("MATCH (:Item {id: 'N1'})-[:ALSO_VIEWED]->(i:Item) RETURN i.id AS i"
                           ) == [{"i": "I2"}]


def test_an_update_whose_other_files_are_empty_loads_its_items(
        store: GraphStore, env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An export with nothing new of a kind may write that file empty (0 bytes): it holds no
    row, as a missing file does, and the rest of the update loads."""
    monkeypatch.setenv("GRAPHREC_HOME", env["GRAPHREC_HOME"])
    assert main(["ingest", str(_base(tmp_path)), "--quiet"]) == 0
    update = _write(tmp_path / "update", items="item_id,title\nN1,New soap\n", users="",
                    purchases="", item_links="")
    assert main(["ingest", str(update), "--update", "--quiet"]) == 0
    assert store.read_text("MATCH (i:Item) RETURN i.id AS id ORDER BY id") == [
        {"id": "I1"}, {"id": "I2"}, {"id": "N1"}]


@pytest.mark.parametrize(("files", "update", "message"), [
    ({"items": "item_id\nN1\n"}, False, "users.csv or users.csv.gz is missing (to add it to the "
                                        "catalogue in the store: graphrec ingest --update)"),
    ({"purchases": "user_id,item_id,split\nU1,I1,train\n"}, False,
     "items.csv or items.csv.gz is missing (to add it"),
    ({"items": "item_id\nN1\n", "users": "user_id\n", "purchases": "user_id,item_id,split\n"},
     False, "no usable purchase rows: the file holds none (to add it"),
    ({}, True, "an update holds at least one of items, users, purchases and item_links"),
])
def test_a_folder_that_is_not_a_whole_catalogue_says_how_to_add_it(
        files: dict[str, str], update: bool, message: str, env: dict, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRAPHREC_HOME", env["GRAPHREC_HOME"])
    folder = _write(tmp_path / "shop", **files)
    assert main(["ingest", str(folder), "--quiet", *(["--update"] if update else [])]) == 1
    err = capsys.readouterr().err
    assert err.startswith("graphrec: error: ") and message in err and err.count("\n") == 1


def test_an_update_is_read_from_the_canonical_csv_only(
        env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRAPHREC_HOME", env["GRAPHREC_HOME"])
    assert main(["ingest", str(tmp_path), "--update", "--format", "amazon-json"]) == 1
    assert "an update is read from the canonical CSV" in capsys.readouterr().err


def test_an_updates_new_orders_reach_a_running_service_as_live_purchases(
        store: GraphStore, env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The last hour's orders, loaded by an update, join the co-buyer paths of a service
    already running at its next look (they are read as purchases reported live are), and
    come last in their buyer's history; a whole catalogue's purchases are not timed."""
    monkeypatch.setenv("GRAPHREC_HOME", env["GRAPHREC_HOME"])
    assert main(["ingest", str(_base(tmp_path)), "--quiet"]) == 0
    live = LivePurchases(now_ms() - 1)  # a model that read its graph just now
    assert not live.read(store)
    orders = _write(tmp_path / "orders", purchases="user_id,item_id,split\nU1,I2,train\n"
                                                   "U1,I1,train\n"  # bought before
                                                   "U2,I2,test\n")  # held out: walked by none
    assert main(["ingest", str(orders), "--update", "--quiet"]) == 0
    assert live.read(store) and live.pairs == {("U1", "I2")}
    history = store.read("service/user_history", user="U1")[0]["items"]
    assert history == ["I1", "I2"]


def test_an_item_whose_brand_or_categories_changed_keeps_only_the_new_ones(
        store: GraphStore, env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shop renames a brand or moves an item to another category and exports the item
    again: the item had both brands and both categories after the load (a MERGE adds, never
    removes). An item row says the item's brand and categories whole; one that says none
    leaves what the store holds."""
    monkeypatch.setenv("GRAPHREC_HOME", env["GRAPHREC_HOME"])
    assert main(["ingest", str(_base(tmp_path)), "--quiet"]) == 0
    moved = _write(tmp_path / "moved", items="item_id,title,brand,categories\n"
                                             "I1,Soap,NewCo,Beauty|Skin\nI2,Cream,,\n")
    assert main(["ingest", str(moved), "--update", "--quiet"]) == 0

    def of(item: str, kind: str) -> list[str]:
        return sorted(row["name"] for row in store.read_text(
            f"MATCH (:Item {{id: $item}})-[:{kind}]->(x) RETURN x.name AS name", item=item))

    assert (of("I1", "HAS_BRAND"), of("I1", "IN_CATEGORY")) == (["NewCo"], ["Skin"])
    assert (of("I2", "HAS_BRAND"), of("I2", "IN_CATEGORY")) == (["Acme"], ["Skin"])
    sets = _write(tmp_path / "sets", items="item_id,categories\nI1,Bath|Gifts\n")
    assert main(["ingest", str(sets), "--update", "--quiet", "--categories", "set"]) == 0
    assert of("I1", "IN_CATEGORY") == ["Bath", "Gifts"]


def test_a_product_known_only_by_a_link_becomes_an_item_when_listed(
        store: GraphStore, env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A link's target outside the catalogue is kept as an external product (--keep-external);
    when the shop starts selling it and lists it, it is an item like any other (it stayed
    external: never folded in, never recommended, its purchases refused)."""
    monkeypatch.setenv("GRAPHREC_HOME", env["GRAPHREC_HOME"])
    assert main(["ingest", str(_base(tmp_path)), "--quiet", "--keep-external"]) == 0
    listed = _write(tmp_path / "listed", items="item_id,title,brand\nOUT1,Now on sale,Acme\n")
    assert main(["ingest", str(listed), "--update", "--quiet"]) == 0
    assert store.read_text("MATCH (i:Item {id: 'OUT1'}) RETURN i.external AS external, "
                           "i.title AS title") == [{"external": None, "title": "Now on sale"}]
    orders = _write(tmp_path / "orders", purchases="user_id,item_id,split\nU2,OUT1,train\n")
    assert main(["ingest", str(orders), "--update", "--quiet"]) == 0
    assert store.read_text("MATCH (:User {id: 'U2'})-[:BOUGHT]->(i:Item) RETURN i.id AS id"
                           ) == [{"id": "OUT1"}]


def test_an_update_that_sends_a_purchase_again_leaves_it_as_it_was(
        store: GraphStore, env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shop's exports overlap (the last hour's orders, sent every half hour): an order the
    store holds keeps its place in the history and its split, as an event sent again does
    (it lost its seq and took the row's split, so the history's order changed)."""
    monkeypatch.setenv("GRAPHREC_HOME", env["GRAPHREC_HOME"])
    assert main(["ingest", str(_base(tmp_path)), "--quiet"]) == 0
    store.write_text("MATCH (:User {id: 'U1'})-[b:BOUGHT]->(:Item {id: 'I1'}) SET b.seq = 1")
    again = _write(tmp_path / "again", purchases="user_id,item_id,split\nU1,I1,test\n")
    assert main(["ingest", str(again), "--update", "--quiet"]) == 0
    assert store.read_text("MATCH (:User {id: 'U1'})-[b:BOUGHT]->(:Item {id: 'I1'}) "
                           "RETURN b.seq AS seq, b.split AS split, b.at AS at") == [
        {"seq": 1, "split": "train", "at": None}]


def test_an_update_says_only_what_changed_of_an_item(
        store: GraphStore, env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stock export (`item_id,available`) or a price list updates that and nothing else:
    the titles stay (an update's blank field set them to null, as a whole catalogue's does)."""
    monkeypatch.setenv("GRAPHREC_HOME", env["GRAPHREC_HOME"])
    assert main(["ingest", str(_base(tmp_path)), "--quiet"]) == 0
    stock = _write(tmp_path / "stock", items="item_id,available,price\nI1,false,\nI2,,4.5\n")
    assert main(["ingest", str(stock), "--update", "--quiet"]) == 0
    assert store.read_text("MATCH (i:Item) RETURN i.id AS id, i.title AS title, i.price AS "
                           "price, i.available AS available ORDER BY id") == [
        {"id": "I1", "title": "Soap", "price": None, "available": False},
        {"id": "I2", "title": "Cream", "price": 4.5, "available": None}]
    assert store.read_text("MATCH (:Item {id: 'I1'})-[:HAS_BRAND]->(b) RETURN b.name AS b"
                           ) == [{"b": "Acme"}]


def test_training_on_items_without_purchases_says_so_in_one_line(
        store: GraphStore, env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A fresh store given items alone (an update before any catalogue): training ended in a
    traceback (ValueError); it says what the store holds and what to do, exit 1."""
    monkeypatch.setenv("GRAPHREC_HOME", env["GRAPHREC_HOME"])
    items = _write(tmp_path / "items", items="item_id,brand\nN1,Acme\nN2,Acme\n")
    assert main(["ingest", str(items), "--update", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["train", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("graphrec: error: ")
    assert "holds 2 items and 0 purchases" in err and "ingest a catalogue" in err
