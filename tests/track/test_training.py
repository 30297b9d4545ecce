"""train_tracked: the one call that trains with tracking (the CLI, the sweep, the demo).
A finished training is a FINISHED run with its model; a training that fails or is
stopped ends its run FAILED or KILLED, saying why, and the exception goes on."""

from __future__ import annotations

import pytest

from yolops.track.store import get_run
from yolops.track.tracking import TAG_MODEL_ID
from yolops.track.training import train_tracked
from yolops.train.trainer import TrainCallback

from track_support import tiny_config


class Raise(TrainCallback):
    """Raises ``error`` at the end of the first epoch."""

    def __init__(self, error: BaseException):
        self.error = error

    def on_epoch_end(self, epoch, metrics):
        raise self.error


class Stop(Exception):
    """A caller's own reason to stop a training (a sweep's pruned trial)."""


def test_a_finished_training_is_a_finished_run_with_its_model(tmp_path, shapes_yaml, workspace):
    tracked = train_tracked(
        tiny_config(shapes_yaml, tmp_path / "runs"), workspace, experiment="tests"
    )
    assert tracked.tracked and tracked.failure is None
    run = get_run(workspace, tracked.run_id)
    assert run.info.status == "FINISHED" and run.data.tags[TAG_MODEL_ID]
    assert run.data.tags["yolops.run_dir"] == str(tracked.result.run_dir)
    assert run.data.metrics["best/val/map50_95"] == pytest.approx(
        tracked.result.metrics["val/map50_95"]
    )


@pytest.mark.parametrize(
    "error, status, reason",
    [
        (RuntimeError("disk full"), "FAILED", "RuntimeError"),
        (KeyboardInterrupt(), "KILLED", "interrupted"),
        (Stop(), "KILLED", "stopped early"),
    ],
)
def test_a_stopped_training_ends_its_run_saying_why(
    tmp_path, shapes_yaml, workspace, error, status, reason
):
    from yolops.track.tracking import MLflowTracker

    tracker = MLflowTracker(workspace, experiment="tests", log_model=False)
    with pytest.raises(type(error)):
        train_tracked(
            tiny_config(shapes_yaml, tmp_path / "runs"),
            workspace,
            tracker=tracker,
            callbacks=[Raise(error)],
            stopped_by={Stop: "stopped early"},
        )
    run = get_run(workspace, tracker.run_id)
    assert run.info.status == status
    assert run.data.tags["yolops.stopped"] == reason
