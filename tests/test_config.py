"""One configuration: the Flask config, the engine and gunicorn take their values from Settings."""
from __future__ import annotations

import multiprocessing
import os
import runpy
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from graphrec.cli import main
from graphrec.config import (
    MATHS_THREAD_VARIABLES,
    SettingError,
    Settings,
    one_maths_thread,
    retired_settings,
)
from web import create_app
from web.engine import EXTENSION
from web.serve import CONFIG, settings_env

OVERRIDES = {"GRAPHREC_REASON_CACHE_SIZE": "123", "GRAPHREC_CATALOGUE_CHECK_INTERVAL": "7.5",
             "GRAPHREC_MODEL_CHECK_INTERVAL": "0", "GRAPHREC_RETRY_AFTER": "9",
             "GRAPHREC_WEB_WORKERS": "3", "GRAPHREC_WEB_THREADS": "5",
             "GRAPHREC_WEB_TIMEOUT": "41", "GRAPHREC_WEB_ACCESSLOG": "off",
             "GRAPHREC_GRAPH_CHECK_INTERVAL": "5", "GRAPHREC_TOPK_INDEX_ITEMS": "50000"}


def seen_by_all(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], home: Path) -> dict:
    """What Settings, the Flask app, its engine and gunicorn's config make of ``env``."""
    for name in OVERRIDES:
        monkeypatch.delenv(name, raising=False)
    for name, value in {**env, "GRAPHREC_HOME": str(home), "GRAPHREC_SECRET_KEY": "k"}.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env()
    app = create_app()
    engine = app.extensions[EXTENSION]
    gunicorn = runpy.run_path(str(CONFIG))
    return {
        "settings": (settings.reason_cache_size, settings.catalogue_check_interval,
                     settings.model_check_interval, settings.retry_after),
        "flask": (app.config["REASON_CACHE_SIZE"], app.config["CATALOGUE_CHECK_INTERVAL"],
                  app.config["MODEL_CHECK_INTERVAL"], app.config["RETRY_AFTER"]),
        "engine": (engine._reason_cache_size, engine._catalogue_interval, engine._check_interval,
                   app.config["RETRY_AFTER"]),
        "gunicorn": (gunicorn["workers"], gunicorn["threads"], gunicorn["timeout"],
                     gunicorn["accesslog"]),
        "web": (settings.web_workers, settings.web_threads, settings.web_timeout,
                None if settings.web_accesslog == "off" else settings.web_accesslog),
    }


def test_defaults_agree(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen = seen_by_all(monkeypatch, {}, tmp_path)
    assert seen["settings"] == seen["flask"] == seen["engine"] == (20_000, 2.0, 1.0, 2)
    assert seen["gunicorn"] == seen["web"]
    assert seen["gunicorn"][1:] == (2, 30, "-")


def test_the_environment_reaches_all_three(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    seen = seen_by_all(monkeypatch, OVERRIDES, tmp_path)
    assert seen["settings"] == seen["flask"] == seen["engine"] == (123, 7.5, 0.0, 9)
    assert seen["gunicorn"] == seen["web"] == (3, 5, 41, None)


def test_a_test_config_overrides_one_key(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    settings = Settings.from_env({"GRAPHREC_HOME": str(tmp_path), **OVERRIDES})
    app = create_app({"SETTINGS": settings, "MODEL_CHECK_INTERVAL": 4})
    engine = app.extensions[EXTENSION]
    assert (engine._reason_cache_size, engine._check_interval) == (123, 4)


def test_workers_get_the_settings_back(tmp_path: Path) -> None:
    settings = Settings.from_env({"GRAPHREC_HOME": str(tmp_path), **OVERRIDES})
    assert (settings.graph_check_interval, settings.topk_index_items) == (5.0, 50_000)
    assert Settings.from_env(settings_env(settings, base={})) == settings


@pytest.mark.parametrize(("name", "value", "problem"), [
    ("GRAPHREC_REASON_CACHE_SIZE", "lots", "not a number"),
    ("GRAPHREC_WEB_WORKERS", "0", "must be at least 1"),
    # forked as many as asked: a machine brought to a standstill
    ("GRAPHREC_WEB_WORKERS", str(4 * multiprocessing.cpu_count() + 1),
     rf"must be at most {4 * multiprocessing.cpu_count()} \(four per core of this machine\)"),
    ("GRAPHREC_CATALOGUE_CHECK_INTERVAL", "-1", "must be at least 0"),
    ("GRAPHREC_TOPK_INDEX_ITEMS", "-5", "must be at least 0"),
    # nan passed the minimum (no comparison holds) and switched the model's watch off
    ("GRAPHREC_MODEL_CHECK_INTERVAL", "nan", "not a finite number"),
    ("GRAPHREC_GRAPH_CHECK_INTERVAL", "inf", "not a finite number"),
    ("GRAPHREC_CATALOGUE_CHECK_INTERVAL", "1e999", "not a finite number"),
])
def test_a_bad_value_is_named(name: str, value: str, problem: str) -> None:
    with pytest.raises(SettingError, match=f"^{name}='{value}': {problem}"):
        Settings.from_env({name: value})


def test_a_neo4j_uri_with_credentials_is_refused_without_repeating_them(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """graphrec prints NEO4J_URI in answers and errors: one that holds a password is refused,
    and the refusal does not repeat it."""
    for uri in ("bolt://neo4j:s3cr3t-pw@db.example:7687", "neo4j:s3cr3t-pw@db.example"):
        with pytest.raises(SettingError, match="NEO4J_URI holds credentials") as refused:
            Settings.from_env({"NEO4J_URI": uri})
        assert "s3cr3t" not in str(refused.value)
    monkeypatch.setenv("NEO4J_URI", "bolt://neo4j:s3cr3t-pw@127.0.0.1:1")
    assert main(["stats"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("graphrec: error: NEO4J_URI holds credentials") and "s3cr3t" not in err


def test_a_neo4j_uri_the_driver_cannot_take_is_named_at_once(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Refused by the driver before any connection is tried: one line naming NEO4J_URI."""
    monkeypatch.setenv("NEO4J_URI", "db.example:7687")
    assert main(["stats"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("graphrec: error: NEO4J_URI: URI scheme"), lines
    with pytest.raises(SettingError, match="speaks Bolt"):  # the driver's HTTP preview
        Settings.from_env({"NEO4J_URI": "https://db.example:7473"})


def test_the_command_line_names_a_bad_setting(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRAPHREC_WEB_TIMEOUT", "soon")
    assert main(["db", "status"]) == 1
    assert capsys.readouterr().err == "graphrec: error: GRAPHREC_WEB_TIMEOUT='soon': not a number\n"


ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("given", [None, "", "3"])
def test_gunicorn_leaves_one_maths_thread_unless_told(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path, given: str | None) -> None:
    monkeypatch.setenv("GRAPHREC_HOME", str(tmp_path))
    for name in MATHS_THREAD_VARIABLES:
        if given is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, given)
    runpy.run_path(str(CONFIG))
    assert {os.environ[name] for name in MATHS_THREAD_VARIABLES} == {given or "1"}


def test_the_request_profile_runs_maths_as_a_worker_does(tmp_path: Path) -> None:
    """benchmarks/profile_serve.py times requests in its own process: with a BLAS pool on every
    core it counted the pool's spinning threads into each request's CPU."""
    env = {name: value for name, value in os.environ.items()
           if name not in MATHS_THREAD_VARIABLES}
    probe = ("import os, runpy; runpy.run_path('benchmarks/profile_serve.py'); "
             f"print([os.environ.get(n) for n in {MATHS_THREAD_VARIABLES!r}])")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, text=True,
                         capture_output=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == str(["1"] * len(MATHS_THREAD_VARIABLES))


@pytest.mark.parametrize(("force", "expected"), [(False, "3"), (True, "1")])
def test_one_maths_thread_overrides_the_environment_only_when_forced(
        monkeypatch: pytest.MonkeyPatch, force: bool, expected: str) -> None:
    """A worker keeps a thread count the shop set; a one-thread benchmark
    (benchmarks/topk_index.py) must not report a pool's figures as one thread's."""
    for name in MATHS_THREAD_VARIABLES:
        monkeypatch.setenv(name, "3")
    one_maths_thread(force=force)
    assert {os.environ[name] for name in MATHS_THREAD_VARIABLES} == {expected}


def test_a_retired_setting_is_named_with_what_replaced_it() -> None:
    """GRAPHREC_ITEM_DETAILS_MAX_AGE is ignored now: a server started with it says so (in
    gunicorn's log, ``when_ready``) instead of seeming to honour it."""
    assert retired_settings({"GRAPHREC_CATALOGUE_CHECK_INTERVAL": "5"}) == []
    lines = retired_settings({"GRAPHREC_ITEM_DETAILS_MAX_AGE": "60"})
    assert len(lines) == 1
    assert lines[0].startswith("GRAPHREC_ITEM_DETAILS_MAX_AGE is no longer read: "
                               "GRAPHREC_CATALOGUE_CHECK_INTERVAL sets")


def test_the_server_warns_of_a_retired_setting(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    """Once it listens (gunicorn's ``when_ready``), in its log."""
    monkeypatch.setenv("GRAPHREC_HOME", str(tmp_path))
    monkeypatch.setenv("GRAPHREC_ITEM_DETAILS_MAX_AGE", "60")
    config = runpy.run_path(str(CONFIG))
    warned: list[str] = []
    log = SimpleNamespace(info=lambda *args: None,
                          warning=lambda message, *args: warned.append(message % args))
    config["when_ready"](SimpleNamespace(cfg=SimpleNamespace(bind=["127.0.0.1:1"]), log=log))
    assert [line for line in warned if "GRAPHREC_ITEM_DETAILS_MAX_AGE" in line] == \
        retired_settings()
