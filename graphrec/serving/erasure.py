"""Forgetting a shopper: everything the graph holds of them, taken out on request.

A shop must be able to erase a customer's data when asked (a deletion request, a closed
account). :func:`forget_users` takes each user out of the store with every relationship they
have: purchases, views, dismissals and published recommendations, and the published reason
paths that name them, their own and other users' that go through them as a co-buyer (those
users keep their recommendations with the paths left; the next ``graphrec publish`` writes
them whole again). From the next request on, the service answers them as any id the store does
not hold: 404, since it reads a user's history from the store on every request.

What a trained model learnt from their purchases stays in it until the next ``graphrec train``,
which no longer sees them: the model's graph arrays hold their id and purchases, and the
co-buyer paths it shows others count them ("2 of the 9 shoppers who bought it"). No answer
names them: the API names no other shopper, the commands and :mod:`graphrec.explorer` name a
co-buyer only while the store holds the purchases the path says they made
(``RecommendationService._shown``: not after this, nor when a new customer takes the id), and
``graphrec publish`` leaves out the paths through them (:mod:`graphrec.serving.publish`).
Retraining completes the erasure.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from graphrec.store.connection import GraphStore

#: Users taken out in one transaction: each is a node with its relationships, a few hundred at
#: most for a shopper; a long list of ids goes in several.
USERS_PER_TRANSACTION = 200

#: Published reason paths deleted in one transaction (each a node with its steps).
PATHS_PER_TRANSACTION = 10_000


@dataclass
class Forgotten:
    """What :func:`forget_users` took out of the graph."""

    users: list[str] = field(default_factory=list)  # the ids it found and removed
    unknown: list[str] = field(default_factory=list)  # ids the store did not hold
    purchases: int = 0
    views: int = 0
    dismissals: int = 0
    recommendations: int = 0  # published RECOMMENDED relationships
    paths: int = 0  # published reason paths, theirs and others'
    others_paths: int = 0  # of ``paths``, other users' that went through them


def forget_users(store: GraphStore, user_ids: Iterable[str]) -> Forgotten:
    """Take the users ``user_ids`` out of the graph (see the module); what was removed.

    Each batch of :data:`USERS_PER_TRANSACTION` users is removed in one transaction after the
    published paths that name them: a run stopped half way leaves nobody half removed, and
    running it again finishes the job (the ids removed before are then ``unknown``)."""
    ids = list(dict.fromkeys(user_ids))
    done = Forgotten()
    for start in range(0, len(ids), USERS_PER_TRANSACTION):
        batch = ids[start:start + USERS_PER_TRANSACTION]
        while True:
            rows, _ = store.write_returning("erasure/published_paths", ids=batch,
                                            limit=PATHS_PER_TRANSACTION)
            removed = int(rows[0]["removed"]) if rows else 0
            done.paths += removed
            done.others_paths += int(rows[0]["others"] or 0) if rows else 0
            if removed < PATHS_PER_TRANSACTION:
                break
        rows, _ = store.write_returning("erasure/users", ids=batch)
        found = {str(row["user_id"]): row for row in rows}
        for user_id in batch:
            row = found.get(user_id)
            if row is None:
                done.unknown.append(user_id)
                continue
            done.users.append(user_id)
            done.purchases += int(row["purchases"])
            done.views += int(row["views"])
            done.dismissals += int(row["dismissals"])
            done.recommendations += int(row["recommended"])
        if found:  # the service's workers read the purchases reported live again, whole
            store.write("erasure/mark")
    return done
