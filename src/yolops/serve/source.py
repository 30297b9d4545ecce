"""Where the served model comes from, and loading it for serving.

A :class:`ModelSource` is the small interface the server needs: a cheap
``fingerprint`` that changes when the model may have changed (polled every few
seconds), and ``resolve`` to a local file and a version. :class:`FileModelSource`
serves a file and reloads when the file is replaced. A registry alias
(``NAME@production``) fits the same interface: fingerprint = the version the alias
points at, resolve = the resolver's cached download
(:class:`RegistryModelSource`). :func:`model_source`
picks one for a ``--model`` value.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import numpy as np

from yolops.errors import ModelError
from yolops.infer.predictor import OnnxPredictor, load_predictor
from yolops.track.resolve import RUN_REF, is_reference, resolve_model
from yolops.track.store import VERSION_REF, get_run, model_version
from yolops.workspace import Workspace


@dataclass(frozen=True)
class ModelRef:
    """A resolved model: a local file, the model's name and the version served."""

    path: Path
    name: str
    version: str


class ModelSource(Protocol):
    def describe(self) -> str:
        """What is served, for messages (``best.onnx``, ``shapes@production``)."""
        ...

    def fingerprint(self) -> str:
        """Cheap; changes whenever :meth:`resolve` may give another model."""
        ...

    def resolve(self) -> ModelRef: ...


class FileModelSource:
    """A model file (.onnx, or a .pt checkpoint exported once to ONNX beside it).
    The version is the first 12 hex digits of the file's SHA-256, so the same bytes
    are the same version wherever they are served."""

    def __init__(self, path: str | Path, name: str | None = None):
        self.path = Path(path)
        self.name = name or self.path.stem

    def describe(self) -> str:
        return str(self.path)

    def fingerprint(self) -> str:
        try:
            st = self.path.stat()
        except OSError as e:
            raise ModelError(f"{self.path}: cannot read the model file ({e.strerror})") from None
        return f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"

    def resolve(self) -> ModelRef:
        digest = hashlib.sha256()
        try:
            with open(self.path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
        except OSError as e:
            raise ModelError(f"{self.path}: cannot read the model file ({e.strerror})") from None
        return ModelRef(self.path, self.name, digest.hexdigest()[:12])


class RegistryModelSource:
    """A model reference of the registry as what the server serves.

    ``NAME@ALIAS`` follows the alias and ``NAME`` (or ``models:/NAME``) its latest
    version: when either moves, the model watcher loads the new version and swaps it
    in. ``NAME/VERSION`` and ``runs:/<run id>`` never move, so their fingerprint is the
    reference itself and polling them costs no query. Files come from the resolver's
    cache (one download per version). A store or server that fails raises
    :class:`TrackingError` naming it; the watcher then keeps serving the old version.

        source = RegistryModelSource("shapes@production", Workspace.resolve())
        source.fingerprint()   # "2": the version the alias points at now (one query)
        source.resolve()       # ModelRef(<workspace>/cache/models/shapes/2/..., "shapes", "2")
    """

    def __init__(self, ref: str, workspace: Workspace):
        self.ref = str(ref)
        self.workspace = workspace
        self._run = RUN_REF.match(self.ref)
        self.moves = not self._run and not VERSION_REF.match(self.ref)

    def describe(self) -> str:
        return self.ref

    def fingerprint(self) -> str:
        """The version the reference points at now (fixed references: themselves)."""
        if not self.moves:
            return self.ref
        return str(model_version(self.workspace, self.ref).version)

    def resolve(self) -> ModelRef:
        """The local ONNX file of the version the reference points at, named by the
        registered model and its version (a run: its name and id)."""
        if self._run:
            run_id = self._run.group("run")
            path = resolve_model(self.ref, self.workspace)
            run = get_run(self.workspace, run_id)
            return ModelRef(path, run.info.run_name or f"run-{run_id[:8]}", run_id)
        mv = model_version(self.workspace, self.ref)
        # The version pinned once: the alias may move between this query and the download.
        path = resolve_model(f"{mv.name}/{mv.version}", self.workspace)
        return ModelRef(path, mv.name, str(mv.version))


def model_source(config) -> ModelSource:
    """The source of ``config.model`` (a :class:`~yolops.serve.config.ServeConfig`):
    a registry reference (``NAME@ALIAS``, ``NAME/VERSION``, ``models:/NAME``,
    ``runs:/<id>``) in the workspace ``config.workspace`` with its tracking URI,
    else a model file (an existing file always wins)."""
    if not config.model:
        raise ModelError(
            "no model to serve: give a model file or a registry reference (NAME@ALIAS)"
        )
    if not Path(config.model).exists() and is_reference(config.model):
        return RegistryModelSource(config.model, config.resolved_workspace)
    return FileModelSource(config.model)


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A predictor ready to serve and what it is."""

    predictor: OnnxPredictor
    ref: ModelRef
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def describe(self) -> dict:
        p = self.predictor
        return {
            "name": self.ref.name,
            "version": self.ref.version,
            "path": str(self.ref.path),
            "class_names": list(p.class_names),
            "imgsz": p.imgsz,
            "kind": p.kind,
            "loaded_at": self.loaded_at.isoformat(),
        }


def load_model(ref: ModelRef, threads: int = 0) -> LoadedModel:
    """An ONNX Runtime predictor for ``ref`` (:func:`~yolops.infer.predictor.load_predictor`)
    with ``threads`` intra-op threads, run once on a blank image so that the first
    request pays no warm-up and a graph that loads but cannot run is refused here, not
    on a request."""
    predictor = load_predictor(ref.path, backend="onnx", threads=threads)
    try:
        predictor.predict([np.zeros((predictor.imgsz, predictor.imgsz, 3), np.uint8)])
    except Exception as e:  # ORT's own error types
        raise ModelError(
            f"{ref.path}: the model loads but does not run ({type(e).__name__}: {e})"
        ) from None
    return LoadedModel(predictor, ref)
