"""Sweeps: Optuna trials as nested MLflow runs, pruning, resuming an interrupted
sweep, registering the best; bad search spaces."""

from __future__ import annotations

import optuna
import pytest
import yaml

from yolops.errors import ConfigError
from yolops.track.sweep import apply_params, load_space, run_sweep, validate_space
from yolops.train.trainer import TrainCallback

from track_support import tiny_config

SPACE = {
    "lr0": {"type": "float", "low": 0.001, "high": 0.004, "log": True},
    "augment.mosaic": {"type": "categorical", "choices": [0.0, 1.0]},
}


class PruneSecondTrial(optuna.pruners.BasePruner):
    """Prunes trial 1 at its first report; lets every other trial run (a stand-in
    for the median pruner, whose decisions depend on scores)."""

    def prune(self, study, trial) -> bool:
        return trial.number == 1 and trial.last_step is not None


class InterruptTrial(TrainCallback):
    def __init__(self, trials_seen: list):
        self.trials_seen = trials_seen

    def on_train_start(self, run_dir, config, info):
        self.trials_seen.append(run_dir.name)

    def on_epoch_end(self, epoch, metrics):
        if len(self.trials_seen) == 2:
            raise KeyboardInterrupt


def _runs(ws, parent_id):
    client = ws.client()
    exp = client.get_experiment_by_name("yolops")
    return client.search_runs([exp.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'")


def test_sweep_prunes_nests_trials_and_registers_the_best(workspace, shapes_yaml):
    base = tiny_config(shapes_yaml, workspace.root, epochs=2)
    result = run_sweep(
        workspace,
        base,
        trials=2,
        space=SPACE,
        name="s1",
        pruner=PruneSecondTrial(),
        register="swept",
    )
    states = [t["state"] for t in result.trials]
    assert states == ["COMPLETE", "PRUNED"]
    assert result.best_trial == 0 and result.registered == "swept/1"
    children = {r.data.tags["optuna.trial"]: r for r in _runs(workspace, result.run_id)}
    assert children["0"].info.status == "FINISHED" and children["1"].info.status == "KILLED"
    assert children["1"].data.tags["yolops.stopped"] == "pruned"
    assert (
        workspace.sweeps_dir / "s1" / "trial-1" / "weights" / "last.pt"
    ).is_file()  # kept locally
    parent = workspace.client().get_run(result.run_id)
    assert (
        parent.data.tags["yolops.kind"] == "sweep"
        and parent.data.tags["best_run_id"] == result.best_run_id
    )
    best = yaml.safe_load(result.best_config_path.read_text())
    assert best["lr0"] == pytest.approx(result.best_params["lr0"])
    assert best["augment"]["mosaic"] == result.best_params["augment.mosaic"]


def test_interrupted_sweep_resumes_where_it_stopped(workspace, shapes_yaml):
    base = tiny_config(shapes_yaml, workspace.root, epochs=1)
    seen: list = []
    with pytest.raises(KeyboardInterrupt):
        run_sweep(
            workspace,
            base,
            trials=2,
            space=SPACE,
            name="s2",
            pruner="none",
            callbacks=[InterruptTrial(seen)],
        )
    study = optuna.load_study(study_name="s2", storage=workspace.optuna_storage)
    parent_id = study.user_attrs["mlflow_run_id"]
    study.ask()  # a trial a killed process left RUNNING
    result = run_sweep(workspace, base, trials=2, space=SPACE, name="s2", pruner="none")
    assert result.ran == 1 and result.run_id == parent_id
    assert [t["state"] for t in result.trials] == ["COMPLETE", "FAIL", "FAIL", "COMPLETE"]
    assert seen == ["trial-0", "trial-1"]
    statuses = sorted(r.info.status for r in _runs(workspace, parent_id))
    assert statuses == ["FINISHED", "FINISHED", "KILLED"]
    again = run_sweep(workspace, base, trials=2, space=SPACE, name="s2")  # nothing left to do
    assert again.ran == 0
    with pytest.raises(ConfigError, match="another search space"):
        run_sweep(workspace, base, trials=3, space={"lr0": SPACE["lr0"]}, name="s2")


def test_bad_search_spaces_are_named(tmp_path):
    for space, message in [
        ({"lr00": {"type": "float", "low": 0.1, "high": 1}}, "'lr00' is not a training option"),
        (
            {"project": {"type": "categorical", "choices": ["a"]}},
            "'project' is not a training option",
        ),
        ({"lr0": {"type": "normal"}}, "give type float, int or categorical"),
        ({"lr0": {"type": "float", "low": 0.1, "high": 0.01}}, "needs low < high"),
        ({"lr0": {"type": "float", "low": 0.0, "high": 0.01, "log": True}}, "low > 0 with log"),
        ({"batch": {"type": "categorical", "choices": []}}, "non-empty list of choices"),
        ({}, "maps training options to distributions"),
    ]:
        with pytest.raises(ConfigError, match=message):
            validate_space(space)
    path = tmp_path / "space.yaml"
    path.write_text("lr0: [unclosed")
    with pytest.raises(ConfigError, match="space.yaml: cannot read"):
        load_space(path)


def test_apply_params_reaches_augmentation(shapes_yaml, tmp_path):
    cfg = apply_params(tiny_config(shapes_yaml, tmp_path), {"lr0": 0.003, "augment.fliplr": 0.0})
    assert cfg.lr0 == 0.003 and cfg.augment.fliplr == 0.0 and cfg.augment.mosaic == 1.0
