"""Two listings of one product (the same title and brand, case and blanks aside): a shopper
who bought one is never recommended the other, whether the second listing was trained on or
added since; the explanation says why, and the model artifact keeps what tells them."""
from __future__ import annotations

import csv
import dataclasses
import gzip
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from flask import Flask

from graphrec.cli import ingest_catalogue, main
from graphrec.config import Settings
from graphrec.dataset import GraphData, product_keys
from graphrec.model import artifact
from graphrec.model.pipeline import train_from_store
from graphrec.model.train import TrainConfig
from graphrec.serving.events import record
from graphrec.serving.recommend import Recommender
from graphrec.serving.service import RecommendationService
from graphrec.store.connection import GraphStore
from ingest.detect import read_catalogue
from ingest.loader import load_catalogue
from tests.apps import make_app, without_model
from tests.conftest import SAMPLE
from web.engine import get_engine

TWIN = "TWIN-TRAINED"  # a second listing in the catalogue the model is trained on
NEW_TWIN = "TWIN-NEW"  # a second listing added after training


def test_a_product_is_its_title_and_brand_whatever_the_case_and_blanks() -> None:
    keys = product_keys(
        ["Olay Regenerist Serum", "  olay   REGENERIST serum ", "Olay Regenerist Serum",
         "Olay Regenerist Serum", None, "", "Olay Regenerist Cream"],
        ["Olay", "OLAY ", "Nivea", None, "Olay", "Olay", "Olay"])
    assert keys[0] == keys[1]  # one product
    assert len({keys[0], keys[2], keys[3], keys[6]}) == 4  # another brand, none, another title
    assert keys[4] == keys[5] == 0  # no title: a product of its own, never matched
    assert (keys[[0, 1, 2, 3, 6]] > 0).all()


def test_the_graph_read_with_titles_knows_each_items_product_and_without_none() -> None:
    items = pd.DataFrame({"item_id": ["b", "a", "c", "c"], "title": ["Serum", "serum", "", ""],
                          "brand": ["Olay", "olay", "Olay", "Olay"],
                          "categories": ["Skin", "Skin", "Skin", "Hair"]})
    purchases = pd.DataFrame({"user_id": ["u"], "item_id": ["a"], "split": ["train"]})
    data = GraphData.from_frames(items, purchases, categories="set")
    assert list(data.items) == ["a", "b", "c"]
    assert data.item_product[0] == data.item_product[1] != 0 and data.item_product[2] == 0
    untitled = GraphData.from_frames(items.drop(columns="title"), purchases, categories="set")
    assert len(untitled.item_product) == 0


# --- on the store, end to end ------------------------------------------------------------------

def _frames() -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(SAMPLE / f"{name}.csv.gz", dtype=str, keep_default_na=False)
            for name in ("items", "purchases", "item_links", "users")}


def _candidates(frames: dict[str, pd.DataFrame]) -> tuple[str, list[str]]:
    """The sample's most bought item, and twenty of its buyers with the fewest purchases
    (at least three): the shoppers the tests may look at, who do not buy its twin."""
    train = frames["purchases"][frames["purchases"]["split"] == "train"]
    popular = train["item_id"].value_counts().index[0]
    counts = train.groupby("user_id").size()
    buyers = counts[counts.index.isin(train.loc[train["item_id"] == popular, "user_id"])
                    & (counts >= 3)]
    return popular, sorted(buyers.index, key=lambda u: (buyers[u], u))[:20]


def _most_linked(frames: dict[str, pd.DataFrame], user: str, but: str) -> str:
    """The item ``user`` bought (``but`` aside) most linked with the rest of what they bought:
    a new item takes its place in a list by its links, and its twin copies them."""
    purchases, links = frames["purchases"], frames["item_links"]
    mine = set(purchases.loc[purchases["user_id"] == user, "item_id"]) - {but}
    linked = {item: int((links["item_id"].eq(item) & links["other_item_id"].isin(mine)).sum()
                        + (links["other_item_id"].eq(item) & links["item_id"].isin(mine)).sum())
              for item in sorted(mine)}
    return max(linked, key=lambda item: linked[item])


def _blind(loaded: artifact.Artifact) -> Recommender:
    """A recommender of the same model with no product known: what a shopper would be served
    were second listings not told apart (the premise of the tests below)."""
    return Recommender(dataclasses.replace(loaded, data=dataclasses.replace(
        loaded.data, item_product=np.zeros(0, dtype=np.int64))))


def _twin_rows(frames: dict[str, pd.DataFrame], original: str, twin: str
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``twin``'s item row (``original``'s title and brand written otherwise: upper case, more
    blanks) and its links: a copy of ``original``'s, and ``original`` also viewed with it."""
    items, links = frames["items"], frames["item_links"]
    row = items[items["item_id"] == original].iloc[0].copy()
    row["item_id"], row["title"] = twin, "  " + "  ".join(row["title"].upper().split())
    row["brand"] = row["brand"].lower() + " "
    copied = pd.concat([
        links[links["item_id"] == original].assign(item_id=twin),
        links[links["other_item_id"] == original].assign(other_item_id=twin),
        pd.DataFrame({"item_id": [original], "relation": ["also_viewed"],
                      "other_item_id": [twin]})])
    return pd.DataFrame([row]), copied


def _write(folder: Path, frames: dict[str, pd.DataFrame]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        with gzip.open(folder / f"{name}.csv.gz", "wt", newline="", encoding="utf-8") as out:
            frame.to_csv(out, index=False, quoting=csv.QUOTE_MINIMAL)
    return folder


@pytest.fixture(scope="module")
def shop(settings: Settings, session_store: GraphStore,
         tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The sample with a second listing of its most bought item, bought by the buyers of the
    first but the shoppers the tests may look at (so that it scores as high for them), and a
    model trained on it under this module's home; the shopper for whom it ranks highest; and
    then a second listing of another of their items added as a shop adds one (``graphrec
    ingest --update``) for the service to fold in."""
    frames = _frames()
    original, candidates = _candidates(frames)
    twin_item, twin_links = _twin_rows(frames, original, TWIN)
    purchases = frames["purchases"]
    buyers = purchases[(purchases["item_id"] == original) & (purchases["split"] == "train")
                       & ~purchases["user_id"].isin(candidates)]
    catalogue = _write(tmp_path_factory.mktemp("same-product") / "catalogue", {
        "items": pd.concat([frames["items"], twin_item]),
        "item_links": pd.concat([frames["item_links"], twin_links]),
        "purchases": pd.concat([purchases, buyers.assign(item_id=TWIN)]),
        "users": frames["users"]})
    home = without_model(settings, tmp_path_factory.mktemp("same-product-home"))
    session_store.clear()
    load_catalogue(session_store, read_catalogue(catalogue))
    train_from_store(session_store, home, TrainConfig(max_epochs=4))
    blind = _blind(artifact.load(home.model_path))
    twin = blind.item_index(TWIN)

    def place(user: str) -> int:  # the twin's, among every item for ``user``
        history = blind.history(purchases.loc[purchases["user_id"] == user, "item_id"])
        scores = blind.scores(history)
        scores[history] = -np.inf
        return int((scores > scores[twin]).sum())

    user = min(candidates, key=place)
    other = _most_linked(frames, user, original)
    new_item, new_links = _twin_rows(frames, other, NEW_TWIN)
    update = _write(tmp_path_factory.mktemp("same-product-update"),
                    {"items": new_item, "item_links": new_links})
    ingest_catalogue(home, update, update=True, quiet=True)
    return {"home": home, "user": user, "original": original, "other": other}


@pytest.fixture(scope="module")
def app(shop: dict[str, Any]) -> Iterator[Flask]:
    yield from make_app(shop["home"])


def _service(app: Flask) -> RecommendationService:
    with app.app_context():
        service = get_engine().service()
    service.look_at_catalogue()  # twice: the second acts when the first found it moving
    service.look_at_catalogue()
    assert service.folded == 1
    return service


def _listed_without_the_rule(service: RecommendationService, user: str, k: int = 10
                             ) -> list[str]:
    """The user's top ``k`` from the served model (the new twin folded in) with no product
    known."""
    history = service.recommender.history(service.store.read_once(
        "service/user_history", user=user)[0]["items"])
    paths = service.now.paths
    return [r.item_id for r in _blind(service.recommender.artifact).recommend(
        history, k, accept=lambda items: paths.has_candidates(history, items))]


def test_the_model_keeps_which_listings_are_one_product(shop: dict[str, Any]) -> None:
    loaded = artifact.load(shop["home"].model_path)
    items, product = loaded.ids["items"], loaded.data.item_product
    assert len(product) == len(items)
    assert product[items.index(TWIN)] == product[items.index(shop["original"])] != 0
    assert (product == product[items.index(TWIN)]).sum() == 2


@pytest.mark.parametrize("twin", [TWIN, NEW_TWIN])
def test_a_second_listing_of_a_product_bought_is_never_recommended_and_says_why(
        app: Flask, shop: dict[str, Any], twin: str) -> None:
    service, user = _service(app), shop["user"]
    assert twin in _listed_without_the_rule(service, user)  # it would be, high
    client = app.test_client()
    body = client.get(f"/api/users/{user}/recommendations").get_json()
    listed = [r["item_id"] for r in body["recommendations"]]
    assert twin not in listed and len(listed) == 10
    explanation = client.get(f"/api/users/{user}/recommendations/{twin}/explanation").get_json()
    assert (explanation["rank"], explanation["not_served"]) == (None, "same_product")
    assert explanation["already_bought"] is False
    # a list it is left out of is still ranked the same around it: every other item at the
    # place its explanation gives
    for place, item in enumerate(listed, start=1):
        assert client.get(f"/api/users/{user}/recommendations/{item}/explanation"
                          ).get_json()["rank"] == place


def test_a_list_names_a_product_once_in_its_listing_scored_highest(
        app: Flask, shop: dict[str, Any]) -> None:
    """For shoppers who bought neither listing, the two score alike (the same buyers, the same
    links): were they not told apart, a page of 30 would often hold both."""
    service = _service(app)
    client = app.test_client()
    pair, both, one = {TWIN, shop["original"]}, [], 0
    for user in service.recommender.user_ids[:60]:
        if pair & set(service.store.read_once("service/user_history", user=user)[0]["items"]):
            continue
        if pair <= set(_listed_without_the_rule(service, user, 30)):
            both.append(user)
        answer = client.get(f"/api/users/{user}/recommendations?k=30")
        assert answer.status_code == 200, answer.get_data(as_text=True)
        listed = [r["item_id"] for r in answer.get_json()["recommendations"]]
        shown = pair & set(listed)
        assert len(shown) <= 1, (user, listed)
        one += len(shown)
        for item in pair - shown if shown else ():  # the other: left out for the one shown
            why = client.get(f"/api/users/{user}/recommendations/{item}/explanation"
                             ).get_json()["not_served"]
            assert why == "same_product", (user, item, why)
        for place, item in enumerate(listed, start=1):
            assert client.get(f"/api/users/{user}/recommendations/{item}/explanation"
                              ).get_json()["rank"] == place
    assert len(both) >= 3 and one >= len(both)  # the premise: pages that held both


def test_the_command_says_why_a_second_listing_is_not_recommended(
        app: Flask, shop: dict[str, Any], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHREC_HOME", str(shop["home"].home))
    monkeypatch.setenv("GRAPHREC_STORE_DIR", str(shop["home"].store_dir))
    capsys.readouterr()
    for twin in (TWIN, NEW_TWIN):
        assert main(["explain", shop["user"], twin]) == 0
        assert "another listing of a product bought" in capsys.readouterr().out
    assert main(["recommend", shop["user"], "--json"]) == 0
    listed = [r["item_id"] for r in json.loads(capsys.readouterr().out)["recommendations"]]
    assert not {TWIN, NEW_TWIN} & set(listed) and len(listed) == 10


def test_a_model_saved_without_products_serves_as_before(
        shop: dict[str, Any], tmp_path: Path) -> None:
    """An artifact of a catalogue without titles (or of an earlier graphrec) has no
    ``item_product``: it loads, and no listing is left out for its product."""
    copy = tmp_path / "model"
    shutil.copytree(shop["home"].model_path, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["sha256"]["arrays/item_product.npy"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    (copy / "arrays" / "item_product.npy").unlink()
    loaded = artifact.load(copy)
    assert len(loaded.data.item_product) == 0
    recommender = Recommender(loaded)
    history = recommender.history([shop["original"]])
    assert len(recommender.same_product(history)) == 0
    served = Recommender(artifact.load(shop["home"].model_path))
    assert served.item_index(TWIN) in served.same_product(history)


def test_the_most_bought_items_name_a_product_once_and_never_one_bought(
        app: Flask, shop: dict[str, Any], session_store: GraphStore) -> None:
    """The list of a shopper with nothing to go on (and of one whose purchases lead to no
    item) is the most bought items: the two listings of the sample's most bought product are
    both among the first thirty, and were both listed."""
    service = _service(app)
    session_store.write("ingest/users", rows=[{"id": "NOTHING-YET"}])
    client = app.test_client()
    listed = [r["item_id"] for r in client.get(
        "/api/users/NOTHING-YET/recommendations?k=30").get_json()["recommendations"]]
    recommender = service.recommender
    twin, original = recommender.item_index(TWIN), recommender.item_index(shop["original"])
    empty = np.zeros(0, dtype=np.int64)
    buyers = recommender.buyers
    first, second = sorted((TWIN, shop["original"]),
                           key=lambda item: -buyers[recommender.item_index(item)])
    assert {first, second} <= {r.item_id for r in _blind(recommender.artifact).popular(
        30, empty, empty)}  # the premise: both among the thirty most bought
    assert first in listed and second not in listed and len(listed) == 30
    body = client.get(f"/api/users/NOTHING-YET/recommendations/{second}/explanation").get_json()
    assert (body["basis"], body["rank"], body["not_served"]) == ("popular", None, "same_product")
    for place, item in enumerate(listed, start=1):
        assert client.get(f"/api/users/NOTHING-YET/recommendations/{item}/explanation"
                          ).get_json()["rank"] == place
    # a shopper who bought one listing is never offered the other as a best seller
    assert shop["original"] not in {r.item_id for r in recommender.popular(
        20, np.array([twin]), empty)}
    assert TWIN not in {r.item_id for r in recommender.popular(20, np.array([original]), empty)}


def test_a_listing_dismissed_dismisses_its_product(
        app: Flask, shop: dict[str, Any], session_store: GraphStore) -> None:
    """Not interested in one listing is not interested in the product: its twin took its
    place in the list."""
    service = _service(app)
    session_store.write("ingest/users", rows=[{"id": "NOT-INTERESTED"}])
    client = app.test_client()

    def listed() -> list[str]:
        return [r["item_id"] for r in client.get(
            "/api/users/NOT-INTERESTED/recommendations?k=30").get_json()["recommendations"]]

    shown = ({TWIN, shop["original"]} & set(listed())).pop()
    other = ({TWIN, shop["original"]} - {shown}).pop()
    record(session_store, "NOT-INTERESTED", shown, "dismiss")
    after = listed()
    assert shown not in after and other not in after and len(after) == 30
    body = client.get(f"/api/users/NOT-INTERESTED/recommendations/{other}/explanation"
                      ).get_json()
    assert (body["rank"], body["not_served"]) == (None, "dismissed")
    both = sorted(service.recommender.item_index(item) for item in (TWIN, shop["original"]))
    assert service.recommender.listings_of(np.array(both[:1])).tolist() == both
