"""graphrec's configuration, read once from the environment: where it keeps things, which
graph store it talks to and how the web service runs.

Every setting has its one default here. The web app's Flask config (:func:`web.create_app`), its
per-process engine (:mod:`web.engine`) and gunicorn's settings (``web/gunicorn.conf.py``) all
take theirs from a :class:`Settings`, so they cannot disagree.
"""
from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

#: Database name used on the local store (and on Neo4j when NEO4J_DATABASE is unset: ``neo4j``).
LOCAL_DATABASE = "graphrec"

T = TypeVar("T", int, float)

#: The thread pools of the maths libraries: OpenMP's (torch, faiss), OpenBLAS's (numpy) and MKL's.
MATHS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def one_maths_thread(force: bool = False) -> None:
    """One thread for each maths library in this process and those it starts, unless the
    environment says otherwise (or whatever it says, with ``force``: a benchmark whose figures
    are one thread's): where the cores are shared out to processes (gunicorn's workers)
    a pool per process that wants every core only makes them wait on one another, and a
    benchmark that times a request must run it as a worker does. Read when the libraries load,
    so call it before numpy is imported."""
    for name in MATHS_THREAD_VARIABLES:
        if force or not os.environ.get(name):
            os.environ[name] = "1"


#: Settings no longer read, and what took their place: a server started with one says so (set
#: and silently ignored, it would look as if it had been honoured).
RETIRED = {"GRAPHREC_ITEM_DETAILS_MAX_AGE": "GRAPHREC_CATALOGUE_CHECK_INTERVAL"}


def retired_settings(env: Mapping[str, str] | None = None) -> list[str]:
    """One line for each setting of :data:`RETIRED` that ``env`` (the environment) sets."""
    env = os.environ if env is None else env
    return [f"{name} is no longer read: {successor} sets how often a worker looks at the "
            "catalogue (new items, titles, prices, availability)"
            for name, successor in RETIRED.items() if name in env]


def default_web_workers() -> int:
    """Two gunicorn processes per core, at most 8 (see ``web/gunicorn.conf.py`` for why)."""
    return min(2 * multiprocessing.cpu_count(), 8)


def most_web_workers() -> tuple[int, str]:
    """The most gunicorn processes ``graphrec serve`` starts, and why: four per core. Each
    opens its store connections and maps the model; past a few per core they only wait on one
    another, and a slip of the keyboard (``GRAPHREC_WEB_WORKERS=800``) would fork the machine
    to a standstill instead of failing."""
    return 4 * multiprocessing.cpu_count(), "four per core of this machine"


class SettingError(ValueError):
    """An environment variable that cannot be read; the message names it."""


def _number(env: Mapping[str, str], name: str, kind: Callable[[str], T], default: T,
            minimum: T, maximum: tuple[T, str] | None = None) -> T:
    """The number in ``env[name]``, or ``default`` when unset or empty; ``maximum``: the
    largest allowed, and why."""
    text = env.get(name) or ""
    if not text.strip():
        return default
    try:
        value = kind(text)
    except ValueError:
        raise SettingError(f"{name}={text!r}: not a number") from None
    if not math.isfinite(value):  # nan passes every comparison; inf is no interval either
        raise SettingError(f"{name}={text!r}: not a finite number")
    if value < minimum:
        raise SettingError(f"{name}={text!r}: must be at least {minimum}")
    if maximum is not None and value > maximum[0]:
        raise SettingError(f"{name}={text!r}: must be at most {maximum[0]} ({maximum[1]})")
    return value


def _neo4j_uri(env: Mapping[str, str]) -> str | None:
    """``NEO4J_URI``, or ``None`` when unset or empty. One that holds credentials
    (``user:password@host``) is refused without being repeated: graphrec prints the URI in its
    answers and errors, and the password belongs in ``NEO4J_PASSWORD``."""
    uri = env.get("NEO4J_URI") or None
    if uri is not None and "@" in uri:
        raise SettingError("NEO4J_URI holds credentials (user:password@host): give the URI "
                           "without them, and them in NEO4J_USER and NEO4J_PASSWORD")
    if uri is not None and uri.lower().startswith(("http:", "https:")):
        raise SettingError(f"NEO4J_URI={uri!r}: graphrec speaks Bolt to Neo4j, not its HTTP "
                           "API (a preview of the driver's): use bolt://host:7687, or "
                           "neo4j+s://host for a cluster over TLS")
    return uri


@dataclass(frozen=True)
class Settings:
    """Everything graphrec reads from the environment.

    ``neo4j_uri`` unset means: use the local store that graphrec starts itself under ``home``.
    ``neo4j_reader_user`` / ``neo4j_reader_password``: the Neo4j user the web service reads as,
    one that may only read (the local store makes its own reader user).

    The web service's settings (the README's configuration table): ``reason_cache_size``
    (user, item) pairs whose top reasons a worker keeps, about 1 kB each, ``0`` ranks every
    time; ``catalogue_check_interval`` seconds between a worker's looks at the catalogue's
    size and change marker (one short query), after which it folds in the items ingested since
    training and reads the titles, prices, brands and availability again when they changed,
    ``0`` never; ``model_check_interval`` seconds between a worker's looks for a newly
    trained model, ``0`` never; ``graph_check_interval`` the most a worker's graph counts in
    ``/api/health`` may lag (whether the model is stale);
    ``topk_index_items`` the catalogue size from which a user's top k comes from an index
    (:mod:`graphrec.serving.topk`, faiss) instead of a scan of every item, ``0`` never;
    ``retry_after`` seconds a 503 tells the client to wait;
    ``web_workers`` and ``web_threads`` gunicorn's processes and threads per process;
    ``web_timeout`` seconds before gunicorn restarts a stuck worker; ``web_accesslog`` a file,
    ``-`` for stdout or ``off``.

    ``train_nice``: how far ``graphrec train`` lowers its own CPU priority (``os.nice``, 0 to
    19), so that a server answering on the same machine keeps the cores it needs while a new
    model is trained beside it; with the cores to itself, training runs as fast as at 0.
    """

    home: Path
    neo4j_uri: str | None = None
    neo4j_user: str = "neo4j"
    neo4j_password: str | None = None
    neo4j_reader_user: str | None = None
    neo4j_reader_password: str | None = None
    neo4j_database: str | None = None
    store_dir_override: Path | None = None
    store_heap: str = "2g"
    reason_cache_size: int = 20_000
    catalogue_check_interval: float = 2.0
    model_check_interval: float = 1.0
    graph_check_interval: float = 60.0
    topk_index_items: int = 25_000
    retry_after: int = 2
    web_workers: int = field(default_factory=default_web_workers)
    web_threads: int = 2
    web_timeout: int = 30
    web_accesslog: str = "-"
    train_nice: int = 10

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            home=Path(env.get("GRAPHREC_HOME") or ".graphrec").absolute(),
            neo4j_uri=_neo4j_uri(env),
            neo4j_user=env.get("NEO4J_USER") or cls.neo4j_user,
            neo4j_password=env.get("NEO4J_PASSWORD") or None,
            neo4j_reader_user=env.get("NEO4J_READER_USER") or None,
            neo4j_reader_password=env.get("NEO4J_READER_PASSWORD") or None,
            neo4j_database=env.get("NEO4J_DATABASE") or None,
            store_dir_override=Path(env["GRAPHREC_STORE_DIR"]).absolute()
            if env.get("GRAPHREC_STORE_DIR") else None,
            store_heap=env.get("GRAPHREC_STORE_HEAP") or cls.store_heap,
            reason_cache_size=_number(env, "GRAPHREC_REASON_CACHE_SIZE", int,
                                      cls.reason_cache_size, 0),
            catalogue_check_interval=_number(env, "GRAPHREC_CATALOGUE_CHECK_INTERVAL", float,
                                             cls.catalogue_check_interval, 0.0),
            model_check_interval=_number(env, "GRAPHREC_MODEL_CHECK_INTERVAL", float,
                                         cls.model_check_interval, 0.0),
            graph_check_interval=_number(env, "GRAPHREC_GRAPH_CHECK_INTERVAL", float,
                                         cls.graph_check_interval, 1.0),
            topk_index_items=_number(env, "GRAPHREC_TOPK_INDEX_ITEMS", int,
                                     cls.topk_index_items, 0),
            retry_after=_number(env, "GRAPHREC_RETRY_AFTER", int, cls.retry_after, 0),
            web_workers=_number(env, "GRAPHREC_WEB_WORKERS", int, default_web_workers(), 1,
                                most_web_workers()),
            web_threads=_number(env, "GRAPHREC_WEB_THREADS", int, cls.web_threads, 1),
            web_timeout=_number(env, "GRAPHREC_WEB_TIMEOUT", int, cls.web_timeout, 1),
            web_accesslog=env.get("GRAPHREC_WEB_ACCESSLOG") or cls.web_accesslog,
            train_nice=min(_number(env, "GRAPHREC_TRAIN_NICE", int, cls.train_nice, 0), 19),
        )

    @property
    def uses_local_store(self) -> bool:
        return self.neo4j_uri is None

    @property
    def database(self) -> str:
        """The database every query names (drivers must never rely on a server default)."""
        if self.neo4j_database:
            return self.neo4j_database
        return LOCAL_DATABASE if self.uses_local_store else "neo4j"

    @property
    def store_dir(self) -> Path:
        """The local store's files (GRAPHREC_STORE_DIR, default ``$GRAPHREC_HOME/store``)."""
        return self.store_dir_override or self.home / "store"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def model_path(self) -> Path:
        """The model that the commands and the service use (``graphrec train`` replaces it)."""
        return self.models_dir / "current"

    @property
    def folds_dir(self) -> Path:
        """The new items' fold-ins that the processes serving the model share
        (:mod:`graphrec.serving.folds`)."""
        return self.home / "folds"

    @property
    def rejects_dir(self) -> Path:
        return self.home / "rejects"
