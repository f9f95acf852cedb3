"""Start training from a trained model's weights instead of a random initialisation.

KGRec's parameters are one embedding per node of the item-side graph (items, brands,
categories) and one weight per relation; users are not parameters (a user is the items they
bought). So a model trained on yesterday's graph fits today's by node id: every item, brand and
category it knew keeps its embedding, every relation keeps its weight, and only the nodes it
never saw need a start. Those start from **the mean of the old embeddings of their neighbours**
in the new graph (an item's brand, category and linked items), which places a new item where
the graph says it belongs; a new node with no known neighbour keeps the usual random
initialisation.

The validation split of a warm-started run is carved from the new train purchases, some of
which the old model trained on: its validation NDCG starts optimistic. The test split, which
neither model saw, is the fair comparison (``graphrec train`` prints it).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from graphrec.dataset import GraphData
from graphrec.model.kgrec import KGRec
from graphrec.schema import GRAPH_NODE_TYPES

#: ``GraphData`` / ids.json name of each node type's ids.
_ID_FIELDS = {"item": "items", "brand": "brands", "category": "categories"}


@dataclass(frozen=True)
class WarmStart:
    """A trained model's weights keyed by node id, to initialise a model of another graph.

    Args:
        embeddings: node type → {id: layer-0 embedding} of the old model.
        relation_logits: relation name → the old model's (pre-softplus) relation weight.
    """

    embeddings: Mapping[str, Mapping[str, np.ndarray]]
    relation_logits: Mapping[str, float]

    @property
    def embedding_dim(self) -> int:
        for table in self.embeddings.values():
            for vector in table.values():
                return int(vector.shape[0])
        return 0

    @classmethod
    def from_model(cls, model: KGRec, ids: Mapping[str, Sequence[str]]) -> WarmStart:
        """The weights of ``model``, whose nodes are named by ``ids`` (``items``, ``brands``,
        ``categories``: index → id, as an artifact's ids.json or a GraphData holds them)."""
        weights = model.embedding.detach().cpu().numpy()
        sizes = {"item": model.num_items, "brand": model.num_brands,
                 "category": model.num_categories}
        embeddings = {}
        for node_type in GRAPH_NODE_TYPES:
            start, names = model.offset[node_type], list(ids[_ID_FIELDS[node_type]])
            if sizes[node_type] and len(names) != sizes[node_type]:
                raise ValueError(f"{len(names)} {_ID_FIELDS[node_type]} named for a model of "
                                 f"{sizes[node_type]}")
            embeddings[node_type] = {name: weights[start + n]
                                     for n, name in enumerate(names[:sizes[node_type]])}
        logits = model.relation_logit.detach().cpu().tolist()
        return cls(embeddings, dict(zip(model.relations, logits)))

    def apply(self, model: KGRec, data: GraphData) -> dict[str, int]:
        """Overwrite ``model``'s initial weights (``model`` built for ``data``): known nodes get
        their old embedding, new nodes their known neighbours' mean; relation weights by name.

        Returns the counts ``known``, ``from_neighbours`` and ``random`` (nodes started each
        way). Raises ``ValueError`` when the embedding sizes differ.
        """
        if self.embedding_dim != model.embedding_dim:
            raise ValueError(f"the old model has {self.embedding_dim} dimensions, the new one "
                             f"{model.embedding_dim}: train from scratch, or with the old size")
        known = np.zeros(model.num_nodes, dtype=bool)
        with torch.no_grad():
            for node_type in GRAPH_NODE_TYPES:
                rows, vectors = self._known_rows(model, data, node_type)
                if len(rows):
                    model.embedding[torch.from_numpy(rows)] = torch.from_numpy(
                        np.stack(vectors)).to(model.embedding)
                    known[rows] = True
            filled = self._from_neighbours(model, known)
            for r, name in enumerate(model.relations):
                if name in self.relation_logits:
                    model.relation_logit[r] = self.relation_logits[name]
        model.train()  # drops any cached representation of the random weights
        return {"known": int(known.sum()), "from_neighbours": int(filled.sum()),
                "random": int(model.num_nodes - known.sum() - filled.sum())}

    def _known_rows(self, model: KGRec, data: GraphData, node_type: str
                    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Rows of ``model`` whose node the old model knew, and the old embeddings."""
        size = {"item": model.num_items, "brand": model.num_brands,
                "category": model.num_categories}[node_type]
        table = self.embeddings.get(node_type, {})
        names = getattr(data, _ID_FIELDS[node_type])[:size]
        hits = [(n, table[name]) for n, name in enumerate(names) if name in table]
        rows = np.array([model.offset[node_type] + n for n, _ in hits], dtype=np.int64)
        return rows, [vector for _, vector in hits]

    @staticmethod
    def _from_neighbours(model: KGRec, known: np.ndarray) -> np.ndarray:
        """Set each new node with known neighbours (any relation) to their mean embedding;
        which nodes were set."""
        row, col = model.graph_row.cpu().numpy(), model.graph_col.cpu().numpy()
        edge = ~known[row] & known[col]
        counts = np.bincount(row[edge], minlength=model.num_nodes)
        filled = counts > 0
        if filled.any():
            embedding = model.embedding.detach().cpu()
            sums = torch.zeros_like(embedding).index_add_(
                0, torch.from_numpy(row[edge]), embedding[torch.from_numpy(col[edge])])
            rows = torch.from_numpy(np.flatnonzero(filled))
            mean = sums[rows] / torch.from_numpy(counts[filled]).to(sums)[:, None]
            model.embedding[rows.to(model.embedding.device)] = mean.to(model.embedding)
        return filled
