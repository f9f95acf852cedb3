"""Run by tests/test_peers_hopwise.py with the peers' Python (it imports hopwise).

Two users in one batch, only the second with a valid path: hopwise's PGPR.collect_scores puts
the second user's scores on the first user's row; benchmarks/peers_hopwise.PGPR keeps rows by
user and gives the first user the TransE ranking. A list that paths fill only in part: hopwise
drops the path item and gives its path to a filler; peers_hopwise keeps both, each item with its
own path. The paths kept are written with graphrec's tokens (peers_hopwise.path_tokens)."""
import sys

import numpy as np
import torch

sys.path.insert(0, sys.argv[1])
import peers_hopwise  # noqa: E402
from hopwise.model.knowledge_aware_recommender.pgpr import PGPR as HopwisePGPR  # noqa: E402


def model(cls: type) -> HopwisePGPR:
    pgpr = cls.__new__(cls)
    torch.nn.Module.__init__(pgpr)
    pgpr.n_items, pgpr.topk, pgpr.ui_relation_id = 6, [2], 1
    pgpr.user_embedding = np.array([[0, 0, 0, 0], [1, 0, 0.5, 0], [0, 0, 0, 1.0]])
    pgpr.relation_embedding = np.zeros((2, 4))
    pgpr.entity_embedding = np.array([[0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0],
                                      [2, 0, 0, 0], [0, 0, 3, 0]], dtype=float)
    pgpr.positives = [np.array([]), np.array([4]), np.array([5])]
    return pgpr


# user 2 bought item 5; a path user 2 → item 5 → (a co-buyer) → item 3 and → item 1
paths = [[("self_loop", "user", 2), (1, "entity", 5), (1, "user", 1), (1, "entity", 3)],
         [("self_loop", "user", 2), (1, "entity", 5), (1, "user", 1), (1, "entity", 1)]]
probs = [[1.0, 0.5, 0.5], [1.0, 0.5, 0.4]]
users = torch.tensor([1, 2])

shifted, _ = model(HopwisePGPR).collect_scores(users, paths, probs)
assert torch.isfinite(shifted[0]).any(), "hopwise fills row 0 (user 1) with user 2's scores"
assert torch.isinf(shifted[1]).all(), "and leaves user 2's row empty"

fixed, kept = model(peers_hopwise.PGPR).collect_scores(users, paths, probs)
assert set(torch.isfinite(fixed[1]).nonzero().ravel().tolist()) == {1, 3}
assert fixed[0, 5] == 1.5 and fixed[0, 1] == 1.0 and torch.isfinite(fixed[0]).sum() == 2
assert peers_hopwise.PGPR.users_without_path == 1

# the explaining paths are kept, each with its item, and written with graphrec's tokens
assert sorted((item, path[-1][2]) for _, item, _, path in kept) == [(1, 1), (3, 3)]

# user 2 with one path item (3) and a list of 2: hopwise fills it with one item from TransE's
# ranking, then zips the reversed lists: the filler takes item 3's path, item 3 is dropped
scores, pairs = model(HopwisePGPR).collect_scores(torch.tensor([2]), paths[:1], probs[:1])
(filler,) = torch.isfinite(scores[0]).nonzero().ravel().tolist()
assert filler != 3, "item 3 is dropped"
assert [(item, path[-1][2]) for _, item, _, path in pairs] == [(filler, 3)], "its path moved"
scores, pairs = model(peers_hopwise.PGPR).collect_scores(torch.tensor([2]), paths[:1], probs[:1])
listed = set(torch.isfinite(scores[0]).nonzero().ravel().tolist())
assert 3 in listed and len(listed) == 2 and not listed & {0, 5}, listed
assert [(item, path[-1][2]) for _, item, _, path in pairs] == [(3, 3)]


class Dataset:
    uid_field, entity_field, relation_field = "user_id", "entity_id", "relation_id"
    field2id_token = {"relation_id": np.array(["[PAD]", "[UI-Relation]"])}
    tokens = {"user_id": ["[PAD]", "U1", "U2"],
              "entity_id": ["[PAD]", "I1", "I2", "I3", "I4", "I5"]}

    def id2token(self, field: str, index: int) -> str:
        return self.tokens[field][index]


written = peers_hopwise.path_tokens([path for *_, path in kept], Dataset())
assert sorted(written["U2"]) == sorted([
    [["self_loop", "user", "U2"], ["[UI-Relation]", "entity", "I5"],
     ["[UI-Relation]", "user", "U1"], ["[UI-Relation]", "entity", "I3"]],
    [["self_loop", "user", "U2"], ["[UI-Relation]", "entity", "I5"],
     ["[UI-Relation]", "user", "U1"], ["[UI-Relation]", "entity", "I1"]]]) and len(written) == 1
print("ok")
