"""Gunicorn settings for ``web:create_app()`` (used by ``graphrec serve`` and the benchmark).

A request is CPU work in Python (ranking, reason paths, JSON) around one short store query, and
threads of one process share its interpreter lock, so the cores are used by processes: two per
core, each with two threads, so that a cheap request (reasons already kept) need not wait
behind one that ranks a first visit's ten reasons; other shapes measured no better
(``benchmarks/results/NOTES.md``; ``benchmarks/serve.py --workers N --threads M`` repeats
the measurement). Each process holds its own service's caches; the model's arrays it shares
with the others (mapped from the artifact by the master before it forks, and a fold-in of new
items from ``$GRAPHREC_HOME/folds``: :mod:`graphrec.serving.folds`).

Each worker listens on a socket of its own (``reuse_port``: SO_REUSEPORT, gunicorn >= 23), so
the kernel spreads new connections evenly over the workers. On one shared socket, whichever
worker was idle took the next connection, so keep-alive connections piled onto a few workers
and a queue built behind the busiest one that never drained (the figures are in
``benchmarks/results/NOTES.md``). The kernel lets processes of one user share such a port, so two
servers started at the same moment would both stay up on it, each answering part of the
requests; so gunicorn's master takes this user's lock on the port before any socket is bound
and holds it for its life (``on_starting``, :func:`web.serve.lock_address`). A port held by
another program would make each worker fail to bind, one after another, while the master keeps
spawning them; so the master also checks that the address is free, and ``graphrec serve`` does
before it sets anything up.

The worker class is gthread's (:mod:`web.worker`) with three changes: a thread takes a
connection only once its request has arrived, so slow clients cannot hold the threads; a worker
opens its socket only once it has loaded the model, so a replacement for a worker that died
takes no connection it cannot answer yet; and gunicorn's own error answers are JSON.

The app is created in the master (``preload_app``) and so is the model, as far as it needs no
store: its arrays, path index and edge masking (``Engine.preload``, in :func:`on_starting`).
The workers fork from it with all that built, so a worker's start is its connection to the
store and its first reads, and the pages of what the master built are shared by every worker
instead of each building and holding its own (``benchmarks/worker_start.py`` measures both).
The master then moves what it loaded out of the garbage collector's passes (:func:`gc.freeze`),
so that no worker's collection writes to those pages and unshares them. No store driver is
made in the master: each worker opens its own on first use, after the fork, so none crosses
it; a worker moves what it loads after out of the collector's passes too (``Engine.warm``).
A model trained after the server started is loaded by each worker itself (the engine's model
watcher), and so is it by a worker started after that.

The access log goes to stdout by default; GRAPHREC_WEB_ACCESSLOG names a file instead, or
``off`` when a reverse proxy in front logs requests already (a line is a noticeable share of
the cheapest request's time). Errors are always logged. graphrec's own log lines (a model
loaded or reloaded, new items folded in, the store unavailable) go to gunicorn's error log, in
its format, at its level (:func:`on_starting`): Python's default would drop the INFO ones and
print the others without a time or a process.

The page's feedback forms are signed with GRAPHREC_SECRET_KEY (see ``web.pages``); without
one, a key is made here, in the master, once per server start, so that every worker signs
with the same key (a form served by one worker is posted to another).

Workers, threads, timeout and access log are graphrec's settings (``graphrec.config.Settings``:
GRAPHREC_WEB_WORKERS, GRAPHREC_WEB_THREADS, GRAPHREC_WEB_TIMEOUT, GRAPHREC_WEB_ACCESSLOG), which
hold their defaults.
"""
import gc
import logging
import os
import secrets
from pathlib import Path

from graphrec.config import Settings, one_maths_thread
from graphrec.private import open_private

# One maths thread a worker: the cores are shared out to processes already, and a request's one
# large product (the user's scores over the catalogue) ran slower when each worker's BLAS
# thread pool wanted every core (benchmarks/results/NOTES.md). Set here, in the master, before
# the app (and numpy) is loaded; the workers inherit it.
one_maths_thread()

settings = Settings.from_env()
workers = settings.web_workers
worker_class = "web.worker.ServiceWorker"
reuse_port = True
threads = settings.web_threads
preload_app = True
wsgi_app = "web:create_app()"

# A request can wait on the driver's transaction retries (5 s) before it answers 503.
timeout = settings.web_timeout
graceful_timeout = 20
keepalive = 5
max_requests = 0

# Several servers may run side by side (tests, benchmark): no shared control socket.
control_socket_disable = True

accesslog = None if settings.web_accesslog == "off" else settings.web_accesslog
if accesslog not in (None, "-"):  # made 0600 first: gunicorn opens it with the umask's mode,
    os.close(open_private(Path(accesslog), os.O_WRONLY | os.O_APPEND))  # and it names shoppers
errorlog = "-"
loglevel = "info"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'

# Inherited by the workers (forked from this process), never on a command line.
os.environ.setdefault("GRAPHREC_SECRET_KEY", secrets.token_urlsafe(32))


def on_starting(server):
    """Before any socket is bound: take this user's lock on the port, held by the master for
    its life, then refuse an address another program listens on (see the module's docstring).
    Either failure is an AddressInUse, a RuntimeError: gunicorn prints it in one line, exits 1.
    Then load the model for the workers to fork with, and tell them how many they are."""
    from web.serve import check_address_free, lock_address

    log_beside_gunicorn(server.log.error_log)
    server.graphrec_address_locks = [lock_address(bind) for bind in server.cfg.bind]
    for bind in server.cfg.bind:
        check_address_free(bind)
    engine = server.app.wsgi().extensions["graphrec"]  # the app: made already (preload_app)
    engine.workers = server.cfg.workers  # they answer from a new model together
    engine.preload()
    gc.collect()
    gc.freeze()


def log_beside_gunicorn(error_log):
    """graphrec's loggers write through gunicorn's error log's handlers, at its level; set in
    the master, so every worker forked from it inherits them."""
    for name in ("graphrec", "web"):
        logger = logging.getLogger(name)
        logger.handlers = list(error_log.handlers)
        logger.setLevel(error_log.level)
        logger.propagate = False


def when_ready(server):
    """Say where: with a socket per worker, gunicorn's own "Listening at" line names none; what
    the host should change where a dying worker would take queued connections with it; and
    which settings of the environment are no longer read."""
    from graphrec.config import retired_settings
    from web.serve import queued_connections_advice

    server.log.info("Workers listen at: %s (a socket each)", ", ".join(server.cfg.bind))
    advice = queued_connections_advice()
    if advice:
        server.log.warning(advice)
    for line in retired_settings():
        server.log.warning(line)


def post_worker_init(worker):
    """In the new worker (after the fork): open its driver and load the model before requests."""
    worker.wsgi.extensions["graphrec"].warm()
