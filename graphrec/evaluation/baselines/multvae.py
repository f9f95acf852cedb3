"""Mult-VAE (Liang et al., WWW 2018): a variational autoencoder of each user's purchases.

A user's train items ``x`` (L2-normalised, with dropout while training) are encoded to a
Gaussian ``q(z | x)`` of dimension 200 through a tanh layer of 600; a sample ``z`` is decoded
through a tanh layer of 600 to a softmax over every item. The loss is the multinomial
log-likelihood of ``x`` plus ``β`` × the KL divergence from the standard normal prior, ``β``
annealed linearly from 0 (``min(anneal_cap, updates / total_anneal_steps)``). Scores are the
decoder's logits from the mean of ``q(z | x)`` for the user's whole train history.

The layer sizes, dropout 0.5, Adam at 1e-3, batches of 500 users and the annealing schedule
(cap 0.2 over 200,000 updates) are the paper's reference implementation's; the number of epochs
is chosen by early stopping on a validation split carved from train. The state kept is the best
one on validation, as in the paper's code, not a refit on all of train: the encoder reads each
user's whole train history when scoring, so the held-out tenth still informs every score, and a
refit would double the longest fit of the baselines (``benchmarks/results/NOTES.md``).
"""
from __future__ import annotations

from typing import Any, Self

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from graphrec.dataset import GraphData
from graphrec.model.early_stopping import Say, Schedule, fit


class Batch:
    """Rows of a users × items CSR matrix as the flat index/offset arrays of ``embedding_bag``.

    The first layer of the encoder is then a weighted sum of the rows of its weight matrix for
    the user's items: the catalogue-wide dense input is never built.
    """

    def __init__(self, rows: sp.csr_matrix) -> None:
        self.size = rows.shape[0]
        self.items = torch.from_numpy(rows.indices.astype(np.int64))
        self.offsets = torch.from_numpy(rows.indptr[:-1].astype(np.int64))
        self.row = torch.from_numpy(np.repeat(np.arange(self.size), np.diff(rows.indptr)))
        counts = torch.from_numpy(np.diff(rows.indptr).astype(np.float32))
        # L2 norm of a 0/1 row: the square root of its number of items
        self.values = counts.clamp(min=1).rsqrt()[self.row]


class MultVAEModule(torch.nn.Module):
    """The encoder ``items → hidden → 2 × latent`` and decoder ``latent → hidden → items``."""

    def __init__(self, num_items: int, hidden: int = 600, latent: int = 200,
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.latent, self.dropout = latent, dropout
        self.encoder_in = torch.nn.Parameter(torch.empty(num_items, hidden))
        self.encoder_bias = torch.nn.Parameter(torch.empty(hidden))
        self.encoder_out = torch.nn.Linear(hidden, 2 * latent)
        self.decoder_hidden = torch.nn.Linear(latent, hidden)
        self.decoder_out = torch.nn.Linear(hidden, num_items)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier weights and biases drawn with a standard deviation of 0.001, as the paper's
        code initialises them."""
        torch.nn.init.xavier_uniform_(self.encoder_in)
        torch.nn.init.normal_(self.encoder_bias, std=0.001)
        for layer in (self.encoder_out, self.decoder_hidden, self.decoder_out):
            torch.nn.init.xavier_uniform_(layer.weight)
            torch.nn.init.normal_(layer.bias, std=0.001)

    def encode(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of ``q(z | x)``; input dropout while training."""
        values = F.dropout(batch.values, self.dropout, self.training)
        hidden = F.embedding_bag(batch.items, self.encoder_in, batch.offsets, mode="sum",
                                 per_sample_weights=values) + self.encoder_bias
        mu, logvar = self.encoder_out(torch.tanh(hidden)).split(self.latent, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder_out(torch.tanh(self.decoder_hidden(z)))

    def loss(self, batch: Batch, anneal: float) -> torch.Tensor:
        """Negative multinomial log-likelihood of the batch's items plus ``anneal`` × KL."""
        mu, logvar = self.encode(batch)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        log_softmax = F.log_softmax(self.decode(z), dim=1)
        neg_ll = -log_softmax[batch.row, batch.items].sum() / batch.size
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1).mean()
        return neg_ll + anneal * kl


class VAEScorer:
    """The decoder's logits from the mean of ``q(z | x)`` for each user's rows of ``train``."""

    def __init__(self, module: MultVAEModule, train: sp.csr_matrix) -> None:
        self.module, self.train = module, train

    @torch.no_grad()
    def score_users(self, users: np.ndarray) -> torch.Tensor:
        was_training = self.module.training
        self.module.eval()
        mu, _ = self.module.encode(Batch(self.train[np.asarray(users)]))
        scores = self.module.decode(mu)
        self.module.train(was_training)
        return scores


class MultVAE:
    """Mult-VAE with the paper's architecture and schedule; epochs chosen on validation.

    Args:
        hidden, latent: layer sizes (600 and 200 in the paper).
        dropout: input dropout while training.
        lr: Adam learning rate.
        batch_size: users per update.
        anneal_cap, total_anneal_steps: ``β = min(anneal_cap, updates / total_anneal_steps)``.
        max_epochs, eval_every, patience: validation NDCG every ``eval_every`` epochs; stop
            after ``patience`` evaluations without a better one.
        seed: seeds initialisation, dropout, sampling, batch order and the validation split.
        progress: receives one line an epoch (loss, validation NDCG, ETA); silent when None.
    """

    def __init__(self, hidden: int = 600, latent: int = 200, dropout: float = 0.5,
                 lr: float = 1e-3, batch_size: int = 500, anneal_cap: float = 0.2,
                 total_anneal_steps: int = 200_000, max_epochs: int = 200, eval_every: int = 5,
                 patience: int = 3, seed: int = 0, progress: Say | None = None) -> None:
        self.hidden, self.latent, self.dropout = hidden, latent, dropout
        self.lr, self.batch_size = lr, batch_size
        self.anneal_cap, self.total_anneal_steps = anneal_cap, total_anneal_steps
        self.max_epochs, self.eval_every, self.patience = max_epochs, eval_every, patience
        self.seed, self.progress = seed, progress
        self.fit_info: dict[str, Any] = {}
        self.scorer: VAEScorer | None = None

    def fit(self, data: GraphData) -> Self:
        """Epochs chosen on a validation split (:func:`graphrec.model.early_stopping.fit`),
        keeping the best validation state; one generator draws every run's batch order."""
        rng = np.random.default_rng(self.seed)
        run, log = fit(lambda part: _Run(self, part, rng), data,
                       Schedule(self.max_epochs, self.eval_every, self.patience, refit=False),
                       seed=self.seed, progress=self.progress)
        run.module.eval()
        self.scorer = VAEScorer(run.module, data.train_matrix())
        self.fit_info = log.fit_info()
        return self

    def score_users(self, users: np.ndarray) -> torch.Tensor:
        assert self.scorer is not None, "fit first"
        return self.scorer.score_users(users)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(hidden={self.hidden}, latent={self.latent}, "
                f"dropout={self.dropout}, lr={self.lr})")


class _Run:
    """A fresh :class:`MultVAEModule` on ``data``'s train matrix with Adam at the model's
    ``lr``: an epoch is one pass over the users with train items in batches, ``β`` annealed
    over the run's updates."""

    def __init__(self, vae: MultVAE, data: GraphData, rng: np.random.Generator) -> None:
        self.vae, self.rng = vae, rng
        self.module = MultVAEModule(data.num_items, vae.hidden, vae.latent, vae.dropout)
        self.train = data.train_matrix()
        self.users = np.flatnonzero(np.diff(self.train.indptr))
        self.optimizer = torch.optim.Adam(self.module.parameters(), lr=vae.lr)
        self.module.train()
        self.updates = 0

    def epoch(self) -> float:
        vae, total, batches = self.vae, 0.0, 0
        order = self.users[self.rng.permutation(len(self.users))]
        for lo in range(0, len(order), vae.batch_size):
            anneal = min(vae.anneal_cap, self.updates / vae.total_anneal_steps)
            loss = self.module.loss(Batch(self.train[order[lo:lo + vae.batch_size]]), anneal)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            self.updates += 1
            total, batches = total + loss.item(), batches + 1
        return total / max(1, batches)

    def scorer(self) -> VAEScorer:
        return VAEScorer(self.module, self.train)

    def __repr__(self) -> str:
        vae = self.vae
        return (f"Mult-VAE ({self.train.shape[1]:,} items → {vae.hidden} → {vae.latent}) on "
                f"{len(self.users):,} users, batches of {vae.batch_size}")
