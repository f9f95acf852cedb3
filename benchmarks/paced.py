"""A paced HTTP load for the benchmarks that need more than wrk gives: per-request timestamps,
answers read (the model version of each), POST bodies, and a server that loses a worker.

Request ``i`` is due ``i / rate`` seconds after the start; a pool of threads, each on a
keep-alive connection of its own, sends the requests as they fall due. Latency runs from when a
request was due, not from when a thread got round to sending it, so a server that stalls shows
its stall in full (no coordinated omission). 127.0.0.1 only; every wait is bounded.
"""
from __future__ import annotations

import gc
import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: A request: method, path, JSON body (or None), headers.
Request = tuple[str, str, "dict | None", dict[str, str]]

#: A connection the server closed or whose worker died (reset, cut short, refused, timed out).
CONNECTION_ERRORS = (http.client.HTTPException, OSError)


class Until:
    """Where a load ends, in seconds after its start: ``limit``, or sooner once :meth:`end_now`
    is called (requests due until then are still sent, however far behind the client is)."""

    def __init__(self, limit: float, start: float):
        self.at, self.start = limit, start

    def end_now(self) -> None:
        self.at = min(self.at, time.monotonic() - self.start)


@dataclass
class Outcome:
    due: float  # seconds after the start
    latency_ms: float  # from due to answered (or to the failure)
    status: int  # 0: no answer
    #: The answer's top-level scalar fields (its model version, say), not its lists: a client
    #: that held every page it was sent would pause for its own garbage collections as they
    #: grew (all its threads at once), and the latency counted from when a request was due
    #: would put those pauses on the server.
    body: dict = field(default_factory=dict)
    retried: bool = False  # the first try met a closed connection and was sent again
    error: str | None = None


def run(port: int, request_for: Callable[[int], Request], rate: float, seconds: float,
        threads: int = 32, timeout: float = 10.0, retry_idempotent: bool = True,
        saturate: bool = False, start: float | None = None,
        until: Until | None = None, pauses: list[float] | None = None) -> list[Outcome]:
    """Send requests to 127.0.0.1:``port``: paced at ``rate`` for ``seconds``, or with
    ``saturate`` each thread sending as soon as it is answered, from ``start`` (a
    ``time.monotonic()``; default now), ending sooner when ``until`` says so. Returns the
    outcomes in the order they were due.

    A GET that meets a closed connection is sent once more on a fresh one when
    ``retry_idempotent`` (what browsers and HTTP libraries do with idempotent requests); the
    outcome says so. ``pauses``, when given, receives the milliseconds each of this process's
    garbage collections took meanwhile: time in which no thread of the client sent or read.
    """
    lock = threading.Lock()
    counter = iter(range(10**9))
    outcomes: list[Outcome] = []
    start = time.monotonic() if start is None else start

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        while True:
            with lock:
                i = next(counter)
            due = time.monotonic() - start if saturate else i / rate
            if due >= seconds or (until is not None and due >= until.at):
                break
            delay = start + due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            method, path, body, headers = request_for(i)
            outcome, conn = send(conn, port, method, path, body, headers, timeout,
                                 retry=retry_idempotent and method == "GET")
            outcome.due = due
            outcome.latency_ms = (time.monotonic() - start - due) * 1000
            with lock:
                outcomes.append(outcome)
        conn.close()

    began: list[float] = []

    def collection(phase: str, _info: dict) -> None:
        if phase == "start":
            began.append(time.perf_counter())
        elif began and pauses is not None:
            pauses.append((time.perf_counter() - began.pop()) * 1000)

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    # What the process holds already (the modules it imported) is left out of the collections
    # during the run, whose pauses would otherwise grow with it, not with the run (freezing
    # is a move of lists, not a collection: no request waits on it).
    gc.freeze()
    gc.callbacks.append(collection)
    try:
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join(seconds + 4 * timeout)
    finally:
        gc.callbacks.remove(collection)
        gc.unfreeze()
    outcomes.sort(key=lambda o: o.due)
    return outcomes


def send(conn: http.client.HTTPConnection, port: int, method: str, path: str,
         body: dict | None, headers: dict[str, str], timeout: float,
         retry: bool) -> tuple[Outcome, http.client.HTTPConnection]:
    payload = None if body is None else json.dumps(body).encode()
    if payload is not None:
        headers = {**headers, "Content-Type": "application/json"}
    for attempt in (0, 1):
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            try:
                parsed = json.loads(raw) if raw else {}
            except ValueError:
                parsed = {}
            return Outcome(0, 0, response.status, scalars(parsed), retried=attempt == 1), conn
        except CONNECTION_ERRORS as exc:
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            if not retry or attempt == 1:
                return Outcome(0, 0, 0, retried=attempt == 1,
                               error=f"{type(exc).__name__}: {exc}"), conn
    raise AssertionError("unreachable")


def scalars(answer: object) -> dict:
    """The top-level fields of a JSON object answer that hold a string, a number, a boolean or
    null (see :attr:`Outcome.body`)."""
    if not isinstance(answer, dict):
        return {}
    return {key: value for key, value in answer.items()
            if value is None or isinstance(value, str | int | float | bool)}


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (nearest rank), or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def summary(outcomes: list[Outcome]) -> dict:
    """Counts by status class, connection failures, retries, and latency p50/p99/max (ms)."""
    latencies = [o.latency_ms for o in outcomes if o.status]
    classes: dict[str, int] = {}
    for o in outcomes:
        key = f"{o.status // 100}xx" if o.status else "no_answer"
        classes[key] = classes.get(key, 0) + 1
    return {"requests": len(outcomes), "answers": classes,
            "retried": sum(o.retried for o in outcomes),
            "p50_ms": rnd(percentile(latencies, 50)), "p99_ms": rnd(percentile(latencies, 99)),
            "max_ms": rnd(max(latencies, default=None))}


def rnd(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
