"""A run folder's files: the folder itself, config.yaml, metrics.csv and the
checkpoints (``weights/last.pt`` to resume, ``weights/best.pt`` to predict)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import torch
import yaml

from yolops._version import __version__
from yolops.model.checkpoint import save_checkpoint
from yolops.train.config import TrainConfig
from yolops.train.state import Run
from yolops.workspace import Workspace


def new_run_dir(config: TrainConfig, workspace: Workspace | None) -> tuple[TrainConfig, Path]:
    """A new run folder, created, with the config it runs with (``project`` resolved:
    empty means the workspace's runs folder) in config.yaml."""
    if not config.project:
        config = config.replace(project=str((workspace or Workspace.resolve()).runs_dir))
    run_dir = next_run_dir(Path(config.project), config.name)
    (run_dir / "weights").mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    return config, run_dir


def next_run_dir(project: Path, name: str) -> Path:
    """``project/name``, or the first free ``exp``, ``exp2``, ... when name is empty,
    created here: two trainings starting at once in one project get two folders."""
    if name:
        return project / name
    project.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        candidate = project / ("exp" if n == 1 else f"exp{n}")
        try:
            candidate.mkdir()  # atomic: only one process can create it
            return candidate
        except FileExistsError:
            n += 1


def write_metrics_csv(path: Path, history: list[dict[str, float]]) -> None:
    """All epochs so far, one row each, rewritten whole (a few KB): columns may appear
    later (validation every N epochs), and a resumed run never repeats a row."""
    fields: dict[str, None] = {}
    for row in history:
        fields.update(dict.fromkeys(row))
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(fields))
        w.writeheader()
        w.writerows(history)
    tmp.replace(path)


def checkpoint_state(run: Run) -> dict[str, Any]:
    """``last.pt``: everything a resume needs, and what prediction needs."""
    c, config = run.counters, run.config
    state = {
        "model": run.ema.module.state_dict(),
        "raw_model": run.model.state_dict(),
        "ema": run.ema.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scale": config.scale,
        "class_names": list(run.data.class_names),
        "imgsz": config.imgsz,
        "config": config.to_dict(),
        "run_dir": str(run.run_dir),
        "epoch": c.epoch,
        "iteration": c.iteration,
        "history": c.history,
        "best_fitness": c.best_fitness,
        "stale": c.stale,
        "elapsed": run.budget.elapsed(),
        "torch_rng": torch.get_rng_state(),
        "dataset": run.data.name,
        "dataset_hash": run.data.content_hash(),
        "yolops": __version__,
    }
    if run.budget.anchor != (0, 0.0):  # only a resume that changed the run's length sets one
        state["schedule_anchor"] = list(run.budget.anchor)
    return state


def save_checkpoints(run: Run, improved: bool) -> None:
    """``last.pt`` after every epoch; ``best.pt`` when the fitness improved (and after
    the first epoch, so that there always is one)."""
    weights = run.run_dir / "weights"
    ckpt = checkpoint_state(run)
    save_checkpoint(weights / "last.pt", ckpt)
    if improved or not (weights / "best.pt").exists():
        save_checkpoint(weights / "best.pt", inference_state(ckpt))


def inference_state(ckpt: dict[str, Any]) -> dict[str, Any]:
    """best.pt keeps what prediction needs (EMA weights, classes, size) and the record."""
    keep = (
        "model",
        "scale",
        "class_names",
        "imgsz",
        "config",
        "run_dir",
        "epoch",
        "history",
        "best_fitness",
        "dataset",
        "dataset_hash",
        "yolops",
    )
    return {k: ckpt[k] for k in keep}
