"""The demo's tracking step, and `yolops ui` serving the workspace on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest

from yolops.errors import TrackingError
from yolops.pipeline.demo_steps import register_and_promote
from yolops.track.ui import ui_command
from yolops.workspace import Workspace

from track_support import free_port


def test_track_register_promote_then_predict_with_production(
    workspace, trained_run, shapes_yaml, tmp_path
):
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    images = shapes_yaml.parent / "images" / "val"
    first = register_and_promote(workspace, run_dir, source=images, name="demo-shapes")
    assert first["version"] == "1" and first["promoted"] and first["served_version"] == "1"
    assert first["reference"] == "demo-shapes@production"
    assert len(first["detections"]) == len(list(images.iterdir()))
    again = register_and_promote(
        workspace, run_dir, name="demo-shapes"
    )  # same training: reused run
    assert again["run_id"] == first["run_id"] and again["version"] == "2"
    assert again["promoted"] and again["served_version"] == "2" and again["detections"] == []


def test_ui_serves_the_workspace_on_localhost(workspace):
    port = free_port()
    cmd = ui_command(workspace, port=port)
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "yolops.cli.main",
            "ui",
            "--port",
            str(port),
            "--workspace",
            str(workspace.root),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        deadline, body = time.monotonic() + 120, ""
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search?max_results=10",
                    timeout=2,
                ) as r:
                    body = r.read().decode()
                    break
            except OSError:
                time.sleep(0.5)
        assert '"experiments"' in body, (
            proc.stdout.read() if proc.poll() is not None else "no answer"
        )
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=60)


def test_ui_refuses_a_tracking_server():
    with pytest.raises(TrackingError, match="has its own UI"):
        ui_command(Workspace.resolve("x", tracking_uri="http://127.0.0.1:5000"))
