"""The papers' evaluation protocol (PGPR, CAFE) and a validation split carved from train.

Every model is judged the same way: rank all catalogue items a user did not buy in train, keep the
top k, compare with the user's test items. Anything a model chooses (early stopping, a
regularisation strength, a neighbourhood size) is chosen on :func:`validation_split`, never on the
test split.
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Protocol

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.dataset import GraphData
from graphrec.evaluation.metrics import per_user, ranking_metrics
from graphrec.serving.ranking import top_accepted

#: At most this many scores a batch of :func:`top_k` (128 MB of float32, twice that with the
#: masked copy): 1,024 users against 605 k items were 2.5 GB a batch.
SCORES_PER_BATCH = 1 << 25

#: ``(user, items) → bool array``: which of the items may be recommended to the user.
Keep = Callable[[int, np.ndarray], np.ndarray]


class Scorer(Protocol):
    """Anything that scores every catalogue item for a batch of users."""

    def score_users(self, users: np.ndarray) -> torch.Tensor | np.ndarray:
        """``[len(users), num_items]`` scores; higher ranks first."""
        ...


def top_k(scorer: Scorer, users: np.ndarray, seen: sp.csr_matrix, k: int = 10,
          batch_size: int = 1024, keep: Keep | None = None) -> np.ndarray:
    """The ``k`` best unseen items of each user, ``[len(users), k]``, best first.

    ``seen`` (users × items, usually the train matrix) marks items that must not be recommended;
    they get ``-inf`` before the top-k, so a model cannot score points by returning what the user
    already bought. With ``keep``, only items it accepts are ranked (graphrec serves only items
    it can explain, :mod:`graphrec.serving.ranking`); a row with fewer than ``k`` ends in ``-1``, as
    does every row of a catalogue of fewer than ``k`` items.
    """
    users = np.asarray(users, dtype=np.int64)
    out = np.full((len(users), k), -1, dtype=np.int64)
    batch_size = max(1, min(batch_size, SCORES_PER_BATCH // max(seen.shape[1], 1)))
    for start in range(0, len(users), batch_size):
        batch = users[start:start + batch_size]
        scores = torch.as_tensor(scorer.score_users(batch)).to(torch.float32).clone()
        rows = seen[batch]
        row_of = np.repeat(np.arange(len(batch)), np.diff(rows.indptr))
        scores[torch.from_numpy(row_of), torch.from_numpy(rows.indices.astype(np.int64))] = (
            -torch.inf)
        if keep is None:
            top = torch.topk(scores, min(k, scores.shape[1]), dim=1).indices.numpy()
            out[start:start + len(batch), :top.shape[1]] = top
            continue
        for row, user in enumerate(batch):
            top = top_accepted(scores[row].numpy(), k, functools.partial(keep, int(user)))
            out[start + row, :len(top)] = top
    return out


def evaluated_users(data: GraphData, max_users: int | None = None, seed: int = 0
                    ) -> np.ndarray:
    """The users :func:`evaluate` measures: those with test items, sorted; past ``max_users`` of
    them, that many drawn at random with ``seed``."""
    relevant = data.test_matrix()
    users = np.flatnonzero(np.diff(relevant.indptr))
    if max_users is not None and len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    return users


def evaluate(scorer: Scorer, data: GraphData, k: int = 10,
             batch_size: int = 1024, keep: Keep | None = None, *,
             max_users: int | None = None, seed: int = 0) -> dict[str, float]:
    """NDCG, recall, hit rate and precision at ``k`` in percent, over users with test items.

    Train purchases are masked; ``data.test`` holds the items to find (the real test split, or
    the held-out part of :func:`validation_split`); ``keep`` as in :func:`top_k`.
    ``max_users``: over that many of them at most, drawn with ``seed``
    (:func:`evaluated_users`). Every user against every item costs users × items, which
    outgrows the catalogue; the same draw for every epoch keeps the comparison of epochs, which
    is what early stopping needs, paired.
    """
    relevant = data.test_matrix()
    users = evaluated_users(data, max_users, seed)
    ranked = top_k(scorer, users, data.train_matrix(), k=k, batch_size=batch_size, keep=keep)
    sets = [set(relevant.indices[relevant.indptr[u]:relevant.indptr[u + 1]].tolist())
            for u in users]
    return ranking_metrics(ranked, sets, k)


def evaluate_per_user(scorer: Scorer, data: GraphData, k: int = 10, batch_size: int = 1024
                      ) -> tuple[np.ndarray, np.ndarray]:
    """``(users, rows)``: the users with test items and, for each, ``[ndcg, recall, hit,
    precision]`` at ``k`` as fractions (:func:`evaluate` is their mean in percent), for paired
    comparisons of two models on the same users."""
    relevant = data.test_matrix()
    users = np.flatnonzero(np.diff(relevant.indptr))
    ranked = top_k(scorer, users, data.train_matrix(), k=k, batch_size=batch_size)
    sets = [set(relevant.indices[relevant.indptr[u]:relevant.indptr[u + 1]].tolist())
            for u in users]
    return users, per_user(ranked, sets, k)


def validation_split(data: GraphData, fraction: float = 0.1, min_train: int = 3,
                     seed: int = 0) -> GraphData:
    """A copy of ``data`` whose ``test`` is a held-out part of train and ``train`` the rest.

    Each user with at least ``min_train`` train purchases gives up ``max(1, round(fraction *
    n))`` of them, chosen at random with ``seed``; users with fewer keep all (holding out their
    only purchases would leave nothing to learn from). The real test pairs are dropped, so nothing
    tuned on the result can have seen them.
    """
    pairs = data.train
    rng = np.random.default_rng(seed)
    shuffled = pairs[rng.permutation(len(pairs))]
    shuffled = shuffled[np.argsort(shuffled[:, 0], kind="stable")]
    counts = np.bincount(shuffled[:, 0], minlength=data.num_users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(shuffled)) - starts[shuffled[:, 0]]
    n_out = np.where(counts >= min_train,
                     np.maximum(1, np.round(fraction * counts)), 0).astype(np.int64)
    held = rank < n_out[shuffled[:, 0]]
    return dataclasses.replace(
        data,
        train=np.unique(shuffled[~held], axis=0).reshape(-1, 2),
        test=np.unique(shuffled[held], axis=0).reshape(-1, 2),
    )
