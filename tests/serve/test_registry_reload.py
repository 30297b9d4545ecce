"""Serving a registry reference: `NAME@production` follows the alias (moved under
load, no request fails), the prediction log names the registered model and its
version, a registry that cannot be asked keeps the old version serving, and an
unknown alias is one clear error at start, in Python and on the command line."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import time

import httpx
import pytest

from yolops.errors import TrackingError
from yolops.monitor.log import read_predictions
from yolops.serve.registry_source import RegistryModelSource
from yolops.track.registry import promote, register_model
from yolops.track.tracking import log_run_folder
from yolops.workspace import Workspace

from serve_support import encode, files, scene, steady_load
from track_support import free_port, new_workspace

NAME = "shapes"


@pytest.fixture(scope="module")
def registry(tmp_path_factory, mlflow_template, trained_run) -> tuple[Workspace, str]:
    """A workspace where model ``shapes`` has versions 1 and 2 (the same run, registered
    twice): (workspace, run id)."""
    root = tmp_path_factory.mktemp("served-registry")
    ws = new_workspace(root / "ws", mlflow_template)
    shutil.copytree(trained_run, root / "run")
    run_id = log_run_folder(ws, root / "run")
    assert [str(register_model(ws, run_id, NAME).version) for _ in range(2)] == ["1", "2"]
    return ws, run_id


@pytest.fixture
def production(registry) -> Workspace:
    """The registry workspace with ``shapes@production`` on version 1."""
    ws, _ = registry
    promote(ws, NAME, 1, "production", force=True)
    return ws


def serve_alias(serve, ws: Workspace, ref: str = f"{NAME}@production", **overrides):
    return serve(model=ref, workspace=str(ws.root), tracking_uri=ws.tracking_uri, **overrides)


def served(c: httpx.Client) -> dict:
    return c.get("/v1/models").json()


def test_moving_the_alias_swaps_under_load(serve, keys, production, db_url):
    ws = production
    png = encode(scene(96, 64))
    with serve_alias(serve, ws, reload_interval=0.1) as server:
        assert (server.model.ref.name, server.model.ref.version) == (NAME, "1")
        c = httpx.Client(base_url=server.url, headers={"X-API-Key": keys["predict"]})
        assert served(c)["source"] == f"{NAME}@production"
        with steady_load(server.url, keys["predict"], png) as load:
            time.sleep(0.7)
            promote(ws, NAME, 2, "production", force=True)
            deadline = time.monotonic() + 30
            while served(c)["models"][0]["version"] == "1" and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.7)  # keep the load on after the swap
        info = served(c)
        metrics = c.get("/metrics").text
    model = info["models"][0]
    assert (model["name"], model["version"]) == (NAME, "2") and info["last_reload_error"] is None
    assert model["path"].startswith(str(ws.model_cache / NAME / "2"))
    assert set(load.statuses) == {200}, load.statuses
    assert "1" in load.versions and "2" in load.versions
    first_new = load.versions.index("2")
    assert all(v == "2" for v in load.versions[first_new + 8 :])  # no flip-flopping after the swap
    assert 'yolops_model_reloads_total{result="ok"} 1.0' in metrics
    assert 'yolops_model_reloads_total{result="failed"}' not in metrics
    assert f'yolops_model_info{{name="{NAME}",version="2"}} 1.0' in metrics
    rows = read_predictions(db_url)  # the server has stopped: its log is written
    assert rows and {r["model_name"] for r in rows} == {NAME}
    assert {r["model_version"] for r in rows} == {"1", "2"}


def test_a_registry_that_fails_keeps_the_old_version(serve, keys, production, caplog):
    """The alias disappears (as when the store cannot answer): the old version keeps
    serving, the failure is reported once, not on every poll, and clears when the
    alias is back."""
    ws = production
    caplog.set_level(logging.INFO, logger="yolops.serve.reload")
    with serve_alias(serve, ws, reload_interval=0.05) as server:
        c = httpx.Client(base_url=server.url, headers={"X-API-Key": keys["predict"]})
        ws.client().delete_registered_model_alias(NAME, "production")
        deadline = time.monotonic() + 20
        while served(c)["last_reload_error"] is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # several more polls, all failing
        info = served(c)
        assert "no alias 'production'" in info["last_reload_error"]
        assert info["models"][0]["version"] == "1"
        r = c.post("/v1/predict", files=files(encode(scene(96, 64))))
        assert r.status_code == 200 and r.json()["model"]["version"] == "1"
        forced = c.post("/v1/models/reload", headers={"X-API-Key": keys["admin"]})
        assert (
            forced.status_code == 422
            and "version 1 keeps serving" in forced.json()["error"]["message"]
        )
        assert 'yolops_model_reloads_total{result="failed"} 1.0' in c.get("/metrics").text
        promote(ws, NAME, 1, "production", force=True)
        while served(c)["last_reload_error"] is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert served(c)["last_reload_error"] is None and served(c)["models"][0]["version"] == "1"
    failures = [r for r in caplog.records if "cannot check" in r.getMessage()]
    assert len(failures) == 1 and "answers again" in caplog.text


def test_unknown_alias_or_model_is_a_clear_error_at_start(serve, production):
    with pytest.raises(
        TrackingError, match=r"model 'shapes' has no alias 'nope' \(its aliases: production -> 1"
    ):
        with serve_alias(serve, production, f"{NAME}@nope"):
            pass
    with pytest.raises(TrackingError, match="no registered model 'missing'"):
        with serve_alias(serve, production, "missing@production"):
            pass


def test_cli_serves_an_alias_and_names_a_missing_one(production):
    """`yolops serve --model NAME@alias` is no longer refused: an unknown alias is
    resolved, and named, before the server starts."""
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "yolops.cli.main",
            "serve",
            "--model",
            f"{NAME}@nope",
            "--workspace",
            str(production.root),
            "--port",
            "0",
            "--no-prediction-log",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1, bad.stderr
    assert "no alias 'nope'" in bad.stderr and "Traceback" not in bad.stderr


def test_fixed_references_and_an_unreachable_server(registry, monkeypatch, tmp_path):
    ws, run_id = registry
    pinned = RegistryModelSource(f"{NAME}/2", ws)
    assert pinned.fingerprint() == f"{NAME}/2"  # never moves: polling asks nothing
    assert (pinned.resolve().name, pinned.resolve().version) == (NAME, "2")
    run = RegistryModelSource(f"runs:/{run_id}", ws)
    ref = run.resolve()
    assert (
        run.fingerprint() == f"runs:/{run_id}"
        and ref.version == run_id
        and ref.path.suffix == ".onnx"
    )
    latest = RegistryModelSource(f"models:/{NAME}", ws)
    assert latest.fingerprint() == "2" and latest.resolve().version == "2"
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    down = RegistryModelSource(
        f"{NAME}@production", Workspace(tmp_path, f"http://127.0.0.1:{free_port()}")
    )
    with pytest.raises(TrackingError, match="cannot use the tracking store http://127.0.0.1"):
        down.fingerprint()
