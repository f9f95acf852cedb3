"""A trained model on disk: one directory, written atomically, read without torch or the store.

Layout (``FORMAT_VERSION`` 2)::

    manifest.json   format and library versions, model class, data fingerprint, what the model
                    was trained on (``trained_on``: the graph's counts and the time), sha256 per
                    file
    config.json     the model's hyper-parameters, the training config and the serving arrays'
                    metadata
    weights.pt      ``torch.save(model.state_dict())`` (for training on; serving never reads it)
    ids.json        users, items, brands and categories: index → id, as the model numbers them
    metrics.json    validation (and any other) metrics and the training history
    arrays/*.npy    the graph the model was trained on (:class:`~graphrec.dataset.GraphData`'s
                    edge arrays, and its items' products when their titles were known), the
                    test split's purchases (never learnt from: counted in the sentences) and
                    the propagated model (:class:`~graphrec.model.kernel.Propagated`)

Everything a server needs to answer is here, so a worker starts without reading the graph out
of the store, and a store whose data changed since training cannot stop it: the model is then
*stale* (see :func:`graph_counts`), not unusable. :func:`load` memory-maps the arrays
(``mmap_mode="r"``), so the workers of one server share their pages instead of each holding a
copy, and imports neither torch nor pandas.

:func:`save` writes everything into a temporary directory beside the target and moves it into
place with ``os.replace``, so a reader sees the old artifact or the new one, never half of one.
:func:`load` checks the format and the checksums, and fails with :class:`ArtifactError` saying
which.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import graphrec
from graphrec.dataset import GraphData
from graphrec.explain.paths import PathFinder
from graphrec.model.kernel import Propagated
from graphrec.private import make_private, private_folder
from graphrec.schema import LINK_RELATIONS

if TYPE_CHECKING:
    from graphrec.model.kgrec import KGRec
    from graphrec.store.connection import GraphStore

FORMAT_VERSION = 2
FILES = ("config.json", "weights.pt", "ids.json", "metrics.json")
MODEL_CLASSES = ("KGRec",)
#: GraphData's edge arrays kept in the artifact (links as ``link_<relation>``).
GRAPH_ARRAYS = ("train", "item_brand", "item_category", "category_parent")
#: GraphData's arrays kept when it has them: an artifact without one was trained on data
#: without (an empty array). ``test``: the purchases held out from training, which the model
#: never learns from (:data:`~graphrec.schema.LEARNT_SPLITS`); kept so that the counts people
#: read quote every purchase the store holds (an artifact saved before had none: its counts
#: are of the train purchases until it is trained again).
OPTIONAL_ARRAYS = ("item_product", "test")
#: The prefix of the path index's arrays in ``arrays/``.
PATH_INDEX = "paths_"
#: The counts :func:`graph_counts` reads, in the order they are reported.
COUNTS = ("users", "items", "purchases", "links")
#: The marker :func:`graph_counts` reads beside them: a new value at every change of an item's
#: brand or categories or of the hierarchy (``cypher/catalogue/reshaped.cypher``), which leaves
#: the counts alone.
SHAPE = "shape"


class ArtifactError(RuntimeError):
    """An artifact cannot be used: unreadable, corrupted, of another format, or for other data.

    ``reason`` says why without naming where the artifact lives (what an HTTP client may be
    told); the message names both."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.reason = reason


class SaveError(OSError):
    """An artifact that could not be written (a full disk, a file-size limit): says where and
    why in one line. The artifact that was there before stays."""

    def __str__(self) -> str:
        return f"the model could not be written to {self.filename}: {self.strerror}"


@dataclass
class Artifact:
    """A loaded artifact: the model as arrays, the graph it was trained on, what came with it."""

    state: Propagated
    data: GraphData
    config: dict[str, Any]
    ids: dict[str, list[str]]
    metrics: dict[str, Any]
    manifest: dict[str, Any]
    path: Path
    #: The path index of ``data`` (:meth:`graphrec.explain.paths.PathFinder.index`), read;
    #: ``None`` for an artifact saved without one, or once ``data`` is no longer the graph
    #: it indexes (new items folded in).
    path_index: dict[str, np.ndarray] | None = None

    @property
    def fingerprint(self) -> str:
        return self.manifest["fingerprint"]

    @property
    def version(self) -> str:
        """A short name of this model: its data fingerprint and weights checksum."""
        return f"{self.manifest['fingerprint']}-{self.manifest['sha256']['weights.pt'][:8]}"

    @property
    def trained_on(self) -> dict[str, Any]:
        """The graph's counts when the model was trained, and when (``trained_at``, UTC)."""
        return dict(self.manifest.get("trained_on") or {})

    def load_model(self, device: str | None = None) -> KGRec:
        """The torch model (to train on or to evaluate); serving never needs it."""
        import torch

        from graphrec.model.kgrec import KGRec

        try:
            state = torch.load(self.path / "weights.pt", map_location="cpu", weights_only=True)
            model = KGRec.from_state_dict(self.config["model"], state)
        except (KeyError, TypeError, ValueError, RuntimeError, OSError) as exc:
            raise ArtifactError(self.path, f"weights do not fit the saved model config: "
                                f"{exc}") from exc
        return (model.to(device) if device is not None else model).eval()


def graph_counts(store: GraphStore) -> dict[str, Any]:
    """The graph's size now, cheaply (``cypher/service/graph_counts.cypher``), and its
    :data:`SHAPE` marker: what an artifact records as ``trained_on`` and the service compares
    with to say whether a model is stale."""
    row = store.read_once("service/graph_counts")[0]
    return {**{name: int(row[name]) for name in COUNTS}, SHAPE: row[SHAPE]}


def is_stale(trained_on: dict[str, Any], graph_now: dict[str, Any]) -> bool:
    """Whether the graph differs from the one the model was trained on (an artifact without
    counts is taken as stale: nothing says otherwise; one trained before the :data:`SHAPE`
    marker was recorded, by its counts alone)."""
    return any(trained_on.get(name) != graph_now.get(name) for name in COUNTS) or (
        SHAPE in trained_on and trained_on[SHAPE] != graph_now.get(SHAPE))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _graph_arrays(data: GraphData) -> dict[str, np.ndarray]:
    """The graph and its path index (``paths_<name>``): a command reads the index instead of
    sorting the graph's purchases and links again, which takes longer than its answer."""
    arrays = {name: getattr(data, name) for name in GRAPH_ARRAYS}
    arrays.update({name: getattr(data, name) for name in OPTIONAL_ARRAYS
                   if len(getattr(data, name))})
    arrays.update({f"link_{rel}": pairs for rel, pairs in data.links.items()})
    arrays.update({f"{PATH_INDEX}{name}": array
                   for name, array in PathFinder(data).index().items()})
    return arrays


def save(path: str | Path, model: KGRec, data: GraphData, config: dict[str, Any] | None = None,
         metrics: dict[str, Any] | None = None,
         trained_on: dict[str, int] | None = None) -> Path:
    """Write ``model`` (trained on ``data``) as an artifact directory at ``path``.

    An artifact already at ``path`` is replaced as a whole. ``config`` is the training config
    (e.g. ``dataclasses.asdict(TrainConfig)``), ``metrics`` anything JSON-able to keep with it,
    ``trained_on`` the store's :func:`graph_counts` when the graph was read.
    """
    import torch

    path = Path(path)
    private_folder(path.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
        # through a Python file: the OS's error reaches torch's own as its context, where a
        # path written by torch's C++ stream fails with no errno ("iostream error")
        with (tmp / "weights.pt").open("wb") as file:
            torch.save(state, file)
        served = model.eval().propagated()
        arrays = {**_graph_arrays(data), **{name: getattr(served, name)
                                            for name in Propagated.ARRAYS}}
        (tmp / "arrays").mkdir()
        for name, array in arrays.items():
            np.save(tmp / "arrays" / f"{name}.npy", np.ascontiguousarray(array))
        _write_json(tmp / "config.json", {"model": model.hparams(), "train": config or {},
                                          "serving": served.meta(),
                                          "links": sorted(data.links)})
        _write_json(tmp / "ids.json", {name: getattr(data, name).tolist()
                                       for name in ("users", "items", "brands", "categories")})
        _write_json(tmp / "metrics.json", metrics or {})
        files = [*FILES, *(f"arrays/{name}.npy" for name in arrays)]
        _write_json(tmp / "manifest.json", {
            "format_version": FORMAT_VERSION, "graphrec_version": graphrec.__version__,
            "torch_version": torch.__version__, "model_class": type(model).__name__,
            "fingerprint": data.fingerprint(),
            "trained_on": {**(trained_on or {}),
                           "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
            "sha256": {name: _sha256(tmp / name) for name in files}})
        make_private(tmp)  # purchases and user ids: the owner's only, as mkdtemp made tmp
        _replace(tmp, path)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        failed = _os_error(exc)
        if failed is not None:
            # numpy's short write is an OSError of its own words only ("N requested and M
            # written"), without an errno: a full disk, most likely
            raise SaveError(failed.errno, failed.strerror or str(failed), str(path)) from exc
        raise
    return path


def _os_error(exc: BaseException) -> OSError | None:
    """The OS's error behind a failed write: ``exc`` itself, or what torch's serialiser was
    handling when it raised its own ``RuntimeError``."""
    if isinstance(exc, OSError):
        return exc
    if isinstance(exc, RuntimeError) and isinstance(exc.__context__, OSError):
        return exc.__context__
    return None


def _replace(tmp: Path, path: Path) -> None:
    """Move the finished ``tmp`` to ``path``, replacing what is there."""
    if not path.exists():
        os.replace(tmp, path)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
    os.replace(path, old / path.name)
    try:
        os.replace(tmp, path)
    except OSError:
        os.replace(old / path.name, path)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(path, f"unreadable ({exc})") from exc


def _check(path: Path, manifest: dict[str, Any], names: list[str], hash_arrays: bool) -> None:
    """Every file present; its checksum right (the arrays' and the weights' only when
    ``hash_arrays``: reading them through costs a tenth of a second per 60 MB, which a command
    answering in under a second does without; the arrays' headers and sizes are still checked
    as they are mapped, and serving never reads the weights)."""
    for name in names:
        file = path / name
        if not file.exists():
            raise ArtifactError(path, f"{name} is missing")
        if (name.endswith(".npy") or name == "weights.pt") and not hash_arrays:
            continue
        if _sha256(file) != manifest.get("sha256", {}).get(name):
            raise ArtifactError(path, f"{name} does not match its checksum in manifest.json "
                                "(corrupted or edited); retrain or restore the artifact")


def _array(path: Path, name: str, mapped: bool = True) -> np.ndarray:
    try:
        return np.load(path / "arrays" / f"{name}.npy", mmap_mode="r" if mapped else None,
                       allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ArtifactError(path, f"arrays/{name}.npy is unreadable ({exc}); retrain") from exc


def load(path: str | Path, hash_arrays: bool = True) -> Artifact:
    """Load the artifact at ``path``: the serving arrays memory-mapped, the graph it was trained
    on, its ids and metadata (the torch model only on :meth:`Artifact.load_model`).

    Raises ``FileNotFoundError`` when there is no artifact at ``path`` and
    :class:`ArtifactError` when there is one that cannot be used.
    """
    path = Path(path)
    manifest_path = path / "manifest.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"no model artifact at {path} (missing manifest.json)")
    manifest = _read_json(manifest_path)
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if version != FORMAT_VERSION:
        raise ArtifactError(path, f"artifact format {version!r}, this graphrec "
                            f"({graphrec.__version__}) reads format {FORMAT_VERSION}; retrain")
    if manifest.get("model_class") not in MODEL_CLASSES:
        raise ArtifactError(path, f"unknown model class {manifest.get('model_class')!r}")
    _check(path, manifest, [*FILES, *sorted(n for n in manifest.get("sha256", {})
                                            if n.startswith("arrays/"))], hash_arrays)
    config, ids = _read_json(path / "config.json"), _read_json(path / "ids.json")
    try:
        state = Propagated.from_arrays({name: _array(path, name) for name in Propagated.ARRAYS},
                                       config["serving"])
        optional = {name: _array(path, name) for name in OPTIONAL_ARRAYS
                    if f"arrays/{name}.npy" in manifest.get("sha256", {})}
        data = GraphData(
            **{name: np.array(ids[name], dtype=object)
               for name in ("users", "items", "brands", "categories")},
            **{name: _array(path, name) for name in GRAPH_ARRAYS},
            test=optional.pop("test", np.zeros((0, 2), dtype=np.int64)),
            links={rel: _array(path, f"link_{rel}") for rel in LINK_RELATIONS
                   if rel in config["links"]},
            **optional)
        sizes = config["model"]
        nodes = sizes["num_items"] + sizes["num_brands"] + sizes["num_categories"]
    except (KeyError, TypeError) as exc:
        raise ArtifactError(path, f"config.json lacks what the arrays need ({exc!r}); "
                            "retrain") from exc
    if (state.target.shape[0] != len(ids["items"]) or state.layers.shape[1] != nodes
            or len(data.item_product) not in (0, len(ids["items"]))):
        raise ArtifactError(path, "the arrays do not fit ids.json and config.json; retrain")
    # an artifact saved before the index was kept has none: serving then makes it
    indexed = all(f"arrays/{PATH_INDEX}{name}.npy" in manifest.get("sha256", {})
                  for name in PathFinder.INDEX)
    # read, not mapped: a request's walks touch its rows here and there, and a page first
    # touched through a mapping costs a fault in every worker (a fifth of a first visit's CPU
    # on Beauty); read before gunicorn forks, the workers share the pages all the same
    path_index = ({name: _array(path, f"{PATH_INDEX}{name}", mapped=False)
                   for name in PathFinder.INDEX} if indexed else None)
    return Artifact(state=state, data=data, config=config, ids=ids,
                    metrics=_read_json(path / "metrics.json"), manifest=manifest, path=path,
                    path_index=path_index)
