"""`yolops label` from the terminal, and the studio's server killed mid-save."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from sqlalchemy import select

from yolops.data.versions import load_version
from yolops.identity import UserStore
from yolops.label import tasks as T
from yolops.label.projects import get_project
from yolops.label.tables import events
from yolops.workspace import Workspace

from cli_support import invoke, run_cli
from label_support import ALICE, BOB, studio, write_images


def test_create_add_status_export_history_through_the_cli(tmp_path, capsys, tiny_dataset):
    ws = tmp_path / "ws"
    source = tiny_dataset.save(tmp_path / "coco", "coco")
    code, out = run_cli(
        capsys, "label", "create", "pets", "--data", source, "--stages", "annotate,review,accept",
        "-w", ws,
    )  # fmt: skip
    assert code == 0, out
    assert "stages annotate -> review -> accept" in out and "7 task(s) added" in out
    code, out = run_cli(
        capsys, "label", "add", "pets", write_images(tmp_path / "more", 2), "-w", ws
    )
    assert code == 0 and "2 task(s) added" in out and "(folder)" in out
    code, out = run_cli(capsys, "label", "add", "pets", tmp_path / "nowhere", "-w", ws)
    assert code == 1 and "no such file or folder" in out

    store = studio(tmp_path)
    project = get_project(store, "pets")
    t = T.next_task(store, ALICE, project, "annotate")
    t = T.save(store, ALICE, t["id"], t["revision"], t["boxes"], submit=True)
    for who in (BOB, ALICE.__class__("rita", "reviewer")):
        T.approve(store, who, t["id"], T.view(store, who, t["id"])["revision"])

    code, out = run_cli(capsys, "label", "status", "pets", "-w", ws)
    assert code == 0 and "annotate" in out and "alice" in out and "bob" in out
    done = invoke(capsys, "label", "status", "pets", "--json", "-w", ws)
    import json

    status = json.loads(done.stdout)
    assert status["done"] == 1 and status["by_stage"] == {"annotate": 8, "review": 0, "accept": 0}
    code, out = run_cli(capsys, "label", "list", "-w", ws)
    assert code == 0 and "pets" in out
    code, out = run_cli(capsys, "label", "export", "pets", "--to", "pets-ds", "-w", ws)
    assert code == 0 and "pets-ds@v1" in out and "1 approved task(s)" in out
    assert len(load_version(Workspace.resolve(ws), "pets-ds@v1").records) == 1
    code, out = run_cli(capsys, "label", "history", str(t["id"]), "-w", ws)
    assert code == 0 and "approve" in out and "rita" in out
    code, out = run_cli(capsys, "data", "lineage", "pets-ds@v1", "-w", ws)
    assert code == 0 and "labeling" in out
    code, out = run_cli(capsys, "label", "status", "nope", "-w", ws)
    assert code == 1 and "no labeling project 'nope'" in out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(ws, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "yolops.cli.main", "label", "serve", "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "-w", str(ws)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            pytest.fail(f"`yolops label serve` exited with {proc.returncode}")
        time.sleep(0.1)
    proc.kill()
    pytest.fail("`yolops label serve` did not come up in 120 s")


def test_a_server_killed_mid_save_loses_nothing_it_acknowledged(tmp_path):
    store = studio(tmp_path)
    from yolops.label.importing import add_tasks
    from yolops.label.projects import create_project

    from label_support import ADMIN

    project = create_project(store, ADMIN, "cells", ["cell"])
    add_tasks(store, ADMIN, project, write_images(tmp_path / "img", 1))
    UserStore(store.workspace.database_url).add("alice", "annotator", "a-long-password")
    port = _free_port()
    proc = _start(store.workspace.root, port)
    acked: list[int] = []
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        client.post("/api/login", json={"name": "alice", "password": "a-long-password"})
        task = client.post("/api/projects/cells/next", json={"stage": "annotate"}).json()
        revision = task["revision"]

        def saves() -> None:
            nonlocal revision
            for i in range(10_000):
                body = {"revision": revision, "boxes": [{"box": [1, 1, 2 + i % 50, 9], "cls": 0}]}
                try:
                    r = client.put(f"/api/tasks/{task['id']}", json=body)
                except httpx.HTTPError:
                    return  # the server is gone
                if r.status_code != 200:
                    return
                revision = r.json()["revision"]
                acked.append(revision)

        saver = threading.Thread(target=saves)
        saver.start()
        deadline = time.monotonic() + 60
        while len(acked) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)  # mid-stream: a save is very likely in flight
        saver.join(30)
    finally:
        proc.kill()
        proc.wait(10)
    assert len(acked) >= 20, "the server acknowledged too few saves to test anything"
    # Every acknowledged save is in the database after the crash, and the copy is at
    # least at the last acknowledged revision.
    with store.connect("test") as conn:
        stored = {
            r.revision
            for r in conn.execute(
                select(events.c.revision).where(
                    events.c.task_id == task["id"], events.c.action == "save"
                )
            )
        }
    assert set(acked) <= stored
    restarted = _start(store.workspace.root, port)
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        client.post("/api/login", json={"name": "alice", "password": "a-long-password"})
        after = client.get(f"/api/tasks/{task['id']}").json()
        assert after["revision"] >= acked[-1]
    finally:
        restarted.kill()
        restarted.wait(10)
