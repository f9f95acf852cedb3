"""Training of :class:`~graphrec.model.kgrec.KGRec`: epochs, validation, early stopping, refit.

The order of :func:`train` follows PyG's link-prediction example: split, model, one epoch of
training, a no-grad evaluation, the epoch loop. The validation split is carved from train by
:func:`graphrec.evaluation.evaluate.validation_split`; the test split never reaches this module.

:class:`KGRecRecommender` wraps it in the benchmark's ``fit`` / ``score_users`` contract, and
:func:`benchmark_model`, :func:`benchmark_without_kg` and :func:`benchmark_without_links` are the
factories to name on the benchmark's command line (``graphrec.model.train:benchmark_model``).
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import torch

from graphrec.dataset import GraphData
from graphrec.evaluation.evaluate import evaluate, validation_split
from graphrec.model.kgrec import KGRec, sparse_matrix

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a trained model; saved with it.

    Model: ``embedding_dim``, ``num_layers``, ``history_exponent`` (see
    :class:`~graphrec.model.kgrec.KGRec`) and which parts of the knowledge graph it sees (``brands``,
    ``categories``, ``item_links``).

    Training: Adam with ``lr`` and ``weight_decay`` on batches of ``batch_size`` users, each
    user's history with a fraction ``history_dropout`` held back as targets; validation NDCG@10
    every ``eval_every`` epochs on a split holding back ``validation_fraction`` of each user's
    train items, stopping after ``patience`` evaluations without a better one or at
    ``max_epochs``. A fresh model then trains the chosen number of epochs on all of train (the
    refit). ``device`` ``None`` picks CUDA when there is one.
    """

    embedding_dim: int = 256
    num_layers: int = 2
    history_exponent: float = 0.5
    brands: bool = True
    categories: bool = True
    item_links: bool = True
    history_dropout: float = 0.5
    lr: float = 5e-3
    weight_decay: float = 0.0
    batch_size: int = 2048
    max_epochs: int = 80
    eval_every: int = 2
    patience: int = 3
    validation_fraction: float = 0.1
    seed: int = 0
    device: str | None = None

    def model_kwargs(self) -> dict[str, Any]:
        return {"embedding_dim": self.embedding_dim, "num_layers": self.num_layers,
                "history_exponent": self.history_exponent}

    def build(self, data: GraphData) -> KGRec:
        return KGRec.from_data(data, brands=self.brands, categories=self.categories,
                               item_links=self.item_links, **self.model_kwargs())


@dataclass
class EpochRecord:
    epoch: int
    loss: float
    seconds: float
    val_ndcg: float | None = None
    phase: str = "validate"


@dataclass
class TrainHistory:
    """What training did: one record per epoch, the chosen epoch, validation metrics, timing."""

    epochs: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    validation: dict[str, float] = field(default_factory=dict)
    seconds_total: float = 0.0
    device: str = "cpu"

    @property
    def train_seconds(self) -> float:
        return sum(r.seconds for r in self.epochs)

    @property
    def epochs_per_second(self) -> float:
        return len(self.epochs) / self.train_seconds if self.train_seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"best_epoch": self.best_epoch, "validation": self.validation,
                "seconds_total": round(self.seconds_total, 2),
                "seconds_per_epoch": round(1 / self.epochs_per_second, 3)
                if self.epochs_per_second else None,
                "device": self.device, "epochs": [dataclasses.asdict(r) for r in self.epochs]}


def pick_device(name: str | None = None) -> torch.device:
    """``name`` if given, else CUDA when available, else CPU."""
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class _Scorer:
    """The model as :class:`graphrec.evaluation.evaluate.Scorer` (scores on the CPU)."""

    def __init__(self, model: KGRec) -> None:
        self.model = model

    def score_users(self, users: np.ndarray) -> torch.Tensor:
        return self.model.score_users(users).cpu()


def _batches(data: GraphData, config: TrainConfig, rng: np.random.Generator,
             device: torch.device):
    """Per batch of users: the kept history (sparse input) and the held-back items (targets)."""
    matrix = data.train_matrix()
    users = np.flatnonzero(np.diff(matrix.indptr))
    users = users[rng.permutation(len(users))]
    for start in range(0, len(users), config.batch_size):
        batch = users[start:start + config.batch_size]
        rows = matrix[batch].tocoo()
        held = rng.random(rows.nnz) < config.history_dropout
        kept = ~held
        index = torch.from_numpy(np.stack([rows.row, rows.col]).astype(np.int64)).to(device)
        history = sparse_matrix(index[:, torch.from_numpy(kept).to(device)],
                                torch.ones(int(kept.sum()), device=device),
                                (len(batch), data.num_items))
        yield torch.from_numpy(batch).to(device), history, index[:, torch.from_numpy(held).to(device)]



def train_epoch(model: KGRec, optimizer: torch.optim.Optimizer, data: GraphData,
                config: TrainConfig, rng: np.random.Generator) -> float:
    """One pass over all users; the mean training loss."""
    model.train()
    device = model.embedding.device
    total, count = 0.0, 0
    for users, history, targets in _batches(data, config, rng, device):
        if targets.shape[1] == 0:
            continue
        loss = model.loss(model(users, history), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * targets.shape[1]
        count += targets.shape[1]
    return total / max(1, count)


@torch.no_grad()
def validate(model: KGRec, split: GraphData) -> dict[str, float]:
    """The four metrics at 10 on ``split`` (train items masked, ``split.test`` to find)."""
    model.eval()
    return evaluate(_Scorer(model), split)


def _fresh(config: TrainConfig, data: GraphData, device: torch.device
           ) -> tuple[KGRec, torch.optim.Optimizer]:
    torch.manual_seed(config.seed)
    model = config.build(data).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr,
                                 weight_decay=config.weight_decay)
    return model, optimizer


def _format(phase: str, record: EpochRecord, total: int, rate: float, best: tuple[int, float]
            ) -> str:
    eta = (total - record.epoch) / rate if rate else 0.0
    val = f"  val ndcg@10 {record.val_ndcg:.2f}" if record.val_ndcg is not None else ""
    best_text = f" (best {best[1]:.2f} @ {best[0]})" if best[0] else ""
    return (f"{phase} epoch {record.epoch:>3}/{total}  loss {record.loss:.4f}{val}"
            f"{best_text if val else ''}  {rate:.2f} epochs/s  ETA {eta:.0f}s")


def train(data: GraphData, config: TrainConfig = TrainConfig(),
          progress: Progress | None = None) -> tuple[KGRec, TrainHistory]:
    """Train a :class:`KGRec` on ``data.train`` with early stopping; ``(model, history)``.

    Seeded by ``config.seed`` (the global RNGs are restored afterwards): the same data and
    config give the same model on the same device. ``progress`` receives one line per epoch.
    """
    say = progress or (lambda line: None)
    device = pick_device(config.device)
    history = TrainHistory(device=str(device))
    started = time.perf_counter()
    split = validation_split(data, fraction=config.validation_fraction, seed=config.seed)
    with torch.random.fork_rng(devices=[]):
        rng = np.random.default_rng(config.seed)
        model, optimizer = _fresh(config, split, device)
        say(f"training {model!r} on {device}; validation: {len(split.test):,} held-out "
            "purchases")
        best_epoch, best_ndcg = 0, -1.0
        for epoch in range(1, config.max_epochs + 1):
            tick = time.perf_counter()
            loss = train_epoch(model, optimizer, split, config, rng)
            record = EpochRecord(epoch, loss, time.perf_counter() - tick)
            history.epochs.append(record)
            if epoch % config.eval_every == 0 or epoch == config.max_epochs:
                metrics = validate(model, split)
                record.val_ndcg = metrics["ndcg@10"]
                if record.val_ndcg > best_ndcg:
                    best_epoch, best_ndcg = epoch, record.val_ndcg
                    history.validation = metrics
            say(_format("validate", record, config.max_epochs, history.epochs_per_second,
                        (best_epoch, best_ndcg)))
            if epoch - best_epoch >= config.patience * config.eval_every:
                break
        history.best_epoch = best_epoch
        say(f"best validation ndcg@10 {best_ndcg:.2f} at epoch {best_epoch}")
        rng = np.random.default_rng(config.seed)
        model, optimizer = _fresh(config, data, device)
        for epoch in range(1, best_epoch + 1):
            tick = time.perf_counter()
            loss = train_epoch(model, optimizer, data, config, rng)
            record = EpochRecord(epoch, loss, time.perf_counter() - tick, phase="refit")
            history.epochs.append(record)
            rate = epoch / sum(r.seconds for r in history.epochs if r.phase == "refit")
            say(_format("refit", record, best_epoch, rate, (0, 0.0)))
    model.eval()
    history.seconds_total = time.perf_counter() - started
    say(f"trained in {history.seconds_total:.0f}s ({history.epochs_per_second:.2f} epochs/s)")
    return model, history


class KGRecRecommender:
    """:func:`train` behind the benchmark's contract (``fit`` / ``score_users`` / ``fit_info``)."""

    def __init__(self, config: TrainConfig = TrainConfig(), progress: Progress | None = None
                 ) -> None:
        self.config = config
        self.progress = progress
        self.model: KGRec | None = None
        self.history: TrainHistory | None = None
        self.fit_info: dict[str, Any] = {}

    @property
    def device(self) -> torch.device:
        return pick_device(self.config.device)

    def fit(self, data: GraphData) -> Self:
        self.model, self.history = train(data, self.config, self.progress)
        curve = {r.epoch: r.val_ndcg for r in self.history.epochs
                 if r.phase == "validate" and r.val_ndcg is not None}
        self.fit_info = {"validation_ndcg@10": curve, "epochs": self.history.best_epoch,
                         "seconds_per_epoch": 1 / self.history.epochs_per_second,
                         "relations": dict(zip(self.model.relations,
                                               self.model.relation_weights().tolist())),
                         **{k: v for k, v in dataclasses.asdict(self.config).items()
                            if k in ("embedding_dim", "num_layers", "brands", "categories",
                                     "item_links", "history_dropout")}}
        return self

    def score_users(self, users: np.ndarray) -> torch.Tensor:
        if self.model is None:
            raise RuntimeError("fit the model first")
        return self.model.score_users(users).cpu()

    def __repr__(self) -> str:
        return f"KGRecRecommender({self.config})"


def benchmark_model(seed: int) -> KGRecRecommender:
    """graphrec's model on the whole knowledge graph."""
    return KGRecRecommender(TrainConfig(seed=seed), progress=print)


def benchmark_without_kg(seed: int) -> KGRecRecommender:
    """Ablation: no brand or category nodes (purchases and item links only)."""
    return KGRecRecommender(TrainConfig(seed=seed, brands=False, categories=False),
                            progress=print)


def benchmark_without_links(seed: int) -> KGRecRecommender:
    """Ablation: no item–item links (purchases, brands and categories only)."""
    return KGRecRecommender(TrainConfig(seed=seed, item_links=False), progress=print)
