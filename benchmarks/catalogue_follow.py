"""How soon a running server follows a change of the catalogue: a new item ingested, an item
withdrawn and offered again, a purchase reported live.

Starts gunicorn (``web/gunicorn.conf.py``, the store and model of ``GRAPHREC_HOME``, the server's
default settings) and, ``--trials`` times each:

* **new item**: a second listing of an item on a user's page (same brand, leaf category and
  links both ways), loaded as ``graphrec ingest`` loads a catalogue (:func:`ingest.loader.plan`
  and :func:`~ingest.loader.load`, which move the catalogue's change marker); then the new
  item's explanation for that user is asked for every ``--poll`` seconds, each time on a fresh
  connection (which the kernel hands to any of the workers): the seconds until a worker first
  answers it (200, where the model did not know the item: 404), and until ``--in-a-row``
  answers in a row do (every worker, but for a chance of 0.75^40 = 1e-5 with four);
* **withdrawn**: the page's first item set not offered (:func:`graphrec.serving.events
  .set_available`, as the availability endpoint and command do); the seconds until the page
  first leaves it out, and until ``--in-a-row`` pages in a row do; then **offered again**, the
  same until it is back;
* **bought live**: a new customer buys the most bought item, reported as the events API does
  (:func:`graphrec.serving.events.record`); the seconds until the page of a shopper with no
  purchase (made for the run) first shows it bought by one more, and until ``--in-a-row``
  pages in a row do.

The changes follow one another as soon as every worker has the last one; ``--gap S`` waits S
seconds of quiet before each (a worker acts at once on a change after a quiet spell, and a
change that follows another within 30 s waits for a look that finds the catalogue still, a
purchase for 30 s after the last one it took: :data:`graphrec.serving.service.ACT_SPACING`).

With ``--baseline DIR`` (another checkout, e.g. ``git worktree add``) the same is measured on
that code's server, after this one's, against the same store and model. The new items, the run's
shoppers and their purchases are removed afterwards (``cypher/catalogue/remove_items.cypher``,
``graphrec.serving.erasure.forget_users``), also when the run is stopped.
Prints a table and writes JSON::

    GRAPHREC_HOME=... python benchmarks/catalogue_follow.py [--trials 5] [--gap 0]
                                                            [--baseline DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.serve import describe_code, loadavg, sample_users, write_report  # noqa: E402
from benchmarks.server import start_server, stop_server  # noqa: E402  (after the path)
from graphrec.config import Settings  # noqa: E402
from graphrec.serving.erasure import forget_users  # noqa: E402
from graphrec.serving.events import record, set_available  # noqa: E402
from graphrec.store.connection import GraphStore, open_store  # noqa: E402
from ingest.loader import load, plan  # noqa: E402
from ingest.records import Catalogue, Item, ItemLink  # noqa: E402
from web.serve import settings_env  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "catalogue-follow.json"
PREFIX = "CATALOGUE-FOLLOW-"
KINDS = ("new_item", "withdrawn", "offered_again", "bought_live")


def status_and_json(url: str) -> tuple[int, dict]:
    """One GET on a connection of its own."""
    request = urllib.request.Request(url, headers={"Connection": "close"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, {}


def on_page(url: str) -> list[str]:
    """The items of the page at ``url``."""
    return [rec["item_id"] for rec in status_and_json(url)[1]["recommendations"]]


def score_on_page(url: str, item_id: str) -> float | None:
    """The score of ``item_id`` on the page at ``url`` (its buyers, on a page of the most bought
    items); None when it is not there."""
    return next((rec["score"] for rec in status_and_json(url)[1]["recommendations"]
                 if rec["item_id"] == item_id), None)


def followed(ask: Callable[[], bool], poll: float, in_a_row: int, timeout: float
             ) -> dict[str, float | None]:
    """Seconds until ``ask()`` first holds, and until the run of ``in_a_row`` answers in a row
    for which it held began (from then on every worker had it)."""
    started = time.monotonic()
    first = streak = None
    row = 0
    while time.monotonic() - started < timeout:
        asked = time.monotonic() - started
        if ask():
            row += 1
            first = asked if first is None else first
            streak = asked if row == 1 else streak
            if row >= in_a_row:
                return {"first_s": round(first, 2), "all_s": round(streak or 0.0, 2)}
        else:
            row = 0
        time.sleep(max(0.0, poll - (time.monotonic() - started - asked)))
    return {"first_s": None if first is None else round(first, 2), "all_s": None}


def template_of(store: GraphStore, item_id: str) -> tuple[Item, list[ItemLink]]:
    """``item_id`` as a catalogue row (its brand and leaf category) and its links either way."""
    rows = [row for row in store.read("export/items") if row["item_id"] == item_id]
    item = Item(id=item_id, title=None, brand=rows[0]["brand"],
                categories=tuple(row["category"] for row in rows[:1] if row["category"]))
    links = [ItemLink(row["item_id"], row["relation"], row["other_item_id"])
             for row in store.read("export/item_links")
             if item_id in (row["item_id"], row["other_item_id"])]
    return item, links


def listing_of(template: Item, links: list[ItemLink], new_id: str) -> Catalogue:
    """A catalogue of one new item: a second listing of ``template``."""
    item = Item(id=new_id, title=f"Second listing of {template.id}", brand=template.brand,
                price=1.0, categories=template.categories)
    own = [ItemLink(new_id if link.item_id == template.id else link.item_id, link.relation,
                    new_id if link.other_item_id == template.id else link.other_item_id)
           for link in links]
    return Catalogue(source="benchmark", format="csv", items=[item], links=own)


def measure(code: Path, settings: Settings, store: GraphStore, args: argparse.Namespace,
            label: str) -> dict:
    env = settings_env(settings)
    env["PYTHONPATH"] = str(code)
    proc, port, _ = start_server(env, settings.home / f"catalogue-follow-{label}.log", code=code)
    url = f"http://127.0.0.1:{port}"
    user = sample_users(1)[0]
    page_url = f"{url}/api/users/{user}/recommendations?k=10"
    first = status_and_json(page_url)[1]["recommendations"][0]
    template, links = template_of(store, first["item_id"])
    added: list[str] = []
    browser = f"{PREFIX}{label}-browser"  # a shopper with no purchase: the most bought items
    shoppers = [browser]
    store.write("ingest/users", rows=[{"id": browser}])
    popular_url = f"{url}/api/users/{browser}/recommendations?k=10"
    out: dict = {"code": describe_code(code), "user": user, "template": template.id,
                 "template_links": len(links), **{kind: [] for kind in KINDS}}
    try:
        time.sleep(args.settle)  # every worker past its start
        for trial in range(args.trials):
            if "new_item" in args.kinds:
                time.sleep(args.gap)
                new_id = f"{PREFIX}{label}-{trial}"
                steps, _ = plan(listing_of(template, links, new_id), keep_external=True)
                load(store, steps)
                added.append(new_id)
                explanation = f"{url}/api/users/{user}/recommendations/{new_id}/explanation"
                out["new_item"].append(followed(
                    lambda url=explanation: status_and_json(url)[0] == 200, args.poll,
                    args.in_a_row, args.timeout))
            if "withdrawn" in args.kinds:  # and offered again
                time.sleep(args.gap)
                set_available(store, template.id, False)
                out["withdrawn"].append(followed(
                    lambda: template.id not in on_page(page_url), args.poll, args.in_a_row,
                    args.timeout))
                time.sleep(args.gap)
                set_available(store, template.id, True)
                out["offered_again"].append(followed(
                    lambda: template.id in on_page(page_url), args.poll, args.in_a_row,
                    args.timeout))
            if "bought_live" in args.kinds:
                time.sleep(args.gap)
                most = status_and_json(popular_url)[1]["recommendations"][0]
                shoppers.append(f"{PREFIX}{label}-buyer-{trial}")
                record(store, shoppers[-1], most["item_id"], "purchase")
                out["bought_live"].append(followed(
                    lambda most=most: (score_on_page(popular_url, most["item_id"]) or 0)
                    > most["score"], args.poll, args.in_a_row, args.timeout))
            print(f"{label} trial {trial + 1}: " + ", ".join(
                f"{kind} {out[kind][-1]}" for kind in KINDS if out[kind]), flush=True)
    finally:
        stop_server(proc)
        store.write("catalogue/remove_items", ids=added)
        forget_users(store, shoppers)
        set_available(store, template.id, True)  # moves the marker
    for kind in (kind for kind in KINDS if out[kind]):
        for what in ("first_s", "all_s"):
            seen = [t[what] for t in out[kind] if t[what] is not None]
            out[f"{kind}_{what}"] = {
                "median": round(statistics.median(seen), 2) if seen else None,
                "max": max(seen) if seen else None,
                "missed": len(out[kind]) - len(seen)}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--poll", type=float, default=0.05, help="seconds between requests")
    parser.add_argument("--in-a-row", type=int, default=40)
    parser.add_argument("--timeout", type=float, default=180, help="seconds a trial may take")
    parser.add_argument("--settle", type=float, default=5, help="seconds after the start")
    parser.add_argument("--gap", type=float, default=0, help="seconds of quiet before a change")
    parser.add_argument("--baseline", type=Path, help="another checkout, measured after")
    parser.add_argument("--kinds", nargs="+", choices=("new_item", "withdrawn", "bought_live"),
                        default=["new_item", "withdrawn", "bought_live"],
                        help="the changes made (withdrawn: and offered again)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the clean-up runs
    settings = Settings.from_env()
    report: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                "loadavg_before": loadavg()},
                    "settings": {"catalogue_check_interval": settings.catalogue_check_interval,
                                 "graph_check_interval": settings.graph_check_interval},
                    "poll_s": args.poll, "in_a_row": args.in_a_row, "gap_s": args.gap,
                    "runs": {}}
    with open_store(settings, start_local=False) as store:
        report["runs"]["this"] = measure(ROOT, settings, store, args, "this")
        if args.baseline is not None:
            report["runs"]["baseline"] = measure(args.baseline.resolve(), settings, store, args,
                                                 "baseline")
    report["machine"]["loadavg_after"] = loadavg()
    print("\nseconds until a worker / every worker followed: median, max")
    kinds = [kind for kind in KINDS if f"{kind}_first_s" in report["runs"]["this"]]
    print(f"{'code':<24}" + "".join(f"{kind:>30}" for kind in kinds))
    for name, run in report["runs"].items():
        cells = [f"{run[f'{kind}_first_s']['median']} / {run[f'{kind}_all_s']['median']}, "
                 f"{run[f'{kind}_first_s']['max']} / {run[f'{kind}_all_s']['max']}"
                 for kind in kinds]
        print(f"{name + ' ' + run['code']:<24}" + "".join(f"{cell:>30}" for cell in cells))
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
