"""Where a request's time goes: the API's two read endpoints profiled in process (cProfile).

Builds the app as gunicorn does (``web:create_app()``), in one process, against the store and
the model of ``GRAPHREC_HOME``, and asks its test client for the pages and explanations of
``--users`` users (a seeded draw among the model's users): every request goes through Flask's
routing, the typed inputs, the service and the JSON encoding, but not gunicorn's HTTP parsing.
Two kinds of traffic, as ``benchmarks/serve.py`` measures them:

* first visits: the reason cache off, every request ranks its reasons;
* repeats: the cache on and filled by one pass first, then the same requests again.

Each library of maths runs one thread, as in a gunicorn worker
(:func:`graphrec.config.one_maths_thread`): a BLAS pool that spins on both cores would add its
threads' time to every request's CPU.

Prints, per endpoint and traffic, the mean time a request took and the profile's top lines
(``--sort`` order, ``--top`` lines); with ``--cpu``, instead of the profile, the CPU time of each
request (the process's, the store's excluded), less noisy than wall time on a shared machine,
and the Python function calls it makes (a second pass under cProfile: a count, the same on any
machine)::

    GRAPHREC_HOME=... python benchmarks/profile_serve.py [--users 300] [--top 25] [--cpu]
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graphrec.config import one_maths_thread  # noqa: E402  (after the path)

one_maths_thread()  # before numpy loads (with the app)

from web import create_app  # noqa: E402  (after the path)
from web.engine import get_engine  # noqa: E402


def requests_of(client, users: list[str]) -> dict[str, list[str]]:
    """The URLs of each endpoint: each user's page, and the explanation of every item on it."""
    pages = [f"/api/users/{user}/recommendations?k=10" for user in users]
    explanations = []
    for user, page in zip(users, pages):
        for rec in client.get(page).get_json()["recommendations"]:
            explanations.append(f"/api/users/{user}/recommendations/{rec['item_id']}/explanation")
    return {"recommendations": pages, "explanations": explanations}


def profile(client, urls: list[str], sort: str, top: int) -> tuple[float, str]:
    """Mean milliseconds a request and the profile's top lines."""
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for url in urls:
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"{url}: {response.status_code} {response.get_data(as_text=True)}")
    profiler.disable()
    mean_ms = (time.perf_counter() - started) * 1000 / len(urls)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(sort).print_stats(top)
    return mean_ms, out.getvalue()


def cpu_times(client, urls: list[str]) -> tuple[float, float]:
    """Mean and median CPU milliseconds a request (this process's, all its threads)."""
    spent = []
    for url in urls:
        started = time.process_time()
        response = client.get(url)
        spent.append((time.process_time() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url}: {response.status_code} {response.get_data(as_text=True)}")
    return statistics.fmean(spent), statistics.median(spent)


def function_calls(client, urls: list[str]) -> float:
    """Python function calls a request, as cProfile counts them."""
    profiler = cProfile.Profile()
    profiler.enable()
    for url in urls:
        client.get(url)
    profiler.disable()
    return pstats.Stats(profiler).total_calls / len(urls)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--top", type=int, default=25, help="profile lines shown")
    parser.add_argument("--sort", default="tottime", help="pstats order (tottime, cumulative)")
    parser.add_argument("--cpu", action="store_true",
                        help="CPU time a request instead of the profile")
    args = parser.parse_args()

    for label, cache in (("first visits", 0), ("repeats", 20_000)):
        # the catalogue never looked at meanwhile: that look (the watcher thread) is no request's
        app = create_app({"REASON_CACHE_SIZE": cache, "MODEL_CHECK_INTERVAL": 0,
                          "CATALOGUE_CHECK_INTERVAL": 0})
        client = app.test_client()
        with app.app_context():
            started = time.perf_counter()
            service = get_engine().service()
            service.items.warm()
            print(f"{label}: service loaded in {time.perf_counter() - started:.2f} s")
        users = random.Random(args.seed).sample(service.recommender.user_ids, args.users)
        urls = requests_of(client, users)  # with the cache on, this pass fills it
        for endpoint, endpoint_urls in urls.items():
            if args.cpu:
                mean_ms, median_ms = cpu_times(client, endpoint_urls)
                calls = function_calls(client, endpoint_urls)
                print(f"{label}, {endpoint}: {len(endpoint_urls)} requests, CPU {mean_ms:.2f} ms "
                      f"a request (median {median_ms:.2f}), {calls:.0f} function calls")
                continue
            mean_ms, lines = profile(client, endpoint_urls, args.sort, args.top)
            print(f"\n=== {label}, {endpoint}: {len(endpoint_urls)} requests, "
                  f"{mean_ms:.2f} ms a request ===")
            print(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
