"""The MLflow UI over a workspace's embedded store."""

from __future__ import annotations

import os
import subprocess
import sys

from yolops.errors import TrackingError
from yolops.workspace import Workspace


def ui_command(ws: Workspace, host: str = "127.0.0.1", port: int = 5000) -> list[str]:
    """The ``mlflow server`` command line serving the workspace's store and artifacts."""
    if not ws.embedded:
        raise TrackingError(
            f"{ws.tracking_uri} is a tracking server: open it in a browser, it has its own UI"
        )
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        ws.tracking_uri,
        "--default-artifact-root",
        ws.artifact_root,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]


def run_ui(ws: Workspace, host: str = "127.0.0.1", port: int = 5000) -> int:
    """Run the UI in the foreground until interrupted; returns its exit code."""
    ws.prepare()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    proc = subprocess.Popen(ui_command(ws, host, port), env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        return 0
