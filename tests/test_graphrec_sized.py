"""``benchmarks/graphrec_sized.py``: graphrec's row at another size or with the sampled softmax,
its params saying what differs from the defaults."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import graphrec_sized
from graphrec.evaluation import benchmark
from tests.conftest import SAMPLE

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_row_is_trained_as_asked_and_says_so(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # the script puts its factory into the registry: taken out again after the test
    monkeypatch.delitem(benchmark.MODELS, "graphrec", raising=False)
    out = tmp_path / "sample.json"
    assert graphrec_sized.main(["--embedding-dim", "8", "--max-epochs", "2",
                                "--sampled-negatives", "64", "--sampled-correction", "0.5",
                                "--no-refit", "--", "--data", str(SAMPLE),
                                "--models", "graphrec", "--out", str(out)]) == 0
    params = json.loads(out.read_text())["models"]["graphrec"]["params"]
    assert params["embedding_dim"] == 8 and params["max_epochs"] == 2
    assert params["refit"] is False
    assert (params["sampled_softmax"], params["sampled_negatives"],
            params["sampled_correction"]) == (True, 64, 0.5)
