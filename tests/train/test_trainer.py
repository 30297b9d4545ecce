"""The training engine end to end on tiny generated data: run folder, resume, overfit."""

import csv
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from yolops.data.synth import SynthConfig, generate, generate_to
from yolops.model.checkpoint import load_checkpoint
from yolops.train.augment import AugmentConfig
from yolops.train.config import TrainConfig
from yolops.train.trainer import TrainCallback, train


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    cfg = SynthConfig(
        num_images=16,
        image_size=(128, 96),
        max_objects=3,
        min_size=20,
        max_size=48,
        splits={"train": 0.75, "val": 0.25},
        seed=3,
    )
    return generate(root, cfg)


def tiny(tmp_path, **kw) -> TrainConfig:
    base = dict(
        scale="n",
        imgsz=128,
        epochs=2,
        batch=4,
        project=str(tmp_path),
        name="run",
        seed=0,
        warmup=0.2,
        close_mosaic=0.5,
    )
    base.update(kw)
    return TrainConfig(**base)


def test_training_writes_a_complete_run_folder(shapes, tmp_path):
    result = train(tiny(tmp_path), dataset=shapes)
    run = tmp_path / "run"
    assert result.run_dir == run and result.epochs == 2 and result.stopped == "completed"
    for name in (
        "config.yaml",
        "metrics.csv",
        "weights/last.pt",
        "weights/best.pt",
        "training_curves.png",
        "pr_curves_val.png",
        "confusion_matrix_val.png",
        "predictions_val.png",
    ):
        assert (run / name).is_file(), name
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    for r in rows:
        for key in ("train/box_loss", "train/cls_loss", "train/dfl_loss", "val/map50_95"):
            assert float(r[key]) == float(r[key])  # present and not NaN
    assert "val/map50_95" in result.metrics
    assert result.train_images_per_second > 0 and result.peak_memory_mb > 0
    best = load_checkpoint(result.best)
    assert best["class_names"] == list(shapes.class_names) and "optimizer" not in best


class _StopAfter(TrainCallback):
    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_epoch_end(self, epoch, metrics):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_resume_continues_exactly_where_it_stopped(shapes, tmp_path):
    full = train(tiny(tmp_path / "a", epochs=3), dataset=shapes)
    with pytest.raises(KeyboardInterrupt):
        train(tiny(tmp_path / "b", epochs=3), dataset=shapes, callbacks=[_StopAfter(1)])
    last = tmp_path / "b" / "run" / "weights" / "last.pt"
    assert load_checkpoint(last)["epoch"] == 1
    resumed = train(TrainConfig(), dataset=shapes, resume=last)
    assert resumed.epochs == 3
    a = load_checkpoint(full.last)["raw_model"]
    b = load_checkpoint(resumed.last)["raw_model"]
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-5), k
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]


def test_time_budget_bounds_the_whole_run(shapes, tmp_path):
    result = train(tiny(tmp_path, time=12.0, epochs=1000), dataset=shapes)
    assert result.stopped == "time"
    assert result.epochs >= 2
    # The loop's own clock: training stops when the budget less its reserve is spent; the
    # last validation may run past it on a busy machine, so the bound is loose.
    assert result.history[-1]["time"] <= 12.0 * 1.5, result.history[-1]


def test_kill_9_mid_epoch_then_resume(tmp_path):
    data = generate_to(
        tmp_path / "data",
        "yolo",
        SynthConfig(
            num_images=24, image_size=(128, 96), seed=5, splits={"train": 0.75, "val": 0.25}
        ),
    )
    cmd = [
        sys.executable,
        "-m",
        "yolops.cli.main",
        "train",
        "--data",
        str(data),
        "--imgsz",
        "128",
        "--epochs",
        "3",
        "--batch",
        "2",
        "--project",
        str(tmp_path),
        "--name",
        "k",
    ]
    last = tmp_path / "k" / "weights" / "last.pt"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not last.exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert last.exists(), "no checkpoint after the first epoch"
        time.sleep(0.3)  # into the second epoch
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    epoch_at_kill = load_checkpoint(last)["epoch"]
    assert epoch_at_kill < 3
    done = subprocess.run(
        cmd[:4] + ["--resume", str(last)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )  # no wrapped lines
    assert done.returncode == 0, done.stderr
    assert f"after epoch {epoch_at_kill}" in done.stdout
    rows = list(csv.DictReader((tmp_path / "k" / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]


@pytest.mark.slow
def test_overfits_a_tiny_set(tmp_path):
    cfg = SynthConfig(
        num_images=8,
        image_size=(128, 128),
        max_objects=2,
        min_size=28,
        max_size=56,
        clutter=False,
        noise=0.0,
        occlusion=False,
        splits={"train": 1.0},
        seed=7,
    )
    ds = generate(tmp_path / "d", cfg).with_splits({})
    both = ds.with_splits({"train": ds.ids})
    # validate on the training images themselves: this is a capacity test
    result = train(
        TrainConfig(
            scale="n",
            imgsz=128,
            epochs=60,
            batch=8,
            project=str(tmp_path),
            name="o",
            val_split="train",
            val_interval=20,
            warmup=0.05,
            close_mosaic=0.0,
            augment=AugmentConfig(
                mosaic=0.0, translate=0.0, scale=0.0, fliplr=0.0, hsv_h=0.0, hsv_s=0.0, hsv_v=0.0
            ),
            lr0=0.01,
        ),
        dataset=both,
    )
    assert result.metrics["train/map50"] > 0.9, result.metrics
