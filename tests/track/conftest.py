"""Fixtures for tracking tests: a fresh workspace per test (the migrated MLflow
database, the tiny dataset and the untracked training it copies from are in
tests/conftest.py, shared with the serving tests)."""

from __future__ import annotations

import pytest

from yolops.workspace import Workspace

from track_support import new_workspace


@pytest.fixture(autouse=True)
def _no_outside_tracking(monkeypatch):
    """Tests never see a tracking server or workspace configured in the environment."""
    for var in ("MLFLOW_TRACKING_URI", "YOLOPS_HOME", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def workspace(tmp_path, mlflow_template) -> Workspace:
    return new_workspace(tmp_path / "ws", mlflow_template)
