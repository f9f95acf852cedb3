"""graphrec train and recommend, end to end on the sample in the real store."""
from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import networkx as nx
import pytest

from graphrec.cli import main
from graphrec.config import Settings
from graphrec.store.connection import GraphStore
from ingest.detect import read_catalogue
from ingest.loader import load_catalogue
from tests.conftest import SAMPLE


@pytest.fixture(scope="module")
def trained(session_store: GraphStore, settings: Settings) -> Settings:
    session_store.clear()
    load_catalogue(session_store, read_catalogue(SAMPLE))
    env = {"GRAPHREC_HOME": str(settings.home)}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        assert main(["train", "--quiet", "--epochs", "4"]) == 0
    return settings


def test_train_saves_a_model_with_test_metrics(trained: Settings) -> None:
    metrics = json.loads((trained.model_path / "metrics.json").read_text())
    assert metrics["test"]["ndcg@10"] > 0
    assert set(metrics["test"]) == {"ndcg@10", "recall@10", "hr@10", "precision@10"}


def test_training_reports_how_many_users_its_test_metrics_measured(
        trained: Settings, session_store: GraphStore, tmp_path: Path) -> None:
    """Past ``validation_users``, the test metrics are a draw of that many users, and the report
    says so beside the users the test split holds; below it, every user is measured."""
    import dataclasses

    from graphrec.model.pipeline import train_from_store
    from graphrec.model.train import TrainConfig

    home = dataclasses.replace(trained, home=tmp_path, store_dir_override=trained.store_dir)
    whole = train_from_store(session_store, home, TrainConfig(max_epochs=1, embedding_dim=8))
    drawn = train_from_store(session_store, home, TrainConfig(max_epochs=1, embedding_dim=8,
                                                              validation_users=100))
    with_test = whole.test_users[1]
    assert with_test > 100 and whole.test_users == (with_test, with_test)
    assert drawn.test_users == (100, with_test)
    assert drawn.test != whole.test


def test_recommend_never_returns_a_bought_item(trained: Settings, session_store: GraphStore,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRAPHREC_HOME", str(trained.home))
    users = [row["u"] for row in session_store.read_text(
        "MATCH (u:User)-[:BOUGHT]->() RETURN DISTINCT u.id AS u LIMIT 5")]
    for user in users:
        capsys.readouterr()
        assert main(["recommend", user, "-k", "10", "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        items = [r["item_id"] for r in out["recommendations"]]
        bought = session_store.read("service/user_history", user=user)[0]["items"]
        assert len(items) == 10 and not set(items) & set(bought)
        scores = [r["score"] for r in out["recommendations"]]
        assert scores == sorted(scores, reverse=True)
        assert all(r["title"] for r in out["recommendations"])


def test_recommend_for_an_unknown_user_says_so(trained: Settings,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRAPHREC_HOME", str(trained.home))
    assert main(["recommend", "no-such-user"]) == 1
    assert "unknown user 'no-such-user'" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["recommend", "u1", "-k", "0"],
                                  ["recommend", "u1", "-k", "-3"],
                                  ["explain", "u1", "i1", "--top", "0"]])
def test_a_count_below_one_is_a_usage_error(args: list[str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """``recommend -k 0`` printed nothing and exited 0, and ``explain --top 0`` called the
    first item of a list "not recommended (no reason path)"."""
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    assert "must be at least 1, not" in capsys.readouterr().err


def test_explain_returns_paths_of_the_store_from_user_to_item(
        trained: Settings, session_store: GraphStore, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRAPHREC_HOME", str(trained.home))
    user = session_store.read("service/any_buyer")[0]["user_id"]
    assert main(["recommend", user, "-k", "3", "--json"]) == 0
    items = [r["item_id"] for r in json.loads(capsys.readouterr().out)["recommendations"]]
    explained = 0
    for item in items:
        assert main(["explain", user, item, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["rank"] >= 1 and len(out["paths"]) <= 3
        weights = [p["weight"] for p in out["paths"]]
        assert weights == sorted(weights, reverse=True)
        for path in out["paths"]:
            assert path["nodes"][0]["id"] == user and path["nodes"][-1]["id"] == item
            call = path["cypher"]
            assert session_store.read(call["query"], **call["params"]), call
            explained += 1
    assert explained > 0
    assert main(["explain", user, "no-such-item"]) == 1
    assert "unknown item 'no-such-item'" in capsys.readouterr().err


def test_explain_writes_the_reason_paths_as_graphml(
        trained: Settings, session_store: GraphStore, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.setenv("GRAPHREC_HOME", str(trained.home))
    user = session_store.read("service/any_buyer")[0]["user_id"]
    assert main(["recommend", user, "-k", "1", "--json"]) == 0
    item = json.loads(capsys.readouterr().out)["recommendations"][0]["item_id"]
    target = tmp_path / "why.graphml"
    target.write_text("an older file, open to all")
    target.chmod(0o644)
    assert main(["explain", user, item, "--json", "--graphml", str(target)]) == 0
    out = capsys.readouterr()
    paths = json.loads(out.out)["paths"]
    graph = nx.read_graphml(target, force_multigraph=True)
    # it names the shopper and what they bought: private, and said in numbers (on stderr:
    # stdout is the JSON)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert out.err.strip().endswith(f"wrote {target}: {graph.number_of_nodes()} nodes, "
                                    f"{graph.number_of_edges()} edges, "
                                    f"{target.stat().st_size:,} bytes of GraphML")
    assert set(graph.nodes) == {f"{n['type']}:{n['id']}" for p in paths for n in p["nodes"]}
    assert graph.number_of_edges() == sum(len(p["relationships"]) for p in paths) > 0
    assert {int(d["path_rank"]) for _, _, d in graph.edges(data=True)} == set(
        range(1, len(paths) + 1))


def test_a_training_that_diverges_keeps_the_model_before(
        trained: Settings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A learning rate far too large makes the weights overflow: the model so trained answered
    every user with an empty list, and replaced the good one. Now nothing is saved, and one
    line says why; an infinite one is refused before the graph is read."""
    monkeypatch.setenv("GRAPHREC_HOME", str(trained.home))
    manifest = (trained.model_path / "manifest.json").read_bytes()
    assert main(["train", "--quiet", "--epochs", "2", "--set", "lr=1e30"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "training diverged" in err
    assert (trained.model_path / "manifest.json").read_bytes() == manifest
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--set", "lr=inf"])
    assert exit_.value.code == 2 and "lr must be a finite number" in capsys.readouterr().err


def test_demo_runs_the_workflows_on_a_trained_model(trained: Settings,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRAPHREC_HOME", str(trained.home))
    manifest = (trained.model_path / "manifest.json").stat().st_mtime_ns
    assert main(["demo", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "created 0" in out  # the sample again: the graph already holds all of it
    assert "BOUGHT" in out  # the counts
    top = out.split("top 10 for user ")[1].splitlines()[1:]
    assert sum(1 for line in top if line[:3].strip().isdigit()) == 10
    assert (trained.model_path / "manifest.json").stat().st_mtime_ns == manifest  # kept


def test_train_in_two_processes_saves_the_model_one_process_saves(
        trained: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Last in this module: it replaces the module's model by an equal one."""
    monkeypatch.setenv("GRAPHREC_HOME", str(trained.home))
    one = json.loads((trained.model_path / "metrics.json").read_text())
    assert main(["train", "--quiet", "--epochs", "4", "--processes", "2"]) == 0
    two = json.loads((trained.model_path / "metrics.json").read_text())
    assert two["history"]["best_epoch"] == one["history"]["best_epoch"]
    assert two["test"] == pytest.approx(one["test"], abs=1e-3)


def test_train_on_a_disk_without_room_says_so_in_one_line_and_keeps_the_model(
        trained: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A write the system refuses (a file-size limit here, which refuses it as a full disk
    does, with ``EFBIG`` for ``ENOSPC``) ends ``graphrec train`` with one line that names the
    model's folder and the system's reason, and status 1; the model before stays as it was,
    and nothing half written is left beside it."""
    import resource
    import shutil
    import signal

    home = tmp_path / "home"
    model = home / trained.model_path.relative_to(trained.home)
    shutil.copytree(trained.model_path, model)
    before = (model / "manifest.json").read_bytes()
    monkeypatch.setenv("GRAPHREC_HOME", str(home))
    if trained.uses_local_store:
        monkeypatch.setenv("GRAPHREC_STORE_DIR", str(trained.store_dir))
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an error, not a signal
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))
    try:
        code = main(["train", "--quiet", "--epochs", "1"])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    err = capsys.readouterr().err
    assert code == 1
    assert err.splitlines() == [
        f"graphrec: error: the model could not be written to {model}: File too large"], err
    assert (model / "manifest.json").read_bytes() == before
    assert [entry.name for entry in model.parent.iterdir()] == [model.name]


def test_a_statement_the_store_fails_ends_the_command_in_one_line(
        trained: Settings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The store's own error (here the real store's answer to a statement it cannot run; a
    commit refused for a full disk reads the same way) ends a command with one line: the
    store's code and words, and where a local store logs why; status 1, no traceback."""
    from graphrec import cli

    def failing(settings: Settings, **kwargs: object) -> None:
        with cli.open_store(settings) as store:
            store.read_text("RETURN FROM WHERE")

    monkeypatch.setenv("GRAPHREC_HOME", str(trained.home))
    monkeypatch.setattr(cli, "print_stats", failing)
    assert main(["stats"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "graphrec: error: the graph store failed the command: Neo.ClientError."), lines
    log = f" (the local store's log: {trained.store_dir / 'server.log'}"
    assert (log in lines[0]) == trained.uses_local_store
    # a disk with less room than the threshold is named: ArcadeDB says nothing of it
    monkeypatch.setattr(cli, "LOW_DISK_BYTES", 2**62)
    assert main(["stats"]) == 1
    line = capsys.readouterr().err.strip()
    assert re.search(r"; [0-9.]+ MB free on its disk\)$", line) or not trained.uses_local_store


def test_the_command_exits_with_mains_status_after_freezing_what_is_alive(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The installed ``graphrec`` is :func:`graphrec.cli.run`: main's status, and no last
    collection at exit over what torch and PyG imported (gc.freeze)."""
    import gc
    import tomllib

    from graphrec import cli

    scripts = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert scripts["project"]["scripts"]["graphrec"] == "graphrec.cli:run"
    frozen: list[int] = []
    monkeypatch.setattr(cli, "main", lambda: 3)
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(1))
    with pytest.raises(SystemExit) as exited:
        cli.run()
    assert exited.value.code == 3 and frozen == [1]


def test_a_reader_that_stops_reading_ends_the_command_quietly() -> None:
    """``graphrec ... | head``: the command stops with SIGPIPE's status, no traceback."""
    import subprocess
    import sys

    script = ("import graphrec.cli as cli\n"
              "cli.main = lambda: [print('line', n) for n in range(200_000)] and 0\n"
              "cli.run()\n")
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline() == b"line 0\n"
        proc.stdout.close()  # as head does once it has its lines
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err, err


@pytest.mark.parametrize(("nice", "calls"), [("10", [10]), ("0", [])])
def test_train_lowers_its_own_priority_as_set(nice: str, calls: list[int], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """GRAPHREC_TRAIN_NICE: a server beside the training keeps its share of the cores."""
    import os

    from graphrec import cli

    niced: list[int] = []
    monkeypatch.setattr(os, "nice", niced.append)
    monkeypatch.setattr(cli, "train_model", lambda *args, **kwargs: None)
    monkeypatch.setenv("GRAPHREC_HOME", str(tmp_path))
    monkeypatch.setenv("GRAPHREC_TRAIN_NICE", nice)
    assert main(["train", "--epochs", "1"]) == 0
    assert niced == calls


def test_train_sets_fields_of_the_training_configuration(
        trained: Settings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """After the two-process test: it replaces the module's model by a smaller one."""
    monkeypatch.setenv("GRAPHREC_HOME", str(trained.home))
    assert main(["train", "--quiet", "--epochs", "2", "--set", "embedding_dim=8",
                 "--set", "history_exponent=0.5"]) == 0
    config = json.loads((trained.model_path / "config.json").read_text())
    assert (config["train"]["embedding_dim"], config["train"]["history_exponent"]) == (8, 0.5)
    assert config["model"]["embedding_dim"] == 8 and config["model"]["history_exponent"] == 0.5
    for bad, says in [("colour=2", "expected FIELD=VALUE with FIELD one of embedding_dim"),
                      ("history_exponent=high", "history_exponent takes numbers (float)"),
                      ("embedding_dim=1.5", "embedding_dim takes numbers (int)"),
                      ("lr=-0.1", "lr must be above 0, not -0.1"),
                      ("embedding_dim=0", "embedding_dim must be at least 1, not 0"),
                      ("history_dropout=1", "history_dropout must be above 0 and below 1"),
                      ("lr=0.1,0.2", "one value per --set")]:
        with pytest.raises(SystemExit):
            main(["train", "--set", bad])
        assert says in capsys.readouterr().err


def test_train_reports_the_read_before_training_begins(
        trained: Settings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The read's progress bar is closed and its numbers printed once the graph is read: a bar
    kept open through training went on counting training's time in its rate (15.2 k rows/s
    on Beauty for a read of 44.6 k) and redrew itself between the epochs. After the
    two-process test: it replaces the module's model by a smaller one."""
    monkeypatch.setenv("GRAPHREC_HOME", str(trained.home))
    assert main(["train", "--epochs", "2", "--set", "embedding_dim=8"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    read = next(n for n, line in enumerate(lines) if line.startswith("read the graph: "))
    epochs = [n for n, line in enumerate(lines) if " epoch " in line]
    assert epochs and read < min(epochs), captured.out
    # the bar's last drawing, when it closed, is the read's: its elapsed time is the read's
    seconds = float(lines[read].split(" rows in ")[1].split("s ")[0])
    drawn = [line for line in captured.err.replace("\r", "\n").splitlines() if "rows [" in line]
    elapsed = drawn[-1].split("rows [")[1].split(",")[0]  # tqdm's [mm:ss, rate]
    minutes, secs = elapsed.split(":")
    assert int(minutes) * 60 + int(secs) <= seconds + 2, drawn[-1]
