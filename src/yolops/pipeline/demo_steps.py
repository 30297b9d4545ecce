"""The operational steps of `yolops demo`, each a plain use of the library API:
register and promote a training, serve a model and ask it about an image, serve
``NAME@production`` to ordinary and then darkened traffic and let monitoring tell
the two apart."""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
from rich.console import Console

from yolops.data.images import read_image
from yolops.detector import Detector
from yolops.errors import PromotionRefused, YolopsError
from yolops.identity import KeyStore
from yolops.monitor.drift import MonitorConfig
from yolops.monitor.report import write_monitor_html
from yolops.monitor.to_label import write_label_batch
from yolops.monitor.watch import monitor
from yolops.serve.config import ServeConfig
from yolops.serve.server import background_server
from yolops.track.registry import promote, register_model
from yolops.track.resolve import resolve_model
from yolops.track.store import model_version
from yolops.track.tracking import log_run_folder, read_state
from yolops.train.trainer import TrainResult
from yolops.workspace import Workspace

DARKEN = 0.35  # the "camera fault": pixel values scaled by this


def register_and_promote(
    workspace: str | Path | Workspace,
    train_result: TrainResult | str | Path,
    source: Any = None,
    name: str = "shapes-detector",
    alias: str = "production",
    console: Console | None = None,
) -> dict[str, Any]:
    """After a training: make sure it is an MLflow run in ``workspace`` (a training
    already tracked there is reused; otherwise its run folder is logged), register
    its model as the next version of ``name``, promote that version to ``alias``
    (the gate may keep the current holder; the demo says so and goes on), and predict
    ``source`` (any prediction source; none: skip) with ``NAME@alias``.

    Returns ``run_id``, ``version``, ``promoted`` (bool), ``reason``, ``reference``
    (``NAME@alias``), ``served_version`` (the version the alias points at) and
    ``detections`` (one :class:`Detections` per image of ``source``)."""
    console = console or Console()
    ws = workspace if isinstance(workspace, Workspace) else Workspace.resolve(workspace)
    run_dir = Path(train_result.run_dir if isinstance(train_result, TrainResult) else train_result)
    state = read_state(run_dir)
    if (
        state.get("completed")
        and state.get("run_id")
        and state.get("tracking_uri") == ws.tracking_uri
    ):
        run_id = state["run_id"]
    else:
        run_id = log_run_folder(ws, run_dir, console=console)
    console.print(f"   tracked as MLflow run [bold]{run_id}[/] ({ws.describe()})")
    mv = register_model(ws, run_id, name, description="trained by yolops demo")
    console.print(f"   registered [bold]{name}/{mv.version}[/]")
    try:
        p = promote(ws, name, mv.version, alias)
        promoted, reason = True, p.reason
        console.print(f"   promoted {name}/{mv.version} to [bold]{name}@{alias}[/]: {reason}")
    except PromotionRefused as e:
        promoted, reason = False, str(e)
        console.print(f"   [yellow]not promoted:[/] {reason}")
    reference = f"{name}@{alias}"
    served = str(model_version(ws, reference).version)
    detections = []
    if source is not None:
        detector = Detector(reference, workspace=ws)
        detections = detector.predict(source)
        console.print(
            f"   predicted {len(detections)} image(s) with [bold]{reference}[/] "
            f"(version {served}): "
            f"{sum(len(d) for d in detections)} boxes"
        )
    return {
        "run_id": run_id,
        "version": str(mv.version),
        "promoted": promoted,
        "reason": reason,
        "reference": reference,
        "served_version": served,
        "detections": detections,
    }


def serve_and_ask(
    model: str | Path, image: str | Path, workspace: str | Path | None = None, timeout: float = 60.0
) -> dict:
    """Serve ``model`` on 127.0.0.1 (a free port, API keys on, a fresh predict key),
    POST ``image`` to /v1/predict, stop the server and return the JSON answer:
    ``{"model": {"name", "version"}, "results": [{"name", "width", "height",
    "detections": [{"box", "score", "class_id", "class_name"}]}], "batch_size",
    "latency_ms", "url"}``. The key database and prediction log go to ``workspace``
    (a temporary folder when None)."""
    image = Path(image)
    if not image.is_file():
        raise YolopsError(f"{image}: image file does not exist")
    with tempfile.TemporaryDirectory(prefix="yolops-serve-") as tmp:
        root = Path(workspace) if workspace else Path(tmp)
        url = (
            f"sqlite:///{root / 'yolops.db'}"
            if workspace is None
            else Workspace.resolve(root).database_url
        )
        key, _ = KeyStore(url).create("demo", role="predict")
        config = ServeConfig(
            model=str(model), port=0, database_url=url, workspace=str(root), reload_interval=0
        )
        with background_server(config) as server:
            with httpx.Client(
                base_url=server.url, timeout=timeout, headers={"Authorization": f"Bearer {key}"}
            ) as c:
                reply = c.post("/v1/predict", files=[("images", (image.name, image.read_bytes()))])
        if reply.status_code != 200:
            raise YolopsError(f"the server answered {reply.status_code}: {reply.text[:300]}")
        return {**reply.json(), "url": server.url}


def serve_drift_and_monitor(
    workspace: Path | Workspace, reference: str, images: list[Path], out: Path
) -> dict:
    """Each of ``images`` is sent once as it is, then once darkened (repeats would
    make the tests see more evidence than there is). With fewer than 30 images the
    verdict needs only as many as there are. Returns ``quiet`` and ``dark``
    (:class:`~yolops.monitor.drift.MonitorReport`), ``html`` (the dark window's report)
    and ``to_label`` (:class:`~yolops.monitor.to_label.LabelBatch`)."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace.resolve(workspace)
    db = ws.database_url
    key, _ = KeyStore(db).create("demo-monitor", role="predict")
    ordinary = [(Path(p).name, Path(p).read_bytes()) for p in images]  # as a camera sends them
    dark = [
        (Path(p).name, _encode((read_image(p) * DARKEN).astype(np.uint8), Path(p).suffix))
        for p in images
    ]
    config = ServeConfig(
        model=reference,
        port=0,
        workspace=str(ws.root),
        database_url=db,
        reload_interval=0,
        log_sample_rate=1.0,
    )
    with background_server(config) as server:
        with httpx.Client(base_url=server.url, timeout=60, headers={"X-API-Key": key}) as c:
            t0 = datetime.now(UTC)
            _send(c, ordinary)
            t1 = datetime.now(UTC)
            _send(c, dark)
            t2 = datetime.now(UTC)
    # The server has stopped, so its prediction log is written.
    config = MonitorConfig(min_images=min(MonitorConfig.min_images, len(images)))
    quiet = monitor(reference, window=t1 - t0, end=t1, workspace=ws, database_url=db, config=config)
    dark_report = monitor(
        reference, window=t2 - t1, end=t2, workspace=ws, database_url=db, config=config
    )
    html = write_monitor_html(dark_report, out / "monitor.html")
    model = resolve_model(f"{dark_report.model_name}/{dark_report.model_version}", ws)
    target = out / "to-label"
    if target.exists():
        shutil.rmtree(target)
    batch = write_label_batch(dark_report, target, model)
    return {"quiet": quiet, "dark": dark_report, "html": html, "to_label": batch}


def _encode(image: np.ndarray, suffix: str) -> bytes:
    """``image`` in the format of the file it came from."""
    ok, data = cv2.imencode(
        suffix if suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp") else ".png",
        cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
    )
    return data.tobytes()


def _send(client, files: list[tuple[str, bytes]]) -> None:
    for name, blob in files:
        r = client.post("/v1/predict", files=[("images", (name, blob))])
        if r.status_code != 200:
            raise YolopsError(f"the server answered {r.status_code}: {r.text[:300]}")
