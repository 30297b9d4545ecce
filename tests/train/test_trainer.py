"""The training engine on tiny generated data: its steps one by one (setup, an epoch,
validation, the record, finish), its events, the run folder, resume, overfit."""

import contextlib
import csv
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from yolops.data.synth import SynthConfig, generate, generate_to
from yolops.detector import Detector
from yolops.errors import ConfigError
from yolops.model.checkpoint import load_checkpoint
from yolops.train.augment import AugmentConfig
from yolops.train.callbacks import CallbackList
from yolops.train.config import TrainConfig
from yolops.train.display import RichProgress
from yolops.train.trainer import (
    TrainCallback,
    _events,
    finish,
    loop,
    record_epoch,
    setup,
    start,
    train,
    train_one_epoch,
    validate,
)
from yolops.workspace import Workspace

from track_support import tiny_config


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
    assert result.stopped == "time" and 1 <= result.epochs < 1000
    # The loop's own clock: training stops within the batch that spends the budget (less
    # its reserve), so it runs past it by at most one epoch and its validation, whatever
    # the machine's speed: the longest epoch is the bound.
    times = [0.0] + [row["time"] for row in result.history]
    longest = max(b - a for a, b in zip(times, times[1:]))
    assert result.history[-1]["time"] <= 12.0 + longest, result.history


def test_kill_9_mid_epoch_then_resume(tmp_path):
    data = generate_to(
        tmp_path / "data",
        "yolo",
        SynthConfig(
            num_images=12, image_size=(128, 96), seed=5, splits={"train": 0.75, "val": 0.25}
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
        deadline = time.time() + 600
        while not last.exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert last.exists(), "no checkpoint after the first epoch"
        os.kill(proc.pid, signal.SIGKILL)  # the moment epoch 1 is saved: mid-run
    finally:
        proc.wait()
    epoch_at_kill = load_checkpoint(last)["epoch"]
    assert epoch_at_kill < 3
    done = subprocess.run(
        cmd[:4] + ["--resume", str(last)],
        capture_output=True,
        text=True,
        timeout=600,
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


class Recorder(TrainCallback):
    """Every event, in order, as (name, arguments)."""

    def __init__(self):
        self.events: list[tuple] = []

    def on_note(self, message):
        self.events.append(("note", message))

    def on_resume(self, run_dir, epoch, iteration, changes):
        self.events.append(("resume", epoch, iteration, changes))

    def on_train_start(self, run_dir, config, info):
        self.events.append(("train_start", run_dir, config, info))

    def on_epoch_start(self, epoch, batches):
        self.events.append(("epoch_start", epoch, batches))

    def on_batch_end(self, epoch, step, losses, images_per_second, progress):
        self.events.append(("batch_end", epoch, step, losses, images_per_second, progress))

    def on_epoch_end(self, epoch, metrics):
        self.events.append(("epoch_end", epoch, metrics))

    def on_train_end(self, result):
        self.events.append(("train_end", result))

    def on_train_error(self, error):
        self.events.append(("train_error", error))

    def names(self) -> list[str]:
        return [e[0] for e in self.events]


@pytest.fixture(scope="module")
def quiet_run(shapes_yaml, tmp_path_factory):
    """A 2-epoch training without the display: its result, its events and all it printed."""
    recorder, printed = Recorder(), io.StringIO()
    config = tiny_config(shapes_yaml, tmp_path_factory.mktemp("quiet"))
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        result = train(config, callbacks=[recorder], progress=False)
    return result, recorder, printed.getvalue()


def test_events_come_in_order(quiet_run):
    result, recorder, _ = quiet_run
    batches = 2  # 8 training images, batch 4
    epoch = ["epoch_start", *["batch_end"] * batches, "epoch_end"]
    assert recorder.names() == ["train_start", *epoch, *epoch, "train_end"]
    starts = [e for e in recorder.events if e[0] == "epoch_start"]
    assert [(e[1], e[2]) for e in starts] == [(1, batches), (2, batches)]
    steps = [e for e in recorder.events if e[0] == "batch_end"]
    assert [(e[1], e[2]) for e in steps] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    for _, _, _, losses, speed, progress in steps:
        assert set(losses) == {"train/box_loss", "train/cls_loss", "train/dfl_loss"}
        assert speed > 0 and 0 < progress <= 1
    assert [e[5] for e in steps] == [0.25, 0.5, 0.75, 1.0]  # the share of 8 steps done
    ends = [e for e in recorder.events if e[0] == "epoch_end"]
    assert [e[1] for e in ends] == [1, 2]
    for _, epoch_number, metrics in ends:  # the keys the tracker and the sweep listen for
        assert metrics["epoch"] == epoch_number
        for key in ("time", "train/box_loss", "train/cls_loss", "train/dfl_loss", "lr"):
            assert key in metrics, key
        assert "val/map50_95" in metrics and "val/map50" in metrics
    _, run_dir, config, info = recorder.events[0]
    assert run_dir == result.run_dir and config.epochs == 2
    assert info["train_images"] == 8 and info["val_images"] == 4 and info["model_params"] > 0
    assert recorder.events[-1] == ("train_end", result)


def test_no_output_without_the_display(quiet_run):
    result, _, printed = quiet_run
    assert printed == ""
    assert result.epochs == 2 and (result.run_dir / "weights" / "best.pt").is_file()


def test_the_display_listens_first_and_only_once():
    recorder, shown = Recorder(), RichProgress(None)
    assert isinstance(_events([recorder], None, True).callbacks[0], RichProgress)
    assert _events([recorder], None, False).callbacks == [recorder]
    assert _events([recorder, shown], None, True).callbacks == [recorder, shown]


def test_an_error_reaches_the_listeners(shapes_yaml, tmp_path):
    class Boom(TrainCallback):
        def on_epoch_start(self, epoch, batches):
            raise RuntimeError("boom")

    recorder = Recorder()
    with pytest.raises(RuntimeError, match="boom"):
        train(tiny_config(shapes_yaml, tmp_path, epochs=1), callbacks=[recorder, Boom()])
    assert recorder.names() == ["train_start", "epoch_start", "train_error"]
    assert isinstance(recorder.events[-1][1], RuntimeError)


def test_the_steps_one_by_one(shapes_yaml, tmp_path):
    """setup, start, one epoch, validation, its record, finish: what each leaves behind."""
    recorder = Recorder()
    events = CallbackList([recorder])
    run = setup(tiny_config(shapes_yaml, tmp_path, epochs=1), None, events)
    assert run.run_dir == tmp_path / "run" and (run.run_dir / "config.yaml").is_file()
    assert (run.counters.epoch, run.counters.iteration, run.counters.history) == (0, 0, [])
    assert run.budget.total_iters == len(run.loader) == 2
    start(run)
    assert recorder.names() == ["train_start"]

    metrics, out_of_time = train_one_epoch(run)
    assert not out_of_time and run.counters.iteration == 2 and run.train_images == 8
    assert set(metrics) == {"train/box_loss", "train/cls_loss", "train/dfl_loss", "lr"}
    assert not (run.run_dir / "weights" / "last.pt").exists()  # recording saves it

    run.counters.epoch += 1
    metrics.update(validate(run))
    assert "val/map50_95" in metrics
    record_epoch(run, metrics)
    assert run.counters.history[0]["epoch"] == 1 and run.counters.stale == 0
    assert run.counters.best_fitness >= 0
    last = load_checkpoint(run.run_dir / "weights" / "last.pt")
    assert (last["epoch"], last["iteration"], last["scale"]) == (1, 2, "n")
    assert "schedule_anchor" not in last  # only a resume that changes the length sets one
    assert (run.run_dir / "metrics.csv").is_file()

    loop(run)  # the one epoch is done: nothing more to train
    assert run.counters.epoch == 1 and run.stopped == "completed"
    result = finish(run)
    assert result.epochs == 1 and "val/map50_95" in result.metrics
    assert (run.run_dir / "metrics_final.yaml").is_file()
    assert recorder.names() == [
        "train_start", "epoch_start", "batch_end", "batch_end", "epoch_end", "train_end"
    ]  # fmt: skip


def test_runs_land_under_the_workspace_by_default(shapes_yaml, tmp_path):
    """No project: the runs folder of $YOLOPS_HOME (set by conftest), or of the given
    workspace; the resolved folder is what config.yaml records."""
    home = Path(os.environ["YOLOPS_HOME"])
    config = tiny_config(shapes_yaml, "", name="default-project")
    assert config.project == ""
    run = setup(config, None, CallbackList([]))
    assert run.run_dir == home / "runs" / "train" / "default-project"
    saved = yaml.safe_load((run.run_dir / "config.yaml").read_text())
    assert saved["project"] == str(home / "runs" / "train") == run.config.project

    ws = Workspace.resolve(tmp_path / "ws")
    run = setup(config.replace(name=""), None, CallbackList([]), workspace=ws)
    assert run.run_dir == ws.runs_dir / "exp"


def test_detector_train_names_a_misspelt_option(shapes_yaml):
    with pytest.raises(ConfigError) as e:
        Detector.train(shapes_yaml, epoch=3, progress=False)
    message = str(e.value)
    assert "'epoch' (did you mean 'epochs'?)" in message
    assert "'progress'" in message and "imgsz" in message and "scale" in message
