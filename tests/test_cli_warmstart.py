"""graphrec train --warm-start, end to end on the sample in the real store."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from graphrec.cli import main
from graphrec.config import Settings
from graphrec.model import artifact
from graphrec.store.connection import GraphStore
from ingest.detect import read_catalogue
from ingest.loader import load_catalogue
from tests.conftest import SAMPLE


def test_train_warm_start_begins_at_the_current_model(
        store: GraphStore, settings: Settings, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    load_catalogue(store, read_catalogue(SAMPLE))
    monkeypatch.setenv("GRAPHREC_HOME", str(tmp_path))  # a models folder of its own
    monkeypatch.setenv("GRAPHREC_STORE_DIR", str(settings.store_dir))
    assert main(["train", "--quiet", "--warm-start"]) == 1
    assert "--warm-start: no trained model to start from" in capsys.readouterr().err

    assert main(["train", "--quiet", "--epochs", "2"]) == 0
    home = Settings.from_env({"GRAPHREC_HOME": str(tmp_path)})
    sizes = artifact.load(home.model_path).config["model"]
    nodes = sizes["num_items"] + sizes["num_brands"] + sizes["num_categories"]
    capsys.readouterr()
    assert main(["train", "--quiet", "--epochs", "2", "--warm-start"]) == 0
    assert (f"warm start: {nodes:,} nodes kept their trained embedding, 0 new ones started "
            "from their neighbours' mean, 0 at random") in capsys.readouterr().out
    metrics = json.loads((home.model_path / "metrics.json").read_text())
    assert metrics["history"]["warm_start"] == {"known": nodes, "from_neighbours": 0,
                                                "random": 0}
