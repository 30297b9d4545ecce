"""Plain functions the tracking and serving tests share (fixtures are in conftest.py)."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

from yolops.train.config import TrainConfig
from yolops.workspace import Workspace


def new_workspace(root: Path, template: Path) -> Workspace:
    """A workspace at ``root`` with a copy of an already migrated MLflow database."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(template, root / "mlflow.db")
    (root / ".mlflow-ready").touch()
    return Workspace(root.absolute(), f"sqlite:///{root.absolute() / 'mlflow.db'}")


def tiny_config(data: Path, project: Path, **changes) -> TrainConfig:
    base = dict(
        data=str(data),
        scale="n",
        imgsz=64,
        epochs=2,
        batch=4,
        project=str(project),
        name="run",
        warmup=0.2,
        close_mosaic=0.5,
        seed=0,
    )
    base.update(changes)
    return TrainConfig(**base)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
