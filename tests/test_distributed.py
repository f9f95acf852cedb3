"""Data-parallel training: two processes (gloo, CPU) give the model one process gives.

Each process takes half of every batch's users and the gradients are summed over both, so the
two runs differ only in the order of floating-point sums: the same validation curve and epoch
chosen, the same test NDCG, embeddings within 1e-4 (1.6e-5 was measured on this config).
"""
from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from graphrec.dataset import GraphData
from graphrec.evaluation.evaluate import evaluate
from graphrec.model.distributed import share, train_processes
from graphrec.model.train import TrainConfig, train
from tests.conftest import SAMPLE

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CONFIG = TrainConfig(embedding_dim=32, lr=0.05, batch_size=256, max_epochs=4, eval_every=2,
                     patience=2, validation_fraction=0.1)


@pytest.fixture(scope="module")
def sample() -> GraphData:
    return GraphData.from_csv_dir(SAMPLE)


def test_shares_cover_the_batch_once() -> None:
    for count in (0, 1, 5, 256):
        for size in (1, 2, 3):
            bounds = [share(count, rank, size) for rank in range(size)]
            assert bounds[0][0] == 0 and bounds[-1][1] == count
            assert all(end == start for (_, end), (start, _) in zip(bounds, bounds[1:]))
            assert max(e - s for s, e in bounds) - min(e - s for s, e in bounds) <= 1


@pytest.mark.parametrize("sampled, foldin_dropout, steps",
                         [(False, 0.0, 24), (True, 0.0, 24), (False, 0.2, 24), (True, 0.0, 2)],
                         ids=["full-softmax", "sampled-softmax", "foldin-dropout",
                              "shared-steps"])
def test_two_processes_train_the_model_one_process_trains(sample: GraphData, sampled: bool,
                                                          foldin_dropout: float,
                                                          steps: int) -> None:
    config = dataclasses.replace(CONFIG, sampled_softmax=sampled, foldin_dropout=foldin_dropout,
                                 max_steps_per_epoch=steps)
    one, one_log = train(sample, config)
    two, two_log = train_processes(sample, config, 2, quiet=True)
    assert two_log.best_epoch == one_log.best_epoch
    assert [r.phase for r in two_log.epochs] == [r.phase for r in one_log.epochs]
    assert [r.loss for r in two_log.epochs] == pytest.approx(
        [r.loss for r in one_log.epochs], rel=1e-5)
    assert two_log.curve() == pytest.approx(one_log.curve(), abs=1e-3)
    assert torch.allclose(two.embedding, one.embedding, atol=1e-4)
    assert torch.allclose(two.relation_weights(), one.relation_weights(), atol=1e-5)
    assert evaluate(two, sample)["ndcg@10"] == pytest.approx(evaluate(one, sample)["ndcg@10"],
                                                             abs=1e-3)


INTERRUPTED = """
import dataclasses, os, signal, sys
# Python leaves SIGINT ignored when it started so (a job run in the background of a shell,
# as a CI runner may): a supervisor's SIGINT reaches a command run in the foreground
signal.signal(signal.SIGINT, signal.default_int_handler)
from graphrec.dataset import GraphData
from graphrec.model.distributed import train_processes
from graphrec.model.train import TrainConfig
sample = GraphData.from_csv_dir(sys.argv[1])
config = TrainConfig(embedding_dim=32, batch_size=64, max_epochs=10_000, eval_every=10_000,
                     patience=10_000)
try:
    train_processes(sample, config, 2, quiet=True)
except KeyboardInterrupt:
    sys.exit(130)
"""


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as found:
        return [int(child) for child in found.read().split()]


def test_an_interrupt_to_the_parent_alone_stops_the_training_processes(tmp_path: Path) -> None:
    """SIGINT sent to the parent only (a supervisor's stop, ``kill -INT``) ends the training:
    the workers had gone on to the end with no one to take their model."""
    script = tmp_path / "train.py"
    script.write_text(INTERRUPTED)
    parent = subprocess.Popen([sys.executable, str(script), str(SAMPLE)])
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while len(workers := _children(parent.pid)) < 2:
            assert parent.poll() is None and time.monotonic() < deadline, "no workers started"
            time.sleep(0.2)
        time.sleep(2)  # past the start: training
        parent.send_signal(signal.SIGINT)
        assert parent.wait(timeout=60) == 130
        deadline = time.monotonic() + 30
        while (alive := [pid for pid in workers if _running(pid)]) and \
                time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive, f"training processes {alive} outlived their parent"
    finally:
        parent.kill()
        parent.wait()
        for pid in workers:  # whatever happened, no training left behind
            if _running(pid):
                os.kill(pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    """Whether ``pid`` is a process that has not ended (a zombie has)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
