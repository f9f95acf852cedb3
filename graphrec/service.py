"""Recommendations with their reasons, for the HTTP service: one object per worker process.

It holds the model (:class:`~graphrec.recommend.Recommender`), the train graph the model was
trained on (for the reason paths) and the store (for what each user has bought by now and for
item details). A path's weight is the score the pair loses when the path's edges are masked in
the model (:mod:`graphrec.attribution`), so the first reason is the one the score leans on most.
"""
from __future__ import annotations

from typing import Any

from graphrec import artifact
from graphrec.config import Settings
from graphrec.dataset import GraphData
from graphrec.export import export_graph
from graphrec.explain import Explainer
from graphrec.paths import ReasonPath
from graphrec.pipeline import model_path
from graphrec.reasons import describe
from graphrec.recommend import Recommender, UnknownItem, UnknownUser
from graphrec.store import GraphStore

__all__ = ["RecommendationService", "UnknownItem", "UnknownUser"]


class RecommendationService:
    def __init__(self, recommender: Recommender, data: GraphData, store: GraphStore):
        self.recommender = recommender
        self.data = data
        self.store = store
        self.explainer = Explainer(recommender.model, data)
        self.paths = self.explainer.paths

    @classmethod
    def load(cls, settings: Settings, store: GraphStore) -> "RecommendationService":
        """The model under ``settings.models_dir`` and the graph it was trained on, read from
        the store (the artifact refuses a graph that changed since: retrain then).

        FileNotFoundError when no model is trained.
        """
        data, _ = export_graph(store)
        recommender = Recommender(artifact.load(model_path(settings), data=data))
        return cls(recommender, data, store)

    @property
    def model_version(self) -> str:
        return self.recommender.version

    def recommend(self, user_id: str, k: int = 10) -> list[dict[str, Any]]:
        bought = self._bought(user_id)
        ranked = self.recommender.recommend(user_id, k, bought=bought)
        weighted = self._weighted(user_id, [r.item_id for r in ranked])
        best = {item: paths[0] for item, paths in weighted.items() if paths}
        item_ids = [r.item_id for r in ranked] + self._path_items(list(best.values()))
        details = self._details(sorted(set(item_ids)))
        titles = {key: row.get("title") for key, row in details.items()}
        out = []
        for r in ranked:
            reason = None
            if r.item_id in best:
                weight, path = best[r.item_id]
                reason = describe(path, self.data, titles, weight)
            out.append({"rank": r.rank, "item_id": r.item_id, "score": r.score,
                        **details.get(r.item_id, {}), "reason": reason})
        return out

    def explain(self, user_id: str, item_id: str, top: int = 3) -> dict[str, Any]:
        bought = self._bought(user_id)
        scores = self.recommender.scores(user_id)
        index = self.recommender.item_index(item_id)
        rank = int((scores > scores[index]).sum()) + 1
        paths = self._weighted(user_id, [item_id])[item_id][:top]
        details = self._details(self._path_items(paths))
        titles = {key: row.get("title") for key, row in details.items()}
        return {"user_id": user_id, "item_id": item_id, "score": float(scores[index]),
                "rank": rank, "already_bought": item_id in bought,
                "paths": [describe(p, self.data, titles, w) for w, p in paths]}

    def _weighted(self, user_id: str, item_ids: list[str]
                  ) -> dict[str, list[tuple[float, ReasonPath]]]:
        """Each item's candidate paths with their weights, strongest first."""
        user = self.recommender.user_index(user_id)
        return {item_id: self.explainer.ranked(user, self.recommender.item_index(item_id))
                for item_id in item_ids}

    def _bought(self, user_id: str) -> list[str]:
        self.recommender.user_index(user_id)
        rows = self.store.read("service/user_purchases", user=user_id)
        return rows[0]["items"] if rows else []

    def _details(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {row.pop("item_id"): row for row in self.store.read("service/items", ids=ids)}

    def _path_items(self, paths: list[tuple[float, ReasonPath]]) -> list[str]:
        return sorted({self.data.items[i] for _, p in paths for t, i in p.nodes if t == "item"})
