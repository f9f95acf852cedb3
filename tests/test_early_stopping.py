"""The one training loop: which epoch it chooses, when it stops, what it refits or keeps."""
from __future__ import annotations

import weakref

import numpy as np
import pytest
import torch

from graphrec.dataset import GraphData
from graphrec.model import early_stopping
from graphrec.model.early_stopping import Schedule, fit
from tests.test_model import paired_catalogue

#: Validation NDCG by epoch: best at 4, then three evaluations without a better one (and 5
#: for a run of five epochs).
CURVE = {2: 5.0, 4: 7.0, 5: 8.0, 6: 6.0, 8: 6.5, 10: 6.9, 12: 9.0}


class FakeRun:
    """Counts its epochs in its module's one parameter."""

    started: list[GraphData] = []

    def __init__(self, data: GraphData) -> None:
        self.data, self.epochs = data, 0
        self.module = torch.nn.Linear(1, 1, bias=False)
        FakeRun.started.append(data)

    def epoch(self) -> float:
        self.epochs += 1
        with torch.no_grad():
            self.module.weight.fill_(self.epochs)
        return 1.0 / self.epochs

    def scorer(self) -> FakeRun:
        return self

    @property
    def state(self) -> int:
        return int(self.module.weight.item())


#: What each validation was asked to measure, beside the run and the split.
ASKED: list[dict[str, object]] = []


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeRun.started = []
    ASKED.clear()

    def evaluate(run: FakeRun, split: GraphData, **asked: object) -> dict[str, float]:
        ASKED.append(asked)
        return {"ndcg@10": CURVE[run.epochs]}

    monkeypatch.setattr(early_stopping, "evaluate", evaluate)


def test_stops_after_patience_and_refits_the_best_epoch_on_all_of_train(scripted: None) -> None:
    data = paired_catalogue()
    run, log = fit(FakeRun, data, Schedule(max_epochs=20, eval_every=2, patience=3),
                       seed=0)
    assert log.best_epoch == 4 and log.curve() == {2: 5.0, 4: 7.0, 6: 6.0, 8: 6.5,
                                                           10: 6.9}
    assert log.search_epochs == 10  # 4 + 3 evaluations of 2 epochs without a better one
    assert [r.phase for r in log.epochs].count("refit") == 4
    assert len(FakeRun.started) == 2 and FakeRun.started[1] is data
    assert len(FakeRun.started[0].test) and not np.array_equal(FakeRun.started[0].train,
                                                                data.train)
    assert run.epochs == run.state == 4
    assert log.fit_info()["epochs"] == 4 and log.fit_info()["search_epochs"] == 10


def test_without_a_refit_the_best_validation_state_is_kept(scripted: None) -> None:
    run, log = fit(FakeRun, paired_catalogue(), Schedule(20, 2, 3, refit=False), seed=0)
    assert len(FakeRun.started) == 1
    assert run.epochs == 10 and run.state == 4 and log.best_epoch == 4


def test_validation_measures_the_users_the_schedule_allows(scripted: None) -> None:
    """Every validation measures at most ``validation_users`` users, drawn with the run's seed
    (all of them when the schedule sets no cap)."""
    fit(FakeRun, paired_catalogue(), Schedule(5, 2, 3, validation_users=123), seed=7)
    assert ASKED == [{"max_users": 123, "seed": 7}] * 3
    ASKED.clear()
    fit(FakeRun, paired_catalogue(), Schedule(5, 2, 3), seed=0)
    assert ASKED and all(asked["max_users"] is None for asked in ASKED)


def test_the_last_epoch_is_always_evaluated(scripted: None) -> None:
    _, log = fit(FakeRun, paired_catalogue(), Schedule(5, 2, 3), seed=0)
    assert log.curve() == {2: 5.0, 4: 7.0, 5: 8.0} and log.best_epoch == 5


def test_the_benchmark_model_keeps_its_validation_run_without_a_refit() -> None:
    from graphrec.model.train import KGRecRecommender, TrainConfig

    data = paired_catalogue()
    config = TrainConfig(embedding_dim=8, max_epochs=2, eval_every=1, patience=1)
    kept = KGRecRecommender(config, refit=False).fit(data)
    assert kept.log is not None and {r.phase for r in kept.log.epochs} == {"validate"}
    assert kept.fit_info["refit"] is False and kept.fit_info["max_epochs"] == 2
    refitted = KGRecRecommender(config).fit(data)
    assert refitted.log is not None and refitted.log.best_epoch >= 1
    assert [r.phase for r in refitted.log.epochs].count("refit") == refitted.log.best_epoch
    assert refitted.fit_info["refit"] is True


def test_training_validates_on_its_configurations_users(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    from graphrec.model.train import TrainConfig, train

    asked: list[dict[str, object]] = []
    measure = early_stopping.evaluate

    def counted(run: object, split: GraphData, **kwargs: object) -> dict[str, float]:
        asked.append(kwargs)
        return measure(run, split, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(early_stopping, "evaluate", counted)
    config = TrainConfig(embedding_dim=8, batch_size=64, max_epochs=2, eval_every=1,
                         validation_users=5, seed=2)
    train(paired_catalogue(), config)
    assert asked == [{"max_users": 5, "seed": 2}] * 2


def test_the_validation_run_is_let_go_before_the_refit_starts(scripted: None) -> None:
    """Held through the refit, the validation run's model, optimizer and workspace and its
    split doubled the peak memory of ``graphrec train`` (15.4 GB at 50 times Beauty)."""
    runs: list[weakref.ref[FakeRun]] = []
    splits: list[weakref.ref[GraphData]] = []
    held_at_start: list[tuple[bool, bool]] = []

    def start(part: GraphData) -> FakeRun:
        held_at_start.append((any(ref() is not None for ref in runs),
                              any(ref() is not None for ref in splits)))
        run = FakeRun(part)
        FakeRun.started.clear()  # the fake's own record would hold the split
        runs.append(weakref.ref(run))
        if part is not data:
            splits.append(weakref.ref(part))
        return run

    data = paired_catalogue()
    run, _ = fit(start, data, Schedule(max_epochs=20, eval_every=2, patience=3), seed=0)
    assert len(runs) == 2 and len(splits) == 1 and runs[1]() is run
    assert held_at_start == [(False, False), (False, False)]


def test_no_stop_before_the_minimum_epochs_however_the_validation_dips(scripted: None) -> None:
    """The curve's best is at 4 and nothing beats it until 12: without a minimum the run
    stops at 10 (see the first test); with one of 12 it goes on and finds the better epoch."""
    run, log = fit(FakeRun, paired_catalogue(), Schedule(12, 2, 3, min_epochs=12), seed=0)
    assert log.best_epoch == 12 and run.state == 12
    assert [r.epoch for r in log.epochs if r.phase == "validate"] == list(range(1, 13))

