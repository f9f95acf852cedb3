"""Writing recommendations and their reason paths back into the graph, for Neo4j Browser.

``graphrec publish`` stores, for each chosen user, the top k of the current model as
``(:User)-[:RECOMMENDED {rank, score, model}]->(:Item)`` and each recommendation's strongest
reason paths (the ones ``graphrec explain`` prints) as::

    (:User)-[:HAS_EXPLANATION]->(e:Explanation {id, user, item, rank, weight, kind,
                                                 sentence, model})-[:EXPLAINS]->(:Item)
    (e)-[:STEP {position, rel, forward}]->(node)      // one per node of the path, in order

Why this form: a path is a walk through existing nodes, and Neo4j has no value that points at
a path of the graph. Copying the walk as new relationships would put fake ``BOUGHT`` or
``HAS_BRAND`` edges beside the real ones; keeping node lists as properties would hide it from
Browser, which only draws nodes and relationships. An Explanation node is one thing to count,
filter (``kind``, ``weight``) and delete, and its STEP relationships point at the real nodes, so
a Browser query finds the real relationship between consecutive steps: ``rel`` is its type and
``forward`` says whether it points from step ``position - 1`` to step ``position`` (see
``cypher/browser/recommendations.cypher``). Nothing refers to internal node ids, so the data
survives an export and works the same on Neo4j and the local store.

``Explanation.rank`` is the path's place among the reasons of its recommendation (1 is the
strongest); the recommendation's own rank is on RECOMMENDED. Publishing first deletes what
was published for the same users (whatever the model), in batches, then writes: publishing
twice gives the same graph, and a new model's rows replace the old ones. Each batch of users is
deleted, then written, in separate transactions: a publish killed half way leaves the users of
one batch without rows, and running it again completes it.
"""
from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graphrec.explain.paths import ReasonPath
from graphrec.explain.ranker import starting_with
from graphrec.explain.reasons import (
    ShownPath,
    co_buyer_purchases,
    describe_shown,
    distinct,
    node_id,
)
from graphrec.schema import LABELS
from graphrec.serving.recommend import FIRST_HOP
from graphrec.serving.service import (
    RecommendationService,
    Shopper,
    UnknownUser,
    never_served,
)
from graphrec.store.connection import GraphStore

if TYPE_CHECKING:
    from graphrec.dataset import GraphData

Rows = list[dict[str, Any]]
#: A recommendation's candidate paths: ``(user, item, [(weight, path), ...])``.
Found = tuple[str, str, Sequence[ShownPath]]
#: ``progress(step, recommendations_written_in_this_batch)``; called after every batch.
Progress = Callable[[str, int], None]

DEFAULT_USERS_PER_BATCH = 100
#: Rows one delete statement removes at most (it runs again until fewer are left).
DELETE_LIMIT = 10_000

#: The labels a path step can point at: one ``publish/steps_<label>`` statement each.
STEP_LABELS = tuple(LABELS.values())


@dataclass
class Batch:
    """The rows one batch of users sends to the store, one list per statement."""

    recommended: Rows = field(default_factory=list)
    explanations: Rows = field(default_factory=list)
    steps: dict[str, Rows] = field(default_factory=lambda: {label: [] for label in STEP_LABELS})
    #: Users of the batch the store no longer holds (forgotten since the model was trained).
    gone: int = 0

    @property
    def step_count(self) -> int:
        return sum(len(rows) for rows in self.steps.values())


@dataclass
class PublishReport:
    """What a publish wrote, in numbers."""

    model: str
    users: int = 0
    recommended: int = 0
    explained: int = 0  # recommendations with at least one path
    paths: int = 0  # Explanation nodes
    steps: int = 0  # STEP relationships
    deleted_paths: int = 0
    deleted_recommended: int = 0
    gone: int = 0  # users the model knows that the store no longer holds: skipped
    seconds: float = 0.0
    store_seconds: float = 0.0  # of which deleting and writing (the rest: the model, paths)

    @property
    def rows(self) -> int:
        """Rows sent to the store's write statements."""
        return self.recommended + self.paths + self.steps

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def add(self, users: int, batch: Batch) -> None:
        self.users += users - batch.gone
        self.gone += batch.gone
        self.recommended += len(batch.recommended)
        self.explained += len({(row["user"], row["item"]) for row in batch.explanations})
        self.paths += len(batch.explanations)
        self.steps += batch.step_count


def explanation_id(user: str, item: str, rank: int) -> str:
    """The Explanation key: JSON, so that no id, whatever it holds, can clash with another."""
    return json.dumps([user, item, rank], ensure_ascii=False, separators=(",", ":"))


def step_rows(explanation: str, view: dict[str, Any], path: ReasonPath) -> Iterator[
        tuple[str, dict[str, Any]]]:
    """``(label, row)`` for each node of the path: its position and the relationship that
    joins it to the node before (none for the user at position 0)."""
    joins: dict[int, tuple[str, bool]] = {}
    for hop in path.hops:
        if abs(hop.source - hop.target) != 1:
            raise ValueError(f"a {path.kind} path has a hop between steps {hop.source} and "
                             f"{hop.target}: STEP rows need one between neighbours")
        joins[max(hop.source, hop.target)] = (hop.type, hop.source < hop.target)
    for position, node in enumerate(view["nodes"]):
        rel, forward = joins.get(position, (None, None))
        yield node["type"], {"explanation": explanation, "key": node["id"],
                             "position": position, "rel": rel, "forward": forward}


class Publisher:
    """Publishes one service's recommendations into its store, a batch of users at a time."""

    def __init__(self, service: RecommendationService, *, k: int = 10, paths: int = 3):
        self.service = service
        self.store: GraphStore = service.store
        self.k = k
        self.top = paths
        self.model = service.model_version

    def users(self, user_ids: Sequence[str] | None = None) -> list[str]:
        """The users to publish for: ``user_ids`` without repeats, or every user the model
        knows. Raises :class:`~graphrec.serving.recommend.UnknownUser` for the first id the store
        lacks, so that a typo stops the job before anything is written."""
        if not user_ids:
            return list(self.service.recommender.user_ids)
        users = list(dict.fromkeys(user_ids))
        found = self.store.held("users", users)  # ids only: each batch reads its histories
        for user in users:
            if user not in found:
                raise UnknownUser(user)
        return users

    def build(self, user_ids: Sequence[str]) -> Batch:
        """The rows of these users: their top k from their purchases as the store holds them
        now (from their views while they have none, as the service answers them), and the top
        paths of each recommendation. A user with neither gets no rows: the popular items a
        page shows them are nobody's personal recommendations."""
        rows = {row["user_id"]: row
                for row in self.store.read("publish/histories", users=list(user_ids))}
        batch, found = Batch(), list[Found]()
        for user in user_ids:
            if user not in rows:
                batch.gone += 1
                continue
            shopper = self.service.shopper(rows[user])
            if not len(shopper.history):
                continue
            ranked = self.service.ranked(user, shopper.history, self.k, exclude=never_served(
                shopper.dismissed, shopper.unavailable))  # never published, as never served
            batch.recommended += [{"user": user, "item": r.item_id, "rank": r.rank,
                                   "score": r.score, "model": self.model} for r in ranked]
            found += [(user, item, paths) for item, paths in starting_with(
                self._weighted(user, shopper, [r.item_id for r in ranked]),
                FIRST_HOP[shopper.basis]).items()]
        data = self.service.now.data
        _, titles = self.service.items.labels(self.service.named_items(
            [], [p for *_, weighted in found for _, p in weighted]))
        for user, item, shown in self._shown(found, data, titles):
            views = describe_shown(shown, data, titles, user)  # each figure said once
            for rank, ((_, path), view) in enumerate(zip(shown, views), start=1):
                self._add_path(batch, user, item, rank, view, path)
        return batch

    def _shown(self, found: list[Found], data: GraphData, titles: Mapping[str, str | None]
               ) -> list[Found]:
        """The top paths of each recommendation that ``graphrec explain`` shows (none said
        twice, :func:`~graphrec.explain.reasons.distinct`), but none through another shopper
        whose purchases on the path the store no longer holds (forgotten since the model was
        trained, :mod:`graphrec.serving.erasure`, or an id a new customer took since), whose
        STEPs would point at nothing or at someone else. The purchases the shown paths say their
        co-buyers made are looked up (one query a batch); where one is missing, its
        recommendation's paths are chosen again without it, until every purchase shown is
        held."""
        @functools.cache  # each path is asked about again in every round
        def claimed(path: ReasonPath) -> set[tuple[str, str]]:
            nodes = [(LABELS[t], node_id(data, t, i)) for t, i in path.nodes]
            return set().union(*co_buyer_purchases(nodes).values())

        def clear(path: ReasonPath) -> bool:
            return not claimed(path) & missing

        checked: set[tuple[str, str]] = set()
        missing: set[tuple[str, str]] = set()
        shown: list[Found] = [(user, item, distinct(weighted, data, titles, self.top))
                              for user, item, weighted in found]
        while True:
            wanted = {pair for *_, paths in shown for _, path in paths
                      for pair in claimed(path)} - checked
            if not wanted:
                return shown
            checked |= wanted
            missing |= wanted - self.store.held_purchases(wanted)
            shown = [(user, item, paths if all(clear(path) for _, path in paths)
                      else distinct([(w, path) for w, path in weighted if clear(path)],
                                    data, titles, self.top))
                     for (user, item, paths), (_, _, weighted) in zip(shown, found)]

    def _weighted(self, user: str, shopper: Shopper, item_ids: list[str]
                  ) -> dict[str, list[tuple[float, ReasonPath]]]:
        """Each item's candidate paths with the weights that ``graphrec explain`` shows, in its
        order: the service computes them (its ``weighted``), this module never does."""
        if not self.top or not item_ids:
            return {}
        return self.service.weighted(user, shopper.history, item_ids,
                                     timeline=shopper.timeline)

    def _add_path(self, batch: Batch, user: str, item: str, rank: int, view: dict[str, Any],
                  path: ReasonPath) -> None:
        key = explanation_id(user, item, rank)
        batch.explanations.append({"id": key, "user": user, "item": item, "rank": rank,
                                   "weight": view["weight"], "kind": view["kind"],
                                   "sentence": view["sentence"], "model": self.model})
        for label, row in step_rows(key, view, path):
            batch.steps[label].append(row)

    def clear(self, user_ids: Sequence[str]) -> tuple[int, int]:
        """Delete what was published for these users, in batches: (paths, RECOMMENDED)."""
        return (self._delete("publish/clear_explanations", user_ids, "nodes_deleted"),
                self._delete("publish/clear_recommended", user_ids, "relationships_deleted"))

    def _delete(self, statement: str, user_ids: Sequence[str], counter: str) -> int:
        deleted = 0
        while True:
            counters = self.store.write(statement, users=list(user_ids), limit=DELETE_LIMIT)
            done = getattr(counters, counter)
            deleted += done
            if done < DELETE_LIMIT:
                return deleted

    def write(self, batch: Batch) -> None:
        """Send a batch: recommendations, then Explanation nodes, then the STEPs that need
        them."""
        if batch.recommended:
            self.store.write("publish/recommended", rows=batch.recommended)
        if batch.explanations:
            self.store.write("publish/explanations", rows=batch.explanations)
        for label, rows in batch.steps.items():
            if rows:
                self.store.write(f"publish/steps_{label.lower()}", rows=rows)

    def publish(self, user_ids: Sequence[str] | None = None, *,
                batch_size: int = DEFAULT_USERS_PER_BATCH,
                progress: Progress | None = None) -> PublishReport:
        """Publish for ``user_ids`` (default: every user the model knows, but those the store
        no longer holds: :attr:`PublishReport.gone`), ``batch_size`` users per batch: each batch
        is computed, its users' old rows deleted, its rows written."""
        started = time.perf_counter()
        users = self.users(user_ids)
        self.store.run_script("schema/published")
        report = PublishReport(self.model)
        for start in range(0, len(users), batch_size):
            chunk = users[start:start + batch_size]
            batch = self.build(chunk)
            writing = time.perf_counter()
            paths, recommended = self.clear(chunk)
            self.write(batch)
            report.store_seconds += time.perf_counter() - writing
            report.deleted_paths += paths
            report.deleted_recommended += recommended
            report.add(len(chunk), batch)
            if progress:
                progress("publish", len(batch.recommended))
        report.seconds = time.perf_counter() - started
        return report
