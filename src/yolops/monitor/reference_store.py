"""Reference statistics kept with a registered model version.

The statistics (:class:`~yolops.monitor.reference.Reference`) are logged as an
artifact of the version's training run, ``monitoring/<name>-v<version>.json``, and
the version is tagged ``monitor.reference`` with that artifact's URI, so that any
machine that can read the registry finds them:

    uri = attach_reference(ws, "shapes/3")                 # from the run's own dataset
    uri = attach_reference(ws, "shapes/3", data="data.yaml")  # or from this one
    ref = load_reference(ws, "shapes@production")
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from yolops.errors import TrackingError, YolopsError
from yolops.monitor.reference import Reference, ReferenceError, build_reference
from yolops.track.tracking import TAG_REFERENCE
from yolops.workspace import Workspace


def attach_reference(
    ws: Workspace,
    ref: str,
    data: str | Path | None = None,
    max_images: int = 1000,
    progress: Callable[[int, int], None] | None = None,
) -> str:
    """Build the reference statistics of the model version ``ref`` names (served
    ONNX graph, on ``data`` or else the dataset its run trained on), store them with
    the version and return their URI. :class:`ReferenceError` says why it cannot."""
    from yolops.data.dataset import Dataset
    from yolops.track.registry import get_run, model_version, store_errors
    from yolops.track.resolve import resolve_model

    mv = store_errors(model_version)(ws, ref)
    what = f"model {mv.name} version {mv.version}"
    if not mv.run_id:
        raise ReferenceError(f"{what} has no training run to keep reference statistics with")
    run = store_errors(get_run)(ws, mv.run_id)
    source = str(data or run.data.tags.get("dataset.source", ""))
    if not source:
        raise ReferenceError(
            f"{what}: its run does not say which dataset it trained on; give --data DATA"
        )
    try:
        dataset = Dataset.load(source)
    except (YolopsError, OSError) as e:
        raise ReferenceError(
            f"{what}: cannot read its dataset {source} ({e}); give the data with "
            f"`yolops models reference {mv.name}/{mv.version} --data DATA`"
        ) from None
    model_path = resolve_model(f"{mv.name}/{mv.version}", ws)
    reference = build_reference(
        model_path,
        dataset,
        max_images=max_images,
        name=mv.name,
        version=str(mv.version),
        progress=progress,
    )
    artifact = f"monitoring/{mv.name}-v{mv.version}.json"
    client = ws.client()
    try:
        client.log_dict(mv.run_id, reference.to_dict(), artifact)
        uri = f"runs:/{mv.run_id}/{artifact}"
        client.set_model_version_tag(mv.name, mv.version, TAG_REFERENCE, uri)
    except Exception as e:
        from yolops.track.registry import mlflow_error

        raise TrackingError(
            f"{what}: cannot store its reference statistics in {ws.tracking_uri}: {mlflow_error(e)}"
        ) from None
    return uri


def load_reference(ws: Workspace, ref: str) -> Reference:
    """The reference statistics stored with the version ``ref`` names."""
    import mlflow.artifacts

    from yolops.track.registry import mlflow_error, model_version, store_errors

    mv = store_errors(model_version)(ws, ref)
    uri = (mv.tags or {}).get(TAG_REFERENCE)
    if not uri:
        raise ReferenceError(
            f"model {mv.name} version {mv.version} has no reference statistics; add them with "
            f"`yolops models reference {mv.name}/{mv.version} --data DATA`"
        )
    with tempfile.TemporaryDirectory() as tmp:
        try:
            with ws.active():
                path = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp))
            text = path.read_text()
        except Exception as e:
            raise ReferenceError(
                f"model {mv.name} version {mv.version}: cannot read its reference statistics "
                f"at {uri}: {mlflow_error(e)}"
            ) from None
    try:
        return Reference.from_dict(json.loads(text), uri)
    except json.JSONDecodeError as e:
        raise ReferenceError(f"{uri}: not JSON ({e.msg})") from None
