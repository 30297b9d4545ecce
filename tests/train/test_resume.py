"""Resuming with changes: the options a resume may change and those it refuses, how
the schedule carries on when the length changes, old checkpoints, the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from yolops.detector import Detector
from yolops.errors import ConfigError
from yolops.model.checkpoint import load_checkpoint, save_checkpoint
from yolops.train.config import TrainConfig
from yolops.train.resume import resumed_budget, resumed_config
from yolops.train.schedule import Budget, Schedule, build_budget
from yolops.train.trainer import TrainCallback, resume, train

from cli_support import run_cli
from track_support import tiny_config

# -- the rules, on a saved config -----------------------------------------------------------

SAVED = TrainConfig(data="d.yaml", epochs=10, imgsz=64, batch=4, project="/runs", name="a")


def test_a_resume_may_extend_and_retune():
    config, changed = resumed_config(
        SAVED, {"epochs": 20, "patience": 5, "device": "cpu", "workers": 2}, epoch=4, elapsed=9.0
    )
    assert (config.epochs, config.patience, config.device, config.workers) == (20, 5, "cpu", 2)
    assert changed == {
        "epochs": (10, 20),
        "patience": (50, 5),
        "device": ("auto", "cpu"),
        "workers": (0, 2),
    }
    assert config.replace(epochs=10, patience=50, device="auto", workers=0) == SAVED


def test_the_saved_value_is_no_change():
    config, changed = resumed_config(
        SAVED, {"imgsz": 64, "data": "d.yaml", "model": "n"}, epoch=4, elapsed=9.0
    )
    assert config == SAVED and changed == {}


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"imgsz": 96}, ["imgsz (64 -> 96)"]),
        ({"data": "other.yaml", "lr0": 0.01}, ["data ('d.yaml' -> 'other.yaml')", "lr0"]),
        ({"scale": "s"}, ["scale ('n' -> 's')"]),
        ({"augment": {"mosaic": 0.5}}, ["augment (mosaic 1.0 -> 0.5)"]),
        ({"project": "/elsewhere"}, ["project"]),
    ],
)
def test_other_changes_are_refused_by_name(changes, named):
    with pytest.raises(ConfigError) as e:
        resumed_config(SAVED, changes, epoch=4, elapsed=9.0, source="last.pt")
    message = str(e.value)
    assert message.startswith("last.pt: ")
    assert "cannot change on resume" in message and "start a new training" in message
    for part in named:
        assert part in message


def test_fewer_epochs_than_done_or_a_spent_budget_is_refused():
    assert resumed_config(SAVED, {"epochs": 4}, epoch=4, elapsed=9.0)[0].epochs == 4
    with pytest.raises(ConfigError, match="fewer than the 4 already done"):
        resumed_config(SAVED, {"epochs": 3}, epoch=4, elapsed=9.0)
    with pytest.raises(ConfigError, match="already spent"):
        resumed_config(SAVED, {"time": 8.0}, epoch=4, elapsed=9.0)
    with pytest.raises(ConfigError, match="'epoch' \\(did you mean 'epochs'\\?\\)"):
        resumed_config(SAVED, {"epoch": 20}, epoch=4, elapsed=9.0)


# -- the schedule when the length changes ---------------------------------------------------


def _state(iteration: int, elapsed: float = 0.0, **extra) -> dict:
    return {"iteration": iteration, "elapsed": elapsed, **extra}


def test_an_unchanged_length_is_the_saved_budget_exactly():
    budget = resumed_budget(SAVED, SAVED, 5, _state(20))
    fresh = Budget(total_iters=50)
    for i in range(51):
        assert budget.progress(i) == fresh.progress(i) == min(1.0, i / 50)


def test_more_epochs_continue_the_schedule_without_a_jump():
    schedule = Schedule(lr0=0.002, warmup=0.05, close_mosaic=0.15)
    old = build_budget(SAVED, 5)  # 10 epochs of 5 steps
    new = resumed_budget(SAVED, SAVED.replace(epochs=20), 5, _state(20))  # after epoch 4
    assert new.anchor == (20, 0.4)
    assert new.progress(20) == old.progress(20) == 0.4
    assert schedule.lr(new.progress(20)) == schedule.lr(old.progress(20))  # no LR jump
    values = [new.progress(i) for i in range(20, 101)]
    assert all(a < b for a, b in zip(values, values[1:])) and values[-1] == 1.0
    assert new.progress(60) == pytest.approx(0.4 + 0.6 * 40 / 80)  # linear on to the end
    assert schedule.mosaic_on(new.progress(78)) and not schedule.mosaic_on(new.progress(81))


def test_an_extended_finished_run_trains_at_the_final_lr():
    new = resumed_budget(SAVED, SAVED.replace(epochs=12), 5, _state(50))
    assert new.anchor == (50, 1.0) and new.progress(50) == new.progress(60) == 1.0
    timed = SAVED.replace(time=100.0)
    later = resumed_budget(timed, timed.replace(time=200.0), 5, _state(120, elapsed=100.0))
    assert later.progress(0) == 1.0 and not later.spent(0)  # progress 1, time left


def test_a_new_time_budget_anchors_on_seconds():
    timed = SAVED.replace(time=100.0)  # reserve min(10, 4 + 2) = 6 s: 94 s to spend
    budget = resumed_budget(timed, timed.replace(time=200.0), 5, _state(30, elapsed=47.0))
    assert budget.seconds == 200.0 and budget.anchor == (47.0, 0.5)
    assert budget.progress_at(47.0) == 0.5
    assert budget.progress_at(47.0 + (200.0 - 8.0 - 47.0) / 2) == pytest.approx(0.75)


def test_a_saved_anchor_is_kept_while_the_length_stays():
    state = _state(30, schedule_anchor=[20, 0.4])
    budget = resumed_budget(SAVED.replace(epochs=20), SAVED.replace(epochs=20), 5, state)
    assert budget.anchor == (20, 0.4) and budget.progress(30) == pytest.approx(0.4 + 0.6 / 8)


# -- resuming a real run ----------------------------------------------------------------------


class _StopAfterFirst(TrainCallback):
    def on_epoch_end(self, epoch, metrics):
        raise KeyboardInterrupt


class _Changes(TrainCallback):
    def __init__(self):
        self.resumed = None

    def on_resume(self, run_dir, epoch, iteration, changes):
        self.resumed = (run_dir, epoch, iteration, changes)


@pytest.fixture(scope="module")
def stopped(shapes_yaml, tmp_path_factory) -> Path:
    """The run folder of a 2-epoch training stopped after its first epoch (2 steps of 4)."""
    project = tmp_path_factory.mktemp("stopped")
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(shapes_yaml, project), callbacks=[_StopAfterFirst()], progress=False)
    return project / "run"


def copy_run(run_dir: Path, to: Path, old_format: bool = False) -> Path:
    """A copy of a run folder whose last.pt resumes into the copy; ``old_format`` writes
    its config as yolops did before ``model`` became ``scale``. Returns the last.pt."""
    shutil.copytree(run_dir, to)
    last = to / "weights" / "last.pt"
    state = load_checkpoint(last)
    state["run_dir"] = str(to)
    if old_format:
        config = dict(state["config"])
        state["config"] = {("model" if k == "scale" else k): v for k, v in config.items()}
    save_checkpoint(last, state)
    return last


def test_resume_with_more_epochs_continues_to_the_new_count(stopped, tmp_path):
    last = copy_run(stopped, tmp_path / "run")
    heard = _Changes()
    result = resume(last, {"epochs": 3}, callbacks=[heard], progress=False)
    assert result.epochs == 3 and result.stopped == "completed"
    assert [row["epoch"] for row in result.history] == [1, 2, 3]
    assert heard.resumed == (tmp_path / "run", 1, 2, {"epochs": (2, 3)})
    state = load_checkpoint(last)
    assert state["epoch"] == 3 and state["config"]["epochs"] == 3
    assert state["schedule_anchor"] == [2, 0.5]  # progress went on from half way


def test_resume_refuses_a_new_imgsz_before_training(stopped, tmp_path):
    last = stopped / "weights" / "last.pt"
    before = load_checkpoint(last)["iteration"]
    with pytest.raises(ConfigError, match="imgsz \\(64 -> 96\\).*cannot change on resume"):
        resume(last, {"imgsz": 96}, progress=False)
    with pytest.raises(ConfigError, match="imgsz"):  # what a config sets is a change too
        train(TrainConfig(imgsz=96), resume=last, progress=False)
    with pytest.raises(ConfigError, match="batch \\(4 -> 8\\)"):
        Detector.train(resume=last, batch=8)
    assert load_checkpoint(last)["iteration"] == before  # nothing ran


def test_cli_resume_with_epochs_on_an_old_checkpoint(stopped, tmp_path, capsys):
    """`yolops train --resume last.pt --epochs 3` on a checkpoint that still says model."""
    last = copy_run(stopped, tmp_path / "run", old_format=True)
    assert "model" in load_checkpoint(last)["config"]
    code, out = run_cli(capsys, "train", "--resume", str(last), "--epochs", "3", "--no-track")
    assert code == 0, out
    assert "after epoch 1 (iteration 2)" in out and "with epochs 2 -> 3" in out
    assert "Done (completed) after 3 epochs" in out
    state = load_checkpoint(last)
    assert state["epoch"] == 3 and state["config"]["scale"] == "n"
    assert "model" not in state["config"]


def test_cli_resume_refuses_imgsz(stopped, capsys):
    last = stopped / "weights" / "last.pt"
    code, out = run_cli(capsys, "train", "--resume", str(last), "--imgsz", "96", "--no-track")
    assert code == 1
    assert "imgsz (64 -> 96)" in out and "cannot change on resume" in out
    assert "Traceback" not in out
    code, out = run_cli(capsys, "train", "--resume", str(last), "--config", "x.yaml")
    assert code == 2 and "keeps its saved options" in out
