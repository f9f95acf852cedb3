"""Training of :class:`~graphrec.model.kgrec.KGRec`: its configuration and how one epoch trains.

Epochs, validation, early stopping and the refit are :func:`graphrec.model.early_stopping.fit`'s,
the loop the embedding baselines train through too; the validation split is carved from train,
and the test split never reaches this module.

:class:`KGRecRecommender` wraps it in the benchmark's ``fit`` / ``score_users`` contract, and
:func:`benchmark_model`, :func:`benchmark_without_kg` and :func:`benchmark_without_links` are the
factories to name on the benchmark's command line (``graphrec.model.train:benchmark_model``).
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple, Self, TypeVar

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.dataset import GraphData
from graphrec.model import distributed
from graphrec.model.early_stopping import Schedule, TrainingLog, fit
from graphrec.model.kgrec import KGRec, Workspace, sparse_matrix
from graphrec.model.warmstart import WarmStart

Progress = Callable[[str], None]
T = TypeVar("T")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a trained model; saved with it.

    Model: ``embedding_dim``, ``num_layers``, ``history_exponent``, ``relation_weight_init``
    (see :class:`~graphrec.model.kgrec.KGRec`) and which parts of the knowledge graph it sees
    (``brands``, ``categories``, ``item_links``). ``history_exponent`` 0.75 (a user is their
    items' sum over :math:`|N(u)|^{0.75}`) was chosen on Beauty's validation among 0.25, 0.5,
    0.75 and 1 (``benchmarks/tune.py``; README, "Recommendation quality"): it never changes
    one user's ranking, but it sets how sharp each user's softmax is in training, by history
    size.

    Training: Adam with ``lr`` and ``weight_decay`` on batches of ``batch_size`` users, each
    user's history with a fraction ``history_dropout`` held back as targets; validation NDCG@10
    every ``eval_every`` epochs on a split holding back ``validation_fraction`` of each user's
    train items (measured on ``validation_users`` of them at most, drawn with the seed: scoring
    every user against every item would outgrow the catalogue; Beauty's and Clothing's are
    all measured), stopping after ``patience`` evaluations without a better one or at
    ``max_epochs``, but not before ``min_epochs`` for a model that starts from random weights:
    a few optimizer steps in, its validation can go down before it goes up (it did on the
    sample: benchmarks/results/NOTES.md), while a warm start ranks well from its first epoch.
    A fresh model then trains the chosen number of epochs on all of train (the refit).
    ``device`` ``None`` picks CUDA when there is one. ``sampled_softmax`` replaces the
    softmax over the whole catalogue by one over the batch's targets, popularity-corrected
    (:meth:`~graphrec.model.kgrec.KGRec.in_batch_loss`): for catalogues too large for the first,
    whose cost is users × items an epoch. ``None`` (the default) decides by the catalogue
    (:meth:`for_catalogue`): the sampled one from ``sampled_softmax_items`` items up.
    ``sampled_negatives`` items drawn uniformly per batch join the batch's targets as its
    negatives (mixed negative sampling: the rarely bought items that in-batch negatives almost
    never show), and the logits are corrected by ``sampled_correction`` times the log of each
    candidate's expected count under that mixture (0: no correction, 1: the unbiased one).
    ``max_steps_per_epoch``: where an epoch has more batches than that, consecutive batches
    share one propagation and one optimizer step (their losses' gradients are summed at the
    propagated item rows, then sent back through the propagation once), so that an epoch
    propagates over the item graph at most that many times: the propagation costs as much as
    the graph, the batches as many as the users, and one propagation per batch makes an epoch
    cost users × graph. Each batch keeps its own softmax. 4 was chosen on validation: Beauty's
    11 batches and Clothing's 20 in 4 steps an epoch beat a step per batch on both catalogues'
    validation splits, with more, cheaper epochs (README, "Growth").
    ``foldin_dropout``: in each batch that share of the items, drawn at random, is scored with
    the layer-0 row an item folded in after training gets (its neighbours' sum,
    :mod:`graphrec.model.foldin`) instead of its own, so that the model learns to score items
    it never trained on (cold-start regularisation); full softmax only.
    """

    embedding_dim: int = 256
    num_layers: int = 2
    history_exponent: float = 0.75
    relation_weight_init: float = 1.0
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
    min_epochs: int = 20
    validation_fraction: float = 0.1
    validation_users: int | None = 50_000
    seed: int = 0
    device: str | None = None
    sampled_softmax: bool | None = None
    sampled_softmax_items: int = 20_000
    sampled_negatives: int = 4096
    sampled_correction: float = 0.5
    foldin_dropout: float = 0.0
    max_steps_per_epoch: int = 4

    def __post_init__(self) -> None:
        for name, low, closed, high in _RANGES:
            value = getattr(self, name)
            if value is None:  # validation_users: every user
                continue
            if not math.isfinite(value):  # nan passes no comparison, inf every lower bound
                raise ValueError(f"{name} must be a finite number, not {value}")
            if not ((value >= low if closed else value > low) and (high is None or value < high)):
                bound = (f"{'at least' if closed else 'above'} {low:g}"
                         + ("" if high is None else f" and below {high:g}"))
                raise ValueError(f"{name} must be {bound}, not {value}")

    def for_catalogue(self, num_items: int) -> TrainConfig:
        """This configuration with its softmax decided for a catalogue of ``num_items``: the
        full one below ``sampled_softmax_items`` items (on Beauty, 12,101 items, an epoch of
        it takes seconds), the sampled one from there up (Clothing's 23,033 items took 352 s
        an epoch with the full one, the sampled one scales with the batch, not the catalogue).
        A softmax chosen explicitly stays."""
        if self.sampled_softmax is not None:
            return self
        return dataclasses.replace(self, sampled_softmax=num_items >= self.sampled_softmax_items)

    def model_kwargs(self) -> dict[str, Any]:
        return {"embedding_dim": self.embedding_dim, "num_layers": self.num_layers,
                "history_exponent": self.history_exponent,
                "relation_weight_init": self.relation_weight_init}

    def build(self, data: GraphData) -> KGRec:
        return KGRec.from_data(data, brands=self.brands, categories=self.categories,
                               item_links=self.item_links, **self.model_kwargs())


#: Each numeric field of :class:`TrainConfig` with its range: ``(name, low, low allowed, high
#: excluded or None)``. Checked when a configuration is made, so that a bad value is one line
#: that names it rather than an error deep in training.
_RANGES: tuple[tuple[str, float, bool, float | None], ...] = (
    *((name, 1, True, None) for name in (
        "embedding_dim", "num_layers", "batch_size", "max_epochs", "eval_every", "patience",
        "validation_users", "sampled_softmax_items", "max_steps_per_epoch")),
    *((name, 0, True, None) for name in (
        "history_exponent", "weight_decay", "min_epochs", "sampled_negatives",
        "sampled_correction")),
    ("lr", 0, False, None), ("relation_weight_init", 0, False, None),
    ("history_dropout", 0, False, 1),
    ("validation_fraction", 0, False, 1), ("foldin_dropout", 0, True, 1))


#: The numeric fields of :class:`TrainConfig` a command line may set, with how a value is read
#: (``graphrec train --set``, ``graphrec benchmark --set``, ``benchmarks/tune.py``).
SETTABLE: dict[str, Callable[[str], Any]] = {
    field.name: {"int": int, "float": float}[str(field.type)]
    for field in dataclasses.fields(TrainConfig)
    if str(field.type) in ("int", "float") and field.name != "seed"}


def parse_setting(text: str) -> tuple[str, list[Any]]:
    """``FIELD=V1[,V2...]`` as ``(field, [values])``, each value read as the field's type;
    a ValueError that names the field and what it takes."""
    field, _, values = text.partition("=")
    if field not in SETTABLE or not values:
        raise ValueError(f"{text!r}: expected FIELD=VALUE with FIELD one of "
                         f"{', '.join(SETTABLE)}")
    kind = SETTABLE[field]
    try:
        read = [kind(value) for value in values.split(",")]
    except ValueError:
        raise ValueError(f"{text!r}: {field} takes numbers ({kind.__name__})") from None
    for value in read:  # each in the field's range (TrainConfig's own check)
        try:
            TrainConfig(**{field: value})
        except ValueError as exc:
            raise ValueError(f"{text!r}: {exc}") from None
    return field, read


def pick_device(name: str | None = None) -> torch.device:
    """``name`` if given, else CUDA when available, else CPU. ValueError for a name torch does
    not read, or a CUDA device this machine does not have (said before the graph is read,
    not as torch's assertion at the first tensor moved)."""
    if not name:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"{name!r} is not a device torch knows (cpu, cuda, cuda:1, ...)") \
            from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"{name}: graphrec trains on cpu or cuda")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"{name}: this machine has no CUDA device torch can use "
                             f"(torch {torch.__version__})")
        if device.index is not None and device.index >= count:
            raise ValueError(f"{name}: this machine has {count} CUDA device(s), "
                             f"cuda:0 to cuda:{count - 1}")
    return device


class _Scorer:
    """The model as :class:`graphrec.evaluation.evaluate.Scorer` (scores on the CPU)."""

    def __init__(self, model: KGRec) -> None:
        self.model = model

    def score_users(self, users: np.ndarray) -> torch.Tensor:
        return self.model.score_users(users).cpu()


class _Batch(NamedTuple):
    """This process's share of one batch of users (all of it outside a process group)."""

    users: torch.Tensor
    #: Their kept histories, sparse ``[len(users), items]``: the input.
    history: torch.Tensor
    #: Their held-back purchases, ``[2, t]`` (row of ``users``, item): what to find.
    targets: torch.Tensor
    #: Held-back purchases in the whole batch, over all processes.
    total: int
    #: The items held back anywhere in the whole batch, sorted: the in-batch softmax's.
    candidates: torch.Tensor

    def compact(self) -> tuple[torch.Tensor, _Batch]:
        """``(items, batch)``: the items this share reads (its histories' and the candidates,
        sorted) and the same batch with every item given as its place among them.

        The sampled softmax reads a few thousand item rows of a catalogue's hundreds of
        thousands; computed on those rows alone, a batch's gradient costs what the batch
        holds, where one taken against the whole table writes all of its rows."""
        history = self.history.indices()
        items = torch.unique(torch.cat([history[1], self.candidates]))
        def place(index: torch.Tensor) -> torch.Tensor:
            return torch.searchsorted(items, index)
        local = sparse_matrix(torch.stack([history[0], place(history[1])]),
                              self.history.values(), (self.history.shape[0], len(items)))
        targets = torch.stack([self.targets[0], place(self.targets[1])])
        return items, self._replace(history=local, targets=targets,
                                    candidates=place(self.candidates))


def _batches(data: GraphData, config: TrainConfig, rng: np.random.Generator,
             device: torch.device) -> Iterator[_Batch]:
    """Per batch of users: the kept history (sparse input) and the held-back items (targets).

    Every process of a group draws the same whole batch from the same ``rng`` (so the draws do
    not depend on the group's size) and keeps its share of the batch's users
    (:func:`graphrec.model.distributed.share`)."""
    rank, size = distributed.group()
    matrix = data.train_matrix()
    users = np.flatnonzero(np.diff(matrix.indptr))
    users = users[rng.permutation(len(users))]
    for start in range(0, len(users), config.batch_size):
        batch = users[start:start + config.batch_size]
        rows = matrix[batch].tocoo()
        held = rng.random(rows.nnz) < config.history_dropout
        drawn = (rng.integers(0, data.num_items, config.sampled_negatives)
                 if config.sampled_softmax and config.sampled_negatives
                 else np.zeros(0, dtype=np.int64))
        candidates = torch.from_numpy(np.unique(np.concatenate([rows.col[held], drawn])
                                                ).astype(np.int64)).to(device)
        total = int(held.sum())
        first, end = distributed.share(len(batch), rank, size)
        mine = (rows.row >= first) & (rows.row < end)
        row = rows.row[mine] - first
        index = torch.from_numpy(np.stack([row, rows.col[mine]]).astype(np.int64)).to(device)
        kept = torch.from_numpy(~held[mine]).to(device)
        history = sparse_matrix(index[:, kept], torch.ones(int(kept.sum()), device=device),
                                (end - first, data.num_items))
        yield _Batch(torch.from_numpy(batch[first:end]).to(device), history, index[:, ~kept],
                     total, candidates)


def _popularity(data: GraphData, device: torch.device) -> torch.Tensor:
    """Each item's share of the train purchases (at least one purchase each): the chance that a
    held-back purchase is of that item, which is how in-batch negatives are drawn."""
    counts = np.maximum(np.bincount(data.train[:, 1], minlength=data.num_items), 1)
    return torch.from_numpy((counts / counts.sum()).astype(np.float32)).to(device)


def log_sampling_weight(popularity: torch.Tensor, targets: int, config: TrainConfig
                        ) -> torch.Tensor:
    """The sampled softmax's correction of every item's logit: ``sampled_correction`` times the
    log of the item's expected count among a batch's candidates, ``targets`` held-back
    purchases drawn by popularity plus ``sampled_negatives`` drawn uniformly."""
    expected = popularity * targets + config.sampled_negatives / len(popularity)
    return config.sampled_correction * torch.log(expected)


def batches_an_epoch(data: GraphData, config: TrainConfig) -> int:
    """Batches of ``config.batch_size`` users in one epoch (users with a train purchase)."""
    buyers = int(np.count_nonzero(np.bincount(data.train[:, 0], minlength=data.num_users)))
    return -(-buyers // config.batch_size)


def _batches_a_step(count: int, config: TrainConfig) -> int:
    """How many consecutive batches of an epoch of ``count`` take one optimizer step."""
    return max(1, -(-count // max(1, config.max_steps_per_epoch)))


def steps_an_epoch(data: GraphData, config: TrainConfig) -> int:
    """Optimizer steps (propagations) in one epoch of ``config`` on ``data``."""
    count = batches_an_epoch(data, config)
    return -(-count // _batches_a_step(count, config))


def _steps(batches: Iterable[T], count: int, config: TrainConfig) -> Iterator[list[T]]:
    """``count`` batches in at most ``config.max_steps_per_epoch`` runs of consecutive ones,
    each of the same number of batches but the last: the batches of one optimizer step."""
    size = _batches_a_step(count, config)
    step: list[T] = []
    for batch in batches:
        step.append(batch)
        if len(step) == size:
            yield step
            step = []
    if step:
        yield step


def train_epoch(model: KGRec, optimizer: torch.optim.Optimizer, data: GraphData,
                config: TrainConfig, rng: np.random.Generator) -> float:
    """One pass over all users; the mean training loss.

    A step's loss is the mean over its held-back purchases. Its batches' losses are taken
    against one propagation of the item graph: each batch's gradient is added up at the
    propagated rows it read (cut from the propagation; with the sampled softmax only its own
    rows, :meth:`_Batch.compact`), and the sum goes back through the propagation once
    (:attr:`TrainConfig.max_steps_per_epoch`). In a process group each
    process computes its share of that mean (its rows' sum over the whole step's count) and
    the gradients are summed over the group before the step, which makes them the whole
    step's."""
    model.train()
    device = model.embedding.device
    parameters = [p for p in model.parameters() if p.requires_grad]
    total, count = 0.0, 0
    popularity = _popularity(data, device) if config.sampled_softmax else None
    # one block for every batch's logits and one per table of a step's propagation (the
    # backward passes run first)
    workspace = Workspace()
    batches = batches_an_epoch(data, config)
    for step in _steps(_batches(data, config, rng, device), batches, config):
        step_total = sum(batch.total for batch in step)
        if step_total == 0:
            continue
        # drawn in every process, whatever its share, so that their streams stay in step
        folded = (torch.from_numpy(rng.random(model.num_items) < config.foldin_dropout
                                   ).to(device)
                  if config.foldin_dropout and popularity is None else None)
        optimizer.zero_grad()
        step_loss = torch.zeros(1, device=device)
        if any(batch.targets.shape[1] for batch in step):
            # a process whose rows hold back nothing adds nothing but takes the step
            propagated = model.item_representations(folded, workspace)
            cut = propagated.detach()
            at_rows = torch.zeros_like(cut)
            for batch in step:
                share = batch.targets.shape[1] / step_total
                if not share:
                    continue
                if popularity is None:
                    rows = cut.detach().requires_grad_()
                    loss = model.full_loss(batch.history, batch.targets, rows, workspace)
                else:
                    items, batch = batch.compact()
                    rows = cut[items].requires_grad_()
                    log_q = log_sampling_weight(popularity, batch.total, config)[items]
                    loss = model.in_batch_loss(batch.history, batch.targets, log_q,
                                               batch.candidates, item_rows=rows,
                                               workspace=workspace)
                (loss * share).backward()
                assert rows.grad is not None
                if popularity is None:
                    at_rows += rows.grad
                else:
                    at_rows.index_add_(0, items, rows.grad)
                step_loss += loss.detach() * share
            propagated.backward(at_rows)
        grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in parameters]
        distributed.all_reduce_sum([*grads, step_loss])
        for parameter, grad in zip(parameters, grads):
            parameter.grad = grad
        optimizer.step()
        total += step_loss.item() * step_total
        count += step_total
    return total / max(1, count)


class _Run:
    """A fresh KGRec on ``data`` with its optimizer and its own batch generator (seeded with
    ``config.seed`` for the validation run and again for the refit), from ``warm_start``'s
    weights when given (how many nodes started each way in ``started``)."""

    def __init__(self, config: TrainConfig, data: GraphData, device: torch.device,
                 warm_start: WarmStart | None = None) -> None:
        self.config, self.data = config, data
        self.rng = np.random.default_rng(config.seed)
        model = config.build(data)
        self.started = warm_start.apply(model, data) if warm_start is not None else None
        self.module = model.to(device)
        distributed.broadcast_parameters(self.module)
        self.optimizer = torch.optim.Adam(self.module.parameters(), lr=config.lr,
                                          weight_decay=config.weight_decay)

    def epoch(self) -> float:
        return train_epoch(self.module, self.optimizer, self.data, self.config, self.rng)

    def scorer(self) -> _Scorer:
        self.module.eval()
        return _Scorer(self.module)

    def __repr__(self) -> str:
        config = self.config
        softmax = (f"sampled softmax ({config.sampled_negatives:,} uniform negatives, "
                   f"correction {config.sampled_correction:g})" if config.sampled_softmax
                   else "full softmax")
        return f"{self.module!r} with the {softmax}"


def train(data: GraphData, config: TrainConfig = TrainConfig(),
          progress: Progress | None = None, *, warm_start: WarmStart | None = None,
          epochs: int | None = None, refit: bool = True) -> tuple[KGRec, TrainingLog]:
    """Train a :class:`KGRec` on ``data.train`` with early stopping and a refit
    (:func:`graphrec.model.early_stopping.fit`); ``(model, log)``.

    Seeded by ``config.seed`` (the global RNGs are restored afterwards): the same data and
    config give the same model on the same device. ``progress`` receives one line per epoch.
    ``warm_start``: both the validation run and the refit begin at those weights
    (:mod:`graphrec.model.warmstart`) instead of a random initialisation. ``epochs``: train
    that many epochs on all of ``data.train`` without a validation run (the number chosen by
    an earlier run on similar data). ``refit=False`` returns the validation run's model at its
    best epoch (trained without the validation split) instead of refitting on all of train.
    """
    config = config.for_catalogue(data.num_items)
    device = pick_device(config.device)
    schedule = Schedule(config.max_epochs, config.eval_every, config.patience, refit=refit,
                        validation_fraction=config.validation_fraction,
                        validation_users=config.validation_users,
                        min_epochs=0 if warm_start is not None else config.min_epochs)
    run, log = fit(lambda part: _Run(config, part, device, warm_start), data, schedule,
                   seed=config.seed, device=str(device), progress=progress, epochs=epochs)
    log.warm_start = run.started
    run.module.eval()
    return run.module, log


#: The fields of :class:`TrainConfig` every benchmark row records.
_RECORDED = ("embedding_dim", "num_layers", "history_exponent", "relation_weight_init", "brands",
             "categories", "item_links", "history_dropout", "foldin_dropout", "max_epochs",
             "sampled_softmax", "sampled_negatives", "sampled_correction")


class KGRecRecommender:
    """:func:`train` behind the benchmark's contract (``fit`` / ``score_users`` / ``fit_info``);
    ``epochs`` trains that many without a validation run, ``refit=False`` keeps the validation
    run's best model instead of refitting (:func:`train`)."""

    def __init__(self, config: TrainConfig = TrainConfig(), progress: Progress | None = None,
                 epochs: int | None = None, refit: bool = True) -> None:
        self.config = config
        self.progress = progress
        self.epochs = epochs
        self.refit = refit
        self.model: KGRec | None = None
        self.log: TrainingLog | None = None
        self.fit_info: dict[str, Any] = {}

    @property
    def device(self) -> torch.device:
        return pick_device(self.config.device)

    def fit(self, data: GraphData) -> Self:
        self.config = self.config.for_catalogue(data.num_items)
        self.model, self.log = train(data, self.config, self.progress, epochs=self.epochs,
                                     refit=self.refit)
        self.fit_info = {"validation_ndcg@10": self.log.curve(),
                         "epochs": self.log.best_epoch,
                         "seconds_per_epoch": 1 / self.log.epochs_per_second,
                         "relations": dict(zip(self.model.relations,
                                               self.model.relation_weights().tolist())),
                         **self._params(),
                         "refit": self.refit}
        return self

    def _params(self) -> dict[str, Any]:
        """The configuration a result row records: the fields that shape the model, and any
        other set away from its default (``--set``)."""
        defaults = dataclasses.asdict(TrainConfig())
        return {k: v for k, v in dataclasses.asdict(self.config).items()
                if k in _RECORDED or (k not in ("seed", "device") and v != defaults[k])}

    def score_users(self, users: np.ndarray) -> torch.Tensor:
        if self.model is None:
            raise RuntimeError("fit the model first")
        return self.model.score_users(users).cpu()

    def score_history(self, history: sp.csr_matrix) -> torch.Tensor:
        """Scores of every item for each row of a users × items 0/1 matrix (fold-in)."""
        if self.model is None:
            raise RuntimeError("fit the model first")
        rows = history.tocoo()
        index = torch.from_numpy(np.stack([rows.row, rows.col]).astype(np.int64))
        batch = sparse_matrix(index, torch.ones(rows.nnz), tuple(rows.shape))
        return self.model.score_history(batch).cpu()

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
