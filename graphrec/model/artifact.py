"""A trained model on disk: one directory, written atomically, loaded without unpickling code.

Layout (``FORMAT_VERSION`` 1)::

    manifest.json   format and library versions, model class, data fingerprint, sha256 per file
    config.json     the model's hyper-parameters and the training config
    weights.pt      ``torch.save(model.state_dict())`` (tensors only; the graph is in it)
    ids.json        users, items, brands and categories: index → id, as the model numbers them
    metrics.json    validation (and any other) metrics and the training history

:func:`save` writes everything into a temporary directory beside the target and moves it into
place with ``os.replace``, so a reader sees the old artifact or the new one, never half of one.
:func:`load` checks the format, the checksums and (given the data) the fingerprint, and fails
with :class:`ArtifactError` saying which.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import graphrec
from graphrec.dataset import GraphData
from graphrec.model.kgrec import KGRec

FORMAT_VERSION = 1
FILES = ("config.json", "weights.pt", "ids.json", "metrics.json")
MODEL_CLASSES = {"KGRec": KGRec}


class ArtifactError(RuntimeError):
    """An artifact cannot be used: unreadable, corrupted, of another format, or for other data."""


@dataclass
class Artifact:
    """A loaded artifact: the model (in eval mode) and what was saved with it."""

    model: KGRec
    config: dict[str, Any]
    ids: dict[str, list[str]]
    metrics: dict[str, Any]
    manifest: dict[str, Any]

    @property
    def fingerprint(self) -> str:
        return self.manifest["fingerprint"]

    @property
    def version(self) -> str:
        """A short name of this model: its data fingerprint and weights checksum."""
        return f"{self.manifest['fingerprint']}-{self.manifest['sha256']['weights.pt'][:8]}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def save(path: str | Path, model: KGRec, data: GraphData, config: dict[str, Any] | None = None,
         metrics: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (trained on ``data``) as an artifact directory at ``path``.

    An artifact already at ``path`` is replaced as a whole. ``config`` is the training config
    (e.g. ``dataclasses.asdict(TrainConfig)``), ``metrics`` anything JSON-able to keep with it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
        torch.save(state, tmp / "weights.pt")
        _write_json(tmp / "config.json", {"model": model.hparams(), "train": config or {}})
        _write_json(tmp / "ids.json", {name: getattr(data, name).tolist()
                                       for name in ("users", "items", "brands", "categories")})
        _write_json(tmp / "metrics.json", metrics or {})
        _write_json(tmp / "manifest.json", {
            "format_version": FORMAT_VERSION, "graphrec_version": graphrec.__version__,
            "torch_version": torch.__version__, "model_class": type(model).__name__,
            "fingerprint": data.fingerprint(),
            "sha256": {name: _sha256(tmp / name) for name in FILES}})
        os.chmod(tmp, 0o755)
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
            try:
                os.replace(tmp, path)
            except OSError:
                os.replace(old / path.name, path)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: unreadable ({exc})") from exc


def load(path: str | Path, data: GraphData | None = None,
         device: str | torch.device | None = None) -> Artifact:
    """Load the artifact at ``path``; with ``data``, also check it was trained on that data.

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
        raise ArtifactError(f"{path}: artifact format {version!r}, this graphrec "
                            f"({graphrec.__version__}) reads format {FORMAT_VERSION}; retrain")
    model_class = MODEL_CLASSES.get(manifest.get("model_class"))
    if model_class is None:
        raise ArtifactError(f"{path}: unknown model class {manifest.get('model_class')!r}")
    for name in FILES:
        file = path / name
        if not file.exists():
            raise ArtifactError(f"{path}: {name} is missing")
        expected = manifest.get("sha256", {}).get(name)
        if _sha256(file) != expected:
            raise ArtifactError(f"{path}: {name} does not match its checksum in manifest.json "
                                "(corrupted or edited); retrain or restore the artifact")
    if data is not None and data.fingerprint() != manifest.get("fingerprint"):
        raise ArtifactError(
            f"{path}: trained on data with fingerprint {manifest.get('fingerprint')}, "
            f"but this data has {data.fingerprint()}; retrain on the current data")
    config = _read_json(path / "config.json")
    try:
        state = torch.load(path / "weights.pt", map_location="cpu", weights_only=True)
        model = model_class.from_state_dict(config["model"], state)
    except (KeyError, TypeError, ValueError, RuntimeError, OSError) as exc:
        raise ArtifactError(f"{path}: weights do not fit the saved model config: {exc}") from exc
    if device is not None:
        model = model.to(device)
    model.eval()
    return Artifact(model=model, config=config, ids=_read_json(path / "ids.json"),
                    metrics=_read_json(path / "metrics.json"), manifest=manifest)
