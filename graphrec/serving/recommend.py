"""Serving recommendations from a saved model: ids in, ranked item ids out.

The model numbers users and items by the id maps saved with it; this module is the one place
that translates between those numbers and the ids the shop knows, and that removes what the
user already bought (every purchase the store holds, not only those the model saw).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from graphrec.model import artifact as artifacts
from graphrec.serving.ranking import Accept, top_accepted


class UnknownUser(KeyError):
    """The user id is not one the model was trained with."""


class UnknownItem(KeyError):
    """The item id is not one the model was trained with."""


@dataclass(frozen=True)
class Scored:
    rank: int
    item_id: str
    score: float


class Recommender:
    """A loaded artifact with its id maps."""

    def __init__(self, loaded: artifacts.Artifact):
        self.artifact = loaded
        self.model = loaded.model
        self.user_ids: list[str] = loaded.ids["users"]
        self.item_ids: list[str] = loaded.ids["items"]
        self._user_index = {u: i for i, u in enumerate(self.user_ids)}
        self._item_index = {item: i for i, item in enumerate(self.item_ids)}

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        return cls(artifacts.load(path))

    @property
    def version(self) -> str:
        return self.artifact.version

    def user_index(self, user_id: str) -> int:
        try:
            return self._user_index[user_id]
        except KeyError:
            raise UnknownUser(user_id) from None

    def item_index(self, item_id: str) -> int:
        try:
            return self._item_index[item_id]
        except KeyError:
            raise UnknownItem(item_id) from None

    def scores(self, user_id: str) -> torch.Tensor:
        """The model's score of every item for the user, ``[items]``."""
        return self.model.score_user(self.user_index(user_id))

    def recommend(self, user_id: str, k: int = 10, bought: Iterable[str] = (),
                  accept: Accept | None = None) -> list[Scored]:
        """The ``k`` best items the user has not bought (in train, or in ``bought``), only among
        those ``accept`` lets through when given (see :mod:`graphrec.serving.ranking`)."""
        scores = self.scores(user_id)
        scores[self.model.history(self.user_index(user_id))] = -torch.inf
        extra = [self._item_index[i] for i in bought if i in self._item_index]
        if extra:
            scores[torch.tensor(extra)] = -torch.inf
        top = top_accepted(scores, k, accept)
        return [Scored(rank, self.item_ids[int(i)], float(scores[i]))
                for rank, i in enumerate(top, start=1)]
