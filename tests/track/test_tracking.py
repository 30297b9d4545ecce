"""Trainings tracked as MLflow runs in an embedded workspace; faults never cost a training."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from yolops.errors import TrackingError
from yolops.track.tracking import GATE_METRIC, MLflowTracker, log_run_folder, read_state
from yolops.train.trainer import TrainCallback, train
from yolops.workspace import Workspace

from track_support import free_port, new_workspace, tiny_config


def _console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=200), buf


@pytest.fixture(scope="module")
def tracked(tmp_path_factory, mlflow_template, shapes_yaml):
    """One tracked 2-epoch training: (workspace, tracker, result)."""
    ws = new_workspace(tmp_path_factory.mktemp("tracked") / "ws", mlflow_template)
    tracker = MLflowTracker(ws)
    result = train(tiny_config(shapes_yaml, ws.runs_dir), callbacks=[tracker])
    return ws, tracker, result


def test_training_run_has_params_metrics_lineage_and_artifacts(tracked):
    ws, tracker, result = tracked
    assert tracker.failure is None and tracker.completed
    client = ws.client()
    run = client.get_run(tracker.run_id)
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["imgsz"] == "64" and params["epochs"] == "2" and params["batch"] == "4"
    assert params["augment.mosaic"] == "1.0" and params["resolved.optimizer"] == "adamw"
    history = client.get_metric_history(tracker.run_id, "train/box_loss")
    assert sorted(m.step for m in history) == [1, 2]
    for key in (
        "lr",
        "val/map50_95",
        "val/map50",
        "val/precision",
        "val/recall",
        "val/ap50_95/circle",
        GATE_METRIC,
        "best/val/map50",
    ):
        assert key in run.data.metrics, key
    tags = run.data.tags
    from yolops.model.checkpoint import load_checkpoint

    best = load_checkpoint(result.best)
    assert tags["dataset.name"] == best["dataset"] and tags["dataset.hash"] == best["dataset_hash"]
    assert tags["dataset.val_split"] == "val" and tags["yolops.kind"] == "train"
    assert tags["sys.device"] == "cpu" and tags["sys.torch"].startswith("2.") and tags["sys.yolops"]
    if (Path.cwd() / ".git").exists():
        assert len(tags["git.commit"]) == 40
    paths = {
        a.path
        for folder in ("", "plots", "weights", "data")
        for a in client.list_artifacts(tracker.run_id, folder or None)
    }
    for expected in (
        "config.yaml",
        "metrics.csv",
        "metrics_final.yaml",
        "plots/pr_curves_val.png",
        "plots/confusion_matrix_val.png",
        "plots/predictions_val.png",
        "plots/training_curves.png",
        "weights/best.pt",
        "weights/last.pt",
        "weights/best.onnx",
        "data/data.yaml",
        "data/dataset.yaml",
    ):
        assert expected in paths, expected
    state = read_state(result.run_dir)
    assert (
        state["run_id"] == tracker.run_id
        and state["completed"] is True
        and state["failure"] is None
    )


def test_logged_model_is_a_pyfunc_with_signature_and_input_example(tracked):
    import mlflow
    from mlflow.models import Model

    ws, tracker, _ = tracked
    with ws.active():
        model = mlflow.pyfunc.load_model(f"runs:/{tracker.run_id}/model")
        info = Model.load(f"runs:/{tracker.run_id}/model")
    assert info.signature is not None and info.signature.params is not None
    assert info.saved_input_example_info is not None
    batch = np.random.default_rng(0).integers(0, 255, (2, 80, 96, 3), dtype=np.uint8)
    frame = model.predict(batch, params={"conf": 0.0001, "max_det": 5})
    assert list(frame.columns) == [
        "image",
        "x1",
        "y1",
        "x2",
        "y2",
        "score",
        "class_id",
        "class_name",
    ]
    assert set(frame["image"].unique()) <= {0, 1} and (frame.groupby("image").size() <= 5).all()
    assert (frame["x2"] >= frame["x1"]).all() and (frame["score"] > 0).all()
    assert set(frame["class_name"]) <= {"circle", "square", "triangle"}


def test_pyfunc_takes_one_image_ragged_lists_bytes_and_base64(tracked):
    """Issue 16, item 2: what the README promises (one (H, W, 3) image) and what a pyfunc
    user needs (images of different sizes, encoded bytes, base64 from a server)."""
    import base64
    import json

    import cv2
    import mlflow
    from mlflow.pyfunc import scoring_server

    ws, tracker, _ = tracked
    with ws.active():
        model = mlflow.pyfunc.load_model(f"runs:/{tracker.run_id}/model")
    rng = np.random.default_rng(1)
    one = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    small = rng.integers(0, 255, (50, 70, 3), dtype=np.uint8)
    png = cv2.imencode(".png", one)[1].tobytes()
    b64 = base64.b64encode(cv2.imencode(".png", small)[1].tobytes()).decode()
    params = {"conf": 0.0001, "max_det": 3}
    frame = model.predict(one, params=params)
    assert len(frame) and set(frame["image"]) == {0}
    frame = model.predict([one, small, png, b64], params=params)
    assert set(frame["image"]) == {0, 1, 2, 3}
    with pytest.raises(Exception, match=r"expected uint8 pixels"):
        model.predict(one.astype(np.float32) / 255)

    # as `mlflow models serve` parses a request: {"inputs": [...]} and a DataFrame column
    for body in (
        {"inputs": [b64, b64], "params": params},
        {"dataframe_split": {"columns": ["image"], "data": [[b64]]}, "params": params},
    ):
        answer = scoring_server.invocations(json.dumps(body), "application/json", model, None)
        assert answer.status == 200, answer.response
        rows = json.loads(answer.response)["predictions"]
        assert rows and {r["image"] for r in rows} <= {0, 1}


def test_tracking_server_down_warns_and_training_completes(tmp_path, shapes_yaml, workspace):
    """Nothing listens at the URI: a warning, the training finishes with every local
    file, and `runs sync` logs the run folder once a store is reachable."""
    down = Workspace(tmp_path / "ws-down", f"http://127.0.0.1:{free_port()}")
    console, out = _console()
    tracker = MLflowTracker(down, console=console)
    start = time.perf_counter()
    result = train(tiny_config(shapes_yaml, tmp_path, epochs=1), callbacks=[tracker])
    assert time.perf_counter() - start < 120  # no minutes of retries
    text = " ".join(out.getvalue().split())
    assert "warning" in text and down.tracking_uri in text and "runs sync" in text
    for name in (
        "config.yaml",
        "metrics.csv",
        "weights/best.pt",
        "weights/last.pt",
        "pr_curves_val.png",
    ):
        assert (result.run_dir / name).is_file(), name
    state = read_state(result.run_dir)
    assert state["completed"] is False and "starting the run" in state["failure"]
    assert "Max retries exceeded" in state["failure"] or "Connection" in state["failure"], state[
        "failure"
    ]
    run_id = log_run_folder(workspace, result.run_dir, console=console)
    run = workspace.client().get_run(run_id)
    assert run.info.status == "FINISHED" and GATE_METRIC in run.data.metrics
    assert [m.step for m in workspace.client().get_metric_history(run_id, "train/box_loss")] == [1]


class _BreakStoreAfter(TrainCallback):
    """The store stops answering after an epoch (runs after the tracker)."""

    def __init__(self, tracker: MLflowTracker, epoch: int):
        self.tracker, self.epoch = tracker, epoch

    def on_epoch_end(self, epoch, metrics):
        if epoch == self.epoch:

            def refuse(*args, **kwargs):
                raise ConnectionError("connection refused")

            for method in ("log_batch", "log_artifact", "set_tag", "set_terminated", "log_dict"):
                setattr(self.tracker.client, method, refuse)


def test_store_failing_mid_training_keeps_the_training_and_its_files(
    tmp_path, shapes_yaml, workspace
):
    console, out = _console()
    tracker = MLflowTracker(workspace, console=console)
    result = train(
        tiny_config(shapes_yaml, tmp_path, epochs=2),
        callbacks=[tracker, _BreakStoreAfter(tracker, 1)],
    )
    assert result.epochs == 2
    text = " ".join(out.getvalue().split())
    assert text.count("stopped while logging epoch 2") == 1 and "not (fully) tracked" in text
    rows = list(csv.DictReader((result.run_dir / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert result.best.is_file() and result.last.is_file()
    history = workspace.client().get_metric_history(tracker.run_id, "train/box_loss")
    assert [m.step for m in history] == [1]  # what reached the store before it went away
    assert read_state(result.run_dir)["completed"] is False


def test_sync_rejects_a_folder_that_is_not_a_finished_run(tmp_path, workspace):
    (tmp_path / "half").mkdir()
    with pytest.raises(TrackingError, match="not a finished training run folder"):
        log_run_folder(workspace, tmp_path / "half")


def test_two_trainings_at_once_in_one_fresh_workspace(tmp_path, shapes_yaml):
    """Two processes train into one workspace that does not exist yet: one creates
    the store while the other waits, each gets its own run folder and MLflow run."""
    root = tmp_path / "shared-ws"
    cmd = [
        sys.executable,
        "-m",
        "yolops.cli.main",
        "train",
        "--data",
        str(shapes_yaml),
        "--imgsz",
        "64",
        "--epochs",
        "1",
        "--batch",
        "4",
        "--workspace",
        str(root),
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "YOLOPS_HOME")}
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out
    ws = Workspace.resolve(root)
    runs = ws.client().search_runs([ws.client().get_experiment_by_name("yolops").experiment_id])
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}
    assert len({r.data.tags["yolops.run_dir"] for r in runs}) == 2
    assert sorted(p.name for p in ws.runs_dir.iterdir()) == ["exp", "exp2"]
