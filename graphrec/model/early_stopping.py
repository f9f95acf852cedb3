"""The one training loop of every model fitted by epochs: KGRec and the embedding baselines.

The number of epochs is chosen on a validation split carved from train
(:func:`graphrec.evaluation.evaluate.validation_split`): NDCG@10 every ``eval_every`` epochs and
at the last one, stopping after ``patience`` evaluations without a better one (and never
before ``min_epochs``). Then either a
fresh model trains that many epochs on all of train (the refit: KGRec, BPR-MF, LightGCN, for
which the held-out tenth is too much data to throw away), or the best validation state is kept
(Mult-VAE, whose encoder reads each user's whole history when scoring anyway).

A model takes part through :class:`Run`: one run is one model with its optimizer on one data
set, able to train one epoch and to score. How an epoch trains (a softmax over held-back items,
BPR triples, a VAE's annealed loss) and which random streams it draws from are the run's;
starting, evaluating, stopping, refitting, seeding torch and timing are this module's.
"""
from __future__ import annotations

import copy
import dataclasses
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import torch

from graphrec.dataset import GraphData
from graphrec.evaluation.evaluate import Scorer, evaluate, validation_split

#: The metric epochs are chosen by.
METRIC = "ndcg@10"


class Stateful(Protocol):
    """What a best validation state is kept and restored through (a ``torch.nn.Module``)."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> Any: ...


class Run(Protocol):
    """One model being trained on one data set: ``module`` is the model's trainable part."""

    @property
    def module(self) -> Stateful: ...

    def epoch(self) -> float:
        """One pass over the data; the mean training loss."""
        ...

    def scorer(self) -> Scorer:
        """The model as it scores now (for validation; no gradient is taken)."""
        ...


R = TypeVar("R", bound=Run)


@dataclass(frozen=True)
class Schedule:
    """How many epochs at most, how often to validate, how long to wait for a better score,
    and whether to refit on all of train (else the best validation state is kept)."""

    max_epochs: int
    eval_every: int
    patience: int
    refit: bool = True
    validation_fraction: float = 0.1
    #: Validate on at most this many users (:func:`graphrec.evaluation.evaluate.evaluate`).
    validation_users: int | None = None
    #: Never stop before this epoch, however the validation goes.
    min_epochs: int = 0


@dataclass
class EpochRecord:
    epoch: int
    loss: float
    seconds: float
    val_ndcg: float | None = None
    phase: str = "validate"


@dataclass
class TrainingLog:
    """What training did: one record per epoch, the chosen epoch, validation metrics, timing."""

    epochs: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    validation: dict[str, float] = field(default_factory=dict)
    seconds_total: float = 0.0
    device: str = "cpu"
    warm_start: dict[str, int] | None = None

    @property
    def train_seconds(self) -> float:
        return sum(r.seconds for r in self.epochs)

    @property
    def epochs_per_second(self) -> float:
        return len(self.epochs) / self.train_seconds if self.train_seconds else 0.0

    @property
    def search_epochs(self) -> int:
        """Epochs trained on the validation split."""
        return sum(1 for r in self.epochs if r.phase == "validate")

    def curve(self) -> dict[int, float]:
        """Validation NDCG@10 by epoch."""
        return {r.epoch: r.val_ndcg for r in self.epochs
                if r.phase == "validate" and r.val_ndcg is not None}

    def fit_info(self) -> dict[str, Any]:
        """What the benchmark reports of a fit (see ``Baseline.fit_info``)."""
        return {"epochs": self.best_epoch, "search_epochs": self.search_epochs,
                "seconds_per_epoch": 1 / self.epochs_per_second if self.epochs_per_second
                else 0.0, "validation_ndcg@10": self.curve()}

    def to_dict(self) -> dict[str, Any]:
        return {"best_epoch": self.best_epoch, "validation": self.validation,
                "seconds_total": round(self.seconds_total, 2),
                "seconds_per_epoch": round(1 / self.epochs_per_second, 3)
                if self.epochs_per_second else None,
                "device": self.device, "warm_start": self.warm_start,
                "epochs": [dataclasses.asdict(r) for r in self.epochs]}


Say = Callable[[str], None]


def _line(phase: str, record: EpochRecord, total: int, rate: float, best: tuple[int, float]
          ) -> str:
    eta = (total - record.epoch) / rate if rate else 0.0
    val = f"  val ndcg@10 {record.val_ndcg:.2f}" if record.val_ndcg is not None else ""
    best_text = f" (best {best[1]:.2f} @ {best[0]})" if best[0] else ""
    return (f"{phase} epoch {record.epoch:>3}/{total}  loss {record.loss:.4f}{val}"
            f"{best_text if val else ''}  {rate:.2f} epochs/s  ETA {eta:.0f}s")


def _epoch(run: Run, number: int, phase: str) -> EpochRecord:
    tick = time.perf_counter()
    loss = run.epoch()
    return EpochRecord(number, loss, time.perf_counter() - tick, phase=phase)


def fit(start: Callable[[GraphData], R], data: GraphData, schedule: Schedule, *, seed: int,
        device: str = "cpu", progress: Say | None = None, epochs: int | None = None
        ) -> tuple[R, TrainingLog]:
    """Train ``start(split)`` with early stopping, then refit ``start(data)`` or keep the best
    validation state; ``(run, log)``.

    ``start`` builds a run on a data set (the validation split, then all of train); torch is
    seeded with ``seed`` before each call, inside a fork of its global generator, so the
    caller's stream is left as it was. ``progress`` receives one line per epoch. ``epochs``:
    no validation run, ``start(data)`` trains that many (a number an earlier run chose).
    """
    say = progress or (lambda line: None)
    log = TrainingLog(device=device)
    started = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        if epochs is not None:
            log.best_epoch = epochs
            torch.manual_seed(seed)
            return _refit(start(data), epochs, log, say), _finished(log, started, say)
        split = validation_split(data, fraction=schedule.validation_fraction, seed=seed)
        torch.manual_seed(seed)
        run = start(split)
        say(f"training {run!r} on {device}; validation: {len(split.test):,} held-out purchases")
        best_epoch, best_score, best_state = 0, -1.0, None
        for number in range(1, schedule.max_epochs + 1):
            record = _epoch(run, number, "validate")
            log.epochs.append(record)
            if number % schedule.eval_every == 0 or number == schedule.max_epochs:
                with torch.no_grad():
                    metrics = evaluate(run.scorer(), split,
                                       max_users=schedule.validation_users, seed=seed)
                record.val_ndcg = metrics[METRIC]
                if record.val_ndcg > best_score:
                    best_epoch, best_score = number, record.val_ndcg
                    log.validation = metrics
                    if not schedule.refit:
                        best_state = copy.deepcopy(run.module.state_dict())
            say(_line("validate", record, schedule.max_epochs, log.epochs_per_second,
                      (best_epoch, best_score)))
            if (number >= schedule.min_epochs
                    and number - best_epoch >= schedule.patience * schedule.eval_every):
                break
        log.best_epoch = best_epoch
        say(f"best validation ndcg@10 {best_score:.2f} at epoch {best_epoch}")
        if schedule.refit:
            # The validation run (its model, optimizer state and workspace) and its split are
            # let go before the refit starts: held through it, they doubled the training's peak
            # memory, the largest share of ``graphrec train``'s on a large shop.
            del run, split
            gc.collect()
            torch.manual_seed(seed)
            run = _refit(start(data), best_epoch, log, say)
        elif best_state is not None:
            run.module.load_state_dict(best_state)
    return run, _finished(log, started, say)


def _refit(run: R, epochs: int, log: TrainingLog, say: Say) -> R:
    """``epochs`` epochs of ``run`` on all of train, logged as the refit."""
    refit: list[EpochRecord] = []
    for number in range(1, epochs + 1):
        refit.append(_epoch(run, number, "refit"))
        rate = number / sum(r.seconds for r in refit)
        say(_line("refit", refit[-1], epochs, rate, (0, 0.0)))
    log.epochs += refit
    return run


def _finished(log: TrainingLog, started: float, say: Say) -> TrainingLog:
    log.seconds_total = time.perf_counter() - started
    say(f"trained in {log.seconds_total:.0f}s ({log.epochs_per_second:.2f} epochs/s)")
    return log
