"""The training job as one call: graph out of the store, model trained, tested and saved."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from graphrec.config import Settings
from graphrec.dataset import GraphData
from graphrec.evaluation.evaluate import evaluate, evaluated_users
from graphrec.model import artifact
from graphrec.model.artifact import graph_counts
from graphrec.model.distributed import train_processes
from graphrec.model.train import TrainConfig, TrainingLog, train
from graphrec.model.warmstart import WarmStart
from graphrec.store.connection import GraphStore
from graphrec.store.export import Progress, export_graph


class Diverged(RuntimeError):
    """Training ended with weights that are not finite numbers: no model to save."""


@dataclass
class TrainReport:
    path: Path
    training: TrainingLog
    test: dict[str, float]
    #: ``(measured, with test items)``: the test metrics' users (``config.validation_users``
    #: at most, as in validation).
    test_users: tuple[int, int] = (0, 0)


def current_weights(settings: Settings) -> WarmStart:
    """The weights of the model saved under ``settings.model_path``, to start training from.

    Raises ``FileNotFoundError`` when there is none and
    :class:`~graphrec.model.artifact.ArtifactError` when it cannot be used."""
    saved = artifact.load(settings.model_path, hash_arrays=False)
    return WarmStart.from_model(saved.load_model(), saved.ids)


@dataclass(frozen=True)
class StoreGraph:
    """The graph as read from the store to train on."""

    data: GraphData
    #: The graph's counts, read before the graph itself and recorded with the model: a change
    #: made while the graph is read makes the model stale rather than passing unnoticed. With
    #: them ``read_at``, when (milliseconds since the Unix epoch): a service adds the purchases
    #: reported live from then on to its co-buyer paths (:mod:`graphrec.serving.newpurchases`).
    trained_on: dict[str, int]
    #: How the read went: ``rows``, ``seconds``, ``rows_per_s``; ``live``, the purchases
    #: reported live (the events API) among those it learns from.
    speed: dict[str, float]


def read_for_training(store: GraphStore, progress: Progress | None = None) -> StoreGraph:
    """The graph out of the store, its counts first. A step of its own, so that a command's
    report of the read (and its progress bar) ends before training begins."""
    trained_on = {**graph_counts(store), "read_at": time.time_ns() // 1_000_000}
    data, speed = export_graph(store, progress=progress)
    return StoreGraph(data, trained_on, speed)


def train_on(graph: StoreGraph, settings: Settings, config: TrainConfig | None = None, *,
             say: Any = None, warm_start: WarmStart | None = None,
             processes: int = 1) -> TrainReport:
    """Train on the graph's train split, measure on its test split, save atomically.

    ``warm_start``: begin at those weights (:func:`current_weights`) rather than a random
    initialisation. ``processes`` above 1 trains data-parallel in that many processes
    (:mod:`graphrec.model.distributed`), this process's torch threads shared among them."""
    data = graph.data
    config = (config or TrainConfig()).for_catalogue(data.num_items)  # saved as trained
    if processes > 1:
        model, log = train_processes(data, config, processes, quiet=say is None,
                                     threads=max(1, torch.get_num_threads() // processes),
                                     warm_start=warm_start)
    else:
        model, log = train(data, config, progress=say, warm_start=warm_start)
    if not all(bool(torch.isfinite(weights).all()) for weights in model.parameters()):
        raise Diverged(f"training diverged: the model's weights are not finite numbers (lr "
                       f"{config.lr:g}); the model before is kept. A smaller --set lr= helps")
    metrics = (evaluate(model, data, max_users=config.validation_users, seed=config.seed)
               if len(data.test) else {})
    with_test = len(evaluated_users(data))
    cap = config.validation_users
    measured = with_test if cap is None else min(with_test, cap)
    path = artifact.save(settings.model_path, model, data, dataclasses.asdict(config),
                         {"test": metrics, "history": log.to_dict()}, graph.trained_on)
    return TrainReport(path, log, metrics, (measured, with_test))


def train_from_store(store: GraphStore, settings: Settings, config: TrainConfig | None = None,
                     *, export_progress: Progress | None = None,
                     say: Any = None, warm_start: WarmStart | None = None,
                     processes: int = 1) -> TrainReport:
    """The whole job: :func:`read_for_training`, then :func:`train_on`."""
    return train_on(read_for_training(store, export_progress), settings, config, say=say,
                    warm_start=warm_start, processes=processes)
