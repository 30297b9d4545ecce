"""The state of a training: where it stands (:class:`Counters`, saved in ``last.pt``),
what it carries from step to step (:class:`Run`) and what it gives back
(:class:`TrainResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from yolops.data.dataset import Dataset
from yolops.model.loss import DetectionLoss
from yolops.model.yolo import YOLO
from yolops.train.callbacks import TrainCallback
from yolops.train.config import TrainConfig
from yolops.train.cpu_share import CpuShare
from yolops.train.ema import ModelEMA
from yolops.train.schedule import Budget, Schedule


@dataclass
class TrainResult:
    run_dir: Path
    best: Path
    last: Path
    epochs: int
    metrics: dict[str, float]  # final val (and test, when the dataset has one) metrics of best.pt
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    train_images_per_second: float = 0.0
    peak_memory_mb: float = 0.0
    stopped: str = "completed"  # completed | time | early_stopping


@dataclass
class Counters:
    """Where a training stands: saved in ``last.pt`` and restored on resume."""

    epoch: int = 0  # epochs done
    iteration: int = 0  # optimizer steps done
    history: list[dict[str, float]] = field(default_factory=list)  # one row per epoch
    best_fitness: float = -1.0
    stale: int = 0  # validations since the fitness last improved


@dataclass
class Run:
    """What a training carries from step to step. ``config`` is the run's own: its
    ``project`` resolved and, on resume, the changes applied."""

    config: TrainConfig
    run_dir: Path
    data: Dataset  # every split (classes, final scores); training reads ``loader``
    val_data: Dataset
    device: torch.device
    model: YOLO
    ema: ModelEMA
    optimizer: torch.optim.Optimizer
    loss_fn: DetectionLoss
    schedule: Schedule
    loader: DataLoader
    budget: Budget
    events: TrainCallback
    started: float  # time.perf_counter() when this call began
    counters: Counters = field(default_factory=Counters)
    train_images: int = 0
    train_seconds: float = 0.0
    stopped: str = "completed"  # completed | time | early_stopping
    cpu_share: CpuShare | None = None  # torch's threads following the CPU others leave
