"""graphrec publish replacing what was published: by a new model, for every user. These tests
change what is published, so they run on data and a home of their own, each from a state it
publishes itself."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from graphrec.config import Settings
from graphrec.model.pipeline import train_from_store
from graphrec.model.train import TrainConfig
from graphrec.store.connection import GraphStore
from tests.test_publish import (
    K,
    counts,
    load_service,
    publish,
    publish_users,
    sample_trained,
    some_buyers,
    summary,
    unpublish,
)


@pytest.fixture(scope="module")
def trained(session_store: GraphStore, settings: Settings,
            tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The sample in the store and a model trained on it in this module's own home."""
    home = tmp_path_factory.mktemp("publish-replace")
    own = dataclasses.replace(settings, home=home, store_dir_override=settings.store_dir)
    return sample_trained(session_store, own)


def test_a_new_model_replaces_the_old_rows_of_the_users_it_publishes(
        trained: Settings, session_store: GraphStore, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    users = some_buyers(session_store)
    service = load_service(trained, session_store)
    publish_users(trained, session_store, users)
    retrained = dataclasses.replace(trained, home=tmp_path, store_dir_override=trained.store_dir)
    train_from_store(session_store, retrained, TrainConfig(max_epochs=4, seed=1))
    monkeypatch.setenv("GRAPHREC_HOME", str(tmp_path))
    monkeypatch.setenv("GRAPHREC_STORE_DIR", str(trained.store_dir))
    new, kept = users[:3], users[3:]
    before = counts(session_store, kept)
    code, out, err = publish("--users", *new)
    assert code == 0, err
    version = re.search(r"publishing model (\S+) for 3 users", out).group(1)
    assert version != service.model_version

    def models(query: str, who: list[str]) -> set[str]:
        return {row["m"] for row in session_store.read_text(query, users=who)}

    recommended = ("MATCH (u:User)-[r:RECOMMENDED]->() WHERE u.id IN $users "
                   "RETURN DISTINCT r.model AS m")
    explanations = ("MATCH (u:User)-[:HAS_EXPLANATION]->(e) WHERE u.id IN $users "
                    "RETURN DISTINCT e.model AS m")
    assert models(recommended, new) == models(explanations, new) == {version}
    assert models(recommended, kept) == models(explanations, kept) == {service.model_version}
    said = summary(out)
    assert said["RECOMMENDED"] == len(new) * K
    assert counts(session_store, new) == {
        "RECOMMENDED": said["RECOMMENDED"], "Explanation": said["Explanation"],
        "EXPLAINS": said["Explanation"], "STEP": said["STEP"]}
    assert counts(session_store, kept) == before


def test_publish_for_every_user_by_default(
        trained: Settings, session_store: GraphStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHREC_HOME", str(trained.home))
    monkeypatch.setenv("GRAPHREC_STORE_DIR", str(trained.store_dir))
    unpublish(session_store)
    code, out, err = publish("--paths", "0", "-k", "5", "--batch-size", "400")
    assert code == 0, err
    everyone = [row["id"] for row in session_store.read_text("MATCH (u:User) RETURN u.id AS id")]
    assert counts(session_store, everyone) == {
        "RECOMMENDED": len(everyone) * 5, "Explanation": 0, "EXPLAINS": 0, "STEP": 0}
    assert summary(out)["users"] == len(everyone)
