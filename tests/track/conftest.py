"""Fixtures for tracking tests: fresh workspaces (a migrated MLflow database is
copied in, since creating one takes seconds), a tiny generated dataset, and one
untracked training whose run folder tests log into their own workspaces."""

from __future__ import annotations

from pathlib import Path

import pytest

from yolops.data.synth import SynthConfig, generate_to
from track_support import new_workspace, tiny_config
from yolops.workspace import Workspace


@pytest.fixture(autouse=True)
def _no_outside_tracking(monkeypatch):
    """Tests never see a tracking server or workspace configured in the environment."""
    for var in ("MLFLOW_TRACKING_URI", "YOLOPS_HOME", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mlflow-template")
    Workspace.resolve(root, tracking_uri=None).prepare()
    return root / "mlflow.db"


@pytest.fixture
def workspace(tmp_path, mlflow_template) -> Workspace:
    return new_workspace(tmp_path / "ws", mlflow_template)


@pytest.fixture(scope="session")
def shapes_yaml(tmp_path_factory) -> Path:
    """12 generated images (8 train, 4 val), YOLO format."""
    root = tmp_path_factory.mktemp("shapes")
    config = SynthConfig(num_images=12, image_size=(96, 64), max_objects=2, min_size=16, max_size=32,
                         splits={"train": 0.67, "val": 0.33}, seed=3)
    return generate_to(root / "data", "yolo", config)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, shapes_yaml) -> Path:
    """The run folder of one untracked 2-epoch training."""
    from yolops.train.trainer import train

    project = tmp_path_factory.mktemp("trained")
    return train(tiny_config(shapes_yaml, project)).run_dir
