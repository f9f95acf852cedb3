"""Fixtures: settings in a temporary GRAPHREC_HOME, and one real graph store per test session.

With ``NEO4J_URI`` set the tests run against that Neo4j (its ``NEO4J_DATABASE`` is wiped between
tests: point it at a scratch database); otherwise they start the local ArcadeDB store once.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from graphrec.config import Settings
from graphrec.store.connection import GraphStore, open_store
from graphrec.store.local import LocalStore

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

SAMPLE = Path(__file__).resolve().parents[1] / "graphrec" / "sample" / "beauty"

# Tests call the commands in process (graphrec.cli.main): a training must not lower the test
# session's own priority (os.nice lasts for the process) for every test after it, nor that of
# the servers and stores it starts then. tests/test_cli_model.py checks the setting is obeyed.
os.environ["GRAPHREC_TRAIN_NICE"] = "0"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("NEO4J_URI"):
        return
    skip = pytest.mark.skip(reason="needs a real Neo4j: set NEO4J_URI")
    for item in items:
        if "neo4j" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    env = {key: value for key, value in os.environ.items() if key.startswith("NEO4J_")}
    env["GRAPHREC_HOME"] = str(tmp_path_factory.mktemp("graphrec-home"))
    return Settings.from_env(env)


@pytest.fixture(scope="session")
def session_store(settings: Settings) -> Iterator[GraphStore]:
    local = LocalStore(settings) if settings.uses_local_store else None
    store = open_store(settings)
    yield store
    store.close()
    if local is not None:
        local.stop()


@pytest.fixture
def store(session_store: GraphStore) -> GraphStore:
    """The session's store, emptied before the test."""
    session_store.clear()
    return session_store


@pytest.fixture(scope="module")
def trained_app(settings: Settings, session_store: GraphStore) -> Iterator[Flask]:
    """An app on the sample with a model trained on it, built anew for each module that asks
    (:func:`tests.apps.trained_app`) and kept for that module's tests."""
    from tests.apps import trained_app

    yield from trained_app(settings, session_store)


@pytest.fixture
def client(trained_app: Flask) -> FlaskClient:
    return trained_app.test_client()


@pytest.fixture(scope="module")
def sample_user(trained_app: Flask) -> str:
    """A sample user with at least one recommendation that has a reason."""
    from tests.apps import sample_user_of

    return sample_user_of(trained_app)


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    """An environment for subprocesses and CLI runs that reaches the same store."""
    out = dict(os.environ)
    out["GRAPHREC_HOME"] = str(settings.home)
    return out


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Torch on one thread for a module of tiny tensors (``pytest.mark.usefixtures``): a second
    thread only adds synchronisation, which on a busy machine costs more than the work itself."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
