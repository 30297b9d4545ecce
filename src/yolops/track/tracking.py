"""Trainings as MLflow runs: a :class:`TrainCallback` that listens to the trainer.

    tracker = MLflowTracker(Workspace.resolve())
    train(config, callbacks=[tracker])       # tracker.run_id names the MLflow run

What a run holds: the whole resolved :class:`TrainConfig` as params (``augment.*``
flattened) plus what the trainer resolved (``resolved.optimizer``, ``resolved.lr0``);
per-epoch metrics with the trainer's stable keys (``train/box_loss``, ``lr``,
``val/map50_95``, ``val/ap50_95/<class>``, step = epoch); the final scores of
best.pt as ``best/val/...`` and ``best/test/...``; system tags (``sys.*``); lineage
tags (``dataset.*``, ``git.commit``, ``mlflow.parentRunId``); artifacts (config,
metrics, plots, data config, weights, the ONNX export) and the model as a pyfunc
(:mod:`yolops.track.pyfunc`).

Tracking never costs a training: when the store or server fails (down at the start
or gone mid-way) the tracker warns once and stops calling it, and the run folder
keeps config, metrics, plots and weights as always. ``tracking.yaml`` in the run
folder records the run id and whether tracking completed; :func:`log_run_folder`
(``yolops runs sync``) logs a finished run folder later.
"""

from __future__ import annotations

import csv
import getpass
import logging
import math
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from rich.console import Console

from yolops import safe_yaml
from yolops.errors import TrackingError
from yolops.infer.export import cached_onnx
from yolops.model.checkpoint import load_checkpoint
from yolops.track.lineage import TAG_DATASET_VERSION, dataset_input, dataset_source, input_of
from yolops.track.pyfunc import log_detector_model
from yolops.train.config import TrainConfig
from yolops.train.trainer import TrainCallback, TrainResult
from yolops.workspace import DEFAULT_EXPERIMENT, Workspace, quiet_mlflow

log = logging.getLogger(__name__)

STATE_FILE = "tracking.yaml"
MODEL_NAME = "model"  # the pyfunc model's name inside a run
GATE_METRIC = "best/val/map50_95"  # promotion compares this between versions

TAG_KIND = "yolops.kind"  # train | val | sweep | trial
TAG_RUN_DIR = "yolops.run_dir"
TAG_MODEL_ID = "yolops.model_id"
TAG_DATASET = "dataset.name"
TAG_DATASET_HASH = "dataset.hash"
TAG_VAL_SPLIT = "dataset.val_split"
TAG_REFERENCE = "monitor.reference"  # on a model version: where its reference statistics are
TAG_PARENT = "mlflow.parentRunId"

_PLOTS = ("training_curves.png", "pr_curves_*.png", "confusion_matrix_*.png", "predictions_*.png")
_RUN_FILES = ("config.yaml", "metrics.csv", "metrics_final.yaml")


def metric_key(key: str) -> str:
    """MLflow keys allow letters, digits, ``_ - . /`` and spaces; a class name may not."""
    return re.sub(r"[^\w\-./ ]", "_", key)


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"augment": {"mosaic": 1.0}}`` -> ``{"augment.mosaic": "1.0"}``."""
    out: dict[str, str] = {}
    for k, v in values.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = str(v)
    return out


def git_commit(cwd: Path | None = None) -> str | None:
    """The commit checked out where yolops runs, when it runs in a git work tree."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def get_or_create_experiment(client, name: str, artifact_root: str | None) -> str:
    """The experiment's id; created when missing (by whichever process gets there first)."""
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_root)
    except MlflowException:  # another training created it in between
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def read_state(run_dir: Path) -> dict[str, Any]:
    """``tracking.yaml`` of a run folder ({} when the training was not tracked)."""
    path = Path(run_dir) / STATE_FILE
    if not path.is_file():
        return {}
    try:
        return safe_yaml.load(path.read_text()) or {}
    except yaml.YAMLError:
        return {}


class MLflowTracker(TrainCallback):
    """Logs one training as one MLflow run (see the module docstring).

    ``parent_run_id`` nests the run (a sweep trial under its sweep); ``run_id``
    continues an existing run (a resumed training); ``log_model`` logs the pyfunc
    model at the end (ONNX export included)."""

    def __init__(
        self,
        workspace: Workspace,
        experiment: str = DEFAULT_EXPERIMENT,
        run_name: str | None = None,
        parent_run_id: str | None = None,
        run_id: str | None = None,
        kind: str = "train",
        tags: dict[str, str] | None = None,
        log_model: bool = True,
        console: Console | None = None,
    ):
        quiet_mlflow()
        self.workspace = workspace
        self.experiment = experiment
        self.run_name = run_name
        self.parent_run_id = parent_run_id
        self.run_id = run_id
        self.kind = kind
        self.extra_tags = dict(tags or {})
        self.log_model = log_model
        self.console = console or Console(stderr=True)
        self.failure: str | None = None  # why tracking stopped, when it did
        self.completed = False
        self.model_id: str | None = None
        self.run_dir: Path | None = None
        self.client = None  # the MlflowClient, once the run has started
        self._info: dict[str, Any] = {}
        self._val_split = "val"

    # -- the trainer's events ------------------------------------------------------------

    def on_train_start(self, run_dir: Path, config: TrainConfig, info: dict[str, Any]) -> None:
        # resolved here, in the training's folder, and kept in the state file for `runs sync`
        info = {
            **info,
            "dataset_source": info.get("dataset_source")
            or dataset_source(
                config.data, str(info.get("dataset_version") or ""), info.get("dataset_root") or ""
            ),
        }
        self.run_dir, self._info, self._val_split = Path(run_dir), dict(info), config.val_split
        self._write_state()
        self.guarded("starting the run", self._start, config, info)
        self._write_state()

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        values = {k: v for k, v in metrics.items() if k != "epoch"}
        self.guarded(f"logging epoch {epoch}", self.log_metrics, values, epoch)

    def on_train_end(self, result: TrainResult) -> None:
        self.guarded("logging the results", self._finish, result)
        self.completed = self.failure is None
        self._write_state()
        if self.failure is not None:
            self.console.print(
                f"[yellow]warning:[/] this training is not (fully) tracked ({self.failure}). "
                f"Nothing is lost: {result.run_dir} holds its config, metrics, plots and weights; "
                f"`yolops runs sync {result.run_dir}` logs it once the tracking store is "
                "reachable.",
                soft_wrap=True,
            )

    def close(self, status: str = "KILLED", reason: str = "") -> None:
        """End the run early (a pruned trial, an interrupted or failed training)."""
        if self.run_id is None or self.failure is not None:
            return
        if reason:
            self.guarded(
                "tagging the run", self.client.set_tag, self.run_id, "yolops.stopped", reason
            )
        self.guarded("ending the run", self.client.set_terminated, self.run_id, status)
        self._write_state()

    # -- MLflow calls ------------------------------------------------------------------------

    def guarded(self, what: str, fn: Callable, *args: Any) -> Any:
        """Run one tracking step; on the first failure warn and stop tracking."""
        if self.failure is not None:
            return None
        try:
            return fn(*args)
        except Exception as e:  # any store or network failure: the training must go on
            message = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
            self.failure = f"{what} failed: {type(e).__name__}: {message}"
            self.console.print(
                f"[yellow]warning:[/] tracking to {self.workspace.tracking_uri} stopped while "
                f"{what} ({type(e).__name__}: {message}). "
                "The training goes on; its run folder keeps everything.",
                soft_wrap=True,
            )
            log.debug("tracking failure", exc_info=True)
            self._write_state()
            return None

    def _start(self, config: TrainConfig, info: dict[str, Any]) -> None:
        self.client = self.workspace.client()
        if self.run_id is not None:  # a resumed training continues its run
            self.client.update_run(self.run_id, status="RUNNING")
            return
        exp_id = get_or_create_experiment(
            self.client, self.experiment, self.workspace.artifact_root
        )
        run = self.client.create_run(
            exp_id, run_name=self.run_name or self.run_dir.name, tags=self._tags(config, info)
        )
        self.run_id = run.info.run_id
        source = info["dataset_source"]
        name = str(info.get("dataset_version") or info.get("dataset", ""))
        digest = str(info.get("dataset_digest", ""))
        self.client.log_inputs(self.run_id, [dataset_input(name, digest, source, "training")])
        params = flatten(config.to_dict())
        params.update({f"resolved.{k}": str(info[k]) for k in ("optimizer", "lr0") if k in info})
        params.update({k: str(v) for k, v in info.items() if k.startswith("model_")})
        items = [Param(k, v[:6000]) for k, v in params.items()]
        for start in range(0, len(items), 100):  # MLflow takes at most 100 params a call
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def _tags(self, config: TrainConfig, info: dict[str, Any]) -> dict[str, str]:
        tags = {
            TAG_KIND: self.kind,
            TAG_RUN_DIR: str(self.run_dir),
            "mlflow.user": getpass.getuser(),
            "mlflow.source.name": f"yolops {self.kind}",
            "mlflow.source.type": "LOCAL",
            TAG_DATASET: str(info.get("dataset", "")),
            TAG_DATASET_HASH: str(info.get("dataset_hash", "")),
            TAG_VAL_SPLIT: config.val_split,
            "dataset.train_split": "train",
            "dataset.train_images": str(info.get("train_images", "")),
            "dataset.val_images": str(info.get("val_images", "")),
            "dataset.source": info["dataset_source"],
            TAG_DATASET_VERSION: str(info.get("dataset_version", "")),
            "sys.device": str(info.get("device", "")),
            "sys.threads": str(info.get("threads", "")),
            "sys.torch": str(info.get("torch", "")),
            "sys.yolops": str(info.get("yolops", "")),
        }
        commit = git_commit()
        if commit:
            tags.update({"git.commit": commit, "mlflow.source.git.commit": commit})
        if self.parent_run_id:
            tags[TAG_PARENT] = self.parent_run_id
        tags.update(self.extra_tags)
        return tags

    def log_metrics(self, values: dict[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        items = [
            Metric(metric_key(k), float(v), now, step)
            for k, v in values.items()
            if isinstance(v, (int, float))
        ]
        for start in range(0, len(items), 1000):
            self.client.log_batch(self.run_id, metrics=items[start : start + 1000])

    def _finish(self, result: TrainResult) -> None:
        final: dict[str, float] = {}
        for k, v in result.metrics.items():
            split, _, rest = k.partition("/")
            final[f"best/{'val' if split == self._val_split else split}/{rest}"] = v
        final.update(
            {
                "train_images_per_second": result.train_images_per_second,
                "seconds": result.seconds,
                "epochs": result.epochs,
            }
        )
        self.log_metrics(final, result.epochs)
        self.client.set_tag(self.run_id, "yolops.stopped", result.stopped)
        self._log_artifacts(result)
        if self.log_model:
            onnx_path = cached_onnx(result.best)
            self.client.log_artifact(self.run_id, str(onnx_path), "weights")
            self.model_id = log_detector_model(self.workspace, self.run_id, onnx_path)
            self.client.set_tag(self.run_id, TAG_MODEL_ID, self.model_id)
        self.client.set_terminated(self.run_id, "FINISHED")

    def _log_artifacts(self, result: TrainResult) -> None:
        run_dir = result.run_dir
        for name in _RUN_FILES:
            if (run_dir / name).is_file():
                self.client.log_artifact(self.run_id, str(run_dir / name))
        for pattern in _PLOTS:
            for path in sorted(run_dir.glob(pattern)):
                self.client.log_artifact(self.run_id, str(path), "plots")
        for path in (result.best, result.last):
            if Path(path).is_file():
                self.client.log_artifact(self.run_id, str(path), "weights")
        self._log_data_config(run_dir)

    def _log_data_config(self, run_dir: Path) -> None:
        """The data config file itself (a YOLO YAML, a COCO JSON) and a summary of the
        dataset the run saw (name, content hash, split sizes)."""
        config = (
            safe_yaml.load((run_dir / "config.yaml").read_text())
            if (run_dir / "config.yaml").is_file()
            else {}
        )
        source = Path(str(self._info.get("dataset_source") or config.get("data") or ""))
        if source.is_file() and source.stat().st_size < 50_000_000:
            self.client.log_artifact(self.run_id, str(source), "data")
        summary = {
            "source": str(source),
            **{
                k: self._info[k]
                for k in ("dataset", "dataset_hash", "train_images", "val_images")
                if k in self._info
            },
            "val_split": self._val_split,
        }
        self.client.log_dict(self.run_id, summary, "data/dataset.yaml")

    def _write_state(self) -> None:
        if self.run_dir is None:
            return
        state = {
            "tracking_uri": self.workspace.tracking_uri,
            "workspace": str(self.workspace.root),
            "experiment": self.experiment,
            "run_id": self.run_id,
            "model_id": self.model_id,
            "completed": self.completed,
            "failure": self.failure,
            "info": {
                k: (v if type(v) in (int, float, bool) else str(v)) for k, v in self._info.items()
            },
        }
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / STATE_FILE).write_text(yaml.safe_dump(state, sort_keys=False))


# -- a finished run folder, logged afterwards -------------------------------------------------


def read_metrics_csv(path: Path) -> list[dict[str, float]]:
    """The trainer's metrics.csv as one dict per epoch; empty cells (no validation
    that epoch) are left out."""
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return [
            {k: float(v) for k, v in row.items() if v not in ("", None)}
            for row in csv.DictReader(f)
        ]


def result_from_run_dir(run_dir: str | Path) -> tuple[TrainConfig, TrainResult]:
    """The config and result of a finished training, read back from its run folder."""
    run_dir = Path(run_dir)
    best, last = run_dir / "weights" / "best.pt", run_dir / "weights" / "last.pt"
    for needed in (run_dir / "config.yaml", best):
        if not needed.is_file():
            raise TrackingError(
                f"{run_dir}: not a finished training run folder ({needed.name} is missing)"
            )
    config = TrainConfig.from_yaml(run_dir / "config.yaml")
    history = read_metrics_csv(run_dir / "metrics.csv")
    final_path = run_dir / "metrics_final.yaml"
    final = (
        {k: float(v) for k, v in (safe_yaml.load(final_path.read_text()) or {}).items()}
        if final_path.is_file()
        else {}
    )
    epochs = int(history[-1]["epoch"]) if history else 0
    seconds = float(history[-1].get("time", 0.0)) if history else 0.0
    return config, TrainResult(
        run_dir=run_dir,
        best=best,
        last=last,
        epochs=epochs,
        metrics=final,
        history=history,
        seconds=seconds,
    )


def log_run_folder(
    workspace: Workspace,
    run_dir: str | Path,
    experiment: str = DEFAULT_EXPERIMENT,
    log_model: bool = True,
    console: Console | None = None,
) -> str:
    """Log a finished training's run folder as a new MLflow run (its epochs, results,
    artifacts and model); returns the run id. For trainings that ran untracked, or
    whose tracking server went away. Raises :class:`TrackingError` when the store
    cannot be reached."""
    config, result = result_from_run_dir(run_dir)
    previous = read_state(result.run_dir)
    info = dict(previous.get("info") or {})
    if not info:
        best = load_checkpoint(result.best)
        info = {
            "dataset": best.get("dataset", ""),
            "dataset_hash": best.get("dataset_hash", ""),
            "yolops": best.get("yolops", ""),
            "device": "unknown",
        }
    tracker = MLflowTracker(
        workspace,
        experiment=experiment,
        log_model=log_model,
        console=console,
        tags={"yolops.synced_from": str(result.run_dir)},
    )
    tracker.on_train_start(result.run_dir, config, info)
    for row in result.history:
        tracker.on_epoch_end(int(row["epoch"]), {k: v for k, v in row.items() if not math.isnan(v)})
    tracker.guarded("logging the results", tracker._finish, result)
    if tracker.failure is not None:
        raise TrackingError(
            f"cannot log {result.run_dir} to {workspace.tracking_uri}: {tracker.failure}"
        )
    tracker.completed = True
    tracker._write_state()
    return tracker.run_id


# -- evaluations ------------------------------------------------------------------------------


def log_evaluation(
    workspace: Workspace,
    model_ref: str,
    dataset,
    split: str | None,
    metrics: dict[str, float],
    experiment: str = DEFAULT_EXPERIMENT,
    model_run_id: str | None = None,
) -> str:
    """Log one evaluation (``yolops val``) as an MLflow run: the model reference,
    dataset and split as params, the metrics under ``<split>/``, lineage tags (the
    dataset's name, content hash and split; the run that trained the model, when
    known). Returns the run id; raises :class:`TrackingError` when the store fails."""
    quiet_mlflow()
    part = split or "all"
    try:
        client = workspace.client()
        exp_id = get_or_create_experiment(client, experiment, workspace.artifact_root)
        tags = {
            TAG_KIND: "val",
            "mlflow.user": getpass.getuser(),
            "mlflow.source.name": "yolops val",
            TAG_DATASET: dataset.name,
            TAG_DATASET_HASH: dataset.content_hash(),
            TAG_DATASET_VERSION: dataset.version.ref if dataset.version else "",
            "dataset.split": part,
        }
        if model_run_id:
            tags.update({"yolops.model_run": model_run_id, TAG_PARENT: model_run_id})
        commit = git_commit()
        if commit:
            tags["git.commit"] = commit
        run = client.create_run(
            exp_id, run_name=f"val {Path(model_ref).name} on {dataset.name}/{part}", tags=tags
        )
        source = str(dataset.root or dataset.name)
        client.log_inputs(run.info.run_id, [input_of(dataset, source, "evaluation", part)])
        now = int(time.time() * 1000)
        client.log_batch(
            run.info.run_id,
            metrics=[
                Metric(metric_key(f"{part}/{k}"), float(v), now, 0) for k, v in metrics.items()
            ],
            params=[
                Param("model", model_ref),
                Param("data", str(dataset.root or dataset.name)),
                Param("split", part),
                Param("images", str(len(dataset))),
            ],
        )
        client.set_terminated(run.info.run_id, "FINISHED")
        return run.info.run_id
    except Exception as e:
        raise TrackingError(
            f"cannot log the evaluation to {workspace.tracking_uri}: "
            f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
        ) from None
