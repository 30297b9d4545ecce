"""One resolver from a model reference to a local model file.

    resolve_model("runs/train/exp/weights/best.pt")   # a file: itself
    resolve_model("shapes@production")               # NAME@ALIAS
    resolve_model("shapes/3")                        # NAME/VERSION (models:/ prefixes work too)
    resolve_model("runs:/<run id>")                  # the model a training run logged

Registered versions are immutable, so their files are downloaded once into the
workspace's model cache; an alias is looked up on every call (it moves). The ONNX
graph of the model is returned for the ONNX backend, the run's ``best.pt`` for
``backend='torch'``. :func:`yolops.infer.predictor.load_predictor` then loads it,
so ``Detector("shapes@production")`` and ``yolops predict --model shapes@production``
work, and so does every later part that loads models.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import mlflow.artifacts

from yolops.errors import ModelError, TrackingError
from yolops.infer.predictor import Predictor, load_predictor
from yolops.track.store import (
    ALIAS_REF,
    VERSION_REF,
    get_run,
    mlflow_error,
    model_version,
    store_errors,
)
from yolops.workspace import Workspace, quiet_mlflow

RUN_REF = re.compile(r"^runs:/(?P<run>[0-9a-zA-Z]+)/?(?P<path>.*)$")


def is_reference(ref: str | Path) -> bool:
    """Whether ``ref`` names a run or a registered model rather than a file; an
    existing file always wins."""
    text = str(ref)
    if Path(text).exists():
        return False
    return bool(
        RUN_REF.match(text)
        or text.startswith("models:/")
        or ALIAS_REF.match(text)
        or VERSION_REF.match(text)
    )


def resolve_model(
    ref: str | Path, workspace: Workspace | None = None, backend: str = "auto"
) -> Path:
    """A local model file (.onnx or .pt) for ``ref``; see the module docstring.
    A path that is not a reference is returned as it is (the loader checks it)."""
    if not is_reference(ref):
        return Path(ref)
    quiet_mlflow()
    ws = workspace or Workspace.resolve()
    text = str(ref)
    run_ref = RUN_REF.match(text)
    if run_ref:
        return _from_run(ws, run_ref.group("run"), run_ref.group("path"), backend)
    return _from_registry(ws, text, backend)


def _weights_name(backend: str) -> str:
    return "best.pt" if backend == "torch" else "best.onnx"


def _from_run(ws: Workspace, run_id: str, path: str, backend: str) -> Path:
    get_run(ws, run_id)  # a clear error for an unknown run
    path = path.strip("/")
    if path in ("", "model"):
        path = f"weights/{_weights_name(backend)}"
    return _download(
        ws, f"runs:/{run_id}/{path}", ws.root / "cache" / "runs" / run_id / path, f"run {run_id}"
    )


def _from_registry(ws: Workspace, ref: str, backend: str) -> Path:
    mv = store_errors(model_version)(ws, ref)
    what = f"model {mv.name} version {mv.version}" + (f" ({ref})" if "@" in ref else "")
    cache = ws.model_cache / mv.name / str(mv.version)
    if backend == "torch":
        if not mv.run_id:
            raise ModelError(
                f"{what} has no training run, so no PyTorch weights; use the ONNX backend"
            )
        return _download(ws, f"runs:/{mv.run_id}/weights/best.pt", cache / "best.pt", what)
    folder = _download(ws, f"models:/{mv.name}/{mv.version}", cache / "model", what)
    graphs = sorted(folder.rglob("*.onnx"))
    if not graphs:  # MLflow "downloads" a missing folder as an empty one
        shutil.rmtree(folder, ignore_errors=True)
        raise ModelError(
            f"{what}: no ONNX graph can be read from its files at {mv.source} "
            "(were they deleted from the artifact store?)"
        )
    return graphs[0]


def _download(ws: Workspace, uri: str, target: Path, what: str) -> Path:
    """``uri`` downloaded to ``target`` (file or folder), once: the partial download
    of an interrupted call is never taken for a finished one."""
    if target.exists():
        return target
    staging = target.parent / f".{target.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        with ws.active():
            got = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(staging)))
    except Exception as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise TrackingError(
            f"{what}: its files at {uri} cannot be read from {ws.tracking_uri}: {mlflow_error(e)}"
        ) from None
    got.replace(target) if got != staging else staging.replace(target)
    shutil.rmtree(staging, ignore_errors=True)
    return target


def load_model(
    ref: str | Path,
    workspace: Workspace | None = None,
    backend: str = "auto",
    device: str = "auto",
    threads: int = 0,
) -> Predictor:
    """A loaded predictor for any model reference: :func:`resolve_model`, then
    :func:`~yolops.infer.predictor.load_predictor`."""
    return load_predictor(resolve_model(ref, workspace, backend), backend, device, threads)
