"""A new model replaces the served one without a restart, against the real store: requests go on
answering while it loads, and a model that fails to load leaves the old one serving."""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask

from graphrec.config import Settings
from graphrec.model.pipeline import train_from_store
from graphrec.store.connection import GraphStore
from tests.apps import sample_users, train_sample
from tests.waiting import wait_for
from web import create_app
from web.engine import Engine, get_engine, reload_turn


@pytest.fixture(scope="module")
def trained(settings: Settings, session_store: GraphStore) -> Settings:
    train_sample(settings, session_store)
    return settings


@contextmanager
def app_with(settings: Settings, interval: float) -> Iterator[Flask]:
    app = create_app({"TESTING": True, "SETTINGS": settings, "MODEL_CHECK_INTERVAL": interval})
    try:
        yield app
    finally:
        app.extensions["graphrec"].close()


def engine_of(app: Flask) -> Engine:
    with app.app_context():
        return get_engine()


def retrain(settings: Settings, store: GraphStore, seed: int) -> None:
    from graphrec.model.train import TrainConfig

    train_from_store(store, settings, TrainConfig(max_epochs=2, seed=seed))


def test_a_new_model_is_picked_up_without_an_error_answer(trained: Settings,
                                                          session_store: GraphStore) -> None:
    with app_with(trained, interval=0.2) as app:
        engine = engine_of(app)
        old = engine.service().model_version
        users = sample_users(20)
        answers: Counter = Counter()
        stop = threading.Event()

        def traffic() -> None:
            client = app.test_client()
            n = 0
            while not stop.is_set():
                response = client.get(f"/api/users/{users[n % len(users)]}/recommendations")
                body = response.get_json()
                answers[(response.status_code, body.get("model_version"))] += 1
                n += 1

        thread = threading.Thread(target=traffic)
        thread.start()
        try:
            retrain(trained, session_store, seed=7)
            wait_for(lambda: engine.service().model_version != old, "the new model", 60)
            new = engine.service().model_version
            wait_for(lambda: answers[(200, new)] >= 5, "answers from the new model")
        finally:
            stop.set()
            thread.join(30)
        assert new != old
        assert {status for status, _ in answers} == {200}
        assert {version for _, version in answers} == {old, new}, answers
        assert engine.reload_if_changed() is False  # nothing new since


def test_a_model_that_fails_to_load_leaves_the_old_one_serving(
        trained: Settings, session_store: GraphStore,
        caplog: pytest.LogCaptureFixture) -> None:
    path = trained.model_path
    with app_with(trained, interval=0) as app:  # no watcher: each check is called here
        engine = engine_of(app)
        version = engine.service().model_version
        user = sample_users(1)[0]
        good = Path(tempfile.mkdtemp(dir=path.parent)) / "good"
        shutil.copytree(path, good)
        broken = path.parent / ".broken"
        shutil.copytree(path, broken)
        weights = broken / "weights.pt"
        weights.write_bytes(weights.read_bytes()[:-10])  # a truncated copy
        os.replace(path, path.parent / ".old")
        os.replace(broken, path)
        shutil.rmtree(path.parent / ".old")

        with caplog.at_level(logging.WARNING, logger="web.engine"):
            assert engine.reload_if_changed() is False
        assert "new model not loaded, the old one keeps serving" in caplog.text
        assert "weights.pt does not match its checksum" in caplog.text
        response = app.test_client().get(f"/api/users/{user}/recommendations")
        assert response.status_code == 200 and response.get_json()["model_version"] == version
        caplog.clear()
        assert engine.reload_if_changed() is False and not caplog.text  # not tried again

        shutil.rmtree(path)
        os.replace(good, path)  # a good artifact again: loaded
        assert engine.reload_if_changed() is True
        assert engine.service().model_version == version
        shutil.rmtree(good.parent)


def test_after_a_swap_the_old_models_cycles_are_collected() -> None:
    """A worker freezes what it loaded; the old service's reference cycles must not stay
    frozen (never collected) once a new one is in place."""
    import gc
    import weakref

    from web.engine import refreeze

    class Node:
        pass

    gc.collect()
    gc.unfreeze()
    try:
        old = Node()
        old.cycle = old
        ref = weakref.ref(old)
        gc.freeze()
        del old
        gc.collect()
        assert ref() is not None  # frozen: the collector does not see it
        refreeze()
        assert ref() is None and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_workers_load_a_new_model_one_at_a_time(trained: Settings,
                                                 session_store: GraphStore) -> None:
    path = trained.model_path
    with app_with(trained, interval=0) as app:  # no watcher: each check is called here
        engine = engine_of(app)
        engine.service()
        copy = path.parent / ".copy"
        shutil.copytree(path, copy)
        os.replace(path, path.parent / ".old")
        os.replace(copy, path)  # a new artifact in place (the same model, a new manifest)
        shutil.rmtree(path.parent / ".old")
        with reload_turn(trained.models_dir) as mine:  # another worker is loading it now
            assert mine
            assert engine.reload_if_changed() is False  # this one keeps answering meanwhile
        assert engine.reload_if_changed() is True  # its turn, at its next check
