"""The whole flow against a real `mlflow server` on 127.0.0.1 (started and stopped
here): train, register, promote, load NAME@production; then the server goes away
in the middle of a training, which still completes with every local file."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from rich.console import Console

from yolops.detector import Detector
from yolops.track.registry import describe, promote, register_model
from yolops.track.tracking import GATE_METRIC, MLflowTracker, read_state
from yolops.train.trainer import TrainCallback, train
from yolops.workspace import Workspace

from track_support import free_port, tiny_config


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"mlflow server exited with {proc.returncode}: {proc.stdout.read()[-2000:]}"
            )
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"mlflow server at {url} did not answer within {timeout} s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=60)


@pytest.fixture
def mlflow_server(tmp_path):
    """A tracking server with its own SQLite store and proxied artifacts; yields (url, process)."""
    port = free_port()
    store = tmp_path / "server"
    store.mkdir()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{store / 'mlflow.db'}",
            "--artifacts-destination",
            str(store / "artifacts"),
        ],
        cwd=store,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url, proc
    finally:
        _stop(proc)


class _StopServerAfter(TrainCallback):
    def __init__(self, proc: subprocess.Popen, epoch: int):
        self.proc, self.epoch = proc, epoch

    def on_epoch_end(self, epoch, metrics):
        if epoch == self.epoch:
            _stop(self.proc)


def test_flow_against_a_real_tracking_server(mlflow_server, tmp_path, shapes_yaml):
    url, proc = mlflow_server
    ws = Workspace.resolve(tmp_path / "client-ws", tracking_uri=url)
    assert not ws.embedded and ws.artifact_root is None
    tracker = MLflowTracker(ws)
    result = train(tiny_config(shapes_yaml, tmp_path / "runs", epochs=1), callbacks=[tracker])
    assert tracker.failure is None, tracker.failure
    run = ws.client().get_run(tracker.run_id)
    assert run.info.status == "FINISHED" and GATE_METRIC in run.data.metrics
    assert run.info.artifact_uri.startswith(
        "mlflow-artifacts:"
    )  # stored by the server, not locally
    mv = register_model(ws, tracker.run_id, "served")
    assert promote(ws, "served", mv.version).previous is None
    assert describe(ws, "served@production")["run_id"] == tracker.run_id
    det = Detector("served@production", workspace=ws)
    assert len(det.predict(np.full((64, 80, 3), 90, np.uint8))) == 1
    import mlflow

    with ws.active():
        frame = mlflow.pyfunc.load_model("models:/served@production").predict(
            np.zeros((1, 64, 64, 3), np.uint8)
        )
    assert "class_name" in frame.columns

    # The server goes away after the first of two epochs.
    buf = io.StringIO()
    tracker = MLflowTracker(ws, console=Console(file=buf, width=200))
    start = time.perf_counter()
    result = train(
        tiny_config(shapes_yaml, tmp_path / "runs", name="gone", epochs=2),
        callbacks=[tracker, _StopServerAfter(proc, 1)],
    )
    assert time.perf_counter() - start < 180
    assert result.epochs == 2 and result.best.is_file() and result.last.is_file()
    assert (
        len((result.run_dir / "metrics.csv").read_text().strip().splitlines()) == 3
    )  # header + 2 epochs
    text = " ".join(buf.getvalue().split())
    assert f"tracking to {url} stopped while logging epoch 2" in text and "Nothing is lost" in text
    state = read_state(result.run_dir)
    assert state["completed"] is False and state["run_id"] == tracker.run_id
