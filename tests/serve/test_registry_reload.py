"""Serving a registry reference: `NAME@production` follows the alias (moved under
load, no request fails), the prediction log names the registered model and its
version, a registry that cannot be asked keeps the old version serving (each outage
reported once, whatever its errors say), and an unknown alias is one clear error at
start, in Python and on the command line."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from yolops.errors import TrackingError
from yolops.monitor.log import read_predictions
from yolops.serve.metrics import ServeMetrics
from yolops.serve.reload import ModelHolder, ModelWatcher
from yolops.serve.source import ModelRef, RegistryModelSource
from yolops.track.registry import promote, register_model
from yolops.track.tracking import log_run_folder
from yolops.workspace import Workspace

from serve_support import encode, files, scene, steady_load, wait_for
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
            wait_for(lambda: len(load.versions) >= 8, "answers from version 1 under load")
            promote(ws, NAME, 2, "production", force=True)
            wait_for(lambda: served(c)["models"][0]["version"] == "2", "swap to version 2")

            def answered_after_swap() -> int:  # keep the load on after the swap
                versions = list(load.versions)
                return len(versions) - versions.index("2") if "2" in versions else 0

            wait_for(lambda: answered_after_swap() >= 16, "answers after the swap")
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
    alias is back; a second outage after that is reported again.

    Deleting the alias is one transaction, yet a poll may see it between the two
    queries of one check, with an error naming the aliases the model had a moment
    before: the outage, not the error's text, is what is reported once."""
    ws = production
    caplog.set_level(logging.DEBUG, logger="yolops.serve.reload")

    def logged(text: str) -> int:  # the server logs from its own thread
        return sum(text in r.getMessage() for r in list(caplog.records))

    def failed_metric(count: int) -> str:
        return f'yolops_model_reloads_total{{result="failed"}} {count}.0'

    with serve_alias(serve, ws, reload_interval=0.05) as server:
        c = httpx.Client(base_url=server.url, headers={"X-API-Key": keys["predict"]})
        ws.client().delete_registered_model_alias(NAME, "production")
        wait_for(lambda: served(c)["last_reload_error"] is not None, "failing poll")
        polls = logged("still fails")
        wait_for(lambda: logged("still fails") >= polls + 5, "more polls, all failing")
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
        assert failed_metric(1) in c.get("/metrics").text
        promote(ws, NAME, 1, "production", force=True)
        wait_for(lambda: served(c)["last_reload_error"] is None, "recovery")
        assert served(c)["models"][0]["version"] == "1"
        assert logged("cannot check") == 1 and logged("answers again") == 1
        ws.client().delete_registered_model_alias(NAME, "production")  # a new outage
        wait_for(lambda: served(c)["last_reload_error"] is not None, "second outage")
        assert failed_metric(2) in c.get("/metrics").text
        promote(ws, NAME, 1, "production", force=True)
        wait_for(lambda: served(c)["last_reload_error"] is None, "second recovery")
        assert served(c)["models"][0]["version"] == "1"
    assert logged("cannot check") == 2 and logged("answers again") == 2


class ScriptedSource:
    """A registry reference whose answer the test sets: a version, or an error."""

    def __init__(self) -> None:
        self.answer: str | Exception = "1"

    def describe(self) -> str:
        return f"{NAME}@production"

    def fingerprint(self) -> str:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def resolve(self) -> ModelRef:
        raise AssertionError("the alias never moves here")


def test_an_outage_is_reported_once_whatever_its_errors_say(caplog):
    """A server going away fails with a different text on nearly every poll: one
    report and one count per outage, the latest error shown, the recovery reported
    once, and the next outage reported again."""
    store = "cannot use the tracking store http://registry:5000"
    outage = [
        TrackingError(f"model {NAME!r} has no alias 'production' (its aliases: production -> 1)"),
        TrackingError(f"model {NAME!r} has no alias 'production' (its aliases: none)"),
        TrackingError(f"{store}: Connection refused"),
        TrackingError(f"{store}: 503 Service Unavailable"),
    ]
    source, metrics = ScriptedSource(), ServeMetrics()
    holder = ModelHolder(SimpleNamespace(ref=ModelRef(Path("model.onnx"), NAME, "1")))
    watcher = ModelWatcher(source, holder, metrics, fingerprint="1", interval=0)
    caplog.set_level(logging.DEBUG, logger="yolops.serve.reload")

    def logged(text: str) -> int:
        return sum(text in r.getMessage() for r in caplog.records)

    def failed() -> float:
        value = metrics.registry.get_sample_value(
            "yolops_model_reloads_total", {"result": "failed"}
        )
        return value or 0.0

    async def poll(answer: str | Exception) -> None:
        source.answer = answer
        assert await watcher.check() is False  # the version never moves: nothing loads

    async def scenario() -> None:
        for error in outage:
            await poll(error)
            assert watcher.last_error == str(error)
        assert failed() == 1 and logged("cannot check") == 1 and logged("still fails") == 3
        for _ in range(2):
            await poll("1")
            assert watcher.last_error is None
        assert logged("answers again") == 1
        for error in reversed(outage):
            await poll(error)
        assert failed() == 2 and logged("cannot check") == 2
        await poll("1")
        assert logged("answers again") == 2 and holder.current.ref.version == "1"

    asyncio.run(scenario())


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
        timeout=600,
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
