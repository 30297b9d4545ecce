"""The events a training emits, and the list that sends them to every listener.

The engine holds no display or tracking code: the terminal display
(:class:`yolops.train.display.RichProgress`), the MLflow tracker and the sweep's
pruning listen here. In one training the events come in this order::

    on_note*  [on_resume]  on_train_start
    (on_epoch_start  on_batch_end*  on_epoch_end)*
    on_train_end | on_train_error
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from yolops.train.config import TrainConfig
    from yolops.train.state import TrainResult


class TrainCallback:
    """Listens to a training; every method is optional. Epochs and steps count from 1.
    Metric keys are stable: ``train/box_loss``, ``train/cls_loss``, ``train/dfl_loss``,
    ``lr``, ``val/map50_95``, ``val/map50``, ``val/precision``, ``val/recall``,
    ``val/ap50_95/<class>``."""

    def on_note(self, message: str) -> None:
        """Something the user should know while the run is set up (records set aside
        while loading, an automatic train/val split), as plain text."""

    def on_resume(
        self, run_dir: Path, epoch: int, iteration: int, changes: dict[str, tuple[Any, Any]]
    ) -> None:
        """A run resumes after ``epoch`` epochs (``iteration`` optimizer steps), with
        ``changes`` to its saved options as ``{option: (old, new)}``."""

    def on_train_start(self, run_dir: Path, config: TrainConfig, info: dict[str, Any]) -> None:
        """``info``: device, threads, versions, resolved optimizer and lr0, dataset name,
        hash and split sizes, ``model_params``, ``model_gflops`` ..."""

    def on_epoch_start(self, epoch: int, batches: int) -> None: ...

    def on_batch_end(
        self,
        epoch: int,
        step: int,
        losses: dict[str, float],
        images_per_second: float,
        progress: float,
    ) -> None:
        """After optimizer step ``step`` of ``epoch``: ``losses`` are the epoch's running
        means (``train/box_loss`` ...), ``progress`` the share of the budget spent."""

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        """After the epoch is recorded and ``last.pt`` saved: ``metrics`` has ``epoch``,
        ``time`` (seconds), the training losses, ``lr`` and, when it validated, ``val/``."""

    def on_train_end(self, result: TrainResult) -> None: ...

    def on_train_error(self, error: BaseException) -> None:
        """The training stops on ``error`` (Ctrl-C included) after ``on_train_start``;
        the error goes on after every listener has heard it."""


class CallbackList(TrainCallback):
    """Sends each event to every callback, in order."""

    def __init__(self, callbacks: list[TrainCallback]):
        self.callbacks = callbacks

    def on_note(self, message):
        for cb in self.callbacks:
            cb.on_note(message)

    def on_resume(self, run_dir, epoch, iteration, changes):
        for cb in self.callbacks:
            cb.on_resume(run_dir, epoch, iteration, changes)

    def on_train_start(self, run_dir, config, info):
        for cb in self.callbacks:
            cb.on_train_start(run_dir, config, info)

    def on_epoch_start(self, epoch, batches):
        for cb in self.callbacks:
            cb.on_epoch_start(epoch, batches)

    def on_batch_end(self, epoch, step, losses, images_per_second, progress):
        for cb in self.callbacks:
            cb.on_batch_end(epoch, step, losses, images_per_second, progress)

    def on_epoch_end(self, epoch, metrics):
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, metrics)

    def on_train_end(self, result):
        for cb in self.callbacks:
            cb.on_train_end(result)

    def on_train_error(self, error):
        for cb in self.callbacks:
            cb.on_train_error(error)
