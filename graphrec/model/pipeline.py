"""The training job as one call: graph out of the store, model trained, tested and saved."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from graphrec.config import Settings
from graphrec.evaluation.evaluate import evaluate, evaluated_users
from graphrec.model import artifact
from graphrec.model.artifact import graph_counts
from graphrec.model.distributed import train_processes
from graphrec.model.train import TrainConfig, TrainingLog, train
from graphrec.model.warmstart import WarmStart
from graphrec.store.connection import GraphStore
from graphrec.store.export import Progress, export_graph


@dataclass
class TrainReport:
    path: Path
    export: dict[str, float]
    training: TrainingLog
    test: dict[str, float]
    counts: dict[str, int]
    #: ``(measured, with test items)``: the test metrics' users (``config.validation_users``
    #: at most, as in validation).
    test_users: tuple[int, int] = (0, 0)


def current_weights(settings: Settings) -> WarmStart:
    """The weights of the model saved under ``settings.model_path``, to start training from.

    Raises ``FileNotFoundError`` when there is none and
    :class:`~graphrec.model.artifact.ArtifactError` when it cannot be used."""
    saved = artifact.load(settings.model_path, hash_arrays=False)
    return WarmStart.from_model(saved.load_model(), saved.ids)


def train_from_store(store: GraphStore, settings: Settings, config: TrainConfig | None = None,
                     *, export_progress: Progress | None = None,
                     say: Any = None, warm_start: WarmStart | None = None,
                     processes: int = 1) -> TrainReport:
    """Export the graph, train on its train split, measure on its test split, save atomically.

    The graph's counts are read first and recorded with the model: a change made while the
    graph is read makes the model stale rather than passing unnoticed. ``warm_start``: begin
    at those weights (:func:`current_weights`) rather than a random initialisation.
    ``processes`` above 1 trains data-parallel in that many processes
    (:mod:`graphrec.model.distributed`), this process's torch threads shared among them."""
    config = config or TrainConfig()
    trained_on = graph_counts(store)
    data, speed = export_graph(store, progress=export_progress)
    config = config.for_catalogue(data.num_items)  # saved as trained
    if processes > 1:
        model, log = train_processes(data, config, processes, quiet=say is None,
                                     threads=max(1, torch.get_num_threads() // processes),
                                     warm_start=warm_start)
    else:
        model, log = train(data, config, progress=say, warm_start=warm_start)
    metrics = (evaluate(model, data, max_users=config.validation_users, seed=config.seed)
               if len(data.test) else {})
    with_test = len(evaluated_users(data))
    cap = config.validation_users
    measured = with_test if cap is None else min(with_test, cap)
    path = artifact.save(settings.model_path, model, data, dataclasses.asdict(config),
                         {"test": metrics, "history": log.to_dict()}, trained_on)
    counts = {"users": data.num_users, "items": data.num_items, "train": len(data.train)}
    return TrainReport(path, speed, log, metrics, counts, (measured, with_test))
