"""A training in the terminal: progress bars and one line per epoch, drawn with Rich
from the trainer's events (:class:`~yolops.train.callbacks.TrainCallback`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from yolops.train.callbacks import TrainCallback
from yolops.train.config import TrainConfig


class RichProgress(TrainCallback):
    """Prints the run's set-up, a bar per epoch (running losses, images per second), a
    bar for a time budget, a line per epoch and the final scores on ``console``. The
    bars are transient: what stays on screen is the lines."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console()
        self.config = TrainConfig()
        self.bars: Progress | None = None
        self.epoch_bar: TaskID | None = None
        self.budget_bar: TaskID | None = None

    def on_note(self, message: str) -> None:
        self.console.print(f"[yellow]note:[/] {message}")

    def on_resume(self, run_dir, epoch, iteration, changes) -> None:
        self.console.print(
            f"Resuming [bold]{run_dir}[/] after epoch {epoch} (iteration {iteration})"
        )
        if changes:
            self.console.print(
                "with " + ", ".join(f"{k} {old} -> {new}" for k, (old, new) in changes.items())
            )

    def on_train_start(self, run_dir: Path, config: TrainConfig, info: dict[str, Any]) -> None:
        self.config = config
        # int(): what "%d" printed, should a config give a float number of epochs
        length = f"budget {config.time:.0f} s" if config.time else f"{int(config.epochs)} epochs"
        self.console.print(
            f"Training yolops-{config.scale} ({info.get('model_params', 0) / 1e6:.2f} M params, "
            f"{info.get('model_gflops', 0):.2f} GFLOPs at {config.imgsz}) on "
            f"{info['train_images']} images, validating on {info['val_images']} "
            f"({config.val_split}), {info['device']}, {length} -> [bold]{run_dir}[/]"
        )
        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.bars.start()
        if config.time is not None:
            self.budget_bar = self.bars.add_task(f"time budget {config.time:.0f} s", total=100)

    def on_epoch_start(self, epoch: int, batches: int) -> None:
        if self.bars is not None:
            self.epoch_bar = self.bars.add_task(self._label(epoch), total=batches)

    def on_batch_end(self, epoch, step, losses, images_per_second, progress) -> None:
        if self.bars is None or self.epoch_bar is None:
            return
        self.bars.update(
            self.epoch_bar,
            advance=1,
            description=(
                f"{self._label(epoch)} box {losses['train/box_loss']:.3f} "
                f"cls {losses['train/cls_loss']:.3f} dfl {losses['train/dfl_loss']:.3f} "
                f"{images_per_second:.1f} img/s"
            ),
        )
        if self.budget_bar is not None:
            self.bars.update(self.budget_bar, completed=100 * progress)

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        if self.bars is not None and self.epoch_bar is not None:
            self.bars.remove_task(self.epoch_bar)
            self.epoch_bar = None
        self.console.print(epoch_line(metrics))

    def on_train_end(self, result) -> None:
        self._stop()
        if result.stopped == "early_stopping":
            self.console.print(
                f"Stopping early: no improvement in {self.config.patience} validations"
            )
        final = result.metrics
        self.console.print(
            f"[green]Done[/] ({result.stopped}) after {result.epochs} epochs in "
            f"{result.seconds:.0f} s: "
            f"val mAP50-95 {final.get('val/map50_95', float('nan')):.3f}, "
            f"mAP50 {final.get('val/map50', float('nan')):.3f}"
            + (
                f"; test mAP50-95 {final['test/map50_95']:.3f}, mAP50 {final['test/map50']:.3f}"
                if "test/map50_95" in final
                else ""
            )
            + f". Weights: [bold]{result.best}[/]"
        )

    def on_train_error(self, error: BaseException) -> None:
        self._stop()

    def _label(self, epoch: int) -> str:
        timed = self.config.time is not None
        return f"epoch {epoch}" + ("" if timed else f"/{self.config.epochs}")

    def _stop(self) -> None:
        if self.bars is not None:
            self.bars.stop()
            self.bars = None
        self.epoch_bar = self.budget_bar = None


def epoch_line(m: dict[str, float]) -> str:
    """One epoch's record as the line that stays on screen."""
    line = (
        f"epoch {m['epoch']:>3}  {m['time']:>6.0f}s  loss box {m['train/box_loss']:.3f} "
        f"cls {m['train/cls_loss']:.3f} dfl {m['train/dfl_loss']:.3f}  lr {m['lr']:.2e}"
    )
    if "val/map50_95" in m:
        line += f"  val mAP50 {m['val/map50']:.3f} mAP50-95 {m['val/map50_95']:.3f}"
    return line
