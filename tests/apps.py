"""The web tests' apps on the real store: the code that builds them, in one place.

A module that needs the sample with a trained model asks for the ``trained_app`` fixture
(``tests/conftest.py``), module-scoped: each module loads the sample and trains its own model
when it starts, so no module reads what another left behind. Modules that need another app
(other settings, no model, a dead store) build it from the same pieces here.
"""
from __future__ import annotations

import csv
import dataclasses
import gzip
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from graphrec.config import Settings
from graphrec.model.pipeline import train_from_store
from graphrec.model.train import TrainConfig
from graphrec.store.connection import GraphStore
from ingest.detect import read_catalogue
from ingest.loader import load_catalogue
from tests.conftest import SAMPLE
from tests.openapi_check import documented
from web import create_app
from web.engine import get_engine


def make_app(settings: Settings) -> Iterator[Flask]:
    """An app whose test client checks each answer against the OpenAPI document."""
    app = documented(create_app({"TESTING": True, "SETTINGS": settings}))
    yield app
    app.extensions["graphrec"].close()


def train_sample(settings: Settings, store: GraphStore) -> None:
    """The bundled sample in the store and a model trained on it under ``settings.home``."""
    store.clear()
    load_catalogue(store, read_catalogue(SAMPLE))
    train_from_store(store, settings, TrainConfig(max_epochs=4))


def writing_app(settings: Settings, store: GraphStore, token: str,
                **config: object) -> Iterator[Flask]:
    """The sample with a model trained on it (:func:`train_sample`) and an app whose writes
    take ``token``, no look for a new model, ``config`` on top."""
    train_sample(settings, store)
    app = create_app({"TESTING": True, "SETTINGS": settings, "API_TOKEN": token,
                      "MODEL_CHECK_INTERVAL": 0, **config})
    yield app
    app.extensions["graphrec"].close()


def trained_app(settings: Settings, store: GraphStore) -> Iterator[Flask]:
    """:func:`make_app` on the sample with a model trained on it (:func:`train_sample`)."""
    train_sample(settings, store)
    yield from make_app(settings)


def without_model(settings: Settings, home: Path) -> Settings:
    """The same store, but a home whose models folder is empty."""
    return dataclasses.replace(settings, home=home, store_dir_override=settings.store_dir)


def unreachable(home: Path) -> Settings:
    """Settings whose store is a port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return Settings.from_env({"NEO4J_URI": f"bolt://127.0.0.1:{port}", "GRAPHREC_HOME": str(home)})


def sample_users(limit: int = 50) -> list[str]:
    with gzip.open(SAMPLE / "purchases.csv.gz", "rt", newline="") as fh:
        users = list(dict.fromkeys(row["user_id"] for row in csv.DictReader(fh)))
    return users[:limit]


def sample_user_of(app: Flask) -> str:
    """A user of the sample with at least one recommendation that has a reason."""
    with app.app_context():
        service = get_engine().service()
        for user in sample_users():
            if any(rec["reason"] for rec in service.recommend(user, k=10)):
                return user
    pytest.fail("no sample user has a recommendation with a reason")


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    error = response.get_json()["error"]
    assert error["status"] == status and error["message"]
    if code is not None:
        assert error["code"] == code
    return error
