"""The detector through the CLI: train -> val -> predict -> export, and the errors a
user meets on the way (as messages, never tracebacks). Training runs the console script
in a child process, end to end; the rest call the same entry point in-process."""

import json
import os
import subprocess
import sys

import pytest

from yolops.data.synth import SynthConfig, generate_to

from cli_support import invoke


def yolops(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "yolops.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-detector")
    data = generate_to(
        root / "shapes",
        "coco",
        SynthConfig(num_images=12, image_size=(96, 64), min_size=12, max_size=30, seed=3),
    )
    done = yolops(
        "train",
        "--data",
        str(data),
        "--imgsz",
        "64",
        "--epochs",
        "1",
        "--batch",
        "4",
        "--project",
        str(root / "runs"),
        "--name",
        "t",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return root, data, root / "runs" / "t" / "weights" / "best.pt", done.stdout


def test_train_writes_a_run_folder_and_says_where(trained):
    root, _, best, stdout = trained
    run = root / "runs" / "t"
    assert best.is_file() and (run / "weights" / "last.pt").is_file()
    for name in ("config.yaml", "metrics.csv", "metrics_final.yaml", "training_curves.png"):
        assert (run / name).is_file(), name
    assert "GFLOPs" in stdout and "train img/s" in stdout and str(run) in stdout


def test_val_json_has_coco_metrics(trained, capsys):
    _, data, best, _ = trained
    done = invoke(
        capsys, "val", "--model", str(best), "--data", str(data), "--split", "all", "--json"
    )
    assert done.returncode == 0, done.stderr
    metrics = json.loads(done.stdout)
    for key in ("map50_95", "map50", "precision", "recall"):
        assert 0.0 <= metrics[key] <= 1.0, key


def test_predict_saves_drawn_images_and_json(trained, tmp_path, capsys):
    root, _, best, _ = trained
    images = root / "shapes" / "images"
    done = invoke(
        capsys,
        "predict",
        "--model",
        str(best),
        "--source",
        str(images),
        "--conf",
        "0.001",
        "--save",
        "--json",
        "--out",
        str(tmp_path / "p"),
    )
    assert done.returncode == 0, done.stderr
    records = json.loads((tmp_path / "p" / "detections.json").read_text())
    assert len(records) == 12 and all(
        {"source", "width", "height", "detections"} <= set(r) for r in records
    )
    drawn = sorted(p.name for p in (tmp_path / "p").iterdir() if p.suffix != ".json")
    assert drawn == sorted(p.name for p in images.rglob("*") if p.is_file())  # names, formats kept
    assert "Detections" in done.stdout


def test_export_prints_the_parity_table(trained, tmp_path, capsys):
    _, _, best, _ = trained
    out = tmp_path / "m.onnx"
    done = invoke(capsys, "export", "--model", str(best), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.is_file()
    assert "PyTorch vs ONNX Runtime" in done.stdout and "parity holds" in done.stdout
    # Which images the table is about, and no silent minute off a terminal.
    assert "on 8 generated scenes (no dataset given)" in " ".join(done.stdout.split())
    assert "Exporting" in done.stderr and "Comparing PyTorch and ONNX Runtime" in done.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ("predict", "--model", "missing.pt", "--source", "x.jpg"),
            "missing.pt: model file does not exist",
        ),
        (("val", "--model", "missing.onnx", "--data", "nowhere"), "missing.onnx"),
        (("train", "--data", "nowhere.yaml", "--epochs", "1"), "nowhere.yaml"),
        (("train", "--data", "x.yaml", "--imgsz", "100"), "multiple of 32"),
    ],
)
def test_bad_input_is_one_clear_message(args, message, capsys):
    done = invoke(capsys, *args)
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_predict_writes_into_the_workspace_by_default(trained, tmp_path, capsys, monkeypatch):
    root, _, best, _ = trained
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("YOLOPS_HOME", str(tmp_path / "home"))
    image = next((root / "shapes" / "images").rglob("*.png"))
    done = invoke(capsys, "predict", "--model", str(best), "--source", str(image), "--save")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "home" / "predict" / image.name).is_file()
    assert not (tmp_path / "yolops-workspace").exists()
