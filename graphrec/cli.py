"""The ``graphrec`` command: one subcommand per job, each printing what it did in numbers."""
from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import json
import logging
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from graphrec.config import SettingError, Settings
from graphrec.progress import RowProgress
from graphrec.schema import CATEGORY_FORMS, VIEWED, id_problem
from graphrec.store.connection import (
    DriverError,
    GraphStore,
    Neo4jError,
    StoreUnavailable,
    one_line,
    open_store,
)
from graphrec.store.local import READER_USER, LocalStore, LocalStoreError
from graphrec.store.stats import format_stats, graph_stats
from graphrec.store.writelock import WriterBusy, writer_lock
from ingest.errors import CatalogueError

if TYPE_CHECKING:
    import pandas as pd

    from graphrec.dataset import GraphData
    from graphrec.model.warmstart import WarmStart
    from graphrec.serving.publish import PublishReport
    from graphrec.serving.service import RecommendationService

SAMPLE = Path(__file__).parent / "sample" / "beauty"

#: Exit codes: 1 input unusable / job failed, 2 usage, 3 store unreachable.
EXIT_FAILED, EXIT_STORE = 1, 3
#: What a shell reports for a process that SIGPIPE killed (128 + 13).
EXIT_BROKEN_PIPE = 141

#: How ``graphrec explain`` says what a rank is among, by the answer's ``basis``, and why an
#: item has none, by its ``not_served``.
RANKED_FROM = {"purchases": "", "views": " among the items picked from what they viewed",
               "popular": " among the most bought items"}
NOT_SERVED = {"bought": "already bought",
              "viewed": "viewed (the list is picked from the items viewed)",
              "same_product": "another listing of a product bought (or viewed, for a list "
                              "picked from views), or of one listed in a listing scored "
                              "higher: a list names a product once",
              "dismissed": "dismissed (never recommended again)",
              "unavailable": "not offered by the shop now (never recommended)",
              "no_path": "not recommended (no reason path)"}


class CommandError(RuntimeError):
    """A command cannot do its job; the message says why, for the user."""


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.uses_local_store:
        if args.action != "status":
            raise CommandError(f"NEO4J_URI is set ({settings.neo4j_uri}): graphrec does not "
                               "start or stop that server")
        with open_store(settings) as store:
            store.read("admin/ping")
            print(f"store: Neo4j at {settings.neo4j_uri}, database {settings.database}: "
                  "reachable")
        print("open it in Neo4j Browser (e.g. http://localhost:7474 for a local server) "
              f"and run :use {settings.database}")
        return 0
    local = LocalStore(settings)
    if args.action == "start":
        started = time.perf_counter()
        up = local.start()
        print(f"local store up at {up.uri} (pid {up.pid}, database {up.database}) "
              f"in {time.perf_counter() - started:.1f}s")
    elif args.action == "stop":
        stopped = local.stop()
        print(f"stopped the local store (pid {stopped.pid})" if stopped else
              "the local store was not running")
    else:
        info = local.running()
        print(f"store: local ArcadeDB (no NEO4J_URI set), files in {local.dir}")
        if info is None:
            print("state: stopped (graphrec db start, or any command that needs it, starts it)")
            return 0
        print(f"state: running, pid {info.pid}\n"
              f"bolt:  {info.uri}  database {info.database}  user root  "
              f"password in {local.password_file}\n"
              f"reader: user {READER_USER} (the web service), password in "
              f"{local.reader_password_file}\n"
              f"web:   {info.studio_url} (ArcadeDB Studio)\n"
              f"log:   {local.log_file}")
    return 0


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    if args.update and args.path is None:
        args.usage_error("--update needs the folder of the update")  # exits 2
    ingest_catalogue(settings, Path(args.path) if args.path else SAMPLE, format=args.format,
           keep_external=args.keep_external, rejects=Path(args.rejects) if args.rejects else None,
           batch_size=args.batch_size, test_fraction=args.test_fraction,
           categories=args.categories, quiet=args.quiet, update=args.update)
    return 0


def ingest_catalogue(settings: Settings, path: Path = SAMPLE, *, format: str | None = None,
           keep_external: bool = False, rejects: Path | None = None,
           batch_size: int | None = None, test_fraction: float | None = None,
           categories: str = "path", quiet: bool = False, update: bool = False) -> None:
    """Read the catalogue at ``path``, write its rejects report, load it into the store;
    ``update``: the folder adds to the catalogue in the store (:mod:`ingest.update`)."""
    from ingest.amazon_json import DEFAULT_TEST_SHARE
    from ingest.detect import detect_format, read_catalogue
    from ingest.loader import DEFAULT_BATCH, load_catalogue
    from ingest.rejects import rejected_counts, summarise_actions, write_rejects
    from ingest.update import resolve

    started = time.perf_counter()
    format = format or ("csv" if update else detect_format(path))
    if test_fraction is not None and format != "amazon-json":
        raise CommandError(f"--test-fraction applies to raw Amazon data only; {path} is a "
                           f"{format} catalogue, which carries its own split")
    catalogue = read_catalogue(path, format=format, test_share=test_fraction or DEFAULT_TEST_SHARE,
                               categories=categories, update=update)
    read_seconds = time.perf_counter() - started
    print(f"read {path} ({catalogue.format}): {catalogue.rows_read:,} rows in "
          f"{read_seconds:.1f}s, {rejected_counts(catalogue.rejects)}")
    for note in catalogue.notes:
        print(f"note: {note}")
    said = [item.available for item in catalogue.items if item.available is not None]
    if said:
        print(f"available: {sum(said):,} items offered, {len(said) - sum(said):,} not offered "
              f"(never recommended), {len(catalogue.items) - len(said):,} not said")
    rejects_path = rejects or (
        settings.rejects_dir / f"{path.name or 'catalogue'}-{time.strftime('%Y%m%d-%H%M%S')}.csv")
    if catalogue.rejects and not update:
        write_rejects(catalogue.rejects, rejects_path)
    with writer_lock(settings, "graphrec ingest"), open_store(settings) as store:
        if update:
            found = resolve(store, catalogue)
            print(f"update: {found.items_found:,} items and {found.users_found:,} users it "
                  f"names outside its files found in {store.description}; of its rows naming "
                  f"them, {found.rows_resolved:,} load and {found.rows_rejected:,} are rejected")
            if catalogue.rejects:
                write_rejects(catalogue.rejects, rejects_path)
        print(f"loading into {store.description}")
        with RowProgress(None, enabled=not quiet) as bar:
            report = load_catalogue(store, catalogue, keep_external=keep_external,
                                    batch_size=batch_size or DEFAULT_BATCH, progress=bar,
                                    planned=bar.expect)
    _print_load_report(report)
    if catalogue.rejects:
        print(f"rejects: {len(catalogue.rejects):,} written to {rejects_path}")
        for reason, count in summarise_actions(catalogue.rejects).items():
            print(f"  {count:>8,}  {reason}")


def _print_load_report(report) -> None:
    width = max((len(name) for name in report.rows), default=4)
    print(f"  {'step':<{width}}  {'rows':>10}  {'created':>10}")
    for name, rows in report.rows.items():
        print(f"  {name:<{width}}  {rows:>10,}  {report.created[name]:>10,}")
    rate = report.total_rows / report.seconds if report.seconds else 0.0
    print(f"loaded {report.total_rows:,} rows in {report.seconds:.1f}s ({rate:,.0f} rows/s); "
          f"created {report.total_created:,}")
    if report.external_links_skipped:
        print(f"skipped {report.external_links_skipped:,} links to products outside the "
              "catalogue (--keep-external loads them)")


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    if settings.train_nice:  # a server beside it answers first (Settings.train_nice)
        os.nice(settings.train_nice)
    train_model(settings, epochs=args.epochs, seed=args.seed, device=args.device, quiet=args.quiet,
                warm_start=args.warm_start, processes=args.processes, fields=dict(args.set))
    return 0


def train_model(settings: Settings, *, epochs: int | None = None, seed: int = 0,
          device: str | None = None, quiet: bool = False, warm_start: bool = False,
          processes: int = 1, fields: Mapping[str, Any] | None = None) -> None:
    """Train on the graph in the store and save the model (``epochs``: at most that many;
    ``warm_start``: from the current model's weights; ``processes``: data-parallel in that
    many; ``fields``: of the training configuration, ``--set``)."""
    from graphrec.model.pipeline import Diverged, read_for_training, train_on
    from graphrec.model.train import TrainConfig
    from graphrec.store.export import NothingToTrain

    config = TrainConfig(seed=seed, device=device, **(fields or {}))
    if epochs:
        config = replace(config, max_epochs=epochs)
    start = _current_weights(settings) if warm_start else None
    if start is not None and start.embedding_dim != config.embedding_dim:
        raise CommandError(f"--warm-start: the current model has {start.embedding_dim} "
                           f"dimensions, this training {config.embedding_dim}")
    try:
        with open_store(settings) as store, RowProgress(None, enabled=not quiet) as bar:
            graph = read_for_training(store, bar)
    except NothingToTrain as exc:
        raise CommandError(str(exc)) from None
    speed, data = graph.speed, graph.data
    print(f"read the graph: {speed['rows']:,} rows in {speed['seconds']:.1f}s "
          f"({speed['rows_per_s']:,.0f} rows/s); {data.num_users:,} users, "
          f"{data.num_items:,} items, {len(data.train):,} purchases to learn from "
          f"({speed['live']:,.0f} of them reported live)")
    try:
        report = train_on(graph, settings, config, say=None if quiet else print,
                          warm_start=start, processes=processes)
    except Diverged as exc:
        raise CommandError(str(exc)) from None
    log = report.training
    if log.warm_start is not None:
        print(f"warm start: {log.warm_start['known']:,} nodes kept their trained embedding, "
              f"{log.warm_start['from_neighbours']:,} new ones started from their neighbours' "
              f"mean, {log.warm_start['random']:,} at random")
    print(f"saved the model to {report.path} ({log.best_epoch} epochs, "
          f"{log.seconds_total:.0f}s, {log.epochs_per_second:.2f} epochs/s, "
          f"device {log.device})")
    if report.test:
        measured, users = report.test_users
        sample = "" if measured == users else f", {measured:,} of its {users:,} users drawn"
        print(f"test split{sample}: "
              + ", ".join(f"{k} {v:.2f}%" for k, v in report.test.items()))


def _current_weights(settings: Settings) -> WarmStart:
    """The saved model's weights for ``--warm-start``, or a CommandError saying why not."""
    from graphrec.model.artifact import ArtifactError
    from graphrec.model.pipeline import current_weights

    try:
        return current_weights(settings)
    except FileNotFoundError:
        raise CommandError("--warm-start: no trained model to start from; run graphrec train "
                           "first") from None
    except ArtifactError as exc:
        raise CommandError(f"--warm-start: {exc}") from None


def cmd_recommend(args: argparse.Namespace, settings: Settings) -> int:
    print_recommendations(settings, args.user_id, k=args.k, as_json=args.json)
    return 0


def print_recommendations(settings: Settings, user_id: str, *, k: int = 10,
                          as_json: bool = False) -> None:
    """Print the user's top k as the service answers it: items with a reason path only, each
    with its first reason; the shop's most bought items for a user with no purchase yet, or
    none that leads to an item by a reason path."""
    from graphrec.serving.service import UnknownUser

    with open_store(settings) as store:
        service = load_service(settings, store)
        try:
            rows = service.recommend(user_id, k)
        except UnknownUser:
            raise CommandError(f"unknown user {user_id!r}: the store has no such user") \
                from None
        say_if_stale(service)
    if as_json:
        print(json.dumps({"user_id": user_id, "model": service.model_version,
                          "recommendations": rows}, indent=2))
        return
    if not rows:  # every item the shop offers bought or dismissed: said, not left blank
        print(f"nothing to recommend to {user_id}: they bought or dismissed every item the "
              "shop offers")
    elif rows[0]["reason"]["kind"] == "popular":
        print(f"{user_id}: the shop's most bought items (nothing they bought or viewed leads "
              "to an item by a reason path yet)")
    elif rows and rows[0]["reason"]["relationships"][0]["type"] == VIEWED:
        print(f"{user_id} has bought nothing yet: picked from the items they viewed")
    for row in rows:
        print(f"{row['rank']:>3}  {row['item_id']}  {row['score']:8.3f}  "
              f"{'new' if row['new'] else '   '}  {(row['brand'] or '-')[:18]:<18}  "
              f"{(row['title'] or row['category'] or '')[:60]}")
        if row["reason"]:
            print(f"{'':>5}{row['reason']['sentence']}")


def load_service(settings: Settings, store: GraphStore) -> RecommendationService:
    """The saved model as a command uses it (:func:`graphrec.explorer.load_service`), or a
    CommandError that says why there is none to use."""
    from graphrec.explorer import NoModel
    from graphrec.explorer import load_service as load
    from graphrec.model.artifact import ArtifactError

    try:
        return load(settings, store)
    except (NoModel, ArtifactError) as exc:
        raise CommandError(str(exc)) from None


def say_if_stale(service: RecommendationService) -> None:
    """One line on stderr when the graph changed since the model was trained."""
    line = service.freshness.line()
    if line:
        print(line, file=sys.stderr)


def cmd_explain(args: argparse.Namespace, settings: Settings) -> int:
    from graphrec.serving.service import UnknownItem, UnknownUser

    with open_store(settings) as store:
        service = load_service(settings, store)
        try:
            explanation = service.explain(args.user_id, args.item_id, top=args.top)
        except UnknownUser:
            raise CommandError(f"unknown user {args.user_id!r}: the store has no such user") \
                from None
        except UnknownItem:
            raise CommandError(f"unknown item {args.item_id!r}") from None
        say_if_stale(service)
    if args.graphml is not None:
        from graphrec.explain.subgraph import explanation_graph, write_graphml

        graph = explanation_graph(explanation)
        size = write_graphml(graph, args.graphml)
        print(f"wrote {args.graphml}: {graph.number_of_nodes():,} nodes, "
              f"{graph.number_of_edges():,} edges, {size:,} bytes of GraphML", file=sys.stderr)
    if args.json:
        print(json.dumps(explanation, indent=2))
        return 0
    rank = explanation["rank"]
    place = (f"rank {rank}{RANKED_FROM[explanation['basis']]}" if rank is not None
             else NOT_SERVED[explanation["not_served"]])
    print(f"{args.item_id} for {args.user_id}: score {explanation['score']:.3f}, {place}")
    for n, path in enumerate(explanation["paths"], start=1):
        walk = " ".join(f"({node['type']} {node['label']})" for node in path["nodes"])
        weight = "" if path["weight"] is None else f"[{path['weight']:.3f}] "
        print(f"{n}. {weight}{path['sentence']}\n     {walk}")
    if explanation["not_served"] == "no_path":
        print("no path of at most three hops links this user to this item")
    return 0


def cmd_availability(args: argparse.Namespace, settings: Settings) -> int:
    """Say which items the shop offers now (``--off``: out of stock or discontinued, never
    recommended; ``--on``: offered again), or list those it does not offer (on stdout, one a
    line; the count on stderr). Each item is set in a transaction of its own: an id not in the
    catalogue is reported and the others are set."""
    from graphrec.serving.events import NotInCatalogue, read_unavailable, set_available

    available = args.on is not None
    item_ids = list(dict.fromkeys(args.on or args.off or ()))
    with open_store(settings) as store:
        changed, unknown = 0, []
        for item_id in item_ids:
            try:
                changed += set_available(store, item_id, available).changed
            except NotInCatalogue:
                unknown.append(item_id)
        listed = sorted(read_unavailable(store))
    if args.list:
        for item_id in listed:
            print(item_id)
        print(f"{len(listed):,} items not offered now", file=sys.stderr)
        return 0
    named = len(item_ids) - len(unknown)
    print(f"{named:,} items set {'offered' if available else 'not offered'} ({changed:,} "
          f"changed, {named - changed:,} were already); a server's next answers follow")
    print(f"{len(listed):,} items not offered now")
    if unknown:
        raise CommandError(f"not in the catalogue: {', '.join(map(repr, unknown))}")
    return 0


def cmd_forget(args: argparse.Namespace, settings: Settings) -> int:
    """Take shoppers out of the graph on request, with everything it holds of them
    (:mod:`graphrec.serving.erasure`); an id the store does not hold is reported and the others
    are forgotten."""
    from graphrec.serving.erasure import forget_users

    user_ids: list[str] = []
    for arg in args.user_ids:
        user_ids += ids_from_stdin() if arg == "-" else [arg]
    if not user_ids:
        raise CommandError("no user id given (standard input held none)")
    with writer_lock(settings, "graphrec forget"), open_store(settings) as store:
        done = forget_users(store, user_ids)
    if done.users:
        print(f"forgot {len(done.users):,} users: {done.purchases:,} purchases, "
              f"{done.views:,} views, {done.dismissals:,} dismissals, "
              f"{done.recommendations:,} published recommendations and {done.paths:,} "
              f"published reason paths ({done.others_paths:,} of them other users' through "
              f"them: `graphrec publish` writes those again)")
        print("a model trained before keeps what it learnt from their purchases until the "
              "next `graphrec train`")
    if done.unknown:
        raise CommandError(f"not in the store: {', '.join(map(repr, done.unknown))}")
    return 0


def ids_from_stdin() -> list[str]:
    """The ids on standard input, one a line, blank lines skipped; a CommandError naming the
    line of the first that cannot be an id (:func:`an_id`), or when there is no input to read."""
    if sys.stdin is None:
        raise CommandError("standard input is closed: no ids to read")
    ids, number = [], 0
    try:
        for number, line in enumerate(sys.stdin, start=1):
            text = line.strip()
            if text:
                problem = id_problem(text)
                if problem:
                    raise CommandError(f"standard input, line {number}: {text!r} is not an id "
                                       f"({problem})")
                ids.append(text)
    except UnicodeDecodeError:
        raise CommandError(f"standard input, line {number + 1}: not UTF-8 text") from None
    return ids


def cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    """Write the top k and their reason paths into the graph (see
    :mod:`graphrec.serving.publish`)."""
    from graphrec.serving.publish import Publisher
    from graphrec.serving.service import UnknownUser

    with writer_lock(settings, "graphrec publish"), open_store(settings) as store:
        publisher = Publisher(load_service(settings, store), k=args.k, paths=args.paths)
        say_if_stale(publisher.service)
        try:
            users = publisher.users(args.users)
        except UnknownUser as exc:
            raise CommandError(f"unknown user {exc.args[0]!r}: the store has no such user") \
                from None
        print(f"publishing model {publisher.model} for {len(users):,} users into "
              f"{store.description}")
        with RowProgress(len(users) * args.k, unit="recs", enabled=not args.quiet) as bar:
            # the ids named, checked again; by default every user the model knows, those the
            # store no longer holds skipped (forgotten since it was trained)
            report = publisher.publish(args.users, batch_size=args.batch_size, progress=bar)
    _print_publish_report(report)
    return 0


def _print_publish_report(report: PublishReport) -> None:
    print(f"published {report.users:,} users: {report.recommended:,} RECOMMENDED, "
          f"{report.explained:,} of them explained by {report.paths:,} paths "
          f"({report.steps:,} STEP relationships)")
    print(f"replaced {report.deleted_recommended:,} RECOMMENDED and {report.deleted_paths:,} "
          f"paths published before")
    if report.gone:
        print(f"skipped {report.gone:,} users the model knows that the store no longer holds "
              f"(forgotten since it was trained)")
    print(f"wrote {report.rows:,} rows in {report.seconds:.1f}s ({report.rows_per_second:,.0f} "
          f"rows/s; {report.store_seconds:.1f}s of it deleting and writing in the store)")


def add_categories_argument(parser: argparse.ArgumentParser) -> None:
    """``--categories``: how a catalogue's category field reads (``graphrec ingest`` and
    everything that reads a catalogue as it does: the benchmark and its scripts)."""
    parser.add_argument("--categories", choices=CATEGORY_FORMS, default="path",
                        help="how items' categories read: one path root→leaf joined by | (the "
                             "default), or 'set': the names of every category the item is in, "
                             "in any order")


def an_id(text: str) -> str:
    """An argparse type: a user or item id as ``graphrec ingest`` takes them
    (:func:`graphrec.schema.id_problem`), so that one that could never be in the store (not
    UTF-8, a control character) is a usage error, not a query."""
    problem = id_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(f"{text!r} is not an id ({problem})")
    return text


def device(text: str) -> str:
    """An argparse type: a device this machine has (:func:`graphrec.model.train.pick_device`),
    checked before the graph is read."""
    from graphrec.model.train import pick_device

    try:
        pick_device(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def positive_int(text: str) -> int:
    """An argparse type: a k or a batch size of 0 would answer or publish nothing, silently, and
    ``explain --top 0`` would call a served item one without a reason path."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def fraction(text: str) -> float:
    """An argparse type: a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), not {text}")
    return value


def training_setting(text: str) -> tuple[str, Any]:
    """``--set FIELD=VALUE``: one numeric field of the training configuration."""
    from graphrec.model.train import parse_setting

    try:
        field, values = parse_setting(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if len(values) != 1:
        raise argparse.ArgumentTypeError(f"{text!r}: one value per --set")
    return field, values[0]


def add_setting_argument(parser: argparse.ArgumentParser, what: str = "") -> None:
    """``--set FIELD=VALUE`` (repeatable) on ``parser``."""
    parser.add_argument("--set", type=training_setting, action="append", default=[],
                        metavar="FIELD=VALUE",
                        help=f"a field of the training configuration{what} (repeatable; "
                             "graphrec.model.train.TrainConfig: history_exponent, "
                             "embedding_dim, lr, ...)")


def cmd_benchmark(args: argparse.Namespace, settings: Settings) -> int:
    """The benchmark on any catalogue ``graphrec ingest`` reads, with the same checks and split
    (raw Amazon data: each user's latest purchases are the test split)."""
    import torch

    from graphrec.evaluation import benchmark, coldstart
    from graphrec.evaluation.path_quality import purchase_order
    from ingest.detect import read_catalogue
    from ingest.frames import catalogue_frames
    from ingest.rejects import rejected_counts, summarise_actions

    models = args.models or (coldstart.MODELS if args.cold_start else benchmark.ALL_MODELS)
    for name in models:
        try:
            benchmark.resolve_model(name)
        except KeyError as exc:
            raise CommandError(exc.args[0]) from None
    started = time.perf_counter()
    catalogue = read_catalogue(args.data, format=args.format, categories=args.categories)
    frames = catalogue_frames(catalogue)
    data = frames.graph()
    print(f"read {args.data} ({catalogue.format}) in {time.perf_counter() - started:.1f}s: "
          f"{data.num_users:,} users, {data.num_items:,} items, {len(data.train):,} train and "
          f"{len(data.test):,} test purchases, {rejected_counts(catalogue.rejects)}")
    for note in catalogue.notes:
        print(f"note: {note}")
    for reason, count in summarise_actions(catalogue.rejects).items():
        print(f"  {count:>8,}  {reason}")
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out) if args.out else benchmark.results_path(
        benchmark.catalogue_name(args.data))
    order = purchase_order(data, frames.purchases)
    try:
        if args.cold_start:
            _cold_start(data, frames.purchases, models, out, args)
        elif args.explanations_only:
            benchmark.run_explanations(data, args.explanations_only, out, source=args.data,
                                       seed=args.seed, order=order)
        else:
            benchmark.run_benchmark(data, models, out, source=args.data, seed=args.seed,
                                    merge=not args.no_merge, save_model=args.save_model,
                                    order=order, settings=dict(args.set))
    except (benchmark.ResultsMismatch, benchmark.ModelMismatch) as exc:
        raise CommandError(f"{exc} (--out FILE, or --no-merge)") from None
    return 0


def _cold_start(data: GraphData, purchases: pd.DataFrame, models: Sequence[str], out: Path,
                args: argparse.Namespace) -> None:
    """``--cold-start``: the protocol of :mod:`graphrec.evaluation.coldstart`, written under
    ``"cold_start"`` in the results file beside the rows already there."""
    from graphrec.evaluation import benchmark, coldstart

    for name in models:
        if not hasattr(benchmark.resolve_model(name)(args.seed), "score_history"):
            raise CommandError(f"{name} scores only the users it was fitted with: cold start "
                               f"folds users in (e.g. {', '.join(coldstart.MODELS)})")
    dataset = benchmark.dataset_summary(data, args.data)
    benchmark.check_catalogue(out, dataset)
    order = coldstart.history_order(data, purchases)
    fields = dict(args.set)
    factories: dict[str, Callable[[int], Any]] = {
        name: functools.partial(benchmark.make_model, name, settings=fields)
        for name in benchmark.GRAPHREC}
    coldstart.run_cold_start(data, order, models, seed=args.seed, factories=factories,
                             save=lambda section: (
                                 benchmark.write_section(out, dataset, "cold_start", section)))
    print(f"wrote {out}")


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    print_stats(settings, as_json=args.json)
    return 0


def print_stats(settings: Settings, *, as_json: bool = False) -> None:
    """Print the nodes per label and relationships per type in the store."""
    with open_store(settings) as store:
        counts = graph_stats(store)
    print(json.dumps(counts, indent=2) if as_json else format_stats(counts))


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    run_demo(settings, quiet=args.quiet)
    return 0


def run_demo(settings: Settings, *, quiet: bool = False) -> None:
    """The whole job on the bundled sample: store, ingest, train, and one user's top 10."""
    ingest_catalogue(settings, quiet=quiet)
    print_stats(settings)
    if not (settings.model_path / "manifest.json").exists():
        train_model(settings, quiet=quiet)
    with open_store(settings) as store:
        user = store.read("service/any_buyer")[0]["user_id"]
    print(f"top 10 for user {user}:")
    print_recommendations(settings, user)
    print("next: graphrec serve, then open http://127.0.0.1:8000/")


def prepare_service(settings: Settings) -> None:
    """What the service needs and is missing: the store up with its schema (a store loaded by
    an earlier version lacks the newest index: ``CREATE ... IF NOT EXISTS``), a catalogue in
    it, a model."""
    with open_store(settings) as store:
        store.run_script("schema/constraints")
        has_items = store.read("service/any_item")
    if not has_items:
        print("the graph is empty: loading the bundled sample catalogue")
        ingest_catalogue(settings)
    if not (settings.model_path / "manifest.json").exists():
        print("no trained model: training one on the graph in the store")
        train_model(settings)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """An address that is not ``HOST:PORT``, or one this machine never lets this user listen
    on, is a usage error (exit 2), as any other bad value of an argument; one that another
    process listens on now is a failed job (exit 1): the same command may work later."""
    from web.serve import AddressInUse, BadAddress, serve

    try:
        return serve(args.bind, settings, prepare=prepare_service)
    except AddressInUse as exc:
        raise CommandError(str(exc)) from None
    except BadAddress as exc:
        args.usage_error(str(exc))  # exits 2
        raise  # not reached: argparse's error exits


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graphrec", description="Explainable recommendations from a knowledge graph.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db = sub.add_parser("db", help="start, stop or inspect the graph store")
    db.add_argument("action", choices=("start", "stop", "status"))
    db.set_defaults(handler=cmd_db)

    ingest = sub.add_parser("ingest", help="load a catalogue into the graph")
    ingest.add_argument("path", nargs="?", help="catalogue folder (default: the bundled sample)")
    ingest.add_argument("--format", choices=("csv", "amazon-json"), help="skip detection")
    add_categories_argument(ingest)
    ingest.add_argument("--keep-external", action="store_true",
                        help="also load links to products outside the catalogue")
    ingest.add_argument("--rejects", help="rejects CSV (default under $GRAPHREC_HOME/rejects)")
    ingest.add_argument("--batch-size", type=positive_int, help="rows per transaction "
                        "(default 5000)")
    ingest.add_argument("--test-fraction", type=fraction, metavar="F",
                        help="raw Amazon data: share of each user's latest purchases put in the "
                             "test split, 0 < F < 1 (default 0.3)")
    ingest.add_argument("--quiet", action="store_true", help="no progress bar")
    ingest.add_argument("--update", action="store_true",
                        help="add to the catalogue in the store: any of the CSV files may be "
                             "missing or empty, and purchases and links may name users and "
                             "items the store holds")
    ingest.set_defaults(handler=cmd_ingest, usage_error=ingest.error)

    stats = sub.add_parser("stats", help="count nodes and relationships in the graph")
    stats.add_argument("--json", action="store_true")
    stats.set_defaults(handler=cmd_stats)
    train = sub.add_parser("train", help="train the model on the graph in the store")
    train.add_argument("--epochs", type=positive_int, help="at most this many epochs")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", type=device,
                       help="cpu, cuda, cuda:1 (default: CUDA when present)")
    train.add_argument("--warm-start", action="store_true",
                       help="start from the current model's weights (new items from their "
                            "neighbours' mean) instead of a random initialisation")
    train.add_argument("--processes", type=positive_int, default=1, metavar="N",
                       help="train data-parallel in N processes, each on a share of every "
                            "batch's users (the same model as one process)")
    add_setting_argument(train)
    train.add_argument("--quiet", action="store_true")
    train.set_defaults(handler=cmd_train)

    recommend = sub.add_parser("recommend", help="top items for a user from the trained model")
    recommend.add_argument("user_id", type=an_id)
    recommend.add_argument("-k", type=positive_int, default=10)
    recommend.add_argument("--json", action="store_true")
    recommend.set_defaults(handler=cmd_recommend)

    explain = sub.add_parser("explain", help="the reasons for one recommendation, as paths")
    explain.add_argument("user_id", type=an_id)
    explain.add_argument("item_id", type=an_id)
    explain.add_argument("--top", type=positive_int, default=3, help="reasons shown")
    explain.add_argument("--json", action="store_true")
    explain.add_argument("--graphml", type=Path, metavar="FILE",
                         help="also write the reason paths as a GraphML graph to FILE")
    explain.set_defaults(handler=cmd_explain)

    publish = sub.add_parser("publish", help="write recommendations and their reason paths "
                                             "into the graph, for Neo4j Browser")
    publish.add_argument("--users", nargs="+", metavar="ID", type=an_id,
                         help="default: every user")
    publish.add_argument("-k", type=positive_int, default=10)
    publish.add_argument("--paths", type=int, default=3, choices=range(11), metavar="N",
                         help="reason paths kept per recommendation, 0 to 10 (default 3)")
    publish.add_argument("--batch-size", type=positive_int, default=100,
                         help="users per batch (default %(default)s)")
    publish.add_argument("--quiet", action="store_true", help="no progress bar")
    publish.set_defaults(handler=cmd_publish)

    forget = sub.add_parser(
        "forget", help="take shoppers out of the graph on request (a deletion request): "
                       "their purchases, views, dismissals and published recommendations")
    forget.add_argument("user_ids", nargs="+", metavar="USER_ID", type=an_id,
                        help="'-' reads ids from standard input, one a line (a list of "
                             "deletion requests)")
    forget.set_defaults(handler=cmd_forget)

    availability = sub.add_parser(
        "availability", help="say which items the shop offers now (out of stock or "
                             "discontinued items are never recommended), or list those it "
                             "does not")
    state = availability.add_mutually_exclusive_group(required=True)
    state.add_argument("--off", nargs="+", metavar="ITEM_ID", type=an_id,
                       help="not offered now: never recommended to anyone")
    state.add_argument("--on", nargs="+", metavar="ITEM_ID", type=an_id, help="offered again")
    state.add_argument("--list", action="store_true", help="the items not offered now")
    availability.set_defaults(handler=cmd_availability)

    bench = sub.add_parser("benchmark", help="the papers' protocol: graphrec against baselines")
    bench.add_argument("--data", required=True,
                       help="catalogue folder, any format graphrec ingest reads")
    bench.add_argument("--format", choices=("csv", "amazon-json"), help="skip detection")
    add_categories_argument(bench)
    bench.add_argument("--models", nargs="+",
                       help="names or module:factory (default: every model and ablation)")
    bench.add_argument("--out", help="results JSON (default: benchmarks/results/<catalogue>.json, "
                                     "e.g. beauty.json for .../amazon_beauty)")
    bench.add_argument("--seed", type=int, default=0)
    add_setting_argument(bench, " of graphrec's rows (e.g. the catalogue's own "
                                "history_exponent, chosen on its validation split)")
    bench.add_argument("--threads", type=positive_int, help="torch threads")
    bench.add_argument("--no-merge", action="store_true",
                       help="replace the results file instead of adding to it")
    bench.add_argument("--save-model", metavar="DIR",
                       help="keep graphrec's trained model there (an artifact)")
    bench.add_argument("--explanations-only", metavar="MODEL_DIR",
                       help="measure only the explanations of a model saved with --save-model "
                            "on this catalogue, and write them into the results")
    bench.add_argument("--cold-start", action="store_true",
                       help="the cold-start protocol: held-out users and items, folded in "
                            "(default models: popularity itemknn ease graphrec); written under "
                            "\"cold_start\" in the results file, beside its rows")
    bench.set_defaults(handler=cmd_benchmark)

    serve = sub.add_parser("serve", help="run the HTTP service under gunicorn")
    serve.add_argument("--bind", default="127.0.0.1:8000", help="HOST:PORT (default %(default)s)")
    serve.set_defaults(handler=cmd_serve, usage_error=serve.error)

    demo = sub.add_parser("demo", help="run everything on the bundled sample catalogue")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(handler=cmd_demo)
    return parser


#: Free space on the local store's disk below which a failure of the store names it.
LOW_DISK_BYTES = 256 * 2**20


def store_failure(exc: Exception, settings: Settings | None) -> str:
    """One line for an error the store answered a statement with (a write it could not commit,
    say): the store's code and words and, for the local store, where it logs and how little
    room its disk has left when that is the likely cause (ArcadeDB refuses a commit on a full
    disk as "Transaction error on commit", and logs nothing of why)."""
    said = (f"{exc.code}: {exc.message}" if isinstance(exc, Neo4jError)
            and exc.code else str(exc))
    where = ""
    if settings is not None and settings.uses_local_store:
        local = LocalStore(settings)
        where = f" (the local store's log: {local.log_file}"
        with contextlib.suppress(OSError):
            free = shutil.disk_usage(local.dir).free
            if free < LOW_DISK_BYTES:
                where += f"; {free / 2**20:.1f} MB free on its disk"
        where += ")"
    return f"the graph store failed the command: {one_line(said)}{where}"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # torch's notes on its sparse tensors say nothing to a user of this command.
    warnings.filterwarnings("ignore", category=UserWarning,
                            message="Sparse (CSR tensor support|invariant checks)")
    # The driver logs each retry and each failed routing table (urllib3 each retry of an
    # http:// URI's): the final error reaches the user anyway, in one line.
    logging.getLogger("neo4j").setLevel(logging.CRITICAL)
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    handler: Callable[[argparse.Namespace, Settings], int] = args.handler
    settings: Settings | None = None
    try:
        settings = Settings.from_env()
        return handler(args, settings)
    except StoreUnavailable as exc:
        print(f"graphrec: error: {exc}", file=sys.stderr)
        return EXIT_STORE
    except (CommandError, CatalogueError, LocalStoreError, SettingError, WriterBusy) as exc:
        print(f"graphrec: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (Neo4jError, DriverError) as exc:
        print(f"graphrec: error: {store_failure(exc, settings)}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # a reader that stopped reading: run() ends quietly
        raise
    except OSError as exc:  # a full disk, a folder not ours: the system's own words, one line
        print(f"graphrec: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("graphrec: interrupted", file=sys.stderr)
        return 130
    except BufferError as exc:
        # Ctrl-C while the driver decodes a result: its clean-up then fails on the buffer it
        # was filling, and that error, not the interrupt, comes out
        if not isinstance(exc.__context__, KeyboardInterrupt):
            raise
        print("graphrec: interrupted", file=sys.stderr)
        return 130


def run() -> NoReturn:
    """The ``graphrec`` command: :func:`main`, then an exit that skips the interpreter's last
    garbage collection over what the command imported.

    At exit Python collects once more over every object still alive; once torch and PyG are
    imported those are millions, and that pass is most of a second of CPU at the end of every
    command that trains (beside a server that is loading the model it just wrote, on the same
    cores), for memory the process hands back to the system anyway. :func:`gc.freeze` leaves
    them out of it. Tests call :func:`main`, and their process keeps collecting.

    A reader that stops reading (``graphrec recommend USER | head -3``) ends the command
    quietly, with the status of a process killed by SIGPIPE, as other command-line tools end:
    not with a traceback, and not with another one when Python flushes stdout at exit."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_BROKEN_PIPE
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
