"""Loading catalogues into the real store: exact counts, idempotence, rejects, failures."""
from __future__ import annotations

import csv
import gzip
import json
import signal
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import neo4j
import pytest

import cypher
from benchmarks.datasets import BEAUTY, DATASETS
from graphrec.cli import main
from graphrec.serving.details import catalogue_state
from graphrec.serving.events import set_available
from graphrec.store.connection import GraphStore
from graphrec.store.stats import graph_stats
from ingest.detect import read_catalogue
from ingest.loader import Step, load, load_catalogue
from tests.catalogue_counts import expected_stats
from tests.conftest import SAMPLE


@pytest.fixture(scope="module")
def sample_expected() -> dict:
    return expected_stats(SAMPLE)


def test_sample_loads_exactly_and_a_second_load_adds_nothing(store: GraphStore,
                                                            sample_expected: dict) -> None:
    catalogue = read_catalogue(SAMPLE)
    first = load_catalogue(store, catalogue)
    assert graph_stats(store) == sample_expected
    assert first.created["BOUGHT"] == sample_expected["relationships"]["BOUGHT"]
    assert first.external_links_skipped > 0

    told: list[tuple[str, int]] = []
    second = load_catalogue(store, catalogue, planned=lambda rows: told.append(("plan", rows)),
                            progress=lambda step, rows: told.append(("sent", rows)))
    assert second.total_created == 0
    assert told[0] == ("plan", second.total_rows)  # before the first batch, for the ETA
    assert sum(rows for what, rows in told[1:] if what == "sent") == second.total_rows
    assert graph_stats(store) == sample_expected


def test_a_load_of_items_marks_the_catalogue_changed_even_when_it_fails_later(
        store: GraphStore) -> None:
    """A running service reads the items' details again only when the change marker moves
    (graphrec.serving.details): a load that wrote titles moves it, also when a later step
    fails; one that wrote none of an item's details leaves it."""
    version = catalogue_state(store).changed
    load(store, [Step("users", cypher.load("ingest/users"), [{"id": "U1"}], "nodes")])
    assert catalogue_state(store).changed == version
    broken = Step("purchases", "UNWIND $rows AS row THIS IS NOT CYPHER", [{}], "nodes")
    with pytest.raises(neo4j.exceptions.Neo4jError):
        load(store, [Step("items", cypher.load("ingest/items"),
                          [{"id": "X1", "title": "Soap", "price": None, "sales_rank": None,
                            "available": None}], "nodes", details=True), broken])
    after = catalogue_state(store).changed
    assert after is not None and after != version
    assert store.read_text("MATCH (i:Item {id: 'X1'}) RETURN i.title AS title") == [
        {"title": "Soap"}]
    set_available(store, "X1", False)
    assert catalogue_state(store).changed not in (None, after)


def test_an_ingest_beside_new_customers_first_events_loads(store: GraphStore) -> None:
    """An ingest that brings users while the shop reports their first events (each event
    MERGEs a user the ingest's batch MERGEs too): the ingest loads, each user once. A batch
    that lost the race on a user's key is written again until the events stop making its
    users (:func:`graphrec.store.connection.on_key_race`); before, the ingest stopped on the
    uniqueness constraint."""
    from graphrec.serving import events

    catalogue = read_catalogue(SAMPLE)
    load_catalogue(store, catalogue)
    users = list(catalogue.users)[:300]
    item = catalogue.items[0].id
    store.write_text("MATCH (u:User) DETACH DELETE u")  # the items stay: events can land

    def report() -> None:
        for user in users:
            events.record(store, user, item, "view")

    with ThreadPoolExecutor(4) as pool:
        reporters = [pool.submit(report) for _ in range(4)]
        load_catalogue(store, catalogue)
        for reporter in reporters:
            reporter.result()
    assert store.read_text("MATCH (u:User) WITH u.id AS id, count(*) AS n WHERE n > 1 "
                           "RETURN count(*) AS repeated") == [{"repeated": 0}]
    assert store.read_text("MATCH (u:User) RETURN count(u) AS users")[0]["users"] == len(
        catalogue.users)


def test_keep_external_adds_the_outside_products(store: GraphStore, sample_expected: dict) -> None:
    catalogue = read_catalogue(SAMPLE)
    report = load_catalogue(store, catalogue, keep_external=True)
    outside = {link.other_item_id for link in catalogue.links} - {i.id for i in catalogue.items}
    stats = graph_stats(store)
    assert report.external_links_skipped == 0
    assert stats["nodes"]["Item"] == sample_expected["nodes"]["Item"] + len(outside)
    assert sum(stats["relationships"][t] for t in ("ALSO_BOUGHT", "ALSO_VIEWED",
                                                    "BOUGHT_TOGETHER")) == len(
        {(link.item_id, link.relation, link.other_item_id) for link in catalogue.links})
    flagged = store.read_text("MATCH (i:Item) WHERE i.external = true RETURN count(i) AS n")
    assert flagged == [{"n": len(outside)}]


def test_cli_ingest_then_stats_json(store: GraphStore, env: dict, sample_expected: dict,
                                    monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRAPHREC_HOME", env["GRAPHREC_HOME"])
    assert main(["ingest", "--quiet"]) == 0
    out = capsys.readouterr().out
    created = sum(n for label, n in sample_expected["nodes"].items()
                  if label != "Catalogue") + sum(sample_expected["relationships"].values())
    assert f"created {created:,}" in out
    assert main(["stats", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == sample_expected


def _dirty_catalogue(directory: Path) -> Path:
    directory.mkdir()
    (directory / "items.csv").write_text(
        "item_id,title,brand,price,sales_rank,categories\n"
        "I1,Good soap,Acme,3.50,10,Beauty|Bath\n"
        ",No id,Acme,1.00,1,Beauty|Bath\n"
        "I2,Cream,Acme,not-a-price,5,Beauty|Skin\n")
    (directory / "users.csv").write_text("user_id\nU1\nU2\n")
    (directory / "purchases.csv").write_text(
        "user_id,item_id,seq,split\nU1,I1,1,train\nU1,I2,2,test\nU2,NOPE,1,train\nU2,I1,1,train\n")
    (directory / "item_links.csv").write_text(
        "item_id,relation,other_item_id\nI1,also_bought,I2\nI1,also_viewed,OUTSIDE\n")
    return directory


def test_bad_rows_go_to_the_rejects_report_and_the_rest_loads(
        store: GraphStore, env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRAPHREC_HOME", env["GRAPHREC_HOME"])
    rejects = tmp_path / "rejects.csv"
    assert main(["ingest", str(_dirty_catalogue(tmp_path / "shop")), "--quiet",
                 "--rejects", str(rejects)]) == 0
    lines = rejects.read_text().splitlines()
    assert lines[0] == "file,line,field,reason,value,action"
    assert len(lines) == 4  # missing id, bad price, unknown item
    assert any(",3,item_id," in line and "row skipped" in line for line in lines)
    assert any(",4,price," in line and "field dropped" in line for line in lines)
    assert any(",4,item_id," in line and "NOPE" in line for line in lines)
    stats = graph_stats(store)
    assert stats["nodes"] == {"Brand": 1, "Catalogue": 2, "Category": 3, "Item": 2,
                              "User": 2}
    assert stats["relationships"]["BOUGHT"] == 3
    assert stats["relationships"]["ALSO_BOUGHT"] == 1
    assert store.read_text("MATCH (i:Item {id: 'I2'}) RETURN i.price AS p") == [{"p": None}]
    assert "skipped 1 links to products outside" in capsys.readouterr().out


def test_the_rows_skipped_and_the_fields_dropped_are_counted_apart(
        store: GraphStore, env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A field dropped from a row that loads is no rejected row: the rows read less those
    skipped are the rows loaded (3 items' rows, one without an id; 2 users; 4 purchases, one of
    an unknown item; 2 links), and the summary says what each kind of reject did."""
    monkeypatch.setenv("GRAPHREC_HOME", env["GRAPHREC_HOME"])
    shop = _dirty_catalogue(tmp_path / "shop")
    (shop / "items.csv").write_text(
        "item_id,title,brand,price,sales_rank,categories\n"
        "I1,Good soap,Acme,3.50,10,Beauty|Bath\n"
        ",No id,Acme,1.00,1,Beauty|Bath\n"
        "I2,<b>Cream</b>,Acme,not-a-price,5,Beauty|Skin\n")
    assert main(["ingest", str(shop), "--quiet", "--rejects", str(tmp_path / "r.csv")]) == 0
    out = capsys.readouterr().out
    assert "11 rows in " in out and "s, 2 rows skipped, 2 fields dropped\n" in out
    assert "rejects: 4 written to " in out
    summary = {reason: int(count) for count, reason in (
        line.split(None, 1) for line in out.splitlines() if line.split()[:1] == ["1"])}
    assert summary == {"HTML fragment instead of text: field dropped": 1,
                       "item not in catalogue: row skipped": 1,
                       "missing item id: row skipped": 1,
                       "unparseable price: field dropped": 1}
    stats = graph_stats(store)
    loaded = stats["nodes"]["Item"] + stats["nodes"]["User"] + sum(
        stats["relationships"][kind] for kind in ("BOUGHT", "ALSO_BOUGHT"))
    assert loaded + 1 == 11 - 2  # and the link to a product outside, counted apart


def test_a_whole_catalogue_again_says_an_items_brand_and_categories_as_it_does_its_title(
        store: GraphStore, tmp_path: Path) -> None:
    """A whole catalogue states each item: one that now gives no brand or category lets go of
    those it had, as its blank title and unparseable price clear those (an update leaves them:
    tests/test_ingest_update.py)."""
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "users.csv").write_text("user_id\nU1\n")
    (shop / "purchases.csv").write_text("user_id,item_id,split\nU1,I1,train\nU1,I2,test\n")

    def ingest(items: str) -> list[dict]:
        (shop / "items.csv").write_text("item_id,title,brand,price,categories\n" + items)
        load_catalogue(store, read_catalogue(shop))
        return store.read_text(
            "MATCH (i:Item) OPTIONAL MATCH (i)-[:HAS_BRAND]->(b:Brand) "
            "OPTIONAL MATCH (i)-[:IN_CATEGORY]->(c:Category) RETURN i.id AS id, "
            "i.title AS title, i.price AS price, b.name AS brand, c.name AS category ORDER BY id")

    assert ingest("I1,Shampoo,Acme,3.50,Shop|Hair\nI2,Soap,Other,1.00,Shop|Skin\n") == [
        {"id": "I1", "title": "Shampoo", "price": 3.5, "brand": "Acme", "category": "Hair"},
        {"id": "I2", "title": "Soap", "price": 1.0, "brand": "Other", "category": "Skin"}]
    assert ingest("I1,,,abc,\nI2,Soap,Other,1.00,Shop|Skin\n") == [
        {"id": "I1", "title": None, "price": None, "brand": None, "category": None},
        {"id": "I2", "title": "Soap", "price": 1.0, "brand": "Other", "category": "Skin"}]
    relationships = graph_stats(store)["relationships"]
    assert (relationships["HAS_BRAND"], relationships["IN_CATEGORY"]) == (1, 1)


def test_a_number_too_large_for_the_store_is_rejected_and_the_rest_loads(
        store: GraphStore, env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHREC_HOME", env["GRAPHREC_HOME"])
    largest, beyond = 2**63 - 1, 2**63
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "items.csv").write_text(f"item_id,sales_rank\nI1,{beyond}\nI2,{largest}\n")
    (shop / "users.csv").write_text("user_id\nU1\n")
    (shop / "purchases.csv").write_text(
        f"user_id,item_id,split,seq\nU1,I1,train,{beyond}\nU1,I2,test,{largest}\n")
    rejects = tmp_path / "rejects.csv"
    assert main(["ingest", str(shop), "--quiet", "--rejects", str(rejects)]) == 0
    with open(rejects, newline="") as handle:
        assert [(row["line"], row["field"], row["action"]) for row in csv.DictReader(handle)
                ] == [("2", "sales_rank", "field dropped"), ("2", "seq", "field dropped")]
    assert store.read_text("MATCH (i:Item) RETURN i.id AS id, i.sales_rank AS rank ORDER BY id"
                           ) == [{"id": "I1", "rank": None}, {"id": "I2", "rank": largest}]
    assert store.read_text("MATCH (:User)-[b:BOUGHT]->(i:Item) RETURN i.id AS id, b.seq AS seq "
                           "ORDER BY id") == [{"id": "I1", "seq": None},
                                              {"id": "I2", "seq": largest}]


def _offered(store: GraphStore) -> dict[str, bool | None]:
    return {row["id"]: row["a"] for row in store.read_text(
        "MATCH (i:Item) RETURN i.id AS id, i.available AS a ORDER BY id")}


def test_available_loads_and_a_catalogue_that_does_not_say_keeps_the_stores(
        store: GraphStore, env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "users.csv").write_text("user_id\nU1\n")
    (shop / "purchases.csv").write_text("user_id,item_id,split\nU1,X1,train\n")

    def load(items: str) -> None:
        (shop / "items.csv").write_text(items)
        load_catalogue(store, read_catalogue(shop))

    monkeypatch.setenv("GRAPHREC_HOME", env["GRAPHREC_HOME"])
    (shop / "items.csv").write_text("item_id,available\nX1,false\nX2,true\nX3,\n")
    assert main(["ingest", str(shop), "--quiet"]) == 0
    assert ("available: 1 items offered, 1 not offered (never recommended), 1 not said"
            in capsys.readouterr().out)
    assert _offered(store) == {"X1": False, "X2": True, "X3": None}
    set_available(store, "X3", False)  # as the API says it, between two ingests
    load("item_id,title\nX1,Soap\nX2,Cream\nX3,Oil\n")  # the column left out
    assert _offered(store) == {"X1": False, "X2": True, "X3": False}
    load("item_id,available\nX1,yes\nX2,\nX3,no\n")
    assert _offered(store) == {"X1": True, "X2": True, "X3": False}


def test_bad_rows_on_a_fresh_home_create_a_private_rejects_folder(
        store: GraphStore, settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "fresh-home"
    monkeypatch.setenv("GRAPHREC_HOME", str(home))
    monkeypatch.setenv("GRAPHREC_STORE_DIR", str(settings.store_dir))
    assert main(["ingest", str(_dirty_catalogue(tmp_path / "shop")), "--quiet"]) == 0
    reports = list((home / "rejects").iterdir())
    assert len(reports) == 1 and reports[0].name.startswith("shop-")
    assert stat.S_IMODE((home / "rejects").stat().st_mode) == 0o700
    assert stat.S_IMODE(reports[0].stat().st_mode) == 0o600
    assert len(reports[0].read_text().splitlines()) == 4
    assert f"rejects: 3 written to {reports[0]}" in capsys.readouterr().out
    assert graph_stats(store)["nodes"] == {"Brand": 1, "Catalogue": 2, "Category": 3,
                                           "Item": 2, "User": 2}


def test_unusable_input_fails_with_a_reason(tmp_path: Path, env: dict,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRAPHREC_HOME", env["GRAPHREC_HOME"])
    assert main(["ingest", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("graphrec: error: ") and str(tmp_path) in err
    assert "items.csv" in err


def test_ingest_killed_half_way_then_rerun_ends_exact(store: GraphStore, env: dict,
                                                      sample_expected: dict) -> None:
    command = [sys.executable, "-m", "graphrec.cli", "ingest", "--quiet", "--batch-size", "500"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        bought = store.read_text("MATCH ()-[r:BOUGHT]->() RETURN count(r) AS n")[0]["n"]
        if bought >= 2000:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "ingest finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    partial = graph_stats(store)
    assert partial["relationships"]["BOUGHT"] < sample_expected["relationships"]["BOUGHT"]
    assert "ALSO_BOUGHT" not in partial["relationships"]

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert graph_stats(store) == sample_expected


def test_concurrent_ingests_take_turns_and_all_succeed(store: GraphStore, env: dict,
                                                       sample_expected: dict) -> None:
    command = [sys.executable, "-m", "graphrec.cli", "ingest", "--quiet"]
    procs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    results = [(proc.wait(600), *proc.communicate()) for proc in procs]
    assert [code for code, _, _ in results] == [0, 0, 0], [err for _, _, err in results]
    waited = [out for _, out, _ in results if "waiting for the other writer on this store" in out]
    assert len(waited) >= 1
    assert graph_stats(store) == sample_expected




@pytest.mark.slow
@pytest.mark.skipif(not BEAUTY.exists(), reason="needs ../shared/datasets/amazon_beauty")
def test_full_beauty_catalogue_matches_the_source(store: GraphStore) -> None:
    catalogue = read_catalogue(BEAUTY)
    assert catalogue.rejects == []
    load_catalogue(store, catalogue, batch_size=10_000)
    stats = graph_stats(store)
    assert stats["nodes"] == {"Brand": 2076, "Catalogue": 2, "Category": 234,
                              "Item": 12101, "User": 22363}
    assert stats["bought_by_split"] == {"test": 48658, "train": 149844}
    assert stats["relationships"] == {
        "ALSO_BOUGHT": 239344, "ALSO_VIEWED": 155350, "BOUGHT": 198502,
        "BOUGHT_TOGETHER": 9021, "HAS_BRAND": 10003, "IN_CATEGORY": 12101,
        "SUBCATEGORY_OF": 260}
    assert stats == expected_stats(BEAUTY)
    again = load_catalogue(store, catalogue, batch_size=10_000)
    assert again.total_created == 0
    assert graph_stats(store) == stats


MAGAZINE = DATASETS / "amazon_magazine_2018_raw"


@pytest.mark.skipif(not MAGAZINE.exists(),
                    reason="needs ../shared/datasets/amazon_magazine_2018_raw")
def test_raw_amazon_json_loads_with_a_rejects_report(
        store: GraphStore, env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRAPHREC_HOME", env["GRAPHREC_HOME"])
    rejects = tmp_path / "magazine-rejects.csv"
    assert main(["ingest", str(MAGAZINE), "--quiet", "--rejects", str(rejects)]) == 0
    out = capsys.readouterr().out
    assert "(amazon-json)" in out and "rejects: 3,387 written to" in out
    with rejects.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3387
    assert sum(r["reason"] == "HTML fragment instead of text" for r in rows) == 2173
    assert {r["action"] for r in rows if r["field"] == "title"} == {"field dropped"}
    stats = graph_stats(store)
    assert stats["nodes"]["User"] == 348 and stats["nodes"]["Item"] == 2320
    assert stats["relationships"]["BOUGHT"] == 2242
    assert sum(stats["bought_by_split"].values()) == 2242


def test_cli_ingest_of_raw_data_with_a_test_fraction_and_an_unpacked_copy(
        store: GraphStore, env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRAPHREC_HOME", env["GRAPHREC_HOME"])
    meta = "".join(json.dumps({"asin": f"G{n}", "category": ["Gift Cards", "Gift Cards"]}) + "\n"
                   for n in range(1, 4))
    reviews = "".join(json.dumps({"reviewerID": user, "asin": f"G{n}", "unixReviewTime": n})
                      + "\n" for user in ("R1", "R2") for n in range(1, 4))
    shop = tmp_path / "gift"
    shop.mkdir()
    for name, text in (("meta_Gift_Cards.json", meta), ("Gift_Cards.json", reviews)):
        (shop / name).write_text(text)
        (shop / f"{name}.gz").write_bytes(gzip.compress(text.encode()))
    assert main(["ingest", str(shop), "--quiet", "--test-fraction", "0.5"]) == 0
    out = capsys.readouterr().out
    assert ("note: read meta_Gift_Cards.json.gz, not meta_Gift_Cards.json beside it "
            "(taken for its uncompressed copy)") in out
    stats = graph_stats(store)
    assert stats["bought_by_split"] == {"test": 4, "train": 2}  # 2 of each user's 3 at 0.5
    assert stats["nodes"]["Category"] == 1
    assert "SUBCATEGORY_OF" not in stats["relationships"]


@pytest.mark.neo4j
def test_neo4j_enforces_the_uniqueness_constraints(store: GraphStore) -> None:
    """Neo4j refuses a second node with the same key; the loader's MERGE never attempts one."""
    from neo4j.exceptions import ConstraintError

    store.run_script("schema/constraints")
    store.write("ingest/users", rows=[{"id": "u1"}])
    with pytest.raises(ConstraintError):
        store.write_text("CREATE (:User {id: $id})", id="u1")
