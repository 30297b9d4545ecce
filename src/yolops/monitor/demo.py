"""The monitoring step of `yolops demo`: serve NAME@production, send it ordinary
images and then the same images darkened (a failing camera), and let the monitor
tell the two windows apart, report, and export the flagged images for labeling."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from yolops.data.images import read_image
from yolops.workspace import Workspace

DARKEN = 0.35  # the "camera fault": pixel values scaled by this


def serve_drift_and_monitor(
    workspace: Path | Workspace, reference: str, images: list[Path], out: Path
) -> dict:
    """Each of ``images`` is sent once as it is, then once darkened (repeats would
    make the tests see more evidence than there is). With fewer than 30 images the
    verdict needs only as many as there are. Returns ``quiet`` and ``dark``
    (:class:`~yolops.monitor.drift.MonitorReport`), ``html`` (the dark window's report)
    and ``export`` (:class:`ExportResult`)."""
    import httpx

    from yolops.identity import KeyStore
    from yolops.monitor.drift import MonitorConfig
    from yolops.monitor.export import export_batch
    from yolops.monitor.report import write_monitor_html
    from yolops.monitor.watch import monitor
    from yolops.serve.config import ServeConfig
    from yolops.serve.server import background_server
    from yolops.track.resolve import resolve_model

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
        import shutil

        shutil.rmtree(target)
    exported = export_batch(dark_report, target, model)
    return {"quiet": quiet, "dark": dark_report, "html": html, "export": exported}


def _encode(image: np.ndarray, suffix: str) -> bytes:
    """``image`` in the format of the file it came from."""
    ok, data = cv2.imencode(
        suffix if suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp") else ".png",
        cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
    )
    return data.tobytes()


def _send(client, files: list[tuple[str, bytes]]) -> None:
    from yolops.errors import YolopsError

    for name, blob in files:
        r = client.post("/v1/predict", files=[("images", (name, blob))])
        if r.status_code != 200:
            raise YolopsError(f"the server answered {r.status_code}: {r.text[:300]}")
