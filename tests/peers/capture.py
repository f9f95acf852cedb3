"""Run by tests/test_peers_hopwise.py with the peers' Python (it imports hopwise).

What a path model's evaluation leaves for graphrec (benchmarks/peers_hopwise.capture_top10): the
top 10 of each user on that user's row, without the items scored -inf (CAFE scores only the items
its paths reach: ranking the rest would list masked or random items), and the path of each listed
item, not those of the items that fell out of the lists. And CAFE's metapaths: PGPR's without
the co-buyer one, which hopwise's CAFE cannot walk."""
import sys

import numpy as np
import torch

sys.path.insert(0, sys.argv[1])
import peers_hopwise  # noqa: E402


class Dataset:
    uid_field, iid_field, relation_field = "user_id", "item_id", "relation_id"
    field2id_token = {"relation_id": np.array(["[PAD]", "has_brand", "also_bought",
                                               "has_brand_r", "[UI-Relation]"])}
    tokens = {"user_id": np.array(["[PAD]", "U1", "U2"]),
              "item_id": np.array(["[PAD]", "I1", "I2", "I3", "I4", "I5", "I6", "I7", "I8",
                                   "I9", "I10", "I11", "I12"])}

    def id2token(self, field: str, index: object) -> object:
        return self.tokens[field][index]


class Trainer:
    """Row 0 is user 2, with two scored items (1 and 3); row 1 is user 1, with twelve."""

    def _full_sort_batch_eval(self, *args: object) -> tuple:
        scores = torch.full((2, 13), -torch.inf)
        scores[0, [1, 3]] = torch.tensor([-1.0, -2.0])
        scores[1, 1:] = -torch.arange(12, dtype=torch.float32)
        def path(user: int, item: int) -> list:
            return [("self_loop", "user", user), ("[UI-Relation]", "entity", 5),
                    ("has_brand", "entity", 20), ("has_brand_r", "entity", item)]
        explained = [[2, 1, -1.0, path(2, 1)], [2, 3, -2.0, path(2, 3)],
                     [1, 1, 0.0, path(1, 1)], [1, 12, -11.0, path(1, 12)]]
        return {"user_id": torch.tensor([2, 1])}, (scores, explained), None, None


trainer, lists, paths = Trainer(), {}, []
peers_hopwise.capture_top10(trainer, lists, Dataset(), paths)
trainer._full_sort_batch_eval()
assert lists["U2"] == ["I1", "I3"], lists  # not padded with items scored -inf
assert lists["U1"] == [f"I{n}" for n in range(1, 11)], lists
assert sorted((path[0][2], path[-1][2]) for path in paths) == [(1, 1), (2, 1), (2, 3)], paths

metapaths = peers_hopwise.cafe_path_constraint(Dataset())
assert len(metapaths) == len(peers_hopwise.path_constraint(Dataset())) - 1 == 2
assert [path[2][0] for path in metapaths] == ["has_brand", "also_bought"], metapaths
print("ok")
