"""Reasons for one recommendation: the candidate paths of a pair, ranked by what they carry.

The one place where path finding (:mod:`graphrec.explain.paths`) meets the model's attribution
(:mod:`graphrec.explain.attribution`); the CLI, the HTTP service, ``graphrec publish`` and the
benchmark all rank paths through :meth:`Explainer.ranked`.
"""
from __future__ import annotations

from graphrec.explain.attribution import EdgeMasking
from graphrec.dataset import GraphData
from graphrec.model.kgrec import KGRec
from graphrec.explain.paths import PathFinder, ReasonPath

Weighted = tuple[float, ReasonPath]


class Explainer:
    """Candidate reason paths of ``(user, item)`` pairs weighted by edge masking."""

    def __init__(self, model: KGRec, data: GraphData, paths: PathFinder | None = None):
        self.paths = paths or PathFinder(data)
        self.masking = EdgeMasking(model)

    def ranked(self, user: int, item: int) -> list[Weighted]:
        """Every candidate path with the score it carries, the strongest first (ties keep the
        finder's order: brand, category, links, collaborative)."""
        candidates = self.paths.candidates(user, item)
        weights = self.masking.path_weights(user, item, candidates)
        order = sorted(range(len(candidates)), key=lambda k: -weights[k])
        return [(weights[k], candidates[k]) for k in order]
