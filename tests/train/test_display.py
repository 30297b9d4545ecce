"""The terminal display of a training, fed the trainer's events by hand."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from yolops.train.config import TrainConfig
from yolops.train.display import RichProgress
from yolops.train.state import TrainResult

INFO = {
    "model_params": 980_000,
    "model_gflops": 0.03,
    "train_images": 8,
    "val_images": 4,
    "device": "cpu",
}


def _shown(events) -> str:
    out = io.StringIO()
    display = RichProgress(Console(file=out, width=200))
    events(display)
    return out.getvalue()


def _epoch(display: RichProgress, epoch: int, val: bool) -> None:
    display.on_epoch_start(epoch, 2)
    losses = {"train/box_loss": 0.5, "train/cls_loss": 1.5, "train/dfl_loss": 0.9}
    display.on_batch_end(epoch, 1, losses, 12.0, 0.25)
    display.on_batch_end(epoch, 2, losses, 12.0, 0.5)
    metrics = {"epoch": epoch, "time": 3.0, **losses, "lr": 0.002}
    if val:
        metrics.update({"val/map50": 0.5, "val/map50_95": 0.25})
    display.on_epoch_end(epoch, metrics)


def test_a_run_from_start_to_end():
    run = Path("/runs/exp")
    final = {"val/map50_95": 0.25, "val/map50": 0.5}
    result = TrainResult(
        run_dir=run,
        best=run / "weights/best.pt",
        last=run / "weights/last.pt",
        epochs=2,
        metrics=final,
        seconds=7.0,
        stopped="early_stopping",
    )

    def events(display):
        display.on_note("dataset 'x' has no splits; split it 80/20 (seed 0)")
        display.on_resume(run, 1, 2, {"epochs": (2, 4)})
        display.on_train_start(run, TrainConfig(epochs=4, imgsz=64, patience=3), INFO)
        _epoch(display, 2, val=False)
        _epoch(display, 3, val=True)
        display.on_train_end(result)

    lines = _shown(events).splitlines()
    assert lines[:4] == [
        "note: dataset 'x' has no splits; split it 80/20 (seed 0)",
        "Resuming /runs/exp after epoch 1 (iteration 2)",
        "with epochs 2 -> 4",
        "Training yolops-n (0.98 M params, 0.03 GFLOPs at 64) on 8 images, validating on 4 "
        "(val), cpu, 4 epochs -> /runs/exp",
    ]
    assert lines[4] == "epoch   2       3s  loss box 0.500 cls 1.500 dfl 0.900  lr 2.00e-03"
    assert lines[5].endswith("val mAP50 0.500 mAP50-95 0.250")
    assert "Stopping early: no improvement in 3 validations" in lines
    assert lines[-1] == (
        "Done (early_stopping) after 2 epochs in 7 s: val mAP50-95 0.250, mAP50 0.500. "
        "Weights: /runs/exp/weights/best.pt"
    )


def test_a_time_budget_and_an_error():
    def events(display):
        display.on_train_start(Path("r"), TrainConfig(time=60.0), INFO)
        assert display.budget_bar is not None
        display.on_epoch_start(1, 2)
        assert display.bars.tasks[-1].description == "epoch 1"  # no count of epochs
        display.on_train_error(KeyboardInterrupt())
        assert display.bars is None  # the bars are gone

    assert "budget 60 s" in _shown(events)
