"""Hyper-parameter sweeps on Optuna, each trial a nested MLflow run.

    result = run_sweep(ws, TrainConfig(data="data.yaml", epochs=10), trials=20)
    result.best_config          # the TrainConfig of the best trial (also best.yaml)

TPE samples the space; the pruner (median by default, or Hyperband) stops a trial
whose per-epoch val mAP50-95 falls behind. The study lives in the workspace's
Optuna storage (SQLite), so running the same sweep again resumes it: finished and
pruned trials count, a trial that was interrupted is marked failed and replaced.
The sweep is one MLflow run (kind ``sweep``) and each trial a run nested under it
(kind ``trial``), with the trial's model logged, so the best can be registered.

A search space (YAML) maps a training option (``augment.*`` for augmentation) to a
distribution::

    lr0: {type: float, low: 0.0005, high: 0.01, log: true}
    batch: {type: categorical, choices: [8, 16]}
    augment.mosaic: {type: float, low: 0.0, high: 1.0}
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import yaml
from mlflow.entities import Param
from optuna.trial import TrialState
from rich.console import Console

from yolops import safe_yaml
from yolops.data.dataset import Dataset, load_dataset
from yolops.errors import ConfigError, TrackingError
from yolops.track.lineage import TAG_DATASET_VERSION, dataset_source, input_of
from yolops.track.registry import register_model
from yolops.track.tracking import MLflowTracker, flatten, get_or_create_experiment
from yolops.track.training import train_tracked
from yolops.train.augment import AugmentConfig
from yolops.train.config import RENAMED, TrainConfig
from yolops.train.trainer import TrainCallback
from yolops.workspace import DEFAULT_EXPERIMENT, Workspace

DEFAULT_SPACE: dict[str, dict[str, Any]] = {
    "lr0": {"type": "float", "low": 5e-4, "high": 5e-3, "log": True},
    "weight_decay": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True},
    "box_weight": {"type": "float", "low": 4.0, "high": 10.0},
    "cls_weight": {"type": "float", "low": 0.3, "high": 1.5},
    "augment.mosaic": {"type": "float", "low": 0.0, "high": 1.0},
}
OBJECTIVE = "val/map50_95"
_TYPES = ("float", "int", "categorical")


def validate_space(
    space: Mapping[str, Any], source: str = "search space"
) -> dict[str, dict[str, Any]]:
    """The space, checked: known options, known types, sane bounds."""
    if not isinstance(space, Mapping) or not space:
        raise ConfigError(f"{source}: a search space maps training options to distributions")
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)} - {
        "augment",
        "data",
        "project",
        "name",
    }
    aug_fields = {f.name for f in dataclasses.fields(AugmentConfig)}
    out = {}
    for key, spec in space.items():
        key = RENAMED.get(key, key)  # an older space may say model for scale
        group, _, sub = key.partition(".")
        known = (group == "augment" and sub in aug_fields) if sub else key in train_fields
        if not known:
            raise ConfigError(f"{source}: {key!r} is not a training option that can be swept")
        if not isinstance(spec, Mapping) or spec.get("type") not in _TYPES:
            raise ConfigError(
                f"{source}: {key}: give type float, int or categorical (got {spec!r})"
            )
        if spec["type"] == "categorical":
            if not isinstance(spec.get("choices"), list) or not spec["choices"]:
                raise ConfigError(
                    f"{source}: {key}: a categorical needs a non-empty list of choices"
                )
        else:
            try:
                low, high = float(spec["low"]), float(spec["high"])
            except (KeyError, TypeError, ValueError):
                raise ConfigError(f"{source}: {key}: give numeric low and high") from None
            if not low < high or (spec.get("log") and low <= 0):
                raise ConfigError(
                    f"{source}: {key}: needs low < high (and low > 0 with log), got {low}, {high}"
                )
        out[key] = dict(spec)
    return out


def load_space(path: str | Path) -> dict[str, dict[str, Any]]:
    path = Path(path)
    try:
        values = safe_yaml.load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read the search space: {e}") from None
    return validate_space(values, str(path))


def sample(trial, space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One value per option, drawn by the trial's sampler."""
    values = {}
    for key, spec in space.items():
        if spec["type"] == "categorical":
            values[key] = trial.suggest_categorical(key, spec["choices"])
        elif spec["type"] == "int":
            values[key] = trial.suggest_int(
                key, int(spec["low"]), int(spec["high"]), log=bool(spec.get("log"))
            )
        else:
            values[key] = trial.suggest_float(
                key, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log"))
            )
    return values


def apply_params(base: TrainConfig, params: Mapping[str, Any]) -> TrainConfig:
    """``base`` with sampled values (``augment.x`` keys go into its AugmentConfig)."""
    top = {k: v for k, v in params.items() if "." not in k}
    aug = {k.partition(".")[2]: v for k, v in params.items() if k.startswith("augment.")}
    if aug:
        top["augment"] = dataclasses.replace(base.augment, **aug)
    return base.replace(**top)


class PruningCallback(TrainCallback):
    """Reports each epoch's val mAP50-95 to the trial; raises ``TrialPruned`` when
    the pruner says so (the trainer has already saved that epoch's checkpoint)."""

    def __init__(self, trial):
        self.trial = trial

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        if OBJECTIVE not in metrics:
            return
        self.trial.report(float(metrics[OBJECTIVE]), epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(
                f"epoch {epoch}: val mAP50-95 {metrics[OBJECTIVE]:.4f} is behind"
            )


def build_pruner(pruner: Any, epochs: int):
    if not isinstance(pruner, str):
        return pruner  # an optuna pruner object
    if pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    if pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 2))
    if pruner == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"unknown pruner {pruner!r}; choose median, hyperband or none")


@dataclass
class SweepResult:
    name: str
    run_id: str | None  # the sweep's MLflow run
    trials: list[dict[str, Any]]  # number, state, value, params, run_id, seconds
    best_trial: int
    best_value: float
    best_params: dict[str, Any]
    best_config: TrainConfig
    best_run_id: str | None
    best_config_path: Path
    ran: int = 0  # trials run by this call (the rest came from earlier calls)
    registered: str | None = None  # "NAME/VERSION" when --register was asked for
    warnings: list[str] = field(default_factory=list)


def _storage(ws: Workspace):
    ws.root.mkdir(parents=True, exist_ok=True)
    # SQLite under two writers: wait for the lock rather than fail at once.
    return optuna.storages.RDBStorage(
        ws.optuna_storage, engine_kwargs={"connect_args": {"timeout": 60}}
    )


def _close_interrupted(study) -> int:
    """Trials left RUNNING by an interrupted sweep are marked failed; returns how many."""
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in stale:
        study.tell(t.number, state=TrialState.FAIL)
    return len(stale)


class _SweepRun:
    """The sweep's parent MLflow run; tracking failures only warn, as in training."""

    def __init__(self, ws: Workspace, experiment: str, study, name: str, console: Console):
        self.ws, self.study, self.console = ws, study, console
        self.tracker = MLflowTracker(
            ws,
            experiment=experiment,
            run_name=f"sweep {name}",
            kind="sweep",
            log_model=False,
            console=console,
            run_id=study.user_attrs.get("mlflow_run_id"),
        )

    @property
    def run_id(self) -> str | None:
        return self.tracker.run_id

    def start(
        self,
        base: TrainConfig,
        space: dict,
        trials: int,
        pruner: str,
        run_dir: Path,
        dataset: Dataset,
    ) -> None:
        t = self.tracker
        t.run_dir = run_dir
        t.guarded("starting the sweep run", self._start, base, space, trials, pruner, dataset)
        if t.run_id:
            self.study.set_user_attr("mlflow_run_id", t.run_id)

    def _start(
        self, base: TrainConfig, space: dict, trials: int, pruner: str, dataset: Dataset
    ) -> None:
        t = self.tracker
        t.client = client = self.ws.client()
        if t.run_id is not None:
            client.update_run(t.run_id, status="RUNNING")
            return
        exp_id = get_or_create_experiment(client, t.experiment, self.ws.artifact_root)
        source = dataset_source(
            base.data, dataset.version.ref if dataset.version else "", dataset.root or ""
        )
        run = client.create_run(
            exp_id,
            run_name=t.run_name,
            tags={
                "yolops.kind": "sweep",
                "mlflow.user": getpass.getuser(),
                "optuna.study": self.study.study_name,
                "mlflow.source.name": "yolops sweep",
                "dataset.source": source,
                TAG_DATASET_VERSION: dataset.version.ref if dataset.version else "",
            },
        )
        t.run_id = run.info.run_id
        client.log_inputs(t.run_id, [input_of(dataset, source, "training")])
        params = {f"base.{k}": v for k, v in flatten(base.to_dict()).items() if k not in space}
        params.update(
            {
                "space": json.dumps(space)[:6000],
                "trials": str(trials),
                "pruner": str(pruner),
                "sampler": "TPE",
            }
        )
        items = [Param(k, v) for k, v in params.items()]
        for i in range(0, len(items), 100):
            client.log_batch(t.run_id, params=items[i : i + 100])

    def trial_done(self, study, trial) -> None:
        if trial.state != TrialState.COMPLETE or self.tracker.client is None:
            return
        best = study.best_value
        self.tracker.guarded(
            "logging the sweep's progress",
            self.tracker.log_metrics,
            {"trial/value": trial.value, "best/val/map50_95": best},
            trial.number,
        )

    def finish(self, best_config_path: Path, best_trial: int, best_run_id: str | None) -> None:
        t = self.tracker
        if t.client is None or t.run_id is None:
            return
        t.guarded("logging the best config", t.client.log_artifact, t.run_id, str(best_config_path))
        tags = {"best_trial": str(best_trial), "best_run_id": best_run_id or ""}
        for k, v in tags.items():
            t.guarded("tagging the sweep", t.client.set_tag, t.run_id, k, v)
        t.guarded("ending the sweep run", t.client.set_terminated, t.run_id, "FINISHED")


def run_sweep(
    ws: Workspace,
    base: TrainConfig,
    trials: int,
    space: Mapping[str, Any] | None = None,
    name: str | None = None,
    pruner: Any = "median",
    seed: int = 0,
    register: str | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
    callbacks: Iterable[TrainCallback] = (),
    console: Console | None = None,
) -> SweepResult:
    """Run (or resume) the sweep ``name`` until it has ``trials`` finished or pruned
    trials; see the module docstring. ``callbacks`` are added to every training.
    ``register`` registers the best trial's model under that name."""
    console = console or Console()
    if trials < 1:
        raise ConfigError(f"trials must be >= 1, got {trials}")
    if not base.data:
        raise ConfigError("a sweep needs a dataset (data)")
    space = validate_space(space or DEFAULT_SPACE)
    name = name or f"sweep-{Path(base.data).stem or 'data'}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=name,
        storage=_storage(ws),
        direction="maximize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=build_pruner(pruner, base.epochs),
    )
    known_space = study.user_attrs.get("space")
    if known_space is not None and known_space != json.loads(json.dumps(space)):
        raise ConfigError(
            f"sweep {name!r} already exists in {ws.root} with another search space; "
            "give a new --name, or the same space to resume it"
        )
    study.set_user_attr("space", json.loads(json.dumps(space)))
    interrupted = _close_interrupted(study)
    if interrupted:
        console.print(
            f"Resuming sweep [bold]{name}[/]: {interrupted} interrupted trial(s) marked failed"
        )
    counted = (TrialState.COMPLETE, TrialState.PRUNED)
    done = len(study.get_trials(deepcopy=False, states=counted))
    remaining = max(trials - done, 0)
    folder = ws.sweeps_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    dataset = load_dataset(base.data, workspace=ws)
    parent = _SweepRun(ws, experiment, study, name, console)
    parent.start(base, space, trials, str(pruner), folder, dataset)
    if done:
        console.print(f"Sweep [bold]{name}[/]: {done} trial(s) already done, {remaining} to go")

    def objective(trial) -> float:
        cfg = apply_params(base, sample(trial, space)).replace(
            project=str(folder), name=f"trial-{trial.number}"
        )
        tracker = MLflowTracker(
            ws,
            experiment=experiment,
            run_name=f"{name} trial {trial.number}",
            parent_run_id=parent.run_id,
            kind="trial",
            console=console,
            tags={"optuna.study": name, "optuna.trial": str(trial.number)},
        )
        console.print(
            f"[bold]trial {trial.number}[/] ({done + 1 + trial_count[0]}/{trials}): "
            + ", ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
        )
        trial_count[0] += 1
        start = time.perf_counter()
        try:
            result = train_tracked(
                cfg,
                ws,
                dataset=dataset,
                tracker=tracker,
                callbacks=[PruningCallback(trial), *callbacks],
                stopped_by={optuna.TrialPruned: "pruned"},
                console=console,
            ).result
        finally:
            trial.set_user_attr("mlflow_run_id", tracker.run_id)
        trial.set_user_attr("run_dir", str(result.run_dir))
        trial.set_user_attr("seconds", time.perf_counter() - start)
        return float(result.metrics.get(f"{cfg.val_split}/map50_95", 0.0))

    trial_count = [0]
    if remaining:
        study.optimize(objective, n_trials=remaining, callbacks=[parent.trial_done], catch=())
    return _summarize(ws, study, base, name, folder, parent, trial_count[0], register, console)


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _summarize(
    ws: Workspace,
    study,
    base: TrainConfig,
    name: str,
    folder: Path,
    parent: _SweepRun,
    ran: int,
    register: str | None,
    console: Console,
) -> SweepResult:
    rows = [
        {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "params": dict(t.params),
            "run_id": t.user_attrs.get("mlflow_run_id"),
            "seconds": t.user_attrs.get("seconds"),
        }
        for t in study.get_trials(deepcopy=False)
    ]
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        raise TrackingError(f"sweep {name!r}: no trial completed (all were pruned or failed)")
    best = study.best_trial
    best_config = apply_params(base, best.params)
    path = folder / "best.yaml"
    path.write_text(
        yaml.safe_dump(
            best_config.replace(project=base.project, name="").to_dict(), sort_keys=False
        )
    )
    best_run = best.user_attrs.get("mlflow_run_id")
    parent.finish(path, best.number, best_run)
    result = SweepResult(
        name,
        parent.run_id,
        rows,
        best.number,
        float(best.value),
        dict(best.params),
        best_config,
        best_run,
        path,
        ran,
    )
    if register:
        if not best_run:
            raise TrackingError(
                f"sweep {name!r}: the best trial {best.number} was not tracked, so it cannot "
                "be registered"
            )
        mv = register_model(
            ws, best_run, register, description=f"best of sweep {name} (trial {best.number})"
        )
        result.registered = f"{mv.name}/{mv.version}"
    return result
