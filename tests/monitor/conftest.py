"""A workspace with one registered model version (reference statistics attached at
registration), trained for two epochs on generated shapes, shared by the session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from yolops.data.synth import SynthConfig, generate_to
from yolops.workspace import Workspace


@pytest.fixture(autouse=True)
def _no_outside_tracking(monkeypatch):
    for var in (
        "MLFLOW_TRACKING_URI",
        "YOLOPS_HOME",
        "MLFLOW_REGISTRY_URI",
        "YOLOPS_DATABASE_URL",
        "YOLOPS_ALERT_WEBHOOK",
    ):
        monkeypatch.delenv(var, raising=False)


@dataclass(frozen=True)
class Registered:
    ws: Workspace
    data: Path  # the data YAML the model trained on
    run_id: str
    name: str = "shapes"


@pytest.fixture(scope="session")
def registered(tmp_path_factory) -> Registered:
    from yolops.track.registry import promote, register_model
    from yolops.track.tracking import log_run_folder
    from yolops.train.config import TrainConfig
    from yolops.train.trainer import train

    root = tmp_path_factory.mktemp("monitor")
    data = generate_to(
        root / "data",
        "yolo",
        SynthConfig(
            num_images=40,
            image_size=(96, 64),
            max_objects=3,
            min_size=16,
            max_size=32,
            splits={"train": 0.6, "val": 0.4},
            seed=5,
        ),
    )
    run = train(
        TrainConfig(
            data=str(data),
            scale="n",
            imgsz=64,
            epochs=2,
            batch=8,
            project=str(root / "runs"),
            name="run",
            warmup=0.2,
            close_mosaic=0.5,
            seed=0,
        )
    )
    ws = Workspace.resolve(root / "ws", tracking_uri=None)
    ws.prepare()
    run_id = log_run_folder(ws, run.run_dir)
    mv = register_model(ws, run_id, "shapes")
    promote(ws, "shapes", mv.version, "production")
    return Registered(ws, Path(data), run_id)
