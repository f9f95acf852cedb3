"""A new model replaces the served one without a restart, against the real store: requests go on
answering while it loads, and a model that fails to load leaves the old one serving."""
from __future__ import annotations

import dataclasses
import http.client
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask

from graphrec.config import Settings
from graphrec.model import artifact
from graphrec.model.pipeline import train_from_store
from graphrec.store.connection import GraphStore
from tests.apps import sample_users, train_sample
from tests.gunicorn_server import gunicorn
from tests.test_web_serve import listening_sockets
from tests.waiting import wait_for
from web import create_app
from web.engine import (
    COLLECT_SPACING,
    SWITCH_WAIT_MAX,
    Engine,
    artifact_signature,
    get_engine,
    held_back,
    reload_turn,
    switch_time,
)
from web.serve import settings_env


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


def replace_artifact(path: Path) -> None:
    """A new artifact in place of the one at ``path``: the same model, a new manifest (what
    a worker's check sees as a new model)."""
    copy = path.parent / ".copy"
    shutil.copytree(path, copy)
    os.replace(path, path.parent / ".old")
    os.replace(copy, path)
    shutil.rmtree(path.parent / ".old")


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
        replace_artifact(path)
        with reload_turn(trained.models_dir) as mine:  # another worker is loading it now
            assert mine
            assert engine.reload_if_changed() is False  # this one keeps answering meanwhile
        assert engine.reload_if_changed() is True  # its turn, at its next check


def turn_over(models_dir: Path) -> bool:
    """Whether no worker holds the turn to load now: the switch file is written within the
    turn, so a worker that reads it may still find the turn taken, and would try again at its
    next check (taken here and given back at once)."""
    with reload_turn(models_dir) as mine:
        return mine


def reload(engine: Engine, swapped: dict[Engine, float]) -> None:
    """``engine``'s reload of a new artifact, which must take place, and when it swapped (for
    the tests of workers that switch together)."""
    assert engine.reload_if_changed()
    swapped[engine] = time.time()


def test_the_first_worker_to_load_a_model_sets_when_all_answer_from_it(tmp_path: Path) -> None:
    """The first of ``workers`` to load an artifact sets the time, a load and a watcher's turn
    for each of the others later (at most SWITCH_WAIT_MAX seconds on); the others read it and
    learn how many loaded it before them (their collections of the old model are spaced by
    that); a new artifact gets a time of its own; one worker switches at once."""
    before = time.time()
    at, first = switch_time(tmp_path, (1, 2, 3), workers=3, load_seconds=1.5, tick=1.0)
    assert before + 5.0 <= at <= time.time() + 5.0 and first == 0
    assert switch_time(tmp_path, (1, 2, 3), workers=3, load_seconds=9.0, tick=1.0) == (at, 1)
    assert switch_time(tmp_path, (1, 2, 3), workers=3, load_seconds=9.0, tick=1.0) == (at, 2)
    assert stat.S_IMODE((tmp_path / ".switch.json").stat().st_mode) == 0o600
    later, first = switch_time(tmp_path, (1, 2, 4), workers=3, load_seconds=60.0, tick=1.0)
    assert later <= time.time() + SWITCH_WAIT_MAX and first == 0
    assert switch_time(tmp_path, (1, 2, 5), workers=1, load_seconds=60.0, tick=1.0)[0] \
        <= time.time()


def test_a_worker_starting_before_the_switch_holds_back_only_with_the_model_before(
        tmp_path: Path) -> None:
    """The switch records the artifact the workers answer from until then; a worker starting
    meanwhile holds back when its master loaded that one, and not when it loaded another, when
    the switch names another artifact, or once the time has come."""
    at, _ = switch_time(tmp_path, (1, 2, 3), workers=3, load_seconds=1.0, tick=1.0,
                        previous=(9, 9, 9))
    assert at > time.time() and held_back(tmp_path, (1, 2, 3), (9, 9, 9))
    switch_time(tmp_path, (1, 2, 3), workers=3, load_seconds=1.0, tick=1.0, previous=(7, 7, 7))
    assert held_back(tmp_path, (1, 2, 3), (9, 9, 9))  # the first worker's record stands
    assert not held_back(tmp_path, (1, 2, 3), (8, 8, 8))  # a master older than that
    assert not held_back(tmp_path, (1, 2, 4), (9, 9, 9))  # another artifact in place
    assert not held_back(tmp_path, (1, 2, 3), None)  # nothing loaded before the fork
    switch_time(tmp_path, (1, 2, 5), workers=1, load_seconds=1.0, tick=1.0, previous=(9, 9, 9))
    assert not held_back(tmp_path, (1, 2, 5), (9, 9, 9))  # its time has come


def test_a_switch_time_that_cannot_be_written_switches_at_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A models folder where the file cannot be written (here a file stands in its place; a
    full disk alike) leaves the worker to switch as soon as it has loaded, logged: before,
    the error ended the watcher thread, and with it every later reload and look."""
    blocked = tmp_path / "models"
    blocked.write_text("not a folder")
    before = time.time()
    with caplog.at_level(logging.WARNING, logger="web.engine"):
        at, first = switch_time(blocked, (1, 2, 3), workers=4, load_seconds=1.0, tick=1.0)
    assert before <= at <= time.time() and first == 0
    assert "switch to the new model each once loaded" in caplog.text


def test_a_failure_while_ranking_ahead_still_switches(
        trained: Settings, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Ranking the old model's lists with the new one is work ahead of the switch, not part
    of it: whatever it raises is logged and the new model is served at the agreed time."""
    from graphrec.serving.service import RecommendationService

    path = trained.model_path

    def broken(self: RecommendationService, lists: object, until: float) -> int:
        raise RuntimeError("ranking ahead failed")

    with app_with(trained, interval=0) as app:
        engine = engine_of(app)
        old = engine.service()
        engine.workers = 2
        replace_artifact(path)
        monkeypatch.setattr(RecommendationService, "rank_again", broken)
        with caplog.at_level(logging.ERROR, logger="web.engine"):
            assert engine.reload_if_changed()
        assert engine.service() is not old
        assert "ranked no more lists before the switch" in caplog.text


def test_two_workers_answer_from_a_new_model_at_the_same_time(trained: Settings) -> None:
    """Each worker loads a new artifact in its turn; the first keeps answering from the model
    before until the time it set, and both then answer from the new one together (before,
    each swapped as soon as it had loaded: a page from one and its explanation from the other
    came from two models for a second or two)."""
    path = trained.model_path
    with app_with(trained, interval=0) as first_app, app_with(trained, interval=0) as second_app:
        first, second = engine_of(first_app), engine_of(second_app)
        before = {engine: engine.service() for engine in (first, second)}
        for engine in (first, second):
            engine.workers = 2
        replace_artifact(path)
        swapped: dict[Engine, float] = {}
        loading = threading.Thread(target=reload, args=(first, swapped))
        loading.start()
        switch = trained.models_dir / ".switch.json"
        wait_for(lambda: switch.exists() and json.loads(switch.read_text())["at"] > time.time(),
                 "the first worker's switch time", timeout=60)
        at = json.loads(switch.read_text())["at"]
        assert first.service() is before[first]  # loaded, and still answering from the old
        wait_for(lambda: turn_over(trained.models_dir), "the first worker's turn to end")
        reload(second, swapped)  # its turn: loads, then waits for the same time
        loading.join(60)
        assert set(swapped) == {first, second}
        assert at <= min(swapped.values()) and max(swapped.values()) - at < 0.3
        assert all(engine.service() is not before[engine] for engine in (first, second))
        # each collects the old model a turn after the switch, the second COLLECT_SPACING later
        assert (first._collect_after, second._collect_after) == (0.0, COLLECT_SPACING)


def test_a_worker_started_while_the_others_wait_to_switch_answers_as_they_do(
        trained: Settings) -> None:
    """gunicorn replaces a worker (a crash, a kill) in the seconds between a new model's first
    load and the time set for the switch: the new worker, forked from a master that loaded the
    model before, answers from it as the others still do, and switches with them (it answered
    from the new model at once, while the others answered from the old)."""
    path = trained.model_path
    with app_with(trained, interval=0) as first_app, app_with(trained, interval=0) as late_app:
        first, late = engine_of(first_app), engine_of(late_app)
        late.preload()  # as gunicorn's master does, before the retrain
        old = artifact_signature(path)
        first.service()
        first.workers = late.workers = 4
        replace_artifact(path)
        new = artifact_signature(path)
        swapped: dict[Engine, float] = {}
        loading = threading.Thread(target=reload, args=(first, swapped))
        loading.start()
        switch = trained.models_dir / ".switch.json"
        wait_for(lambda: held_back(trained.models_dir, new, old), "the first worker's switch time",
                 timeout=60)
        late.service()  # the new worker's first request, before the switch
        assert late._loaded == old and first._loaded == old
        wait_for(lambda: turn_over(trained.models_dir), "the first worker's turn to end")
        reload(late, swapped)  # its watcher's turn: loads the new one, waits for the same time
        loading.join(60)
        at = json.loads(switch.read_text())["at"]
        assert late._loaded == first._loaded == new
        assert at <= min(swapped.values()) and max(swapped.values()) - at < 0.3


SERVER_WORKERS = 3


def served_version(port: int) -> str | None:
    """The model version ``/api/health`` answers, on a fresh connection (the kernel picks the
    worker); None when it answers none."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/api/health")
        return json.loads(conn.getresponse().read())["checks"]["model"].get("version")
    finally:
        conn.close()


def test_a_servers_workers_answer_from_a_retrained_model_together(
        trained: Settings, session_store: GraphStore, tmp_path: Path) -> None:
    """gunicorn's master tells its workers how many they are: after a retrain no worker answers
    from the old model once one has answered from the new (but for a request under way), and
    each says when it began to."""
    env = settings_env(dataclasses.replace(trained, model_check_interval=0.2))
    env.update(GRAPHREC_WEB_WORKERS=str(SERVER_WORKERS), GRAPHREC_WEB_ACCESSLOG="off")
    log = tmp_path / "gunicorn.log"
    with gunicorn(env, log, lambda port, _: listening_sockets(port) >= SERVER_WORKERS
                  and served_version(port) is not None, timeout=90) as (port, _):
        old = served_version(port)
        stop = threading.Event()
        seen: list[tuple[float, str | None]] = []

        def ask() -> None:
            while not stop.is_set():
                seen.append((time.monotonic(), served_version(port)))

        asking = threading.Thread(target=ask)
        asking.start()
        try:
            retrain(trained, session_store, seed=11)
            new = artifact.load(trained.model_path, hash_arrays=False).version
            assert new != old
            wait_for(lambda: any(v == new for _, v in seen[-5 * SERVER_WORKERS:]) and all(
                v == new for _, v in seen[-5 * SERVER_WORKERS:]), "every worker on the new model",
                timeout=60)
        finally:
            stop.set()
            asking.join(30)
    first_new = min(t for t, v in seen if v == new)
    late = [t - first_new for t, v in seen if v == old and t > first_new]
    assert not late or max(late) < 0.1, late
    waits = [float(w) for w in re.findall(r"answering from it ([\d.]+) s later", log.read_text())]
    assert len(waits) == SERVER_WORKERS and max(waits) > 0, log.read_text()
