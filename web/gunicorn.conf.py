"""Gunicorn settings for ``web:create_app()`` (used by ``graphrec serve`` and the benchmark).

Threaded workers: a request spends most of its time waiting on the graph store, so a few
threads per process serve it better than more processes, each of which would hold its own
copy of the model. The app is created in each worker after the fork (``preload_app = False``)
and the store driver on the first request, so no driver crosses a fork.

Environment overrides: GRAPHREC_WEB_WORKERS, GRAPHREC_WEB_THREADS, GRAPHREC_WEB_TIMEOUT.
"""
import multiprocessing
import os

cores = multiprocessing.cpu_count()
workers = int(os.environ.get("GRAPHREC_WEB_WORKERS") or min(cores + 1, 8))
worker_class = "gthread"
threads = int(os.environ.get("GRAPHREC_WEB_THREADS") or 4)
preload_app = False
wsgi_app = "web:create_app()"

# A request can wait on the driver's transaction retries (5 s) before it answers 503.
timeout = int(os.environ.get("GRAPHREC_WEB_TIMEOUT") or 30)
graceful_timeout = 20
keepalive = 5
max_requests = 0

# Several servers may run side by side (tests, benchmark): no shared control socket.
control_socket_disable = True

accesslog = "-"
errorlog = "-"
loglevel = "info"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'

# One thread of maths per worker process: the workers and their threads share the cores.
raw_env = [f"{name}={os.environ.get(name) or 1}"
           for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")]


def post_worker_init(worker):
    """In the new worker (after the fork): open its driver and load the model before requests."""
    worker.wsgi.extensions["graphrec"].warm()
