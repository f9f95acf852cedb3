"""A shop's busy minutes against one server: what must hold while everything changes at once.

Each of the live graph's parts has a benchmark of its own; a shop runs them together. Against
gunicorn (web/gunicorn.conf.py) on ``GRAPHREC_HOME``, for ``--seconds``:

* readers: ``--readers`` clients each ask a user's list (k = 20), then the explanation of one
  item on it, for sample users and the new customers the events create;
* events: purchases, views and dismissals (a fifth by new customers), ``--event-rate`` a second;
* availability: an item set off every ``--availability-every`` seconds;
* catalogue updates: every ``--update-every`` seconds, ``graphrec ingest --update`` of five new
  items (each with the brand, category and links of an item on sale) and twenty orders;
* a third of the way in, ``graphrec train --warm-start --epochs 3``, then ``kill -9`` of a worker.

What must hold, counted: no answer 5xx but for requests in flight on the killed worker (an
explanation answered 503 ``item_not_ready`` is asked again after its ``Retry-After``, as a
client does); no item served to a user after their purchase or dismissal was acknowledged; no
item served after it was set off (each such item counted, with how long after); every new item
is listed within seconds (median and longest reported). An explanation's rank that differs from
the item's place in the list is counted too: the list and the explanation may come from two
workers, each taking new items and live purchases in at its own looks.

The run writes events, items, availability and a model into the home: use one to spare (a copy
of a prepared home, its store started). Prints the figures and writes
benchmarks/results/shop-day.json.

    GRAPHREC_HOME=/path/to/scratch python benchmarks/shop_day.py [--seconds 150]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.serve import loadavg, write_report  # noqa: E402
from benchmarks.server import start_server, stop_server  # noqa: E402
from graphrec.config import Settings  # noqa: E402
from ingest.csv_catalogue import read_csv_catalogue  # noqa: E402
from web.serve import settings_env  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "shop-day.json"
SAMPLE = ROOT / "graphrec" / "sample" / "beauty"
TIMEOUT = 30.0


class Shop:
    """The run's shared record: every answer's status and time, and what the writers had
    acknowledged when (what the readers check their answers against)."""

    def __init__(self, base: str, token: str):
        self.base, self.token = base, token
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.started = time.monotonic()
        self.statuses: Counter[tuple[str, str, int]] = Counter()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.failures: list[dict[str, Any]] = []
        self.excluded: dict[str, dict[str, float]] = defaultdict(dict)  # user → item → acked
        self.set_off: dict[str, float] = {}  # item → acked
        self.served_off: dict[str, float] = {}  # item → longest it was served after set off
        self.ingested: dict[str, float] = {}  # new item → its update's end
        self.first_listed: dict[str, float] = {}  # new item → seconds from ingest to a list
        self.new_users: list[str] = []
        self.served_excluded: list[tuple[str, str]] = []
        self.rank_differs = 0
        self.not_ready: Counter[int] = Counter()  # the retry's status

    def call(self, method: str, path: str, body: dict | None = None, auth: bool = False
             ) -> tuple[int, str]:
        """One request on a connection of its own; -1 when none answered."""
        request = urllib.request.Request(self.base + path, method=method,
                                         data=json.dumps(body).encode() if body else None)
        if body:
            request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("Authorization", f"Bearer {self.token}")
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                code, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            code, text = error.code, error.read().decode()
        except OSError as error:
            code, text = -1, type(error).__name__
        with self.lock:
            self.statuses[(method, path.split("/")[2], code)] += 1
            self.latency[method].append(1000 * (time.perf_counter() - started))
            if code >= 500 and "item_not_ready" not in text or code < 0:
                self.failures.append({"at_s": round(self.elapsed(), 1), "method": method,
                                      "path": path, "status": code, "body": text[:200]})
        return code, text

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def reader(shop: Shop, users: list[str], seed: int) -> None:
    draw = random.Random(seed)
    while not shop.stop.is_set():
        with shop.lock:
            user = draw.choice(users + shop.new_users)
        asked = time.monotonic()
        code, text = shop.call("GET", f"/api/users/{user}/recommendations?k=20")
        if code != 200:
            continue
        listed = [rec["item_id"] for rec in json.loads(text)["recommendations"]]
        with shop.lock:
            for item in listed:
                if shop.excluded[user].get(item, asked) < asked:
                    shop.served_excluded.append((user, item))
                if shop.set_off.get(item, asked) < asked:
                    shop.served_off[item] = max(shop.served_off.get(item, 0.0),
                                                asked - shop.set_off[item])
                if item in shop.ingested and item not in shop.first_listed:
                    shop.first_listed[item] = time.monotonic() - shop.ingested[item]
        if not listed:
            continue
        place = draw.randrange(len(listed))
        path = f"/api/users/{user}/recommendations/{listed[place]}/explanation"
        code, text = shop.call("GET", path)
        if code == 503 and "item_not_ready" in text:
            time.sleep(2)
            code, text = shop.call("GET", path)
            with shop.lock:
                shop.not_ready[code] += 1
        if code == 200 and json.loads(text)["rank"] not in (place + 1, None):
            with shop.lock:
                shop.rank_differs += 1


def events(shop: Shop, items: list[str], users: list[str], rate: float) -> None:
    draw, made = random.Random(7), 0
    while not shop.stop.wait(1 / rate):
        if draw.random() < 0.2:
            user, made = f"SHOP-DAY-{made}", made + 1
        else:
            user = draw.choice(users)
        kind = draw.choice(["purchase", "purchase", "view", "dismiss"])
        with shop.lock:
            item = draw.choice(items + list(shop.ingested))
        code, _ = shop.call("POST", f"/api/users/{user}/events",
                            {"item_id": item, "kind": kind}, auth=True)
        if code in (200, 201):
            with shop.lock:
                if user.startswith("SHOP-DAY-") and user not in shop.new_users:
                    shop.new_users.append(user)
                if kind != "view":
                    shop.excluded[user].setdefault(item, time.monotonic())


def availability(shop: Shop, items: list[str], every: float) -> None:
    draw = random.Random(3)
    while not shop.stop.wait(every):
        item = draw.choice(items)
        code, _ = shop.call("PUT", f"/api/items/{item}/availability", {"available": False},
                            auth=True)
        if code == 200:
            with shop.lock:
                shop.set_off.setdefault(item, time.monotonic())


def updates(shop: Shop, env: dict[str, str], rows: list[dict[str, Any]], users: list[str],
            every: float, folder: Path, log: Callable[[str], None]) -> None:
    draw, batch = random.Random(5), 0
    while not shop.stop.wait(every):
        update = folder / f"update-{batch}"
        update.mkdir()
        new = [(f"SHOP-DAY-ITEM-{batch}-{n}", draw.choice(rows)) for n in range(5)]
        with open(update / "items.csv", "w", newline="", encoding="utf-8") as out:
            csv.writer(out).writerows([("item_id", "title", "brand", "price", "categories")] + [
                (item, f"New {row['title'][:40]}", row["brand"], row["price"], row["categories"])
                for item, row in new])
        with open(update / "item_links.csv", "w", newline="", encoding="utf-8") as out:
            csv.writer(out).writerows([("item_id", "relation", "other_item_id")] + [
                (item, relation, row["id"]) for item, row in new
                for relation in ("bought_together", "also_viewed")])
        with open(update / "purchases.csv", "w", newline="", encoding="utf-8") as out:
            csv.writer(out).writerows([("user_id", "item_id", "split")] + [
                (draw.choice(users), draw.choice(rows)["id"], "train") for _ in range(20)])
        done = subprocess.run([sys.executable, "-m", "graphrec.cli", "ingest", str(update),
                               "--update", "--quiet"], env=env, capture_output=True, text=True,
                              cwd=ROOT)
        log(f"update {batch}: exit {done.returncode}, "
            f"{(done.stdout.strip().splitlines() or [''])[-1]}{done.stderr.strip()[-200:]}")
        if done.returncode == 0:
            with shop.lock:
                for item, _ in new:
                    shop.ingested[item] = time.monotonic()
        batch += 1


def retrain_then_kill(shop: Shop, env: dict[str, str], pid: int, at: float,
                      log: Callable[[str], None]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if shop.stop.wait(at):
        return out
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "graphrec.cli", "train", "--warm-start",
                           "--epochs", "3", "--quiet"], env=env, capture_output=True,
                          text=True, cwd=ROOT)
    out["retrain"] = {"exit": done.returncode, "seconds": round(time.monotonic() - started, 1)}
    log(f"train --warm-start: exit {done.returncode} in {out['retrain']['seconds']} s")
    if shop.stop.wait(5):
        return out
    workers = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                             text=True).stdout.split()
    if workers:
        os.kill(int(workers[0]), signal.SIGKILL)
        out["killed_worker_at_s"] = round(shop.elapsed(), 1)
        log(f"kill -9 of worker {workers[0]} at {out['killed_worker_at_s']} s")
    return out


def summary(shop: Shop, chaos: dict[str, Any], seconds: float) -> dict[str, Any]:
    lags = sorted(shop.first_listed.values())
    latency = {method: {"requests": len(v), "p50_ms": round(statistics.median(v), 1),
                        "p99_ms": round(sorted(v)[int(0.99 * (len(v) - 1))], 1)}
               for method, v in shop.latency.items() if v}
    return {
        "seconds": seconds, **chaos,
        "requests": sum(shop.statuses.values()),
        "statuses": {f"{m} {what} {code}": n for (m, what, code), n in
                     sorted(shop.statuses.items())},
        "latency": latency,
        "failures": shop.failures,
        "served_after_purchase_or_dismissal": len(shop.served_excluded),
        "items_set_off": len(shop.set_off),
        "set_off_then_served": len(shop.served_off),
        "longest_served_after_set_off_s": round(max(shop.served_off.values(), default=0.0), 2),
        "new_items_ingested": len(shop.ingested),
        "new_items_listed": len(lags),
        "new_item_listed_after_s": {"median": round(statistics.median(lags), 2) if lags else None,
                                    "max": round(lags[-1], 2) if lags else None},
        "item_not_ready_then": {str(code): n for code, n in shop.not_ready.items()},
        "explanation_rank_differs_from_place": shop.rank_differs,
        "new_customers": len(shop.new_users),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=150)
    parser.add_argument("--readers", type=int, default=6)
    parser.add_argument("--event-rate", type=float, default=30)
    parser.add_argument("--availability-every", type=float, default=3)
    parser.add_argument("--update-every", type=float, default=12)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    settings = Settings.from_env()
    catalogue = read_csv_catalogue(SAMPLE)
    rows = [{"id": i.id, "title": i.title or "", "brand": i.brand or "", "price": i.price or "",
             "categories": "|".join(i.categories)} for i in catalogue.items]
    items, users = [row["id"] for row in rows], list(catalogue.users)
    token = secrets.token_urlsafe(24)
    env = settings_env(settings, {**os.environ, "GRAPHREC_API_TOKEN": token,
                                  "GRAPHREC_WEB_ACCESSLOG": "off"})
    server = start_server(env, settings.home / "shop-day.log")
    shop = Shop(f"http://127.0.0.1:{server.port}", token)
    said: list[str] = []

    def log(line: str) -> None:
        said.append(line)
        print(f"[{shop.elapsed():6.1f} s] {line}", flush=True)

    chaos: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="shop-day-") as folder:
        threads = [threading.Thread(target=reader, args=(shop, users, n), daemon=True)
                   for n in range(args.readers)]
        threads += [
            threading.Thread(target=events, args=(shop, items, users, args.event_rate)),
            threading.Thread(target=availability, args=(shop, items, args.availability_every)),
            threading.Thread(target=updates, args=(shop, env, rows, users, args.update_every,
                                                   Path(folder), log)),
            threading.Thread(target=lambda: chaos.update(retrain_then_kill(
                shop, env, server.proc.pid, args.seconds / 3, log)))]
        try:
            for thread in threads:
                thread.start()
            while shop.elapsed() < args.seconds:
                time.sleep(10)
                log(f"{sum(shop.statuses.values()):,} requests, {len(shop.failures)} failed, "
                    f"{len(shop.first_listed)} of {len(shop.ingested)} new items listed")
        finally:
            shop.stop.set()
            for thread in threads:
                thread.join(TIMEOUT + 60)
            stop_server(server.proc)
    result = summary(shop, chaos, args.seconds)
    for key in ("requests", "served_after_purchase_or_dismissal", "set_off_then_served",
                "longest_served_after_set_off_s", "new_items_listed",
                "new_item_listed_after_s", "item_not_ready_then",
                "explanation_rank_differs_from_place"):
        print(f"{key}: {result[key]}")
    print(f"failed: {len(result['failures'])}", *result["failures"][:10], sep="\n  ")
    write_report(args.out, {"machine": {"cpus": os.cpu_count(), "python":
                                        platform.python_version(), "loadavg": loadavg()},
                            "log": said, **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
