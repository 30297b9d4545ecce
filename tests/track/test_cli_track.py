"""The commands a user types, end to end in one embedded workspace: train, val,
models register/list/show/promote, predict --model NAME@production, runs
list/compare/report/sync, and their errors (one message, no traceback)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from cli_support import run_cli
from html_support import injected_attributes


@pytest.fixture(scope="module")
def flow_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli-flow")


def test_train_register_promote_predict_compare_report(
    capsys, tmp_path, shapes_yaml, mlflow_template, monkeypatch
):
    from track_support import new_workspace

    ws = new_workspace(tmp_path / "ws", mlflow_template)
    w = ["--workspace", str(ws.root)]
    common = ["--data", str(shapes_yaml), "--imgsz", "64", "--epochs", "1", "--batch", "4", *w]
    code, out = run_cli(capsys, "train", *common)
    assert code == 0, out
    run_a = yaml.safe_load((ws.runs_dir / "exp" / "tracking.yaml").read_text())["run_id"]
    assert f"MLflow run {run_a}" in out
    code, out = run_cli(capsys, "train", *common, "--lr0", "0.001")
    assert code == 0, out
    run_b = yaml.safe_load((ws.runs_dir / "exp2" / "tracking.yaml").read_text())["run_id"]

    code, out = run_cli(capsys, "models", "register", run_a, "--name", "shapes", *w)
    assert code == 0 and "Registered shapes/1" in out, out
    code, out = run_cli(capsys, "models", "register", run_b, "--name", "shapes", *w)
    assert code == 0 and "shapes/2" in out, out
    code, out = run_cli(capsys, "models", "promote", "shapes", "1", *w)
    assert code == 0 and "shapes@production -> version 1" in out, out
    client = ws.client()
    client.log_metric(run_a, "best/val/map50_95", 0.7, step=9)
    client.log_metric(run_b, "best/val/map50_95", 0.2, step=9)
    code, out = run_cli(capsys, "models", "promote", "shapes", "2", *w)
    assert code == 1 and "refusing to promote shapes version 2" in out and "--force" in out, out
    assert "Traceback" not in out
    code, out = run_cli(capsys, "models", "promote", "shapes", "2", "--alias", "staging", *w)
    assert code == 0, out
    code, out = run_cli(capsys, "models", "list", *w)
    assert code == 0 and "production -> 1" in out and "staging -> 2" in out, out
    code, out = run_cli(capsys, "models", "show", "shapes@production", *w)
    assert code == 0 and run_a in out and "dataset.hash" in out and "best/val/map50_95" in out, out
    assert f"model id │ {client.get_run(run_a).data.tags['yolops.model_id']}" in out, out

    # A labeling project following shapes@production is pre-labeled again on a promotion.
    code, out = run_cli(
        capsys, "label", "create", "lab", "--data", shapes_yaml, "-m", "shapes@production", *w
    )
    assert code == 0 and "pre-labeled by shapes@production (shapes/1)" in out, out
    code, out = run_cli(capsys, "models", "promote", "shapes", "2", "--force", *w)
    assert code == 0 and "labeling project lab: 12 task(s) pre-labeled" in out, out
    assert "(shapes/2)" in out, out

    images = shapes_yaml.parent / "images" / "val"
    monkeypatch.setenv(
        "YOLOPS_HOME", str(ws.root)
    )  # predict finds the workspace as a user's shell would
    code, out = run_cli(
        capsys,
        "predict",
        "--model",
        "shapes@production",
        "--source",
        str(images),
        "--out",
        str(tmp_path / "pred"),
        "--json",
    )
    assert code == 0 and "Detections" in out, out
    assert (tmp_path / "pred" / "detections.json").is_file()
    code, out = run_cli(capsys, "val", "--model", "shapes/2", "--data", str(shapes_yaml), *w)
    assert code == 0 and "MLflow run" in out and "AP50-95" in out, out
    val_run = re.search(r"MLflow run (\w+)", out).group(1)
    assert client.get_run(val_run).data.tags["yolops.model_run"] == run_b

    code, out = run_cli(capsys, "runs", "list", *w)
    assert code == 0 and run_a in out and run_b in out and val_run in out, out
    code, out = run_cli(capsys, "runs", "compare", run_a, run_b, *w)
    assert code == 0 and "lr0" in out and "0.001" in out and "best/val/map50_95" in out, out
    assert "imgsz" not in out.split("params are the same")[0]  # only the params that differ
    report = tmp_path / "report.html"
    code, out = run_cli(capsys, "runs", "report", run_a, "--out", str(report), *w)
    assert code == 0 and report.is_file(), out
    html = report.read_text()
    assert (
        html.count('src="data:image/png;base64,') >= 4
    )  # curves, PR curves, confusion matrix, predictions
    assert not re.search(r'(src|href)="(http|//)', html) and "<script" not in html
    for needed in (
        run_a,
        "Config",
        "imgsz",
        "pr curves val",
        "confusion matrix val",
        "predictions val",
    ):
        assert needed in html, needed


def test_runs_list_of_a_workspace_without_runs(capsys, workspace):
    w = ["--workspace", str(workspace.root)]
    code, out = run_cli(capsys, "runs", "list", *w)
    assert code == 0 and "No runs of every experiment" in out and "yolops train" in out
    code, out = run_cli(capsys, "runs", "list", "--experiment", "nope", *w)
    assert code == 1 and "no experiment 'nope'" in out


def test_the_headline_map_is_where_the_run_measured_it():
    from yolops.track.runs import RunSummary

    def summary(**metrics):
        return RunSummary("id", "n", "val", "FINISHED", "", "", "", metrics)

    assert summary(**{"best/val/map50_95": 0.5, "val/map50_95": 0.4}).headline_map() == (
        "best/val",
        0.5,
    )
    assert summary(**{"test/map50_95": 0.3, "test/map50": 0.6}).headline_map() == ("test", 0.3)
    assert summary(**{"train/box_loss": 1.0}).headline_map() is None


def test_cli_errors_are_one_clear_message(capsys, workspace, tmp_path, monkeypatch):
    w = ["--workspace", str(workspace.root)]
    monkeypatch.setenv("YOLOPS_HOME", str(workspace.root))
    for args, expected in [
        (("models", "show", "nope", *w), "no registered model 'nope'"),
        (("models", "register", "0123abcd", "--name", "x", *w), "no run '0123abcd'"),
        (("runs", "report", "0123abcd", *w), "no run '0123abcd'"),
        (("runs", "compare", "0123abcd", *w), "at least two run ids"),
        (("runs", "sync", str(tmp_path), *w), "not a finished training run folder"),
        (
            ("predict", "--model", "nope@production", "--source", str(tmp_path)),
            "no registered model 'nope'",
        ),
        (("val", "--model", "nope/3", "--data", str(tmp_path), *w), "no registered model 'nope'"),
    ]:
        code, out = run_cli(capsys, *args)
        assert code == 1 and expected in out and "Traceback" not in out, (args, out)


def test_runs_sync_logs_an_untracked_training(capsys, workspace, trained_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    code, out = run_cli(capsys, "runs", "sync", str(copy), "--workspace", str(workspace.root))
    assert code == 0, out
    run_id = re.search(r"as run (\w+)", out).group(1)
    run = workspace.client().get_run(run_id)
    assert (
        run.data.tags["yolops.synced_from"] == str(copy) and "best/val/map50_95" in run.data.metrics
    )


def test_sweep_command_prints_a_summary_and_registers_the_best(
    capsys, workspace, shapes_yaml, tmp_path
):
    space = tmp_path / "space.yaml"
    space.write_text("lr0: {type: float, low: 0.001, high: 0.003, log: true}\n")
    code, out = run_cli(
        capsys,
        "sweep",
        "--data",
        str(shapes_yaml),
        "--trials",
        "1",
        "--epochs",
        "1",
        "--imgsz",
        "64",
        "--batch",
        "4",
        "--space",
        str(space),
        "--name",
        "cli",
        "--register",
        "swept",
        "--workspace",
        str(workspace.root),
    )
    assert code == 0, out
    assert (
        "Sweep cli" in out
        and "Best: trial 0" in out
        and "Registered the best model as swept/1" in out
    ), out
    assert (workspace.sweeps_dir / "cli" / "best.yaml").is_file()
    bad = tmp_path / "bad.yaml"
    bad.write_text("learning_rate: {type: float, low: 0.1, high: 1}\n")
    code, out = run_cli(
        capsys,
        "sweep",
        "--data",
        str(shapes_yaml),
        "--space",
        str(bad),
        "--workspace",
        str(workspace.root),
    )
    assert code == 1 and "'learning_rate' is not a training option" in out, out


def test_the_run_report_prints_names_as_text(workspace, tmp_path):
    """Issue 16, item 13: a run name, a tag, a param, the config and a plot's file name
    like ``XSS`` stay text in `yolops runs report`."""

    from yolops.track.report import write_report
    from yolops.track.tracking import get_or_create_experiment

    xss = "<img src=x onerror=alert(1)>"
    client = workspace.client()
    exp = get_or_create_experiment(client, "xss", workspace.artifact_root)
    run_id = client.create_run(exp, run_name=xss, tags={"dataset.name": xss}).info.run_id
    client.log_param(run_id, "data", xss)
    client.log_metric(run_id, "best/val/map50", 0.5)
    (tmp_path / "config.yaml").write_text(f"data: '{xss}'\n")
    client.log_artifact(run_id, str(tmp_path / "config.yaml"))
    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / f"pr_curves {xss}.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    client.log_artifact(run_id, str(plots / f"pr_curves {xss}.png"), "plots")
    html = write_report(workspace, run_id, tmp_path / "r.html").read_text()
    assert xss not in html and html.count("&lt;img src=x onerror=alert(1)&gt;") == 5

    assert injected_attributes(html) == []
    assert html.count('src="data:image/png;base64,') == 1  # the plot; no curves to draw
