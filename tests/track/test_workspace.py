"""Where state lives: the workspace root and tracking URI, and telemetry off."""

from __future__ import annotations

import subprocess
import sys

from yolops.workspace import Workspace


def test_workspace_root_and_tracking_uri_precedence(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    default = Workspace.resolve()
    assert default.root == tmp_path / "yolops-workspace"
    assert (
        default.tracking_uri == f"sqlite:///{tmp_path / 'yolops-workspace' / 'mlflow.db'}"
        and default.embedded
    )
    assert default.artifact_root == (tmp_path / "yolops-workspace" / "artifacts").as_uri()
    monkeypatch.setenv("YOLOPS_HOME", str(tmp_path / "home"))
    assert Workspace.resolve().root == tmp_path / "home"
    assert (
        Workspace.resolve("explicit").root == tmp_path / "explicit"
    )  # the flag wins over the environment
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    server = Workspace.resolve()
    assert (
        server.tracking_uri == "http://127.0.0.1:5999"
        and not server.embedded
        and server.artifact_root is None
    )
    assert (
        Workspace.resolve(tracking_uri="http://127.0.0.1:6000").tracking_uri
        == "http://127.0.0.1:6000"
    )
    assert "tracking server http://127.0.0.1:5999" in server.describe()


def test_active_puts_mlflow_state_back(workspace, monkeypatch):
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with workspace.active():
        assert mlflow.get_tracking_uri() == workspace.tracking_uri
    import os

    assert "MLFLOW_TRACKING_URI" not in os.environ  # a later command must not inherit it


def test_mlflow_telemetry_is_off_once_yolops_tracking_is_imported():
    code = (
        "import os; os.environ.pop('MLFLOW_DISABLE_TELEMETRY', None); "
        "os.environ.pop('DO_NOT_TRACK', None)\n"
        "import yolops.track.tracking\n"
        "from mlflow.telemetry.utils import is_telemetry_disabled\n"
        "print(os.environ['MLFLOW_DISABLE_TELEMETRY'], os.environ['DO_NOT_TRACK'], "
        "is_telemetry_disabled())"
    )
    env = {
        k: v
        for k, v in __import__("os").environ.items()
        if k not in ("MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK", "CI", "PYTEST_CURRENT_TEST")
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["true", "true", "True"]
